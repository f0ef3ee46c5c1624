//! A shared-lane claim that is never committed (its producer was killed
//! between claiming the slot and committing it) must not keep the writer
//! busy: it is not work until it commits or times out. The writer sleeps as
//! when idle, and abandons the claim after the claim timeout.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ul_ring::region::{Region, RegionOptions};

#[test]
fn an_uncommitted_shared_lane_claim_does_not_keep_the_writer_busy() {
    let s = Scratch::new("stuck-claim");
    let w = Writer::start(&s, &["--claim-timeout", "3", "--flush-interval-ms", "100"]);
    let region = common::attach(&s.shm);
    // What a producer killed right after its claim leaves behind: the
    // shared head moved past a slot whose sequence word still says "free
    // for this position", and no commit will ever come.
    let shared_lane = region.shared_lane();
    let claimed = shared_lane
        .control()
        .head_raw()
        .fetch_add(1, Ordering::AcqRel);
    std::thread::sleep(Duration::from_millis(300));

    let before = cpu_ns(w.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ns(w.pid()) - before;
    assert!(
        used < 50_000_000,
        "the writer used {} ms of CPU in 2 s waiting on an uncommitted claim",
        used / 1_000_000
    );

    // After the claim timeout the claim is abandoned and reported.
    let stats = &region.header().stats;
    assert!(
        wait_for(Duration::from_secs(20), || stats.claims_abandoned.get()
            >= 1),
        "the claim at {claimed} was never abandoned"
    );
    assert!(
        wait_for(Duration::from_secs(5), || s.text().contains(&format!(
            "abandoned a shared-lane claim at position {claimed}"
        ))),
        "no line about the abandoned claim in server.log:\n{}",
        s.text()
    );
    assert_eq!(
        shared_lane.control().tail(),
        claimed + 1,
        "the shared tail did not move past the abandoned slot"
    );
    let (st, _) = w.stop();
    assert!(st.success());
}

/// A writer restarted more often than the claim timeout used to start
/// the claim's clock over each time, so a dead claimant's claim was never
/// abandoned while the restarts went on, and the shared lane (and every
/// flush) waited. The clock is kept in the region now: a writer that takes
/// over goes on counting where the last one stopped.
#[test]
fn a_restarted_writer_goes_on_counting_a_stuck_claims_time() {
    use ul_writer::internals::engine::Engine;
    use ul_writer::internals::outputs::{Format, Outputs};

    let s = Scratch::new("stuck-claim-restart");
    let timeout = Duration::from_millis(1000);
    let region = Region::open(&s.shm, &RegionOptions::default()).expect("create region");
    // A producer killed right after its claim.
    let claimed = region
        .shared_lane()
        .control()
        .head_raw()
        .fetch_add(1, Ordering::AcqRel);
    let engine = |region: Region| {
        Engine::new(
            region,
            Outputs::new(&s.dir, "server").expect("outputs"),
            Format::Text,
            timeout,
        )
        .expect("engine")
    };
    // The first writer watches the claim for 0.7 s, then is gone.
    let mut first = engine(region);
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(700) {
        first.pass().expect("pass");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(first);
    // The next one runs 0.6 s: 1.3 s since the claim was first seen.
    let reopen = RegionOptions {
        create: false,
        ..Default::default()
    };
    let mut second = engine(Region::open(&s.shm, &reopen).expect("open region"));
    let t1 = std::time::Instant::now();
    let stats = &second.region().header().stats;
    while t1.elapsed() < Duration::from_millis(600) && stats.claims_abandoned.get() == 0 {
        second.pass().expect("pass");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        stats.claims_abandoned.get(),
        1,
        "the claim at {claimed}, pending for 1.3 s across two writers, was not abandoned (timeout 1 s)"
    );
}
