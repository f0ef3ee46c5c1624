//! A burst at the default settings loses nothing: one thread logs 200,000
//! records in a tight loop on default `ul::Options`, against a real
//! `ul-writer` on its defaults. The 256 KiB lane holds about 4,700 of them;
//! the loop produces them far faster than the writer formats them, so
//! under the old default (`Overflow::Drop`) about 180,000 were dropped.
//! The default `Overflow::Wait` waits while the writer frees room.
//!
//! Not timing-dependent: a call gives up only after the writer has freed
//! no room in the lane for a whole second (`Overflow::DEFAULT`'s stall)
//! while holding its lock. The writer frees room after every batch (at
//! most `batch_size` = 4,096 records of this lane per pass, a few
//! milliseconds of formatting even in a debug build), so the test fails
//! only if the writer process gets no CPU for a second while it has work.

mod common;

use std::time::{Duration, Instant};

use common::*;

const N: u64 = 200_000;

#[test]
fn a_200k_record_burst_on_defaults_drops_nothing() {
    let s = Scratch::new("burst-defaults");
    // The writer's defaults too (the helper's usual 20 ms flush interval
    // would wake it more often than the default 100 ms).
    let w = Writer::start(&s, &["--flush-interval-ms", "100"]);
    ul::init(&s.shm).expect("attach");
    let start = Instant::now();
    for i in 0..N {
        ul::info!("burst record {} of {}", i, N);
    }
    let logged = start.elapsed();
    ul::flush_timeout(Duration::from_secs(60)).expect("flush");
    let (status, err) = w.stop();
    assert!(status.success(), "{err}");
    let text = s.text();
    let drops: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("records dropped"))
        .collect();
    assert!(
        drops.is_empty(),
        "records dropped at the default settings (loop took {logged:?}): {drops:?}"
    );
    let mut next = 0u64;
    for l in text.lines() {
        if let Some(rest) = l.split("burst record ").nth(1) {
            let i: u64 = rest
                .split(' ')
                .next()
                .and_then(|x| x.parse().ok())
                .expect("a number");
            assert_eq!(i, next, "records out of order or missing");
            next += 1;
        }
    }
    assert_eq!(next, N, "records written");
}
