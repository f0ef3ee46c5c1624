//! A signal handler that logs while its thread is inside a log call: the
//! nesting guard drops (and counts) the nested record instead of corrupting
//! the lane. Every record that went out is whole and in order, and the
//! nested drops reach the log as drop lines like overflow drops do.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;

static HANDLED: AtomicU64 = AtomicU64::new(0);

fn log_from_handler() {
    let n = HANDLED.fetch_add(1, Ordering::Relaxed);
    ul::warn!(source: "handler", "h n={}", n);
}

extern "C" fn on_signal(_: libc::c_int) {
    log_from_handler();
}

#[test]
fn logging_from_a_signal_handler_never_corrupts_the_lane() {
    let s = Scratch::new("signal");
    let w = Writer::start(&s, &[]);
    ul::Options::new(&s.shm)
        .overflow(ul::Overflow::Block {
            timeout: Duration::from_secs(10),
        })
        .init()
        .expect("init");
    // Warm up: attach the lane and register both call sites outside the
    // handler, so the handler itself never allocates.
    ul::info!(source: "main", "m i={}", u64::MAX);
    log_from_handler();
    // SAFETY: installs a handler for SIGUSR1 in this test process; the
    // handler only touches atomics and ul's allocation-free hot path.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    // A helper thread signals this thread (not the process: the handler must
    // interrupt the thread that is logging) every few microseconds.
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as usize;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let kicker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: `me` is a live thread until `stop` is set and
                // this thread joined.
                unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR1) };
                std::thread::sleep(Duration::from_micros(5));
            }
        })
    };
    let end = Instant::now() + Duration::from_secs(2);
    let mut i = 0u64;
    while Instant::now() < end || ul::nested_drops() == 0 && i < 50_000_000 {
        ul::info!(source: "main", "m i={}", i);
        i += 1;
    }
    stop.store(true, Ordering::Relaxed);
    kicker.join().unwrap();
    ul::flush_timeout(Duration::from_secs(20)).expect("flush");
    let nested = ul::nested_drops();
    let handled = HANDLED.load(Ordering::Relaxed);
    drop(w);

    let text = s.text();
    let (mut next_main, mut handler_lines, mut reported) = (0u64, 0u64, 0u64);
    let drop_marker = format!(" records dropped by pid {} (lane ", std::process::id());
    let mut last_h: Option<u64> = None;
    for line in text.lines() {
        assert!(line.starts_with("UL: ["), "malformed line: {line:?}");
        // `1 record dropped` is singular; the parsing below reads the plural.
        let plural = line.replacen(" record dropped by pid ", " records dropped by pid ", 1);
        let line = plural.as_str();
        if let Some(rest) = line.split_once("] [main] INFO: m i=").map(|x| x.1) {
            let v: u64 = rest.parse().expect("counter");
            if v == u64::MAX {
                continue;
            }
            assert_eq!(v, next_main, "main thread record missing or out of order");
            next_main += 1;
        } else if let Some(rest) = line.split_once("] [handler] WARN: h n=").map(|x| x.1) {
            let v: u64 = rest.parse().expect("counter");
            assert!(last_h.is_none_or(|l| v > l), "handler records out of order");
            last_h = Some(v);
            handler_lines += 1;
        } else if let Some((head, _)) = line.split_once(&drop_marker) {
            let n = head.rsplit(' ').next().expect("count");
            reported += n.parse::<u64>().expect("drop count");
        }
    }
    assert_eq!(next_main, i, "every main-thread record is written");
    assert_eq!(
        handler_lines + nested,
        handled,
        "each handler call was either written or counted as a nested drop"
    );
    // Block policy with a live writer: no overflow drops, so every reported
    // drop of this process is a nested one, and all of them are reported.
    assert_eq!(
        reported, nested,
        "the nested drops ({nested}) reach the log as drop lines (reported {reported})"
    );
    eprintln!("signal nesting: {i} main records, {handled} handler calls, {nested} nested drops, {reported} reported");
}
