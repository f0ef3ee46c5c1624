fn main() {
    let w = 5i32;
    ul::info!("{:w$}", 1u8);
}
