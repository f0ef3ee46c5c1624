fn main() {
    ul::info!("{:q}", 1u32);
    ul::info!("{:>>>}", 1u32);
    ul::info!("unclosed {", 1u32);
}
