#[derive(Debug)]
struct NoDisplay;

fn main() {
    ul::info!("{}", NoDisplay);
}
