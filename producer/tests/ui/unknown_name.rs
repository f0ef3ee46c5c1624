fn main() {
    let user = "ann";
    ul::info!("user {usr}", );
    let _ = user;
}
