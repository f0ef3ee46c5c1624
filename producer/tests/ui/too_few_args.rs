fn main() {
    ul::info!("too few args: {} {}", 1u32);
}
