//! `Overflow::Block` with an unbounded timeout (`Duration::MAX`) against a
//! real writer that stops for a while: the call waits for room instead of
//! panicking, and a panic could not have left the thread's lane state
//! marked busy (every later record counted as a nested drop).

mod common;

use std::time::Duration;

use common::*;

#[test]
fn block_with_duration_max_waits_for_room() {
    let s = Scratch::new("blockmax");
    let w = Writer::start(&s, &["--lane-size", "4096"]);
    ul::Options::new(&s.shm)
        .overflow(ul::Overflow::Block {
            timeout: Duration::MAX,
        })
        .init()
        .expect("attach");
    // With the writer stopped, the 4 KiB lane fills after ~100 records.
    signal(w.pid(), libc::SIGSTOP);
    assert!(wait_stopped(w.pid(), Duration::from_secs(10)));
    let logger = std::thread::spawn(|| {
        let mut panics = 0;
        for i in 0..400u64 {
            if std::panic::catch_unwind(|| ul::info!("blocked record {}", i)).is_err() {
                panics += 1;
            }
        }
        panics
    });
    // Wait until the lane is full (the logging thread is then blocked, or
    // would have panicked), so the test always reaches the full-lane path.
    let full = wait_for_a_full_lane(&s.shm, Duration::from_secs(20));
    signal(w.pid(), libc::SIGCONT);
    assert!(full, "the lane never filled while the writer was stopped");
    let panics = logger.join().expect("the logging thread");
    ul::flush_timeout(Duration::from_secs(30)).expect("flush");
    let (status, err) = w.stop();
    assert!(status.success(), "{err}");
    assert_eq!(panics, 0, "a log call panicked");
    assert_eq!(ul::nested_drops(), 0, "records counted as nested drops");
    assert_eq!(
        numbered(&s.text(), "blocked record "),
        (0..400).collect::<Vec<_>>(),
        "every record, once, in order"
    );
}
