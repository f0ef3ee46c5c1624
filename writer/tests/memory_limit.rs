//! The writer within `--memory-limit`: many producer threads at full speed
//! against a real `ul-writer --memory-limit 64M` (every record arrives),
//! and a limit too small to work in refused at start with the smallest
//! that works.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Counts each `p= t= i=` record of the stress producer in `text`.
fn records(text: &str, into: &mut HashMap<(u32, u64), u32>) {
    for line in text.lines() {
        let Some(at) = line.find(" p=") else {
            continue;
        };
        let mut it = line[at + 1..].split_whitespace();
        let mut field = |k: &str| -> Option<u64> { it.next()?.strip_prefix(k)?.parse().ok() };
        if let (Some(_), Some(t), Some(i)) = (field("p="), field("t="), field("i=")) {
            *into.entry((t as u32, i)).or_default() += 1;
        }
    }
}

/// Runs the stress producer, killed if it takes longer than `limit` or if
/// `writer` exits meanwhile; returns whether it succeeded, and its stderr.
fn stress_within(
    s: &Scratch,
    writer: &mut Writer,
    threads: u32,
    count: u64,
    limit: Duration,
) -> (bool, String) {
    let mut child = Command::new(stress_bin())
        .arg("--shm")
        .arg(&s.shm)
        .args(["--threads", &threads.to_string()])
        .args(["--count", &count.to_string()])
        .args(["--timeout", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stress");
    let end = Instant::now() + limit;
    let mut status = None;
    while Instant::now() < end {
        status = child.try_wait().expect("try_wait");
        if status.is_some() || writer.child.try_wait().expect("try_wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let end = child.wait().expect("wait for stress");
    (status.is_some() && end.success(), err)
}

#[test]
fn sixty_four_threads_at_full_speed_all_arrive_within_64m() {
    const THREADS: u32 = 64;
    const COUNT: u64 = 20_000;
    let s = Scratch::new("mem64");
    let mut w = Writer::start(&s, &["--memory-limit", "64M"]);
    let (ok, stress_err) = stress_within(&s, &mut w, THREADS, COUNT, Duration::from_secs(60));
    // A writer that aborted has exited by now.
    let exited = w.child.try_wait().expect("try_wait");
    let (status, err) = w.stop();
    assert!(
        exited.is_none() && status.success(),
        "the writer died under --memory-limit 64M ({status:?}): {err}"
    );
    // The test is void unless the limit holds the writer.
    assert!(err.contains("memory limit applied"), "{err}");
    assert!(
        ok,
        "the producers did not finish: {stress_err}\nwriter: {err}"
    );
    assert!(!err.contains("memory allocation"), "{err}");
    all_once(&s.text(), THREADS, COUNT, &err);
}

#[test]
fn a_limit_too_small_is_refused_at_start_with_the_smallest_that_works() {
    let s = Scratch::new("memsmall");
    let mut child = Command::new(writer_bin())
        .arg("--shm")
        .arg(&s.shm)
        .arg("--dir")
        .arg(&s.dir)
        .args(["--memory-limit", "2M"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ul-writer");
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{err}");
    assert!(
        err.contains("--memory-limit 2M (2.0 MiB) is too small"),
        "{err}"
    );
    // The smallest limit that works, as a flag to pass.
    let need = err
        .split("(--memory-limit ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no limit named: {err}"))
        .to_string();
    let mib: u64 = need
        .strip_suffix('M')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{need:?}: {err}"));
    assert!(mib > 2, "{err}");
    // And it does work.
    let s = Scratch::new("memneed");
    let mut w = Writer::start(&s, &["--memory-limit", &need]);
    let (ok, stress_err) = stress_within(&s, &mut w, 4, 1_000, Duration::from_secs(60));
    let (status, err) = w.stop();
    assert!(status.success(), "--memory-limit {need}: {err}");
    assert!(err.contains("memory limit applied"), "{err}");
    assert!(ok, "{stress_err}\nwriter: {err}");
    let mut seen = HashMap::new();
    records(&s.text(), &mut seen);
    assert_eq!(seen.len(), 4_000, "{err}");
}

/// Asserts that `text` holds each of `threads` x `count` stress records
/// exactly once.
fn all_once(text: &str, threads: u32, count: u64, err: &str) {
    let mut seen = HashMap::new();
    records(text, &mut seen);
    let missing: Vec<_> = (0..threads)
        .flat_map(|t| (0..count).map(move |i| (t, i)))
        .filter(|k| !seen.contains_key(k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "records missing, e.g. {missing:?}\n{err}"
    );
    assert_eq!(seen.len() as u64, u64::from(threads) * count, "{err}");
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(twice.is_empty(), "records written twice, e.g. {twice:?}");
}

/// An allocation the writer is refused becomes a smaller batch, not an
/// abort: the real writer, whose allocator (the `test-hooks` build of
/// `ul-writer`, `UL_TEST_FAIL_ALLOC`) refuses every block over 192 KiB once
/// it serves the region, under 64 producer threads at full speed. Its batch
/// buffers grow past that by default (1 MiB of lines per batch), on the
/// engine's thread and the format helper's; every record still arrives,
/// once, and the writer says it cut its batches.
#[test]
fn refused_allocations_make_smaller_batches_and_lose_nothing() {
    const THREADS: u32 = 64;
    const COUNT: u64 = 20_000;
    const CAP: &str = "192K";
    let s = Scratch::new("allocfail");
    // Two format threads whatever the machine, so a helper's buffers are
    // refused too.
    let mut w = Writer::start_env(
        &s,
        &["--format", "both", "--format-threads", "2"],
        &[("UL_TEST_FAIL_ALLOC", CAP)],
    );
    let (ok, stress_err) = stress_within(&s, &mut w, THREADS, COUNT, Duration::from_secs(120));
    // A writer that aborted has exited by now.
    let exited = w.child.try_wait().expect("try_wait");
    let (status, err) = w.stop();
    assert!(
        exited.is_none() && status.success(),
        "the writer died when allocations were refused ({status:?}): {err}"
    );
    assert!(!err.contains("memory allocation of"), "{err}");
    // The test is void unless the hook was armed and refused something.
    assert!(
        err.contains("allocations of more than 196608 bytes are refused from now on"),
        "the hook was not armed (is ul-writer built with test-hooks?): {err}"
    );
    let refused: u64 = err
        .split(" allocations refused")
        .next()
        .and_then(|h| h.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of refused allocations: {err}"));
    assert!(refused > 0, "nothing was refused: {err}");
    // The operator is told, once.
    assert_eq!(
        err.matches("memory for a batch buffer was refused").count(),
        1,
        "{err}"
    );
    assert!(err.contains("batches are cut to"), "{err}");
    assert!(
        ok,
        "the producers did not finish: {stress_err}\nwriter: {err}"
    );
    all_once(&s.text(), THREADS, COUNT, &err);
}

/// The cgroup path of `--memory-limit`: the real writer started alone in a
/// cgroup of its own (a shell that moves itself into it, then execs
/// `ul-writer`), so it writes the cgroup's limit (`memory.max`, or
/// `memory.limit_in_bytes` on a cgroup v1 memory hierarchy) and sizes its
/// batches by the cgroup's usage; 64 producer threads at full speed, every
/// record arrives once, the kernel killed nothing, and the cgroup is
/// removed afterwards. Needs root and a memory controller that hands out
/// child cgroups; skips (saying why) otherwise.
#[test]
fn sixty_four_threads_all_arrive_within_64m_in_a_cgroup_of_its_own() {
    const THREADS: u32 = 64;
    const COUNT: u64 = 20_000;
    let cg = match TestCgroup::new("memory") {
        Ok(cg) => cg,
        Err(why) => {
            eprintln!("skipped: the cgroup memory limit is not tested here: {why}");
            return;
        }
    };
    let files = cg.version;
    let s = Scratch::new("memcg");
    assert!(
        cg.dir.join(files.memory_limit()).exists(),
        "{} has no {}",
        cg.dir.display(),
        files.memory_limit()
    );
    let child = cg
        .command(&writer_bin())
        .arg("--shm")
        .arg(&s.shm)
        .arg("--dir")
        .arg(&s.dir)
        .args(["--flush-interval-ms", "20", "--memory-limit", "64M"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ul-writer in its cgroup");
    let mut w = Writer::from_child(child);
    let pid = w.pid();
    let serving = wait_for(Duration::from_secs(20), || {
        ul_writer::stat::Snapshot::read(&s.shm).is_ok_and(|snap| snap.writer.pid == pid)
            || w.child.try_wait().ok().flatten().is_some()
    });
    assert!(serving, "the writer did not start");
    let (ok, stress_err) = stress_within(&s, &mut w, THREADS, COUNT, Duration::from_secs(120));
    let exited = w.child.try_wait().expect("try_wait");
    let events = std::fs::read_to_string(cg.dir.join(files.memory_events())).unwrap_or_default();
    let max = std::fs::read_to_string(cg.dir.join(files.memory_limit())).unwrap_or_default();
    let (status, err) = w.stop();
    assert!(
        exited.is_none() && status.success(),
        "the writer died in its cgroup under --memory-limit 64M ({status:?}): {err}\n{}: {events}",
        files.memory_events()
    );
    // The test is void unless the cgroup, not RLIMIT_AS, held the writer.
    assert!(
        err.contains("memory limit applied cgroup")
            && err.contains(&format!("{} = {}", files.memory_limit(), 64u64 << 20)),
        "{err}"
    );
    assert_eq!(max.trim(), (64u64 << 20).to_string());
    let oom_kills = events
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert_eq!(oom_kills, Some(0), "{}: {events}", files.memory_events());
    assert!(
        ok,
        "the producers did not finish: {stress_err}\nwriter: {err}"
    );
    all_once(&s.text(), THREADS, COUNT, &err);
    // The writer has exited: the cgroup is empty, and goes.
    let dir = cg.dir.clone();
    drop(cg);
    assert!(!dir.exists(), "{} is still there", dir.display());
}
