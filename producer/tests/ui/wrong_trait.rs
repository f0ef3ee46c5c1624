fn main() {
    ul::info!("{:x}", "text");
    ul::info!("{:e}", true);
}
