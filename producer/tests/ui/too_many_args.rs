fn main() {
    ul::info!("too many args: {}", 1u32, 2u32);
}
