//! Every record accounted for, per thread: with one lane and the writer
//! stopped, most threads log through the shared lane and drop there (the
//! `Drop` policy). For every thread, records written plus the drops the
//! writer reported for that pid and thread equal the records it attempted,
//! whether the producer exits normally or is killed with SIGKILL.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const THREADS: u32 = 4;
/// Records each thread logs: more than the shared lane's slots, so that
/// each thread on it drops some with the writer stopped, whichever runs
/// first (checked against the default sizes in `run`).
const COUNT: u64 = 9000;
/// Records each thread attempts: a hello record, then `COUNT` numbered ones.
const ATTEMPTED: u64 = COUNT + 1;

/// Records written per thread of `pid`, keyed by the thread's kernel tid
/// (the JSON lines' `tid`; the `t=` index cannot be used, since a thread
/// may have had every record dropped).
fn written(s: &Scratch, pid: u32) -> HashMap<u64, u64> {
    let mut per: HashMap<u64, u64> = HashMap::new();
    for level in ["trace", "debug", "info", "warn", "error"] {
        for line in s.json(level).lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let msg = v["message"].as_str().unwrap_or("");
            // Its hello record and its numbered records.
            if msg.starts_with(&format!("c p={pid} t="))
                || msg.starts_with(&format!("h p={pid} t="))
            {
                *per.entry(v["tid"].as_u64().expect("tid")).or_default() += 1;
            }
        }
    }
    per
}

/// Drops the writer reported for `pid`, per thread (tid): on its lanes and
/// in the shared lane. Also the anonymous shared-lane drops.
fn reported_drops(text: &str, pid: u32) -> (HashMap<u64, u64>, u64) {
    let mut per: HashMap<u64, u64> = HashMap::new();
    let mut anonymous = 0;
    for line in text.lines().filter(|l| l.contains("[ul-writer]")) {
        let Some((_, msg)) = line.split_once("WARN: ") else {
            continue;
        };
        // `1 record dropped` is singular; the parsing below reads the plural.
        let msg = msg.replacen(" record dropped ", " records dropped ", 1);
        let n = |s: &str| s.split(' ').next().unwrap().parse::<u64>().unwrap();
        if let Some((count, rest)) = msg.split_once(" records dropped in the shared lane by pid ") {
            let (p, rest) = rest.split_once(" (thread ").unwrap();
            if p.parse::<u32>().unwrap() == pid {
                let tid = rest.split(')').next().unwrap().parse().unwrap();
                *per.entry(tid).or_default() += n(count);
            }
        } else if let Some((count, rest)) = msg.split_once(" records dropped by pid ") {
            let (p, rest) = rest.split_once(" (lane ").unwrap();
            if p.parse::<u32>().unwrap() == pid {
                let tid = rest
                    .split_once(", thread ")
                    .unwrap()
                    .1
                    .split(')')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                *per.entry(tid).or_default() += n(count);
            }
        } else if let Some((count, _)) =
            msg.split_once(" records dropped in the shared lane since ")
        {
            anonymous += n(count);
        }
    }
    (per, anonymous)
}

fn run(kill: bool) {
    assert!(COUNT > u64::from(ul_ring::layout::Sizes::default().shared_lane_slots));
    let s = Scratch::new(if kill { "dropacct-kill" } else { "dropacct" });
    let w = Writer::start(&s, &["--lanes", "1", "--lane-size", "4096"]);
    signal(w.pid(), libc::SIGSTOP);
    assert!(wait_stopped(w.pid(), Duration::from_secs(10)));
    let mut p = Command::new(chaos_bin())
        .arg("--shm")
        .arg(&s.shm)
        .args(["--threads", &THREADS.to_string()])
        .args(["--count", &COUNT.to_string()])
        .args(["--drop", "--hold-ms", if kill { "60000" } else { "0" }])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the producer");
    let pid = p.id();
    let mut line = String::new();
    BufReader::new(p.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the producer");
    if line.trim() != "held" {
        let out = p.wait_with_output().expect("wait for the producer");
        panic!(
            "the producer's threads did not finish: {:?}, stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // ul-stat shows the threads on the shared lane and what they dropped
    // (nothing reported yet: the writer is stopped).
    let out = Command::new(env!("CARGO_BIN_EXE_ul-stat"))
        .arg("--shm")
        .arg(&s.shm)
        .arg("--json")
        .output()
        .expect("run ul-stat");
    let stat: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ul-stat --json");
    let ours: Vec<&serde_json::Value> = stat["shared_threads"]
        .as_array()
        .expect("shared_threads")
        .iter()
        .filter(|t| t["pid"].as_u64() == Some(u64::from(pid)))
        .collect();
    assert_eq!(
        ours.len(),
        THREADS as usize - 1,
        "threads on the shared lane: {stat}"
    );
    assert!(ours
        .iter()
        .all(|t| t["dropped"].as_u64() > Some(0) && t["reported"] == 0));
    if kill {
        signal(pid, libc::SIGKILL);
    }
    signal(w.pid(), libc::SIGCONT);
    // Without the kill it flushes, logs its end records, flushes again and
    // exits.
    if !kill && wait_timeout(&mut p, Duration::from_secs(60)).is_none() {
        let _ = p.kill();
    }
    let st = p.wait().expect("reap the producer");
    assert_eq!(st.success(), !kill, "the producer: {st}");
    // SIGTERM: the writer drains everything, reporting every drop it
    // finds (a pass reports them before it looks whether it is done).
    let (status, err) = w.stop();
    assert!(status.success(), "{err}");
    let text = s.text();
    let wrote = written(&s, pid);
    let (drops, anonymous) = reported_drops(&text, pid);
    let mut tids: Vec<u64> = wrote.keys().chain(drops.keys()).copied().collect();
    tids.sort_unstable();
    tids.dedup();
    let mut problems = Vec::new();
    if tids.len() != THREADS as usize {
        problems.push(format!(
            "{} threads seen (written or reported dropped), {THREADS} logged",
            tids.len()
        ));
    }
    let mut total_dropped = 0;
    for tid in tids {
        let n = wrote.get(&tid).copied().unwrap_or(0);
        let d = drops.get(&tid).copied().unwrap_or(0);
        total_dropped += d;
        if n + d != ATTEMPTED {
            problems.push(format!(
                "tid {tid}: {n} written + {d} reported dropped != {ATTEMPTED} attempted"
            ));
        }
    }
    assert!(
        total_dropped > 0,
        "nothing was dropped: the test did not test"
    );
    assert!(
        problems.is_empty(),
        "{}\n{anonymous} drops reported without a pid\nwriter lines:\n{}",
        problems.join("\n"),
        text.lines()
            .filter(|l| l.contains("[ul-writer]"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_threads_records_are_written_or_reported_dropped() {
    run(false);
}

#[test]
fn a_killed_processs_drops_are_reported_per_thread() {
    run(true);
}
