//! Issue 14, the operator's view: each CLI on bad input, writer states
//! told apart, counters that mean what they say, help texts, and sizes
//! that were asked for but not applied. Every test runs the real binaries.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn ul_stat() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_ul-stat").into()
}

fn run(bin: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()))
}

/// Runs a command that should exit at once; one that is still running
/// after 20 s is killed and its output returned as it is (the caller's
/// status check then fails instead of the test hanging).
fn run_bounded(bin: &std::path::Path, args: &[&str]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    if wait_timeout(&mut child, Duration::from_secs(20)).is_none() {
        let _ = child.kill();
    }
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn shm(s: &Scratch) -> &str {
    s.shm.to_str().unwrap()
}

fn stat_json(s: &Scratch) -> serde_json::Value {
    let out = run(&ul_stat(), &["--shm", shm(s), "--json"]);
    assert!(out.status.success(), "ul-stat: {out:?}");
    serde_json::from_slice(&out.stdout).expect("ul-stat --json")
}

fn stat_table(s: &Scratch) -> String {
    let out = run(&ul_stat(), &["--shm", shm(s)]);
    assert!(out.status.success(), "ul-stat: {out:?}");
    text(&out.stdout)
}

/// Item 1: `--timeout` takes seconds >= 0 or `inf` (no bound); anything
/// else is a usage error (exit 2, like clap's own), never a panic.
#[test]
fn ul_log_timeout_is_parsed_not_panicked_on() {
    let s = Scratch::new("ops-timeout");
    let w = Writer::start(&s, &[]);
    for bad in ["-1", "nan", "-inf", "soon", ""] {
        let out = run(
            &ul_log_bin(),
            &["--shm", shm(&s), "--flush", "--timeout", bad, "x"],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--timeout {bad:?}: {err}");
        assert!(
            err.contains("--timeout") && !err.contains("panicked"),
            "--timeout {bad:?}: {err}"
        );
    }
    for good in ["inf", "infinity", "1e30", "0.5", "3"] {
        let msg = format!("timeout {good} ok");
        let out = run(
            &ul_log_bin(),
            &["--shm", shm(&s), "--flush", "--timeout", good, &msg],
        );
        assert!(out.status.success(), "--timeout {good}: {out:?}");
        assert!(s.text().contains(&msg), "--timeout {good}: not written");
    }
    let help = text(&run(&ul_log_bin(), &["--help"]).stdout);
    assert!(help.contains("inf"), "--help names inf: {help}");
    drop(w);
}

/// Item 2: a stopped writer is stopped (not gone, not running), a
/// resumed one runs, a killed one is gone; ul-stat (table and JSON),
/// ul-log's flush error and `ul::writer_state()` agree.
#[test]
fn writer_states_stopped_running_gone() {
    let s = Scratch::new("ops-states");
    let w = Writer::start(&s, &[]);
    let pid = w.pid();
    ul::init(&s.shm).expect("init");
    assert!(wait_for(Duration::from_secs(5), || ul::writer_state()
        == ul::WriterState::Running));
    assert!(ul::writer_alive());
    assert_eq!(stat_json(&s)["writer"]["state"], "running");

    signal(pid, libc::SIGSTOP);
    assert!(wait_stopped(pid, Duration::from_secs(10)));
    assert_eq!(ul::writer_state(), ul::WriterState::Stopped);
    assert!(!ul::writer_alive(), "a stopped writer serves nobody");
    assert_eq!(stat_json(&s)["writer"]["state"], "stopped");
    let table = stat_table(&s);
    assert!(
        table.contains(&format!("pid {pid} (stopped")),
        "ul-stat table: {table}"
    );
    // Item 11: a level by its name, not its number.
    assert!(
        table.contains("config  min level trace, "),
        "ul-stat table: {table}"
    );
    let out = run(
        &ul_log_bin(),
        &[
            "--shm",
            shm(&s),
            "--flush",
            "--timeout",
            "0.5",
            "while stopped",
        ],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("writer pid {pid} is stopped")) && !err.contains("gone"),
        "ul-log: {err}"
    );

    // Without --flush the message waits, and ul-log says why.
    let out = run(&ul_log_bin(), &["--shm", shm(&s), "queued while stopped"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("is stopped by a signal"), "ul-log: {err}");

    signal(pid, libc::SIGCONT);
    assert!(wait_for(Duration::from_secs(10), || ul::writer_state()
        == ul::WriterState::Running));
    assert_eq!(stat_json(&s)["writer"]["state"], "running");
    let out = run(
        &ul_log_bin(),
        &["--shm", shm(&s), "--flush", "--timeout", "10", "after cont"],
    );
    assert!(out.status.success(), "{out:?}");
    let t = s.text();
    assert!(
        t.contains("while stopped") && t.contains("after cont"),
        "{t}"
    );

    signal(pid, libc::SIGKILL);
    let mut w = w;
    let _ = w.child.wait();
    assert_eq!(ul::writer_state(), ul::WriterState::Gone);
    assert!(!ul::writer_alive());
    assert_eq!(stat_json(&s)["writer"]["state"], "gone");
    let table = stat_table(&s);
    assert!(table.contains(&format!("pid {pid} (gone")), "{table}");
    let out = run(
        &ul_log_bin(),
        &[
            "--shm",
            shm(&s),
            "--flush",
            "--timeout",
            "0.2",
            "after kill",
        ],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("writer pid {pid} is gone")), "{err}");
}

/// Item 3: `counters.dropped` counts every drop since the region was
/// created, also those of lanes freed since; the per-lane numbers are
/// kept apart.
#[test]
fn dropped_counter_is_cumulative() {
    const COUNT: u64 = 20_000;
    let s = Scratch::new("ops-drops");
    let w = Writer::start(&s, &["--lanes", "1", "--lane-size", "4096"]);
    signal(w.pid(), libc::SIGSTOP);
    assert!(wait_stopped(w.pid(), Duration::from_secs(10)));
    stress(&s.shm, 1, COUNT, &["--drop", "--no-flush"]);
    signal(w.pid(), libc::SIGCONT);
    // The producer exited: once drained, its lane is freed.
    assert!(wait_for(Duration::from_secs(30), || {
        let v = stat_json(&s);
        v["lanes"].as_array().unwrap().is_empty() && v["counters"]["drops_pending"] == 0
    }));
    let v = stat_json(&s);
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");
    let log = s.text();
    let written = log.lines().filter(|l| l.contains("[stress]")).count() as u64;
    let reported: u64 = log
        .lines()
        .filter_map(|l| {
            // `1 record dropped`, `N records dropped`
            l.split_once("WARN: ")?
                .1
                .split_once(" records dropped by pid ")
                .or_else(|| {
                    l.split_once("WARN: ")?
                        .1
                        .split_once(" record dropped by pid ")
                })
        })
        .map(|(n, _)| n.parse::<u64>().unwrap())
        .sum();
    assert!(reported > 0, "nothing dropped: {log}");
    assert_eq!(written + reported, COUNT, "every record written or dropped");
    let c = &v["counters"];
    assert_eq!(c["dropped"], reported, "cumulative: {v}");
    assert_eq!(c["drops_reported"], reported, "{v}");
    assert_eq!(c["drops_pending"], 0, "{v}");
    assert!(c["records_written"].as_u64().unwrap() >= written, "{v}");
    let table = stat_table(&s);
    assert!(
        table.contains(&format!("dropped {reported} since the region was created")),
        "ul-stat table: {table}"
    );
}

/// Item 6: ul-log creates no region unless asked, and says which path
/// has none; `ul::Options::create(false)` refuses too.
#[test]
fn ul_log_does_not_create_a_region_unless_asked() {
    let s = Scratch::new("ops-create");
    let out = run(&ul_log_bin(), &["--shm", shm(&s), "hello"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(shm(&s)) && err.contains("--create"), "{err}");
    assert!(!s.shm.exists(), "ul-log created {}", s.shm.display());

    // Asked: created, and told that no writer serves it yet.
    let out = run(&ul_log_bin(), &["--shm", shm(&s), "--create", "hello"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(s.shm.exists());
    assert!(err.contains("no ul-writer"), "{err}");
    // A writer started later writes what waited.
    let w = Writer::start(&s, &[]);
    let out = run(&ul_log_bin(), &["--shm", shm(&s), "--flush", "again"]);
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stderr).is_empty(), "{out:?}");
    let t = s.text();
    assert!(t.contains("hello") && t.contains("again"), "{t}");
    drop(w);
}

/// Item 8: each tool's --help opens with its own description and says
/// what an operator needs.
#[test]
fn help_texts_are_each_tools_own() {
    let writer = text(&run(&writer_bin(), &["--help"]).stdout);
    for fact in [
        "SIGTERM",
        "SIGINT",
        "SIGHUP",
        "Exit status",
        "3",
        "K, M, G",
        "/dev/shm/ul",
        "./logs",
        "server.log",
    ] {
        assert!(
            writer.contains(fact),
            "ul-writer --help lacks {fact:?}: {writer}"
        );
    }
    assert!(
        !writer.contains("measured"),
        "a measurement in --help: {writer}"
    );
    let stat = text(&run(&ul_stat(), &["--help"]).stdout);
    assert!(
        stat.lines().next().unwrap().contains("Show the state"),
        "ul-stat --help: {stat}"
    );
    assert!(!stat.contains("Drain"), "ul-stat --help: {stat}");
    assert!(
        stat.contains("read-only") && stat.contains("Exit status"),
        "{stat}"
    );
    let log = text(&run(&ul_log_bin(), &["--help"]).stdout);
    assert!(
        log.lines().next().unwrap().starts_with("Log a message"),
        "ul-log --help: {log}"
    );
    assert!(
        log.contains("--create") && log.contains("Exit status"),
        "{log}"
    );
}

/// Item 10: `--lanes`/`--lane-size` apply only to a region the writer
/// creates; for an existing one it says so, and ul-stat shows the sizes.
#[test]
fn writer_says_when_its_sizes_are_not_applied() {
    let s = Scratch::new("ops-sizes");
    let out = run(&ul_log_bin(), &["--shm", shm(&s), "--create", "first"]);
    assert!(out.status.success(), "{out:?}");
    let w = Writer::start(&s, &["--lanes", "4", "--lane-size", "65536"]);
    let table = stat_table(&s);
    assert!(table.contains("of 128 in use (256 KiB each)"), "{table}");
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");
    assert!(
        err.contains("--lanes 4 --lane-size 65536 not applied")
            && err.contains("128 lanes of 256 KiB"),
        "writer stderr: {err}"
    );
    assert!(s.text().contains("first"));
}

/// Item 11: `--dir` naming a file is refused before any region is
/// created, with a message that says what --dir is.
#[test]
fn writer_refuses_a_file_as_its_dir_before_creating_the_region() {
    let s = Scratch::new("ops-dir-file");
    std::fs::create_dir_all(s.dir.parent().unwrap()).unwrap();
    std::fs::write(&s.dir, b"root:x:0:0\n").unwrap();
    let out = run_bounded(
        &writer_bin(),
        &["--shm", shm(&s), "--dir", s.dir.to_str().unwrap()],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not a directory"), "{err}");
    assert!(!s.shm.exists(), "a region was created for nothing: {err}");
    assert_eq!(std::fs::read(&s.dir).unwrap(), b"root:x:0:0\n");
    std::fs::remove_file(&s.dir).unwrap();
}

/// Item 11: two writers of different regions given the same --dir and
/// --name would interleave one server.log; the second is refused, told
/// who holds the files, and the first goes on writing.
#[test]
fn second_writer_on_the_same_files_is_refused() {
    let a = Scratch::new("ops-dir-a");
    let b = Scratch::new("ops-dir-b");
    let w = Writer::start(&a, &[]);
    let dir = a.dir.to_str().unwrap();
    let out = run_bounded(&writer_bin(), &["--shm", shm(&b), "--dir", dir]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("locked by another ul-writer")
            && err.contains(&format!("pid {}, serving {}", w.pid(), shm(&a)))
            && err.contains("--dir or --name"),
        "{err}"
    );
    // Another --name in the same directory is another set of files.
    let mut other = std::process::Command::new(writer_bin())
        .args(["--shm", shm(&b), "--dir", dir, "--name", "audit"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || a.dir.join("audit.log").exists()),
        "a writer with its own --name did not start"
    );
    assert!(wait_timeout(&mut other, Duration::from_millis(300)).is_none());
    signal(other.id(), libc::SIGTERM);
    assert!(wait_timeout(&mut other, Duration::from_secs(30)).is_some_and(|s| s.success()));
    let out = run(
        &ul_log_bin(),
        &["--shm", shm(&a), "--flush", "still served"],
    );
    assert!(out.status.success(), "{out:?}");
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");
    assert!(a.text().contains("still served"));
}
