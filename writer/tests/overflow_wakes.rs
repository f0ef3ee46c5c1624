//! A thread waiting for room in its full lane sleeps and retries. While
//! the writer is awake (it cannot announce sleep with a full lane to
//! drain) those retries must not make a `FUTEX_WAKE` system call each:
//! until 2026-12 every sleep of a wait bumped the writer's futex and woke
//! it whatever its sleep flag said (`WakeBlock::kick`), a system call that
//! found no sleeper. At 64 producer threads on 2 vCPUs the waiting threads
//! so took more CPU than the writer (`docs/perf/README.md`).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

#[test]
fn a_wait_for_room_makes_no_wake_call_per_sleep() {
    let s = Scratch::new("waitwakes");
    let w = Writer::start(&s, &["--lane-size", "4096"]);
    ul::Options::new(&s.shm)
        .overflow(ul::Overflow::Block {
            timeout: Duration::from_secs(120),
        })
        .init()
        .expect("attach");
    ul::info!("first");
    ul::flush_timeout(Duration::from_secs(30)).expect("flush");
    // Stopped, the writer frees no room: the 4 KiB lane fills after ~100
    // records and the logging thread waits, sleeping and retrying.
    signal(w.pid(), libc::SIGSTOP);
    assert!(wait_stopped(w.pid(), Duration::from_secs(10)));
    let done = Arc::new(AtomicBool::new(false));
    let logger = {
        let done = done.clone();
        std::thread::spawn(move || {
            for i in 0..400u64 {
                ul::info!("waiting record {}", i);
            }
            done.store(true, Ordering::Relaxed);
        })
    };
    let full = wait_for_a_full_lane(&s.shm, Duration::from_secs(20));
    // The waiting thread's sleeps while the writer stays stopped: at least
    // a few (the first ones are 20, 40, 80 us).
    let (wakes0, sleeps0) = (ul::wake_syscalls(), ul::wait_sleeps());
    std::thread::sleep(Duration::from_millis(300));
    let wakes = ul::wake_syscalls() - wakes0;
    let sleeps = ul::wait_sleeps() - sleeps0;
    let waiting = !done.load(Ordering::Relaxed);
    signal(w.pid(), libc::SIGCONT);
    assert!(full, "the lane never filled while the writer was stopped");
    assert!(
        waiting,
        "the logging thread should still be waiting (precondition)"
    );
    logger.join().expect("the logging thread");
    ul::flush_timeout(Duration::from_secs(30)).expect("flush");
    let (status, err) = w.stop();
    assert!(status.success(), "{err}");
    assert!(
        sleeps >= 2,
        "the waiting thread slept {sleeps} times (precondition)"
    );
    // At most one: a writer stopped while it slept left `sleeping = 1`,
    // and the first thread to see it wakes it once (and clears it).
    assert!(
        wakes <= 1,
        "{wakes} FUTEX_WAKE calls in {sleeps} sleeps of waiting for a stopped writer"
    );
    assert_eq!(
        numbered(&s.text(), "waiting record "),
        (0..400).collect::<Vec<_>>(),
        "every record, once, in order"
    );
}
