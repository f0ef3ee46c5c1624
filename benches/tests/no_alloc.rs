//! A `ul::info!` enqueue allocates nothing after warm-up: counted by a
//! global allocator that counts on the measuring thread only.
//!
//! No writer runs: the calls made fit in one lane.

use ul_benches::alloc_count::{allocations, Counting, RemoveOnDrop};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn log_all(n: u64, s: &str) {
    let (mut i, j, mut x) = (0u64, 7u32, 0.5f64);
    for _ in 0..n {
        ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
        ul::info!("Logging int: {}, int: {}, string: {}", i, j, s);
        ul::info!("Static message without arguments");
        i += 1;
        x += 0.25;
    }
}

#[test]
fn enqueue_allocates_nothing_after_warm_up() {
    let shm = std::path::PathBuf::from(format!("/dev/shm/ul-alloc-test-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(shm.clone());
    ul::init(&shm).expect("ul::init");
    let s = String::from(ul_benches::LONG_STR);
    // Warm-up: attaches this thread's lane, registers the call sites.
    log_all(10, &s);
    // 3 x 2,000 records of at most 96 bytes: well inside one 256 KiB lane.
    let n = allocations(|| log_all(2_000, &s));
    assert_eq!(n, 0, "ul::info! allocated {n} times in 6,000 calls");
    // The counter works: a value that is only Display is formatted (and
    // allocated) at the call site.
    struct OnlyDisplay;
    impl std::fmt::Display for OnlyDisplay {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("only display")
        }
    }
    let n = allocations(|| ul::info!("value: {}", OnlyDisplay));
    assert!(n > 0, "the counting allocator saw no allocation");
}
