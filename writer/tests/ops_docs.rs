//! The systemd unit and logrotate examples in `docs/`: parsed, checked
//! against each other, and run: the unit's ExecStart flags start the real
//! writer, and the logrotate postrotate script makes it reopen its files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{stress, wait_for, Scratch, Writer};

fn doc(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (section, key, value) of every assignment in a unit file; panics on a
/// line that is neither a comment, a section header nor `Key=value`.
fn parse_unit(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("unit line {}: {line:?} is not Key=value", n + 1));
        assert!(
            !section.is_empty(),
            "unit line {}: assignment before any section",
            n + 1
        );
        assert!(
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()),
            "unit line {}: bad key {k:?}",
            n + 1
        );
        out.push((section.clone(), k.to_string(), v.trim().to_string()));
    }
    out
}

fn get<'a>(unit: &'a [(String, String, String)], section: &str, key: &str) -> &'a str {
    let v: Vec<_> = unit
        .iter()
        .filter(|(s, k, _)| s == section && k == key)
        .collect();
    assert_eq!(v.len(), 1, "[{section}] {key} should be set once");
    &v[0].2
}

/// ExecStart's words with systemd's `%%` unescaped; any other specifier
/// or quoting would change the command line and is refused here.
fn exec_words(exec: &str) -> Vec<String> {
    assert!(
        !exec.contains(['"', '\'', '\\']),
        "ExecStart uses quoting: {exec}"
    );
    exec.split_whitespace()
        .map(|w| {
            let u = w.replace("%%", "\u{0}");
            assert!(!u.contains('%'), "ExecStart word {w:?} holds a specifier");
            u.replace('\u{0}', "%")
        })
        .collect()
}

fn flag<'a>(words: &'a [String], name: &str) -> &'a str {
    let i = words
        .iter()
        .position(|w| w == name)
        .unwrap_or_else(|| panic!("ExecStart lacks {name}"));
    &words[i + 1]
}

/// A logrotate stanza: its paths, directives and postrotate script.
struct Stanza {
    paths: Vec<String>,
    directives: Vec<String>,
    postrotate: String,
}

fn parse_logrotate(text: &str) -> Stanza {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let head = lines.next().expect("a stanza");
    let paths = head
        .strip_suffix('{')
        .expect("stanza header ends with {")
        .split_whitespace()
        .map(String::from)
        .collect();
    let (mut directives, mut postrotate, mut in_script, mut closed) =
        (Vec::new(), String::new(), false, false);
    for l in lines.by_ref() {
        match l {
            "postrotate" => in_script = true,
            "endscript" => in_script = false,
            "}" => {
                closed = true;
                break;
            }
            _ if in_script => {
                postrotate.push_str(l);
                postrotate.push('\n');
            }
            _ => directives.push(l.to_string()),
        }
    }
    assert!(closed && !in_script, "unterminated stanza or script");
    assert!(lines.next().is_none(), "text after the stanza");
    Stanza {
        paths,
        directives,
        postrotate,
    }
}

#[test]
fn unit_and_logrotate_agree_and_work_with_the_real_writer() {
    let unit = parse_unit(&doc("ul-writer.service"));
    let sections: std::collections::BTreeSet<_> = unit.iter().map(|u| u.0.as_str()).collect();
    assert_eq!(
        sections.into_iter().collect::<Vec<_>>(),
        ["Install", "Service", "Unit"]
    );
    assert_eq!(get(&unit, "Service", "Type"), "simple");
    assert_eq!(get(&unit, "Service", "KillSignal"), "SIGTERM");
    assert_eq!(
        get(&unit, "Service", "ExecReload"),
        "/bin/kill -HUP $MAINPID"
    );
    let words = exec_words(get(&unit, "Service", "ExecStart"));
    assert!(words[0].ends_with("/ul-writer"), "{}", words[0]);
    let pid_file = flag(&words, "--pid-file");
    assert_eq!(get(&unit, "Service", "PIDFile"), pid_file);
    assert_eq!(
        Path::new(pid_file).parent().unwrap(),
        Path::new("/run").join(get(&unit, "Service", "RuntimeDirectory")),
        "the pid file lives in the unit's RuntimeDirectory"
    );
    let dir = flag(&words, "--dir");
    let name = flag(&words, "--name");
    assert!(get(&unit, "Service", "ReadWritePaths")
        .split_whitespace()
        .any(|p| p == dir));

    let lr = parse_logrotate(&doc("logrotate.conf"));
    assert_eq!(
        lr.paths,
        [format!("{dir}/{name}.log"), format!("{dir}/{name}.*.json")],
        "logrotate rotates the files the unit's writer writes"
    );
    assert!(!lr.directives.iter().any(|d| d == "copytruncate"));
    assert!(lr.directives.iter().any(|d| d == "delaycompress"));
    assert!(lr.directives.iter().any(|d| d == "sharedscripts"));
    assert!(
        lr.postrotate
            .contains(&format!("kill -HUP \"$(cat {pid_file})\"")),
        "postrotate signals the pid in the unit's pid file: {}",
        lr.postrotate
    );

    // Run the unit's command line with its paths moved into a scratch area.
    let s = Scratch::new("unit");
    std::fs::create_dir_all(&s.dir).unwrap();
    let pid_path = s.dir.join("ul-writer.pid");
    let mut args: Vec<String> = words[1..].to_vec();
    for (f, v) in [
        ("--shm", s.shm.to_str().unwrap()),
        ("--dir", s.dir.to_str().unwrap()),
        ("--pid-file", pid_path.to_str().unwrap()),
    ] {
        let i = args.iter().position(|w| w == f).unwrap();
        args[i + 1] = v.to_string();
    }
    let child = Command::new(common::writer_bin())
        .args(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ul-writer");
    let w = Writer::from_child(child);
    let pid = w.pid().to_string();
    // The unit runs the writer at nice 5 with 10% of a CPU: on a loaded
    // machine its start takes a while.
    if !wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&pid_path).is_ok_and(|p| p.trim() == pid)
    }) {
        let (status, err) = w.stop();
        panic!("the writer did not write its pid to --pid-file ({status:?}): {err}");
    }
    let log = s.dir.join(format!("{name}.log"));
    stress(&s.shm, 1, 200, &[]);
    // What logrotate does: rename, then run postrotate.
    let rotated = s.dir.join(format!("{name}.log.1"));
    std::fs::rename(&log, &rotated).unwrap();
    let script = lr.postrotate.replace(pid_file, pid_path.to_str().unwrap());
    let st = Command::new("sh").arg("-c").arg(&script).status().unwrap();
    assert!(st.success(), "postrotate failed: {script}");
    assert!(
        wait_for(Duration::from_secs(10), || log.exists()),
        "the writer did not reopen {} after postrotate",
        log.display()
    );
    stress(&s.shm, 1, 300, &[]);
    let (status, err) = w.stop();
    assert!(status.success(), "{err}");
    for limit in ["memory", "cpu", "nice"] {
        assert!(err.contains(&format!("ul-writer: {limit} limit ")), "{err}");
    }
    assert!(!pid_path.exists(), "the pid file outlived the writer");
    let lines = |p: &PathBuf| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| l.contains("[stress]"))
            .count()
    };
    assert_eq!(lines(&rotated), 200);
    assert_eq!(lines(&log), 300);
}

#[test]
fn systemd_accepts_the_unit_where_systemd_analyze_exists() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze not installed; the parse test above still runs");
        return;
    };
    assert!(out.status.success());
    // verify checks that ExecStart's program exists: point it at ours.
    let s = Scratch::new("analyze");
    std::fs::create_dir_all(&s.dir).unwrap();
    let unit = doc("ul-writer.service").replace(
        "/usr/local/bin/ul-writer",
        common::writer_bin().to_str().unwrap(),
    );
    let path = s.dir.join("ul-writer.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<_> = err
        .lines()
        .filter(|l| l.contains("ul-writer.service"))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze complains: {ours:?}");
}
