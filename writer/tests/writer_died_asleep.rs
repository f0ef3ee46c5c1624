//! A writer killed (SIGKILL) while asleep on its futex leaves `sleeping = 1`
//! in the region. Producers that keep logging must not pay a futex-wake
//! system call per record until a writer returns: the first producer to see
//! the flag clears it with a swap, so the rest see an awake writer.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_writer_killed_asleep_costs_producers_a_bounded_number_of_wakes() {
    let s = Scratch::new("asleep");
    let mut w = Writer::start(&s, &["--flush-interval-ms", "1000"]);
    ul::init(&s.shm).expect("init");
    ul::info!(source: "t", "r i={}", u64::MAX);
    ul::flush_timeout(Duration::from_secs(20)).expect("flush");

    // A second view of the region, to watch the writer's sleep flag.
    let view = common::attach(&s.shm);
    let wake = &view.header().wake;
    assert!(
        wait_for(Duration::from_secs(20), || wake.writer_sleeping()),
        "the idle writer never announced sleep"
    );
    signal(w.pid(), libc::SIGKILL);
    wait_timeout(&mut w.child, Duration::from_secs(10)).expect("writer did not die");
    assert!(
        wake.writer_sleeping(),
        "the killed writer should have left sleeping = 1 (test precondition)"
    );

    // 100k records with no writer: the lane (1 MiB) fills and the rest are
    // dropped (default policy), going through the half-full check and the
    // full-lane slow path on every call past half full.
    let before = ul::wake_syscalls();
    let n = 100_000u64;
    for i in 0..n {
        ul::info!(source: "t", "r i={}", i);
    }
    let wakes = ul::wake_syscalls() - before;
    let lane = ul::current_lane().expect("this thread holds a lane");
    let dropped = view.lane_control(lane).owner_dropped();
    assert!(
        dropped > 0,
        "the lane should have filled and dropped records (dropped = {dropped})"
    );
    assert!(
        wakes <= 2,
        "{wakes} futex wakes for {n} records with a dead writer: producers must not pay a system call per record"
    );
    assert!(!wake.writer_sleeping(), "the first wake cleared the flag");

    // A new writer drains what fitted and reports the drops; the records that
    // went out are 0..k in order.
    let w2 = Writer::start(&s, &[]);
    ul::flush_timeout(Duration::from_secs(30)).expect("flush after restart");
    drop(w2);
    let text = s.text();
    let mut next = 0u64;
    let mut drop_lines = 0;
    for line in text.lines() {
        if let Some(v) = line.split_once("] [t] INFO: r i=").map(|x| x.1) {
            let v: u64 = v.parse().expect("counter");
            if v != u64::MAX {
                assert_eq!(v, next, "records out of order or missing");
                next += 1;
            }
        } else if line.contains(&format!(
            "{dropped} record{} dropped by pid {}",
            if dropped == 1 { "" } else { "s" },
            std::process::id()
        )) {
            drop_lines += 1;
        }
    }
    assert_eq!(
        next + dropped,
        n,
        "every record was written or counted as dropped"
    );
    assert_eq!(drop_lines, 1, "the drops are reported once:\n{text}");
    assert_eq!(
        view.header().stats.drops_reported.get(),
        dropped,
        "the region's drops_reported counter (ul-stat shows it) counts the reported drops"
    );
    eprintln!(
        "writer died asleep: {wakes} wakes for {n} records; {next} written, {dropped} dropped"
    );
}
