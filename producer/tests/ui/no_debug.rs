struct NoDebug;

fn main() {
    ul::info!("{:?}", NoDebug);
}
