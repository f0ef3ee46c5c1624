//! A log call made after the thread's lane went back to the writer (from
//! a thread-local destructor that runs after ul's own) claims nothing: the
//! record is dropped and counted (in the process, and in the shared lane's
//! drop counter, which the writer reports), and no lane is left owned by a
//! thread that no longer exists.

use std::sync::atomic::{AtomicU8, Ordering};

/// What the late destructor saw: 1 no lane after logging, 2 a lane.
static SEEN: AtomicU8 = AtomicU8::new(0);

struct Late;

impl Drop for Late {
    fn drop(&mut self) {
        ul::info!(
            "from a thread-local destructor, after the lane was retired: {}",
            7u32
        );
        let seen = if ul::current_lane().is_none() { 1 } else { 2 };
        SEEN.store(seen, Ordering::SeqCst);
    }
}

thread_local! {
    static LATE: Late = const { Late };
}

#[test]
fn a_log_call_after_the_threads_lane_was_retired_claims_no_lane() {
    let path = format!("/dev/shm/ul-test-thread-exit-{}", std::process::id());
    let sizes = ul::Sizes {
        lanes: 4,
        lane_capacity: 64 << 10,
        ..Default::default()
    };
    ul::Options::new(&path).sizes(sizes).init().expect("init");
    // The same region, read as the writer reads it.
    let region = ul_ring::region::Region::open(&path, &ul_ring::region::RegionOptions::default())
        .expect("attach the region");
    let shared_drops = || region.shared_lane().control().drop_counter().get();
    let before = ul::nested_drops();
    let shared_before = shared_drops();
    std::thread::spawn(|| {
        // Registered before ul's own thread-local destructor, so (last in,
        // first out) it runs after it.
        LATE.with(|_| {});
        ul::info!("attach: {}", 1u32);
        assert!(ul::current_lane().is_some(), "the thread has a lane");
    })
    .join()
    .unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(SEEN.load(Ordering::SeqCst), 1, "the late call took a lane");
    assert_eq!(
        ul::nested_drops(),
        before + 1,
        "the late record was not counted"
    );
    // And counted where the writer reads drops, so that it reports it.
    assert_eq!(
        shared_drops(),
        shared_before + 1,
        "the late record is not in a counter the writer reports"
    );
}
