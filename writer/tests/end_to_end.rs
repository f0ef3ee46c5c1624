//! End to end: real producer processes, the real `ul-writer`, a real
//! region in /dev/shm, and the files it writes.

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use common::*;

const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

/// One parsed `p=.. t=.. i=.. x=..` line of `server.log`.
#[derive(Debug)]
struct TextLine {
    ts_ns: i64,
    source: String,
    level: String,
    p: u32,
    t: u32,
    i: u64,
    x: String,
    rest: String,
}

fn parse_text(line: &str) -> Option<TextLine> {
    let rest = line.strip_prefix("UL: [")?;
    let (ts, rest) = rest.split_once("] [")?;
    let (source, rest) = rest.split_once("] ")?;
    let (level, msg) = rest.split_once(": ")?;
    let ts_ns = chrono::DateTime::parse_from_rfc3339(ts)
        .ok()?
        .timestamp_nanos_opt()?;
    let mut parts = msg.splitn(5, ' ');
    let p = parts.next()?.strip_prefix("p=")?.parse().ok()?;
    let t = parts.next()?.strip_prefix("t=")?.parse().ok()?;
    let i = parts.next()?.strip_prefix("i=")?.parse().ok()?;
    let x = parts.next()?.strip_prefix("x=")?.to_string();
    let rest = parts.next().unwrap_or("").to_string();
    Some(TextLine {
        ts_ns,
        source: source.to_string(),
        level: level.to_string(),
        p,
        t,
        i,
        x,
        rest,
    })
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Checks that `server.log` and the JSON files hold exactly `count`
/// records for each of `threads` threads of each pid, in order, with the
/// right level, source, context, values and timestamps.
fn check_files(s: &Scratch, pids: &[u32], threads: u32, count: u64, t0: i64, t1: i64) {
    let text = s.text();
    let mut next: HashMap<(u32, u32), u64> = HashMap::new();
    let mut n = 0u64;
    for line in text.lines() {
        let Some(l) = parse_text(line) else {
            assert!(
                line.contains("[ul-writer]"),
                "malformed line in server.log: {line:?}"
            );
            continue;
        };
        n += 1;
        assert_eq!(l.source, "stress", "{line}");
        assert_eq!(l.level, LEVELS[(l.i % 5) as usize].to_uppercase(), "{line}");
        assert_eq!(l.x, format!("{}", l.i as f64 / 4.0), "{line}");
        let mut want_rest = format!("[session:s{}]", l.t);
        if l.i % 5 == 2 {
            want_rest.push_str(&format!(" [k:{}]", l.i));
        }
        assert_eq!(l.rest, want_rest, "{line}");
        assert!(
            l.ts_ns >= t0 - 50_000_000 && l.ts_ns <= t1 + 50_000_000,
            "timestamp out of the test's window: {line}"
        );
        let e = next.entry((l.p, l.t)).or_insert(0);
        assert_eq!(
            l.i, *e,
            "out of order, missing or duplicated record: {line}"
        );
        *e += 1;
    }
    assert_eq!(
        n,
        pids.len() as u64 * u64::from(threads) * count,
        "records in server.log"
    );
    for &p in pids {
        for t in 0..threads {
            assert_eq!(
                next.get(&(p, t)),
                Some(&count),
                "records of pid {p} thread {t}"
            );
        }
    }
    for (li, level) in LEVELS.iter().enumerate() {
        let json = s.json(level);
        let mut per: HashMap<(u64, u32), u64> = HashMap::new();
        let mut k = 0;
        for line in json.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"));
            if v["source"] == "ul-writer" {
                continue;
            }
            k += 1;
            assert_eq!(v["level"], *level, "{line}");
            assert_eq!(v["source"], "stress", "{line}");
            let msg = v["message"].as_str().expect("message");
            let t: u32 = msg.split(' ').nth(1).unwrap()[2..].parse().unwrap();
            let i: u64 = msg.split(' ').nth(2).unwrap()[2..].parse().unwrap();
            assert_eq!(i % 5, li as u64, "{line}");
            assert_eq!(v["context"]["session"], format!("s{t}"), "{line}");
            if li == 2 {
                assert_eq!(v["context"]["k"], i, "{line}");
            }
            let pid = v["pid"].as_u64().expect("pid");
            assert!(pids.contains(&(pid as u32)), "{line}");
            assert!(
                v["tid"].as_u64().is_some() && v["seq"].as_u64().is_some(),
                "{line}"
            );
            let ts = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap())
                .unwrap()
                .timestamp_nanos_opt()
                .unwrap();
            assert!(ts >= t0 - 50_000_000 && ts <= t1 + 50_000_000, "{line}");
            let e = per.entry((pid, t)).or_insert(li as u64);
            assert_eq!(i, *e, "JSON out of order or missing: {line}");
            *e += 5;
        }
        assert_eq!(
            k,
            pids.len() as u64 * u64::from(threads) * count / 5,
            "records in server.{level}.json"
        );
    }
}

#[test]
fn four_processes_four_threads_every_record_exactly_once() {
    let s = Scratch::new("e2e");
    let w = Writer::start(&s, &[]);
    let count = 100_000;
    let t0 = now_ns();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(stress_bin())
                .args(["--threads", "4", "--count", &count.to_string(), "--shm"])
                .arg(&s.shm)
                .spawn()
                .expect("spawn stress")
        })
        .collect();
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    for mut c in children {
        let st = c.wait().expect("wait stress");
        assert!(st.success(), "producer failed: {st:?}");
    }
    let t1 = now_ns();
    let (st, err) = w.stop();
    assert!(st.success(), "writer failed: {st:?}\n{err}");
    check_files(&s, &pids, 4, count, t0, t1);
}

#[test]
fn producer_started_before_the_writer_is_written_later() {
    let s = Scratch::new("early");
    let t0 = now_ns();
    // No writer yet: the producer creates the region and logs into it.
    let out = std::process::Command::new(stress_bin())
        .args(["--threads", "2", "--count", "500", "--no-flush", "--shm"])
        .arg(&s.shm)
        .output()
        .expect("run stress");
    assert!(out.status.success(), "{out:?}");
    assert!(
        s.shm.exists(),
        "the producer should have created the region"
    );
    assert!(!s.dir.exists(), "no writer has run yet");
    let w = Writer::start(&s, &[]);
    // Another process's flush waits for the writer to catch up.
    stress(&s.shm, 1, 0, &[]);
    let t1 = now_ns();
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");
    let text = s.text();
    let pids: Vec<u32> = text
        .lines()
        .filter_map(parse_text)
        .map(|l| l.p)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(pids.len(), 1, "one producer process: {pids:?}");
    check_files(&s, &pids, 2, 500, t0, t1);
}

/// An idle writer wakes about once per flush interval, on every thread
/// together, and does not spin. Counted in wake-ups rather than CPU time,
/// which a loaded machine (or a debug build) inflates: an earlier form of
/// this test failed a CI run at 12 ms of CPU against a 10 ms bound.
#[test]
fn idle_writer_wakes_only_at_its_flush_interval() {
    let s = Scratch::new("idle");
    let w = Writer::start(&s, &["--flush-interval-ms", "100"]);
    std::thread::sleep(Duration::from_millis(500));
    let (cpu0, runs0) = threads_cpu_and_runs(w.pid());
    std::thread::sleep(Duration::from_secs(5));
    let (cpu1, runs1) = threads_cpu_and_runs(w.pid());
    // 50 flush intervals in 5 s. A writer that polled every millisecond
    // would run ~5,000 times; one that spun, for ~5 s of CPU.
    let runs = runs1 - runs0;
    assert!(
        runs <= 100,
        "idle writer's threads were put on a CPU {runs} times in 5 s (flush interval 100 ms)"
    );
    assert!(
        cpu1 - cpu0 < 250_000_000,
        "idle writer used {} ms of CPU in 5 s",
        (cpu1 - cpu0) / 1_000_000
    );
    let (st, _) = w.stop();
    assert!(st.success());
}

#[test]
fn a_second_writer_is_refused_with_a_clear_message() {
    let s = Scratch::new("two");
    let w = Writer::start(&s, &[]);
    let out = std::process::Command::new(writer_bin())
        .arg("--shm")
        .arg(&s.shm)
        .arg("--dir")
        .arg(&s.dir)
        .output()
        .expect("run second writer");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already serves") && err.contains(&w.pid().to_string()),
        "unclear refusal: {err}"
    );
    drop(w);
}

#[test]
fn sigterm_drains_everything_before_exit() {
    let s = Scratch::new("term");
    let w = Writer::start(&s, &["--flush-interval-ms", "1000"]);
    let t0 = now_ns();
    let out = std::process::Command::new(stress_bin())
        .args(["--threads", "2", "--count", "2000", "--no-flush", "--shm"])
        .arg(&s.shm)
        .output()
        .expect("run stress");
    assert!(out.status.success());
    let t1 = now_ns();
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");
    let pids: Vec<u32> = s
        .text()
        .lines()
        .filter_map(parse_text)
        .map(|l| l.p)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    check_files(&s, &pids, 2, 2000, t0, t1);
}

#[test]
fn flush_without_a_writer_times_out_with_an_error() {
    let s = Scratch::new("nowriter");
    let out = std::process::Command::new(stress_bin())
        .args([
            "--threads",
            "1",
            "--count",
            "10",
            "--timeout",
            "0.3",
            "--shm",
        ])
        .arg(&s.shm)
        .output()
        .expect("run stress");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no ul-writer acknowledged"), "{err}");
}
