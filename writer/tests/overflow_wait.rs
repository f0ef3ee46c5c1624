//! The default overflow policy (`Overflow::Wait`, 1 s stall) still drops,
//! and reports, when the writer is stopped or gone: a stopped writer costs
//! a logging thread one wait of the stall, not one per record; a dead one
//! costs none; the drops are reported by the next writer, and every record
//! is written or counted.

mod common;

use std::time::{Duration, Instant};

use common::*;

const N: u64 = 2_000;

fn log_batch(tag: &str) -> Duration {
    let start = Instant::now();
    for i in 0..N {
        ul::info!("{} record {}", tag, i);
    }
    start.elapsed()
}

#[test]
fn a_stopped_or_dead_writer_still_means_drops_reported() {
    let s = Scratch::new("overflow-wait");
    // 4 KiB lanes: full after about 100 records.
    let w = Writer::start(&s, &["--lane-size", "4096"]);
    ul::init(&s.shm).expect("attach");

    // Stopped: the first call on the full lane waits the stall (1 s), the
    // rest drop at once.
    signal(w.pid(), libc::SIGSTOP);
    assert!(wait_stopped(w.pid(), Duration::from_secs(10)));
    let stopped = log_batch("stopped");
    signal(w.pid(), libc::SIGCONT);
    assert!(
        stopped >= Duration::from_millis(900),
        "no wait for a stopped writer: {stopped:?}"
    );
    assert!(
        stopped < Duration::from_secs(10),
        "waited more than once for a stopped writer: {stopped:?}"
    );
    ul::flush_timeout(Duration::from_secs(30)).expect("flush");

    // Gone: no process holds the writer lock, so a full lane drops at once.
    let mut w = w;
    let _ = w.child.kill();
    let _ = w.child.wait();
    let dead = log_batch("dead");
    assert!(
        dead < Duration::from_millis(900),
        "waited for a dead writer: {dead:?}"
    );

    // The next writer drains what waited and reports every drop.
    let w2 = Writer::start(&s, &["--lane-size", "4096"]);
    ul::flush_timeout(Duration::from_secs(30)).expect("flush");
    let (status, err) = w2.stop();
    assert!(status.success(), "{err}");
    let text = s.text();
    let written = text
        .lines()
        .filter(|l| l.contains("stopped record ") || l.contains("dead record "))
        .count() as u64;
    let dropped: u64 = text
        .lines()
        .filter_map(|l| {
            // `1 record dropped`, `N records dropped`
            let p = l
                .find(" records dropped")
                .or_else(|| l.find(" record dropped"))?;
            l[..p].rsplit(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    assert!(dropped > 0, "nothing dropped: {text}");
    assert_eq!(
        written + dropped,
        2 * N,
        "written {written} + reported drops {dropped}"
    );
}
