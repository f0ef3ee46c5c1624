fn main() {
    ul::info!("{a} {b}", a = 1);
}
