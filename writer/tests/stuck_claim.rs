//! A shared-lane claim that is never committed (its producer was killed
//! between claiming the slot and committing it) must not keep the writer
//! busy: it is not work until it commits or times out. The writer sleeps as
//! when idle, and abandons the claim after the process timeout.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ul_ring::region::{Region, RegionOptions};

#[test]
fn an_uncommitted_shared_lane_claim_does_not_keep_the_writer_busy() {
    let s = Scratch::new("stuck-claim");
    let w = Writer::start(
        &s,
        &["--process-timeout", "3", "--flush-interval-ms", "100"],
    );
    let region = Region::open(
        &s.shm,
        &RegionOptions {
            create: false,
            ..Default::default()
        },
    )
    .expect("open region");
    // What a producer killed right after its claim leaves behind: the
    // shared head moved past a slot whose sequence word still says "free
    // for this position", and no commit will ever come.
    let mpsc = region.mpsc();
    let claimed = mpsc.control().head.fetch_add(1, Ordering::AcqRel);
    std::thread::sleep(Duration::from_millis(300));

    let before = cpu_ns(w.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ns(w.pid()) - before;
    assert!(
        used < 50_000_000,
        "the writer used {} ms of CPU in 2 s waiting on an uncommitted claim",
        used / 1_000_000
    );

    // After the process timeout the claim is abandoned and reported.
    let stats = &region.header().stats;
    assert!(
        wait_for(Duration::from_secs(20), || stats
            .claims_abandoned
            .load(Ordering::Relaxed)
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
        mpsc.control().tail.load(Ordering::Acquire),
        claimed + 1,
        "the shared tail did not move past the abandoned slot"
    );
    let (st, _) = w.stop();
    assert!(st.success());
}
