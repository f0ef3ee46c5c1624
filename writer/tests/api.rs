//! The producer API against the real writer: the shared MPSC lane when
//! every lane is taken, run-time configure, contexts and `Logger`, and the
//! `ul-log` CLI.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn threads_beyond_the_lane_count_fall_back_to_the_shared_lane() {
    let s = Scratch::new("shared_lane");
    // Two lanes, six threads: four of them log through the MPSC lane.
    let w = Writer::start(&s, &["--lanes", "2", "--lane-size", "65536"]);
    stress(&s.shm, 6, 3000, &[]);
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");
    let text = s.text();
    let mut per: std::collections::HashMap<u32, Vec<u64>> = Default::default();
    for line in text.lines().filter(|l| l.contains("[stress]")) {
        let msg = line.split(": ").nth(2).expect("message");
        let mut it = msg.split(' ');
        let _p = it.next();
        let t: u32 = it.next().unwrap()[2..].parse().unwrap();
        let i: u64 = it.next().unwrap()[2..].parse().unwrap();
        per.entry(t).or_default().push(i);
    }
    assert_eq!(per.len(), 6, "all six threads logged");
    for (t, v) in per {
        assert_eq!(
            v,
            (0..3000).collect::<Vec<_>>(),
            "thread {t}: missing, duplicated or out of order"
        );
    }
    // Every JSON line parses, including those that went through MPSC.
    for level in ["trace", "debug", "info", "warn", "error"] {
        for line in s.json(level).lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
            assert!(
                v["pid"].as_u64().unwrap() > 0 && v["tid"].as_u64().unwrap() > 0,
                "{line}"
            );
        }
    }
}

#[test]
fn ul_log_writes_a_line_and_flush_waits_for_it() {
    let s = Scratch::new("ullog");
    let w = Writer::start(&s, &[]);
    let out = Command::new(ul_log_bin())
        .arg("--shm")
        .arg(&s.shm)
        .args([
            "--level", "warn", "--source", "deploy", "--flush", "release", "1.2", "rolled", "out",
        ])
        .output()
        .expect("ul-log");
    assert!(out.status.success(), "{out:?}");
    // --flush returned, so the line must already be on disk.
    let text = s.text();
    assert!(
        text.lines()
            .any(|l| l.ends_with("[deploy] WARN: release 1.2 rolled out")),
        "{text}"
    );
    let json = s.json("warn");
    let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(v["message"], "release 1.2 rolled out");
    assert_eq!(v["source"], "deploy");
    // Bad input gets a clear error.
    let bad = Command::new(ul_log_bin())
        .arg("--shm")
        .arg(&s.shm)
        .args(["--level", "loud", "x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("loud"));
    drop(w);
}

#[test]
fn in_process_api_contexts_loggers_configure_and_flush() {
    let s = Scratch::new("api");
    let w = Writer::start(&s, &[]);
    ul::init(&s.shm).expect("init");
    // Same path again is fine; another path is an error that names the first.
    ul::init(&s.shm).expect("re-init");
    let other = ul::init("/dev/shm/ul-some-other-region").unwrap_err();
    assert!(
        other.to_string().contains(&s.shm.display().to_string()),
        "{other}"
    );

    ul::info!("Logging int: {}, int: {}, double: {}", 1u64, 2u32, 0.5f64);
    ul::info!(source: "AuthService", "User {} logged in", "ann"; user_id = "user123", ip = "192.168.1.1");
    ul::set_thread_context(
        ul::Context::new()
            .source("UserService")
            .with("session", "abc123"),
    );
    ul::info!("User action completed");
    ul::clear_thread_context();
    let db = ul::Logger::new(ul::Context::new().source("Database").with("env", "test"));
    ul::error!(logger: &db, "lost {}", std::io::Error::other("conn"));
    ul::warn!(
        "padded {:>5}|{:<4}|{:.2}|{:#x}|{:?}",
        42u32,
        "ab",
        1.23456f64,
        255u64,
        "q\"s"
    );
    // Arguments that need escaping in one output or both, formatted
    // straight into the outputs: the text line stays one line, and the
    // JSON message parses back to the exact message.
    ul::warn!("multi {} line {}", "a\nb", "say \"hi\" \\");

    ul::configure(ul::Config {
        min_level: Some(ul::Level::Warn),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        ul::current_config().unwrap().min_level,
        Some(ul::Level::Warn)
    );
    ul::info!("filtered out");
    ul::warn!("kept");
    ul::configure(ul::Config {
        min_level: Some(ul::Level::Trace),
        ..Default::default()
    })
    .unwrap();
    ul::flush_timeout(Duration::from_secs(10)).expect("flush");
    assert!(ul::writer_alive());

    let text = s.text();
    let has = |want: &str| {
        assert!(
            text.lines()
                .any(|l| l.split_once("] [").map(|x| x.1) == Some(want)),
            "missing line ending {want:?} in:\n{text}"
        )
    };
    has("api] INFO: Logging int: 1, int: 2, double: 0.5");
    has("AuthService] INFO: User ann logged in [user_id:user123] [ip:192.168.1.1]");
    has("UserService] INFO: User action completed [session:abc123]");
    has("Database] ERROR: lost conn [env:test]");
    has("api] WARN: padded    42|ab  |1.23|0xff|\"q\\\"s\"");
    has("api] WARN: kept");
    has("api] WARN: multi a\\nb line say \"hi\" \\");
    let warn_messages: Vec<String> = s
        .json("warn")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["message"].to_string())
        .collect();
    for want in [
        "padded    42|ab  |1.23|0xff|\"q\\\"s\"",
        "multi a\nb line say \"hi\" \\",
    ] {
        let want = serde_json::Value::from(want).to_string();
        assert!(
            warn_messages.contains(&want),
            "{want} not in {warn_messages:?}"
        );
    }
    assert!(!text.contains("filtered out"), "{text}");
    let info = s.json("info");
    let auth: serde_json::Value = info
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["source"] == "AuthService")
        .expect("AuthService line");
    assert_eq!(auth["context"]["user_id"], "user123");
    assert_eq!(auth["context"]["ip"], "192.168.1.1");
    assert_eq!(auth["pid"], std::process::id());
    drop(w);
}
