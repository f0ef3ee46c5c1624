//! A tight loop of log calls, for instruction counting under callgrind:
//!
//! ```text
//! valgrind --tool=callgrind target/release/examples/hotloop 10000
//! ```
//!
//! No writer is needed: the calls fit in one lane.

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let path = format!("/dev/shm/ul-hotloop-{}", std::process::id());
    ul::init(&path).expect("init");
    let (j, mut x) = (7u32, 0.5f64);
    for i in 0..n {
        ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
        x += 0.25;
    }
    let _ = std::fs::remove_file(&path);
}
