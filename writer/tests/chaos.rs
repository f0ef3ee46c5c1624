//! Chaos: the real `ul-writer` and real producer processes (the
//! `chaos_producer` example), killed with SIGKILL and stopped with SIGSTOP
//! at random points, then judged from the output files alone:
//!
//! - every line of `server.log` is whole and parses, every JSON line parses;
//! - each thread's counters are strictly increasing (nothing written twice,
//!   order kept), in the text file and, as a set, in the JSON files;
//! - every gap in a thread's counters is covered by a drop the writer
//!   reported for that thread's lane (or for the shared lane);
//! - a producer that finished logs how many records each thread attempted
//!   (`e p= t= n=`), and those are all there, exactly once, but for the
//!   reported drops (exact accounting);
//! - every killed producer's lanes are announced reclaimed.
//!
//! Bounded by default (the suite finishes well within 3 minutes on two
//! cores). `UL_CHAOS_SCALE=<factor>` multiplies the kill counts and run
//! lengths (`UL_CHAOS_LONG=1` means 10); `UL_CHAOS_SEED=<n>` replays the
//! random choices of a run (each test prints its seed).

mod common;
use common::attach;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ul_ring::ownership::LaneOwner;
use ul_ring::region::{Region, RegionOptions};
use ul_test_support::Rng;

const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

/// Multiplier for kill counts and run lengths.
fn scale() -> f64 {
    if std::env::var("UL_CHAOS_LONG").is_ok_and(|v| v == "1") {
        return 10.0;
    }
    std::env::var("UL_CHAOS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| *v > 0.0)
        .unwrap_or(1.0)
}

// ---------------------------------------------------------------------------
// Processes

/// Starts writer incarnation number `n` on `shm` -> `dir`, its stderr in a
/// file of its own under [`stderr_dir`]. `wrap` is shell run before exec'ing
/// the writer (e.g. `ulimit -f 64`).
fn start_writer(shm: &Path, dir: &Path, n: usize, args: &[&str], wrap: Option<&str>) -> Writer {
    let errdir = stderr_dir(dir);
    std::fs::create_dir_all(&errdir).expect("create stderr dir");
    let err = errdir.join(format!("writer-{n}.txt"));
    Writer::spawn(shm, dir, args, Stderr::File(err), wrap)
}

/// SIGCONT (it may be stopped), SIGTERM, wait (bounded), assert a clean exit.
fn stop_clean(w: Writer) {
    signal(w.pid(), libc::SIGCONT);
    let (st, err) = w.stop();
    assert!(st.success(), "ul-writer exited with {st}:\n{err}");
}

/// True once `pid` serves the region at `shm`: its pid is in the region's
/// header, so the region is initialised. The writer opens its outputs
/// before the region, so `server.log` existing is not enough for a test
/// that stops the writer or attaches next (it then found a file of zeros).
fn serving(shm: &Path, pid: u32) -> bool {
    ul_writer::stat::Snapshot::read(shm).is_ok_and(|snap| snap.writer.pid == pid)
}

fn stderr_dir(dir: &Path) -> PathBuf {
    dir.join("stderr")
}

/// Every writer's stderr, concatenated.
fn writer_stderr(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(stderr_dir(dir))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// A producer process, killed on drop if still running.
struct Producer {
    child: Child,
}

impl Producer {
    fn spawn(shm: &Path, args: &[&str], capture: bool) -> Self {
        let child = Command::new(chaos_bin())
            .arg("--shm")
            .arg(shm)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if capture {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start chaos_producer");
        Producer { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(mut self) -> u32 {
        signal(self.pid(), libc::SIGKILL);
        self.child.wait().expect("wait for killed producer");
        self.pid()
    }

    /// Waits (bounded) and asserts it exited 0.
    fn finish(mut self, within: Duration) -> u32 {
        let pid = self.pid();
        let st = wait_timeout(&mut self.child, within);
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            if st.is_some() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
        }
        match st {
            Some(st) => assert!(st.success(), "producer {pid} exited with {st}: {err}"),
            None => panic!("producer {pid} did not finish within {within:?} (hung?)"),
        }
        pid
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// True when no lane is owned and nothing waits to be written or reported.
fn quiescent(r: &Region) -> bool {
    let lanes = r.geometry().sizes.lanes as usize;
    let lanes_done = (0..lanes)
        .all(|i| r.lane_slot(i).owner().load().is_free() && r.lane_control(i).is_drained());
    let m = r.shared_lane();
    let mc = m.control();
    lanes_done && mc.head() == mc.tail() && mc.dropped() == mc.dropped_reported()
}

/// What the directory says, for a failed wait.
fn lanes_state(r: &Region) -> String {
    let lanes = r.geometry().sizes.lanes as usize;
    let mut s = String::new();
    for i in 0..lanes {
        let c = r.lane_control(i);
        let o: LaneOwner = r.lane_slot(i).owner().load();
        s += &format!(
            "lane {i}: pid {} state {} head {} tail {} dropped {}/{}\n",
            o.pid(),
            o.name(),
            c.head(),
            c.tail(),
            c.dropped(),
            c.dropped_reported()
        );
    }
    let mc = r.shared_lane().control();
    s += &format!(
        "shared lane: head {} tail {} dropped {}/{}",
        mc.head(),
        mc.tail(),
        mc.dropped(),
        mc.dropped_reported()
    );
    s
}

fn wait_quiescent(shm: &Path, dir: &Path, within: Duration) {
    let r = attach(shm);
    assert!(
        wait_for(within, || quiescent(&r)),
        "the region did not drain and free every lane within {within:?}:\n{}\nwriter stderr:\n{}",
        lanes_state(&r),
        writer_stderr(dir)
    );
}

// ---------------------------------------------------------------------------
// Reading the files

/// One thread's records as the files show them.
#[derive(Default, Debug)]
struct ThreadLog {
    /// Lane named in its records (-1: the shared lane).
    lane: Option<i64>,
    /// `h` records seen.
    hellos: u32,
    /// Counters in `server.log` order.
    seen: Vec<u64>,
    /// Counters from the JSON files (any order).
    json: Vec<u64>,
    /// `n` of its `e` record, if the producer finished.
    end: Option<u64>,
    ends: u32,
}

/// Everything read from a log directory.
#[derive(Default)]
struct Files {
    text_lines: u64,
    json_lines: u64,
    records: u64,
    threads: BTreeMap<(u32, u32), ThreadLog>,
    lane_drops: HashMap<(u32, i64), u64>,
    shared_drops: u64,
    reclaimed: HashMap<u32, u64>,
    abandoned: u64,
    /// Shared-lane slots the writer skipped as overwritten (one record each).
    overwritten: u64,
    /// Pids the writer said died inside their copy into a shared-lane slot
    /// (it freed the quarantined slot).
    died_in_copy: Vec<u32>,
    writer_other: Vec<String>,
    errors: Vec<String>,
}

impl Files {
    fn err(&mut self, e: String) {
        if self.errors.len() < 50 {
            self.errors.push(e);
        }
    }
}

/// Splits `UL: [ts] [source] LEVEL: message`, checking the timestamp.
fn split_text(line: &str) -> Option<(&str, &str, &str)> {
    let rest = line.strip_prefix("UL: [")?;
    let (ts, rest) = rest.split_once("] [")?;
    chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    let (source, rest) = rest.split_once("] ")?;
    let (level, msg) = rest.split_once(": ")?;
    Some((source, level, msg))
}

fn field<'a>(it: &mut impl Iterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    it.next()?.strip_prefix(name)?.strip_prefix('=')
}

/// A record message, checked against what the producer logs.
enum Msg {
    Hello { p: u32, t: u32 },
    Record { p: u32, t: u32, i: u64, l: i64 },
    End { p: u32, t: u32, n: u64 },
}

fn parse_msg(msg: &str, max_pads: &[usize]) -> Result<Msg, String> {
    let bad = || format!("not a chaos record: {msg:?}");
    let mut it = msg.split(' ');
    let kind = it.next().ok_or_else(bad)?;
    let p = field(&mut it, "p")
        .and_then(|v| v.parse().ok())
        .ok_or_else(bad)?;
    let t = field(&mut it, "t")
        .and_then(|v| v.parse().ok())
        .ok_or_else(bad)?;
    let m = match kind {
        "h" => Msg::Hello { p, t },
        "e" => Msg::End {
            p,
            t,
            n: field(&mut it, "n")
                .and_then(|v| v.parse().ok())
                .ok_or_else(bad)?,
        },
        "c" => {
            let i: u64 = field(&mut it, "i")
                .and_then(|v| v.parse().ok())
                .ok_or_else(bad)?;
            let l = field(&mut it, "l")
                .and_then(|v| v.parse().ok())
                .ok_or_else(bad)?;
            let x: u64 = field(&mut it, "x")
                .and_then(|v| v.parse().ok())
                .ok_or_else(bad)?;
            let pad = field(&mut it, "pad").ok_or_else(bad)?;
            let want_len = |m: usize| (i as usize * 7) % (m + 1);
            let want_c = (b'a' + (i % 26) as u8) as char;
            if x != i * 3
                || !max_pads.iter().any(|&m| pad.len() == want_len(m))
                || pad.chars().any(|c| c != want_c)
            {
                return Err(format!("record with wrong contents: {msg:?}"));
            }
            Msg::Record { p, t, i, l }
        }
        _ => return Err(bad()),
    };
    if it.next().is_some() {
        return Err(format!("trailing bytes in record: {msg:?}"));
    }
    Ok(m)
}

/// Parses a writer line of its own; false if it is not one we know.
fn writer_msg(f: &mut Files, msg: &str) -> bool {
    // `1 record dropped` is singular; the parsing below reads the plural.
    let msg = &msg.replacen(" record dropped ", " records dropped ", 1);
    if let Some((n, rest)) = msg.split_once(" records dropped by pid ") {
        let (pid, rest) = rest.split_once(" (lane ").unwrap_or(("", ""));
        let (lane, _) = rest.split_once(") since ").unwrap_or(("", ""));
        // `L, thread T`: the lane is what the checker keys drops by.
        let lane = lane.split(',').next().unwrap_or("");
        if let (Ok(n), Ok(pid), Ok(lane)) = (n.parse::<u64>(), pid.parse(), lane.parse()) {
            *f.lane_drops.entry((pid, lane)).or_default() += n;
            return true;
        }
    }
    // A thread on the shared lane reports by pid and thread (its drop-table
    // entry), else anonymously; the checker pools both.
    if let Some((n, _)) = msg.split_once(" records dropped in the shared lane by pid ") {
        if let Ok(n) = n.parse::<u64>() {
            f.shared_drops += n;
            return true;
        }
    }
    if let Some((n, _)) = msg.split_once(" records dropped in the shared lane since ") {
        if let Ok(n) = n.parse::<u64>() {
            f.shared_drops += n;
            return true;
        }
    }
    if let Some(rest) = msg.strip_prefix("process ") {
        if let Some((pid, rest)) = rest.split_once(" exited; reclaimed ") {
            let n = rest.split(' ').next().unwrap_or("");
            if let (Ok(pid), Ok(n)) = (pid.parse(), n.parse::<u64>()) {
                *f.reclaimed.entry(pid).or_default() += n;
                return true;
            }
        }
    }
    if msg.starts_with("skipped a shared-lane record: ") {
        // A late writer (stalled past the claim timeout) overwrote a slot
        // reused by another claim: the writer detects it and says so; that
        // record is gone. See `producer_stopped_inside_a_shared_lane_claim`.
        f.overwritten += 1;
        return true;
    }
    // `freed the shared-lane slot of position N: its claimant, pid P, died
    // inside its copy`: the pid is checked against the producers killed.
    if let Some(rest) = msg.strip_prefix("freed the shared-lane slot of position ") {
        let pid = rest
            .split_once(": its claimant, pid ")
            .and_then(|(_, r)| r.strip_suffix(", died inside its copy"))
            .and_then(|p| p.parse().ok());
        if let Some(pid) = pid {
            f.died_in_copy.push(pid);
            return true;
        }
    }
    if msg.starts_with("abandoned a shared-lane claim at position ") {
        f.abandoned += 1;
        return true;
    }
    false
}

/// Reads `server.log` and every `server.<level>.json` in `dir`; records
/// were logged with one of `max_pads` as `--max-pad`.
fn read_files(dir: &Path, max_pads: &[usize]) -> Files {
    let mut f = Files::default();
    let text = std::fs::read(dir.join("server.log")).expect("read server.log");
    if !text.is_empty() && !text.ends_with(b"\n") {
        f.err("server.log ends in a partial line".into());
    }
    let text = String::from_utf8(text).unwrap_or_else(|e| {
        panic!("server.log is not UTF-8: {e}");
    });
    for line in text.lines() {
        f.text_lines += 1;
        let Some((source, level, msg)) = split_text(line) else {
            f.err(format!("malformed line in server.log: {line:?}"));
            continue;
        };
        if source == "ul-writer" {
            if !writer_msg(&mut f, msg) {
                f.writer_other.push(line.to_string());
            }
            continue;
        }
        if source != "chaos" {
            f.err(format!("line from an unknown source: {line:?}"));
            continue;
        }
        match parse_msg(msg, max_pads) {
            Ok(Msg::Hello { p, t }) => f.threads.entry((p, t)).or_default().hellos += 1,
            Ok(Msg::End { p, t, n }) => {
                let th = f.threads.entry((p, t)).or_default();
                th.end = Some(n);
                th.ends += 1;
            }
            Ok(Msg::Record { p, t, i, l }) => {
                f.records += 1;
                if level != LEVELS[(i % 5) as usize].to_uppercase() {
                    f.err(format!("record at the wrong level: {line:?}"));
                }
                let th = f.threads.entry((p, t)).or_default();
                if th.lane.is_some_and(|x| x != l) {
                    let e = format!("thread ({p}, {t}) changed lanes: {line:?}");
                    f.err(e);
                    continue;
                }
                th.lane = Some(l);
                th.seen.push(i);
            }
            Err(e) => f.err(format!("{e} in line {line:?}")),
        }
    }
    for level in LEVELS {
        let path = dir.join(format!("server.{level}.json"));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            f.err(format!("{} ends in a partial line", path.display()));
        }
        for line in String::from_utf8_lossy(&bytes).lines() {
            f.json_lines += 1;
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    f.err(format!("{}: bad JSON ({e}): {line:?}", path.display()));
                    continue;
                }
            };
            if v["level"] != level {
                f.err(format!(
                    "{}: line of another level: {line:?}",
                    path.display()
                ));
            }
            if v["source"] != "chaos" {
                continue;
            }
            let msg = v["message"].as_str().unwrap_or("");
            if let Ok(Msg::Record { p, t, i, .. }) = parse_msg(msg, max_pads) {
                if v["pid"].as_u64() != Some(u64::from(p)) {
                    f.err(format!("JSON pid differs from the message's: {line:?}"));
                }
                f.threads.entry((p, t)).or_default().json.push(i);
            } else if !msg.starts_with("h ") && !msg.starts_with("e ") {
                f.err(format!("{}: not a chaos record: {line:?}", path.display()));
            }
        }
    }
    f
}

/// The verdict on a set of files.
#[derive(Debug, Default)]
struct Verdict {
    records: u64,
    lost: u64,
    duplicated: u64,
    gaps_from_drops: u64,
    drops_reported: u64,
    threads: usize,
    finished_threads: usize,
}

/// Checks the rules in the module docs. `killed` are pids that were
/// SIGKILLed (their lanes must be announced reclaimed).
fn verify(f: &mut Files, killed: &BTreeSet<u32>) -> Verdict {
    let mut v = Verdict {
        records: f.records,
        threads: f.threads.len(),
        ..Verdict::default()
    };
    let mut lane_need: HashMap<(u32, i64), (u64, bool)> = HashMap::new();
    let mut shared_need = 0u64;
    let mut errors = Vec::new();
    for (&(p, t), th) in &f.threads {
        let mut gaps = 0u64;
        let mut prev: Option<u64> = None;
        for &i in &th.seen {
            match prev {
                Some(q) if i <= q => {
                    v.duplicated += 1;
                    errors.push(format!(
                        "thread ({p}, {t}): counter {i} after {q} (written twice or out of order)"
                    ));
                    continue;
                }
                Some(q) => gaps += i - q - 1,
                None => gaps += i,
            }
            prev = Some(i);
        }
        let mut json = th.json.clone();
        json.sort_unstable();
        let mut text = th.seen.clone();
        text.sort_unstable();
        if json != text {
            v.duplicated += json.len().saturating_sub(text.len()) as u64;
            errors.push(format!(
                "thread ({p}, {t}): JSON holds {} records, server.log {} (or different ones)",
                json.len(),
                text.len()
            ));
        }
        if !th.seen.is_empty() && th.hellos == 0 {
            errors.push(format!("thread ({p}, {t}): records but no hello record"));
        }
        if th.hellos > 1 || th.ends > 1 {
            v.duplicated += u64::from(th.hellos.saturating_sub(1) + th.ends.saturating_sub(1));
            errors.push(format!(
                "thread ({p}, {t}): hello or end record written twice"
            ));
        }
        let mut need = gaps;
        if let Some(n) = th.end {
            v.finished_threads += 1;
            let next = prev.map_or(0, |q| q + 1);
            if next > n {
                errors.push(format!(
                    "thread ({p}, {t}): counter {} beyond its end {n}",
                    next - 1
                ));
            } else {
                need += n - next;
            }
        }
        match th.lane {
            Some(l) if l >= 0 => {
                let e = lane_need.entry((p, l)).or_default();
                e.0 += need;
                e.1 |= th.end.is_some();
            }
            _ => shared_need += need,
        }
    }
    v.drops_reported = f.lane_drops.values().sum::<u64>() + f.shared_drops;
    for (&(p, l), &(need, finished)) in &lane_need {
        let have = f.lane_drops.get(&(p, l)).copied().unwrap_or(0);
        if need > have {
            v.lost += need - have;
            errors.push(format!(
                "pid {p} lane {l}: {need} records missing, {have} drops reported"
            ));
        } else if finished && need != have {
            errors.push(format!(
                "pid {p} lane {l}: {have} drops reported but only {need} records missing"
            ));
        }
        v.gaps_from_drops += need;
    }
    let shared_reported = f.shared_drops + f.overwritten;
    if shared_need > shared_reported {
        v.lost += shared_need - shared_reported;
        errors.push(format!(
            "shared lane: {shared_need} records missing, {} drops and {} overwritten slots reported",
            f.shared_drops, f.overwritten
        ));
    }
    v.gaps_from_drops += shared_need.min(shared_reported);
    for &p in killed {
        let lanes: BTreeSet<i64> = f
            .threads
            .iter()
            .filter(|((q, _), th)| *q == p && th.lane.is_some_and(|l| l >= 0))
            .filter_map(|(_, th)| th.lane)
            .collect();
        let got = f.reclaimed.get(&p).copied().unwrap_or(0);
        if got < lanes.len() as u64 {
            errors.push(format!(
                "killed pid {p} held lanes {lanes:?}; {got} announced reclaimed"
            ));
        }
    }
    // Only a killed producer can die inside its copy: a slot freed in
    // another pid's name (a live one, or 0: no owner) was judged by a
    // drop-table entry its dead claimant no longer held.
    for &p in &f.died_in_copy {
        if !killed.contains(&p) {
            errors.push(format!(
                "the writer freed a quarantined shared-lane slot saying pid {p} died inside \
                 its copy; no such producer was killed"
            ));
        }
    }
    for e in errors {
        f.err(e);
    }
    v
}

/// Asserts the files are clean; prints the figures.
fn assert_clean(name: &str, f: &Files, v: &Verdict, dir: &Path) {
    eprintln!(
        "{name}: {} text lines, {} JSON lines, {} records checked in {} threads ({} finished), \
         lost {}, duplicated {}, gaps explained by {} reported drops: {}",
        f.text_lines,
        f.json_lines,
        v.records,
        v.threads,
        v.finished_threads,
        v.lost,
        v.duplicated,
        v.drops_reported,
        v.gaps_from_drops
    );
    let stderr = writer_stderr(dir);
    assert!(
        !stderr.contains("panicked"),
        "{name}: the writer panicked:\n{stderr}"
    );
    assert!(
        f.errors.is_empty() && v.lost == 0 && v.duplicated == 0,
        "{name}: {} problems (lost {}, duplicated {}), first ones:\n{}\nwriter lines of other kinds:\n{}",
        f.errors.len(),
        v.lost,
        v.duplicated,
        f.errors.join("\n"),
        f.writer_other.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The tests

/// Writer settings for the kill test: small lanes (so a dead writer fills
/// them), a short claim timeout (so claims of killed producers in the
/// shared lane are abandoned quickly).
const KILL_WRITER: &[&str] = &[
    "--lanes",
    "8",
    "--lane-size",
    "65536",
    "--claim-timeout",
    "1",
    "--flush-interval-ms",
    "10",
];

/// Issue 4's suite: producers SIGKILLed at random points (200 times) while
/// the writer is SIGKILLed and restarted at random points (50 times), with
/// producers that run to completion in between. Then: nothing published is
/// lost, nothing is written twice, no line is torn, every killed producer's
/// lanes are announced reclaimed.
#[test]
fn producers_and_writer_killed_at_random() {
    let name = "producers_and_writer_killed_at_random";
    let sc = scale();
    let want_producer_kills = ((200.0 * sc) as usize).max(1);
    let want_writer_kills = ((50.0 * sc) as usize).max(1);
    let s = Scratch::new("chaos-kill");
    let mut rng = Rng::from_env("UL_CHAOS_SEED", name);
    let first = start_writer(&s.shm, &s.dir, 0, KILL_WRITER, None);
    assert!(
        wait_for(Duration::from_secs(20), || serving(&s.shm, first.pid())),
        "the writer did not start:\n{}",
        writer_stderr(&s.dir)
    );

    // The writer killer: kill at a random instant, reap, restart.
    let wseed = rng.next_u64();
    let (shm, dir) = (s.shm.clone(), s.dir.clone());
    let killer = std::thread::spawn(move || {
        let mut rng = Rng::from_state(wseed | 1);
        let mut w = first;
        for k in 1..=want_writer_kills {
            std::thread::sleep(Duration::from_millis(rng.range(30, 300)));
            w.kill();
            w = start_writer(&shm, &dir, k, KILL_WRITER, None);
        }
        w
    });

    // Producer victims: three alive at a time, each killed after a random
    // 2-120 ms; one in four logs flat out (so kills land inside a push),
    // the rest at a bounded rate. A finishing producer every 40 kills.
    let mut victims: Vec<(Producer, Instant)> = Vec::new();
    let mut finishers: Vec<Producer> = Vec::new();
    let mut killed = BTreeSet::new();
    let mut spawned = 0u64;
    let mut next_finisher = 0;
    while killed.len() < want_producer_kills || !killer.is_finished() {
        if killed.len() >= next_finisher {
            next_finisher += 40;
            finishers.push(Producer::spawn(
                &s.shm,
                &[
                    "--threads",
                    "2",
                    "--count",
                    "2000",
                    "--burst",
                    "8",
                    "--pause-us",
                    "500",
                    "--timeout",
                    "60",
                ],
                true,
            ));
        }
        while victims.len() < 3 {
            spawned += 1;
            let hot = spawned % 4 == 0;
            let args: &[&str] = if hot {
                &[
                    "--threads",
                    "1",
                    "--count",
                    "0",
                    "--no-flush",
                    "--max-pad",
                    "200",
                ]
            } else {
                &[
                    "--threads",
                    "2",
                    "--count",
                    "0",
                    "--no-flush",
                    "--burst",
                    "4",
                    "--pause-us",
                    "1000",
                ]
            };
            let life = Duration::from_millis(rng.range(2, if hot { 40 } else { 120 }));
            victims.push((Producer::spawn(&s.shm, args, false), Instant::now() + life));
        }
        let (k, due) = victims
            .iter()
            .enumerate()
            .map(|(k, v)| (k, v.1))
            .min_by_key(|v| v.1)
            .expect("victims");
        // Random kill instants are the point here; nothing waits on them.
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let (p, _) = victims.swap_remove(k);
        killed.insert(p.kill());
    }
    let w = killer.join().expect("writer killer thread");
    for (p, _) in victims.drain(..) {
        killed.insert(p.kill());
    }
    let mut finished = Vec::new();
    for p in finishers {
        finished.push(p.finish(Duration::from_secs(90)));
    }
    wait_quiescent(&s.shm, &s.dir, Duration::from_secs(60));
    stop_clean(w);

    let stderr = writer_stderr(&s.dir);
    let rolled_back = stderr.matches("rolled back batch").count();
    let completed = stderr.matches("completed batch").count();
    let mut f = read_files(&s.dir, &[40, 200]);
    let v = verify(&mut f, &killed);
    for p in &finished {
        for t in 0..2 {
            if f.threads.get(&(*p, t)).and_then(|th| th.end) != Some(2000) {
                let e = format!("finished producer {p} thread {t}: no end record n=2000");
                f.err(e);
            }
        }
    }
    eprintln!(
        "{name}: survived {} producer kills and {want_writer_kills} writer kills \
         ({rolled_back} restarts rolled back a half-written batch, {completed} completed a \
         written one); {} finishing producers; {} lanes announced reclaimed, {} shared-lane \
         claims abandoned, {} quarantined slots freed for claimants that died inside their copy",
        killed.len(),
        finished.len(),
        f.reclaimed.values().sum::<u64>(),
        f.abandoned,
        f.died_in_copy.len()
    );
    assert_clean(name, &f, &v, &s.dir);
}

/// The writer is stopped (SIGSTOP) until every producer's lane is full and
/// dropping, then resumed. Under the Drop policy the producers never wait:
/// their drop counters keep rising while the writer is stopped. Afterwards
/// each thread's counters have gaps exactly where drops were reported.
#[test]
fn writer_stopped_until_rings_fill_then_resumed_drop_policy() {
    let name = "writer_stopped_until_rings_fill_then_resumed_drop_policy";
    let s = Scratch::new("chaos-stop");
    let w = start_writer(
        &s.shm,
        &s.dir,
        0,
        &[
            "--lanes",
            "8",
            "--lane-size",
            "16384",
            "--flush-interval-ms",
            "10",
        ],
        None,
    );
    assert!(wait_for(Duration::from_secs(20), || serving(
        &s.shm,
        w.pid()
    )));
    let stop = s.dir.join("stop-producers");
    let stop_arg = stop.to_str().expect("utf-8 path");
    signal(w.pid(), libc::SIGSTOP);
    assert!(
        wait_stopped(w.pid(), Duration::from_secs(10)),
        "the writer did not stop"
    );
    let procs: Vec<Producer> = (0..2)
        .map(|_| {
            Producer::spawn(
                &s.shm,
                &[
                    "--drop",
                    "--threads",
                    "3",
                    "--count",
                    "0",
                    "--burst",
                    "64",
                    "--pause-us",
                    "200",
                    "--timeout",
                    "60",
                    "--stop-file",
                    stop_arg,
                ],
                true,
            )
        })
        .collect();
    let pids: BTreeSet<u32> = procs.iter().map(|p| p.pid()).collect();
    let r = attach(&s.shm);
    let ours = |r: &Region| -> Vec<usize> {
        (0..r.geometry().sizes.lanes as usize)
            .filter(|&i| pids.contains(&r.lane_slot(i).owner().load().pid()))
            .collect()
    };
    let dropped = |r: &Region, i: usize| r.lane_control(i).owner_dropped();
    // Every thread's lane full and dropping.
    assert!(
        wait_for(Duration::from_secs(30), || {
            let l = ours(&r);
            l.len() == 6 && l.iter().all(|&i| dropped(&r, i) > 0)
        }),
        "lanes did not fill while the writer was stopped:\n{}",
        lanes_state(&r)
    );
    // Log calls keep returning while the writer is stopped: every lane's
    // drop counter keeps rising.
    let lanes = ours(&r);
    let before: Vec<u64> = lanes.iter().map(|&i| dropped(&r, i)).collect();
    assert!(
        wait_for(Duration::from_secs(30), || lanes
            .iter()
            .zip(&before)
            .all(|(&i, &b)| dropped(&r, i) > b)),
        "producers stalled while the writer was stopped:\n{}",
        lanes_state(&r)
    );
    let heads: Vec<u64> = lanes.iter().map(|&i| r.lane_control(i).head()).collect();
    signal(w.pid(), libc::SIGCONT);
    // Wait until each lane has moved two capacities past where it stood
    // (so records after the gap are in the files), then stop the producers.
    let cap = u64::from(r.geometry().sizes.lane_capacity);
    assert!(
        wait_for(Duration::from_secs(60), || lanes
            .iter()
            .zip(&heads)
            .all(|(&i, &h)| r.lane_control(i).tail() > h + 2 * cap)),
        "the writer did not catch up after SIGCONT:\n{}",
        lanes_state(&r)
    );
    File::create(&stop).expect("create stop file");
    for p in procs {
        p.finish(Duration::from_secs(60));
    }
    wait_quiescent(&s.shm, &s.dir, Duration::from_secs(30));
    stop_clean(w);
    let mut f = read_files(&s.dir, &[40]);
    let v = verify(&mut f, &BTreeSet::new());
    for &p in &pids {
        for t in 0..3 {
            let th = f.threads.get(&(p, t));
            let mid_gap = th.is_some_and(|th| th.seen.windows(2).any(|w| w[1] > w[0] + 1));
            if th.and_then(|th| th.end).is_none() || !mid_gap {
                f.err(format!(
                    "pid {p} thread {t}: expected an end record and a gap followed by records"
                ));
            }
        }
    }
    assert!(v.drops_reported > 0, "{name}: no drops were reported");
    assert_clean(name, &f, &v, &s.dir);
}

/// The writer may not grow its files (RLIMIT_FSIZE via `ulimit -f`): it
/// reports the error once on stderr with the path, keeps the records in
/// shared memory (cursors do not move), leaves no partial line, and writes
/// everything once the limit is lifted.
#[test]
fn file_size_limit_keeps_records_until_lifted() {
    let name = "file_size_limit_keeps_records_until_lifted";
    let s = Scratch::new("chaos-fsize");
    // 256 blocks of 512 bytes: 128 KiB.
    let limit = 256 * 512;
    // The region is made here: the limit is for the log files, and a region
    // file is subject to it too.
    let region = Region::open(
        &s.shm,
        &RegionOptions {
            sizes: ul_ring::layout::Sizes {
                lanes: 4,
                ..ul_ring::layout::Sizes::default()
            },
            ..RegionOptions::default()
        },
    )
    .expect("create region");
    drop(region);
    let w = start_writer(
        &s.shm,
        &s.dir,
        0,
        &[
            "--lanes",
            "4",
            "--lane-size",
            "1048576",
            "--flush-interval-ms",
            "10",
        ],
        // Soft limit only: lifting it later needs no privilege.
        Some("ulimit -S -f 256"),
    );
    assert!(
        wait_for(Duration::from_secs(20), || s
            .dir
            .join("server.log")
            .exists()),
        "the writer did not start:\n{}",
        writer_stderr(&s.dir)
    );
    let p = Producer::spawn(
        &s.shm,
        &["--threads", "2", "--count", "6000", "--timeout", "90"],
        true,
    );
    let err_path = s.dir.join("stderr").join("writer-0.txt");
    assert!(
        wait_for(Duration::from_secs(60), || std::fs::read_to_string(
            &err_path
        )
        .unwrap_or_default()
        .contains("File too large")),
        "no EFBIG report on stderr; writer alive: {}; stderr:\n{}",
        ul_ring::procinfo::alive(w.pid()),
        writer_stderr(&s.dir)
    );
    let r = attach(&s.shm);
    let tails = |r: &Region| -> Vec<u64> { (0..4).map(|i| r.lane_control(i).tail()).collect() };
    let held = (0..4).any(|i| r.lane_control(i).head() > r.lane_control(i).tail());
    let t1 = tails(&r);
    // Observing that nothing moves needs some time to pass.
    std::thread::sleep(Duration::from_millis(300));
    let t2 = tails(&r);
    for f in ["server.log", "server.info.json"] {
        let bytes = std::fs::read(s.dir.join(f)).unwrap_or_default();
        assert!(bytes.len() <= limit, "{f} is {} bytes", bytes.len());
        assert!(
            bytes.is_empty() || bytes.ends_with(b"\n"),
            "{f} ends in a partial line while writes fail"
        );
    }
    assert!(held, "no records held in the lanes while writes fail");
    assert_eq!(t1, t2, "cursors moved while writes fail");
    assert!(ul_ring::procinfo::alive(w.pid()), "the writer died");
    // Lift the (soft) limit of the running writer to its hard limit.
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit on a child of ours; `old` is a valid out pointer.
    let rc = unsafe {
        libc::prlimit(
            w.pid() as libc::pid_t,
            libc::RLIMIT_FSIZE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    let lifted = libc::rlimit {
        rlim_cur: old.rlim_max,
        rlim_max: old.rlim_max,
    };
    // SAFETY: as above; `lifted` is a valid in pointer.
    let rc = unsafe {
        libc::prlimit(
            w.pid() as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &lifted,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    let pid = p.finish(Duration::from_secs(90));
    wait_quiescent(&s.shm, &s.dir, Duration::from_secs(30));
    stop_clean(w);
    let stderr = writer_stderr(&s.dir);
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("File too large") && l.contains("retrying"))
            .count(),
        1,
        "the error is reported once:\n{stderr}"
    );
    assert!(
        stderr.contains(&s.dir.display().to_string()) && stderr.contains("writing works again"),
        "the report names the path and the recovery:\n{stderr}"
    );
    let mut f = read_files(&s.dir, &[40]);
    let v = verify(&mut f, &BTreeSet::new());
    for t in 0..2 {
        if f.threads.get(&(pid, t)).and_then(|th| th.end) != Some(6000) {
            f.err(format!("thread {t}: no end record n=6000"));
        }
    }
    assert_eq!(v.drops_reported, 0, "nothing was dropped");
    assert_clean(name, &f, &v, &s.dir);
}

/// A process that forks after logging, with worker threads logging across
/// the fork: nothing hangs, the child logs into lanes of its own, and both
/// processes' records are all there.
#[test]
fn fork_after_logging_child_gets_its_own_lanes() {
    let name = "fork_after_logging_child_gets_its_own_lanes";
    let s = Scratch::new("chaos-fork");
    let w = start_writer(&s.shm, &s.dir, 0, &["--flush-interval-ms", "10"], None);
    let p = Producer::spawn(
        &s.shm,
        &[
            "--fork",
            "3000",
            "--threads",
            "2",
            "--count",
            "5000",
            "--timeout",
            "30",
        ],
        true,
    );
    let parent = p.finish(Duration::from_secs(90));
    wait_quiescent(&s.shm, &s.dir, Duration::from_secs(30));
    stop_clean(w);
    let mut f = read_files(&s.dir, &[40]);
    let v = verify(&mut f, &BTreeSet::new());
    let children: Vec<u32> = f
        .threads
        .keys()
        .map(|k| k.0)
        .filter(|&q| q != parent)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        children.len(),
        1,
        "one child pid in the files: {children:?}"
    );
    let child = children[0];
    let end = |k: (u32, u32)| f.threads.get(&k).and_then(|t| t.end);
    let lane = |k: (u32, u32)| f.threads.get(&k).and_then(|t| t.lane);
    assert_eq!(end((parent, 0)), Some(6000), "parent main thread");
    assert_eq!(end((parent, 1)), Some(5000), "parent worker 1");
    assert_eq!(end((parent, 2)), Some(5000), "parent worker 2");
    assert_eq!(end((child, 0)), Some(3000), "child");
    let cl = lane((child, 0)).expect("child lane");
    assert!(cl >= 0, "the child got a lane of its own");
    for t in 0..3 {
        assert_ne!(
            lane((parent, t)),
            Some(cl),
            "child logged into a parent's lane"
        );
    }
    assert_clean(name, &f, &v, &s.dir);
}

/// The log directory is renamed, then deleted, under a running writer: the
/// writer notices before its next write and puts later records into a new
/// directory at the configured path, instead of into files nobody can find.
#[test]
fn log_directory_renamed_or_deleted_is_recreated() {
    let name = "log_directory_renamed_or_deleted_is_recreated";
    let s = Scratch::new("chaos-dir");
    let old = s.dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    let w = start_writer(&s.shm, &s.dir, 0, &["--flush-interval-ms", "10"], None);
    assert!(wait_for(Duration::from_secs(20), || serving(
        &s.shm,
        w.pid()
    )));
    let run = || {
        Producer::spawn(&s.shm, &["--threads", "2", "--count", "1500"], true)
            .finish(Duration::from_secs(60))
    };
    let check = |dir: &Path, pid: u32| {
        let mut f = read_files(dir, &[40]);
        let v = verify(&mut f, &BTreeSet::new());
        let pids: BTreeSet<u32> = f.threads.keys().map(|k| k.0).collect();
        if pids != BTreeSet::from([pid]) {
            f.err(format!(
                "{}: records of pids {pids:?}, expected only {pid}",
                dir.display()
            ));
        }
        for t in 0..2 {
            if f.threads.get(&(pid, t)).and_then(|th| th.end) != Some(1500) {
                f.err(format!(
                    "{}: pid {pid} thread {t} incomplete",
                    dir.display()
                ));
            }
        }
        assert_clean(name, &f, &v, dir);
    };
    let a = run();
    std::fs::rename(&s.dir, &old).expect("rename log dir");
    let b = run();
    std::fs::remove_dir_all(&s.dir).expect("remove log dir");
    let c = run();
    wait_quiescent(&s.shm, &s.dir, Duration::from_secs(30));
    stop_clean(w);
    check(&old, a);
    // `b` went into the directory that was then deleted; `c` into the new one.
    check(&s.dir, c);
    let _ = b;
    let _ = std::fs::remove_dir_all(&old);
}

/// A producer stopped (SIGSTOP) inside a shared-lane claim for longer than
/// the claim timeout, then resumed: the writer abandons the claim, the
/// late commit is detected and counted as a drop, and no torn or foreign
/// bytes reach the files.
///
/// A claimant stopped while encoding writes nothing into the slot once
/// abandoned (its `WRITING` CAS fails). One stopped inside its copy into
/// the slot is quarantined after twice the timeout: the slot is not reused
/// until the claimant resumes and hands it back, so its late bytes never
/// land in another claim's record (no `skipped a shared-lane record`).
#[test]
fn producer_stopped_inside_a_shared_lane_claim() {
    let name = "producer_stopped_inside_a_shared_lane_claim";
    let s = Scratch::new("chaos-claim");
    let mut rng = Rng::from_env("UL_CHAOS_SEED", name);
    // One lane: of four threads, three log through the shared lane.
    let w = start_writer(
        &s.shm,
        &s.dir,
        0,
        &[
            "--lanes",
            "1",
            "--claim-timeout",
            "0.2",
            "--flush-interval-ms",
            "10",
        ],
        None,
    );
    assert!(wait_for(Duration::from_secs(20), || serving(
        &s.shm,
        w.pid()
    )));
    let stop = s.dir.join("stop-producers");
    let p = Producer::spawn(
        &s.shm,
        &[
            "--threads",
            "4",
            "--count",
            "0",
            "--max-pad",
            "200",
            "--timeout",
            "60",
            "--stop-file",
            stop.to_str().expect("utf-8 path"),
        ],
        true,
    );
    let r = attach(&s.shm);
    let m = r.shared_lane();
    let (mut tries, mut hits) = (0, 0);
    let want = ((3.0 * scale()) as u32).max(1);
    // A stop lands inside a claim only now and then: on a loaded machine
    // the shared lane is mostly full and its threads wait outside any
    // claim (about 1 stop in 100 hits there, against 1 in 10 on an idle
    // machine). So the bound is time, not a count of tries, and it is long
    // enough for thousands of tries.
    let deadline = Instant::now() + Duration::from_secs_f64(40.0 * scale().max(1.0));
    while hits < want && Instant::now() < deadline {
        tries += 1;
        std::thread::sleep(Duration::from_millis(rng.range(1, 5)));
        signal(p.pid(), libc::SIGSTOP);
        // Only once every thread is stopped can a pending claim not be
        // committed by its own thread behind the test's back.
        assert!(
            wait_stopped(p.pid(), Duration::from_secs(10)),
            "producer {} did not stop",
            p.pid()
        );
        // A claim is stuck if a position the producers moved `head` past is
        // still claimed but not committed. With every thread stopped the
        // positions in `tail..head` can no longer change hands, so one scan
        // finds them all, wherever the writer's backlog has left the tail
        // (a debug-build writer on a busy CI machine can be far behind, and
        // looking only at the tail then missed every stuck claim).
        // `claimed_uncommitted`, unlike `tail_state`, is exact while the
        // writer is between the two stores of releasing a slot it has read.
        let tail = m.control().tail();
        let head = m.control().head();
        let stuck = (tail..head).find(|&p| m.claimed_uncommitted(p));
        let pending = stuck.is_some();
        let pos = stuck.unwrap_or(tail);
        if pending {
            // The writer abandons it after the claim timeout.
            assert!(
                wait_for(Duration::from_secs(30), || m.control().tail() > pos),
                "a claim stuck at {pos} was not abandoned:\n{}",
                lanes_state(&r)
            );
            hits += 1;
        }
        signal(p.pid(), libc::SIGCONT);
    }
    File::create(&stop).expect("create stop file");
    let pid = p.finish(Duration::from_secs(60));
    wait_quiescent(&s.shm, &s.dir, Duration::from_secs(30));
    stop_clean(w);
    let mut f = read_files(&s.dir, &[200]);
    let v = verify(&mut f, &BTreeSet::new());
    for t in 0..4 {
        if f.threads.get(&(pid, t)).and_then(|th| th.end).is_none() {
            f.err(format!("thread {t}: no end record"));
        }
    }
    eprintln!(
        "{name}: {hits} of {tries} stops landed inside a claim; {} claims abandoned, \
         {} shared-lane drops reported, {} records of other claims lost to a late \
         writer's bytes (detected, reported, never printed)",
        f.abandoned, f.shared_drops, f.overwritten
    );
    assert!(
        hits > 0,
        "no SIGSTOP landed inside a shared-lane claim in {tries} tries"
    );
    assert!(
        f.abandoned >= hits as u64,
        "abandoned claims were not reported"
    );
    assert_eq!(
        f.overwritten, 0,
        "a late claimant's bytes landed in a reused shared-lane slot"
    );
    assert_clean(name, &f, &v, &s.dir);
}
