//! Producers in pid namespaces of their own (as containers that share
//! `/dev/shm` with a writer are) against a real writer: their pids mean
//! nothing in the writer's `/proc`, so the writer must learn that they live
//! from the kernel (the lane locks), not from a pid.
//!
//! Each producer logs bursts with pauses while staying alive, and
//! short-lived producers churn the lanes around them: a lane the writer
//! wrongly took back would be claimed by one of those, and two producers
//! would share it. Every record of every producer must reach `server.log`
//! exactly once, and every producer's `flush()` must succeed.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// True if this machine lets us make pid namespaces; else says loudly that
/// the test is skipped.
fn unshare_works(test: &str) -> bool {
    let ok = Command::new("unshare")
        .args(["-p", "-f", "--mount-proc", "true"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "\n!!!!! SKIPPED {test}: `unshare -p -f --mount-proc` is not permitted here \
             (needs root or user namespaces); the pid-namespace checks did not run !!!!!\n"
        );
    }
    ok
}

/// Per (tag, thread): how often each record number appears.
type Seen = HashMap<(u32, u32), HashMap<u64, u32>>;
/// Per (tag, thread): the `n=` of its end record.
type Ends = HashMap<(u32, u32), u64>;

/// Counts, per (tag, thread), how often each record number appears, and
/// the `n=` of each end record.
fn tally(text: &str, tags: &[u32]) -> (Seen, Ends) {
    let mut seen = Seen::new();
    let mut ends = HashMap::new();
    for line in text.lines() {
        // `UL: [time] [chaos] LEVEL: c p=.. t=.. i=..` (or `e p=.. n=..`).
        let Some(at) = line.find(": c p=").or_else(|| line.find(": e p=")) else {
            continue;
        };
        let msg = &line[at + 2..];
        let field = |name: &str| -> Option<u64> {
            msg.split(' ')
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse().ok())
        };
        let (Some(p), Some(t)) = (field("p="), field("t=")) else {
            continue;
        };
        let p = p as u32;
        if !tags.contains(&p) {
            continue;
        }
        let t = t as u32;
        if msg.starts_with("c ") {
            *seen
                .entry((p, t))
                .or_default()
                .entry(field("i=").expect("i="))
                .or_default() += 1;
        } else if msg.starts_with("e ") {
            ends.insert((p, t), field("n=").expect("n="));
        }
    }
    (seen, ends)
}

#[test]
fn producers_in_their_own_pid_namespaces_keep_their_lanes() {
    if !unshare_works("producers_in_their_own_pid_namespaces_keep_their_lanes") {
        return;
    }
    let s = Scratch::new("pidns");
    // Few lanes, so the churning producers take any lane the writer frees.
    let w = Writer::start(&s, &["--lanes", "8"]);
    let tags = [100_001u32, 100_002, 100_003];
    let threads = 2u32;
    let count = 1_000u64;
    let contained: Vec<_> = tags
        .iter()
        .map(|tag| {
            Command::new("unshare")
                .args(["-p", "-f", "--mount-proc"])
                .arg(chaos_bin())
                .arg("--shm")
                .arg(&s.shm)
                .args(["--threads", &threads.to_string()])
                .args(["--count", &count.to_string()])
                .args(["--burst", "250", "--pause-us", "1500000"])
                .args(["--pid-as", &tag.to_string()])
                .stdin(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a producer in a pid namespace")
        })
        .collect();
    // Short-lived producers take and give back lanes the whole time.
    let end = Instant::now() + Duration::from_secs(4);
    let mut churns = 0;
    while Instant::now() < end {
        stress(&s.shm, 3, 300, &["--timeout", "30"]);
        churns += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    for mut c in contained {
        let status = wait_timeout(&mut c, Duration::from_secs(60)).expect("producer finished");
        let mut err = String::new();
        if let Some(mut e) = c.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        assert!(
            status.success(),
            "a contained producer failed ({status}): {err}"
        );
    }
    let (_, werr) = w.stop();
    let text = s.text();
    let (seen, ends) = tally(&text, &tags);
    let mut problems = Vec::new();
    for &p in &tags {
        for t in 0..threads {
            let n = ends.get(&(p, t)).copied();
            if n != Some(count) {
                problems.push(format!(
                    "p={p} t={t}: end record says n={n:?}, expected {count}"
                ));
            }
            let got = seen.get(&(p, t)).cloned().unwrap_or_default();
            let missing = (0..count).filter(|i| !got.contains_key(i)).count();
            let doubled = got.values().filter(|&&k| k > 1).count();
            if missing != 0 || doubled != 0 {
                problems.push(format!(
                    "p={p} t={t}: {missing} records missing, {doubled} written twice"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{churns} churning producers ran; {}\nwriter's own lines:\n{}\nwriter stderr:\n{werr}",
        problems.join("\n"),
        text.lines()
            .filter(|l| l.contains("[ul-writer]"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
