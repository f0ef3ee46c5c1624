//! The region file changed under a running writer and its producers.
//!
//! * Truncated (any process with write access can do it; touching a page
//!   past the new end is SIGBUS): the writer must not die silently. It
//!   reports the region as broken with the path and both sizes, exits with
//!   status 3, and every batch it wrote before is in the log exactly once.
//! * Unlinked, or unlinked and recreated, while mapped: the writer and the
//!   producers notice (the path no longer names their file), move to the
//!   region now at the path, and the writer drains the old one to its end:
//!   nothing published is lost or doubled.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ul_ring::region::{Region, RegionOptions};

const EXIT_REGION_BROKEN: i32 = 3;

/// Truncates the region file to `len` bytes (the test never maps it).
fn truncate(s: &Scratch, len: u64) -> u64 {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&s.shm)
        .expect("open region");
    let before = f.metadata().expect("stat").len();
    f.set_len(len).expect("truncate region");
    before
}

/// Waits for the writer to exit on its own; returns its exit code and stderr.
fn wait_exit(mut w: Writer) -> (Option<i32>, String) {
    let status = wait_timeout(&mut w.child, Duration::from_secs(30))
        .expect("the writer did not exit after its region was truncated");
    let mut err = String::new();
    if let Some(mut e) = w.child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status.code(), err)
}

/// Asserts the writer's report: path, "broken", the file's size now and
/// the size the region needs.
fn assert_report(s: &Scratch, err: &str, now: u64, needed: u64) {
    let path = s.shm.display().to_string();
    let line = err
        .lines()
        .find(|l| l.contains("is broken") || l.contains("region broken"))
        .unwrap_or_else(|| panic!("no broken-region report on stderr:\n{err}"));
    assert!(line.contains(&path), "report does not name {path}: {line}");
    assert!(
        line.contains(&format!(" {now} bytes")),
        "report does not give the size now ({now}): {line}"
    );
    assert!(
        line.contains(&format!("needs {needed}")),
        "report does not give the size needed ({needed}): {line}"
    );
}

/// Counts each stress record `(thread, counter)` in server.log; asserts every
/// line is whole.
fn stress_records(s: &Scratch) -> HashMap<(u32, u64), u32> {
    let mut seen = HashMap::new();
    for line in s.text().lines() {
        assert!(line.starts_with("UL: ["), "malformed line: {line:?}");
        let Some(rest) = line.split_once("] [stress] ").map(|x| x.1) else {
            continue;
        };
        let f = |key: &str| -> u64 {
            rest.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line:?}"))
                .parse()
                .unwrap_or_else(|_| panic!("bad {key} in {line:?}"))
        };
        *seen.entry((f("t=") as u32, f("i="))).or_insert(0) += 1;
    }
    seen
}

#[test]
fn an_idle_writer_reports_a_truncated_region_and_keeps_what_it_wrote() {
    let s = Scratch::new("trunc-idle");
    let w = Writer::start(&s, &[]);
    // 2 x 3000 records, flushed: all on disk before the truncation.
    stress(&s.shm, 2, 3000, &[]);
    let needed = truncate(&s, 0);
    let (code, err) = wait_exit(w);
    assert_eq!(
        code,
        Some(EXIT_REGION_BROKEN),
        "exit status after truncation; stderr:\n{err}"
    );
    assert_report(&s, &err, 0, needed);
    let seen = stress_records(&s);
    for t in 0..2u32 {
        for i in 0..3000u64 {
            assert_eq!(
                seen.get(&(t, i)).copied(),
                Some(1),
                "record t={t} i={i} must be in server.log exactly once"
            );
        }
    }
    assert_eq!(seen.len(), 6000);
}

#[test]
fn a_busy_writer_reports_a_truncated_region_and_keeps_what_it_wrote() {
    let s = Scratch::new("trunc-busy");
    let w = Writer::start(&s, &[]);
    // A producer that keeps the writer busy (it dies of SIGBUS itself once
    // the region is cut; that is not under test).
    let mut p = Command::new(stress_bin())
        .arg("--shm")
        .arg(&s.shm)
        .args(["--threads", "2", "--count", "100000000", "--no-flush"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start stress");
    assert!(
        wait_for(Duration::from_secs(20), || s.text().lines().count()
            > 20_000),
        "the writer wrote too little before the truncation"
    );
    // Cut the region in the middle of the lanes: the header stays, so the
    // writer's next pass faults on a lane, or its size check sees it first.
    let cut = {
        let r = common::attach(&s.shm);
        let g = r.geometry();
        (g.lanes_offset + g.lane_stride) as u64
    };
    let needed = truncate(&s, cut);
    let (code, err) = wait_exit(w);
    let _ = p.kill();
    let _ = p.wait();
    assert_eq!(
        code,
        Some(EXIT_REGION_BROKEN),
        "exit status after truncation; stderr:\n{err}"
    );
    assert_report(&s, &err, cut, needed);
    // What was written is whole: each thread's records are 0..k, each once
    // (Block policy: no drops, and a lane drains in order).
    let seen = stress_records(&s);
    let mut per_thread: HashMap<u32, Vec<u64>> = HashMap::new();
    for (&(t, i), &n) in &seen {
        assert_eq!(n, 1, "record t={t} i={i} written {n} times");
        per_thread.entry(t).or_default().push(i);
    }
    let mut total = 0;
    for (t, mut v) in per_thread {
        v.sort_unstable();
        for (k, i) in v.iter().enumerate() {
            assert_eq!(*i, k as u64, "thread {t}: records before {i} are missing");
        }
        total += v.len();
    }
    let via = if err.contains("SIGBUS") {
        "SIGBUS handler"
    } else {
        "size check"
    };
    eprintln!("truncated under load: {total} records on disk, reported by the {via}");
}

fn open_view(s: &Scratch) -> Region {
    common::attach(&s.shm)
}

/// How fast the producers of [`region_replaced`] log: `burst` records,
/// then a sleep of `pause_us`.
struct Pace {
    burst: u64,
    pause_us: u64,
    /// Records the new region must have had written, at least (the end
    /// records and the flush alone bring a few).
    min_in_new: u64,
}

/// Fast enough that lanes pass half full between the writer's passes.
const BUSY: Pace = Pace {
    burst: 100,
    pause_us: 300,
    min_in_new: 1,
};

/// One record per millisecond per thread: a lane never gets near half
/// full, so a thread moves only because the old region says it was
/// superseded.
const SLOW: Pace = Pace {
    burst: 1,
    pause_us: 1000,
    // About 2,800 in 1.5 s if the threads move at once; 2 (the end
    // records) if they stay on the old region until the final flush.
    min_in_new: 500,
};

/// Producers log through a replacement of the region file; every record
/// lands once, and both regions were used.
fn region_replaced(tag: &str, recreate: bool, pace: Pace) {
    let s = Scratch::new(tag);
    let w = Writer::start(&s, &[]);
    let old = open_view(&s);
    let stop = s.dir.with_extension("stop");
    let _ = std::fs::remove_file(&stop);
    let producer = Command::new(chaos_bin())
        .arg("--shm")
        .arg(&s.shm)
        .args(["--threads", "2", "--count", "0"])
        .args(["--burst", &pace.burst.to_string()])
        .args(["--pause-us", &pace.pause_us.to_string()])
        .args(["--timeout", "60", "--stop-file"])
        .arg(&stop)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chaos_producer");
    assert!(
        wait_for(Duration::from_secs(20), || s.text().lines().count() > 2000),
        "nothing written before the replacement"
    );
    std::fs::remove_file(&s.shm).expect("unlink region");
    let new = recreate.then(|| Region::open(&s.shm, &RegionOptions::default()).expect("recreate"));
    // Producers keep logging while everyone moves.
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(&stop, b"").expect("stop file");
    let out = producer.wait_with_output().expect("producer");
    let _ = std::fs::remove_file(&stop);
    assert!(
        out.status.success(),
        "producer failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Let the writer see the old region quiet, then stop it.
    let old_done = || {
        let g = old.geometry();
        (0..g.sizes.lanes as usize).all(|i| {
            let c = old.lane_control(i);
            c.head() == c.tail() && old.lane_slot(i).owner().load().is_free()
        })
    };
    assert!(
        wait_for(Duration::from_secs(20), old_done),
        "the old region was not drained and its lanes freed"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (status, err) = w.stop();
    assert!(status.success(), "writer exit {status:?}:\n{err}");
    // Unlinked only: the writer or a producer (whichever looks first)
    // creates the new region.
    assert!(
        err.contains(&format!("{} was unlinked", s.shm.display()))
            && err.contains("serving the new region there"),
        "the writer did not report the replacement:\n{err}"
    );
    assert!(
        err.contains("drained the replaced region"),
        "the writer did not finish the old region:\n{err}"
    );
    let new = new.unwrap_or_else(|| open_view(&s));
    let (in_old, in_new) = (
        old.header().stats.records_written.get(),
        new.header().stats.records_written.get(),
    );
    assert!(
        in_old > 0 && in_new >= pace.min_in_new,
        "records written from the old region {in_old}, from the new {in_new} (at least {} expected)",
        pace.min_in_new
    );

    // Every record each thread logged is there exactly once, in order.
    let text = s.text();
    let mut next: HashMap<(u32, u32), u64> = HashMap::new();
    let mut ends: Vec<(u32, u32, u64)> = Vec::new();
    for line in text.lines() {
        assert!(line.starts_with("UL: ["), "malformed line: {line:?}");
        assert!(!line.contains("records dropped"), "unexpected drop: {line}");
        let Some(rest) = line.split_once("] [chaos] ").map(|x| x.1) else {
            continue;
        };
        let msg = rest.split_once(": ").map_or("", |x| x.1);
        let field = |key: &str| -> u64 {
            msg.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line:?}"))
                .parse()
                .unwrap_or_else(|_| panic!("bad {key} in {line:?}"))
        };
        if msg.starts_with("c ") {
            let key = (field("p=") as u32, field("t=") as u32);
            let i = field("i=");
            let n = next.entry(key).or_insert(0);
            assert_eq!(
                i, *n,
                "{key:?}: expected record {n}, found {i} (lost or doubled)"
            );
            *n += 1;
        } else if msg.starts_with("e ") {
            ends.push((field("p=") as u32, field("t=") as u32, field("n=")));
        }
    }
    assert_eq!(ends.len(), 2, "one end record per thread:\n{err}");
    let mut total = 0;
    for (p, t, n) in ends {
        assert_eq!(
            next.get(&(p, t)).copied().unwrap_or(0),
            n,
            "thread {t} of {p} logged {n} records"
        );
        total += n;
    }
    eprintln!(
        "{tag}: {total} records, {in_old} written from the old region, {in_new} from the new"
    );
}

#[test]
fn a_region_unlinked_and_recreated_is_followed_by_everyone() {
    region_replaced("recreated", true, BUSY);
}

#[test]
fn a_region_unlinked_is_recreated_by_the_writer_and_followed() {
    region_replaced("unlinked", false, BUSY);
}

#[test]
fn a_thread_that_logs_slowly_follows_a_replaced_region() {
    region_replaced("slow", false, SLOW);
}
