//! The binary log end to end: a real `ul-writer` writing text, JSON and
//! the binary log of the same records from real producers, and `ul-decode`
//! turning the binary log back into the text and JSON files, byte for
//! byte; across a restart of the writer, across rotations; and damaged
//! files reported by offset, decoded around, never a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

fn decode_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ul-decode"))
}

fn demo_bin() -> PathBuf {
    let p = writer_bin()
        .parent()
        .expect("bin dir")
        .join("examples")
        .join("demo");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p ul-writer --examples` first",
        p.display()
    );
    p
}

fn decode(file: &Path, format: &str) -> Output {
    Command::new(decode_bin())
        .arg("--format")
        .arg(format)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run ul-decode")
}

/// Decodes `file` (which must decode cleanly) to text and to JSON lines.
fn decoded(file: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut got = Vec::new();
    for format in ["text", "json"] {
        let out = decode(file, format);
        assert!(
            out.status.success(),
            "ul-decode --format {format} {}: {:?}\n{}",
            file.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        got.push(out.stdout);
    }
    let json = got.pop().unwrap();
    (got.pop().unwrap(), json)
}

const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

/// The lines of one level, in order, from a stream of JSON lines.
fn json_level(json: &[u8], level: &str) -> Vec<u8> {
    let head = format!("{{\"level\":\"{level}\",");
    let mut out = Vec::new();
    for line in json.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(head.as_bytes()) {
            out.extend_from_slice(line);
        }
    }
    out
}

fn run_demo(shm: &Path) {
    let out = Command::new(demo_bin())
        .arg("--shm")
        .arg(shm)
        .stdin(Stdio::null())
        .output()
        .expect("run demo");
    assert!(out.status.success(), "demo: {out:?}");
}

/// One writer with every output, stopped and started again (with
/// `--text-location`, which the new session carries): the decoded binary
/// log is `server.log` and each `server.<level>.json`, byte for byte.
#[test]
fn decoding_the_binary_log_gives_the_text_and_json_files() {
    let s = Scratch::new("binlog");
    for extra in [&[][..], &["--text-location"][..]] {
        let mut args = vec!["--format", "all"];
        args.extend_from_slice(extra);
        let w = Writer::start(&s, &args);
        run_demo(&s.shm);
        stress(&s.shm, 3, 20_000, &[]);
        let (status, err) = w.stop();
        assert!(status.success(), "{status:?}\n{err}");
    }
    let (text, json) = decoded(&s.dir.join("server.ulog"));
    let want = std::fs::read(s.dir.join("server.log")).unwrap();
    // Every stress record (twice 3 x 20,000), the demo's, the writer's own.
    let lines = want.iter().filter(|&&b| b == b'\n').count();
    assert!(lines > 120_000, "only {lines} lines");
    let t = String::from_utf8_lossy(&want);
    assert!(
        t.contains("] [UserService] INFO: User action completed [session:abc123]"),
        "demo lines missing"
    );
    assert!(
        t.contains(".rs:"),
        "no --text-location line in the second run"
    );
    assert!(text == want, "decoded text differs from server.log");
    for level in LEVELS {
        let want = std::fs::read(s.dir.join(format!("server.{level}.json"))).unwrap_or_default();
        assert!(!want.is_empty(), "no {level} lines");
        assert!(
            json_level(&json, level) == want,
            "decoded JSON differs from server.{level}.json"
        );
    }
    let all: usize = LEVELS.iter().map(|l| json_level(&json, l).len()).sum();
    assert_eq!(all, json.len(), "a decoded JSON line of no level");
}

/// Rotated by size, every binary log file decodes on its own (each starts
/// with a session and the entries its records need), and the files in
/// order are the rotated text files in order.
#[test]
fn rotated_binary_logs_decode_on_their_own() {
    let s = Scratch::new("binrot");
    let w = Writer::start(
        &s,
        &[
            "--format",
            "all",
            "--rotate-size",
            "256K",
            "--keep",
            "1000",
            "--batch-size",
            "512",
        ],
    );
    stress(&s.shm, 2, 30_000, &[]);
    let (status, err) = w.stop();
    assert!(status.success(), "{status:?}\n{err}");
    let chain = |base: &str| -> Vec<PathBuf> {
        let p = s.dir.join(base);
        let mut files: Vec<PathBuf> = (1..)
            .map(|n| ul_writer::internals::rotate::numbered(&p, n))
            .take_while(|f| f.exists())
            .collect();
        files.reverse();
        files.push(p);
        files
    };
    let ulogs = chain("server.ulog");
    assert!(ulogs.len() >= 3, "only {} binary log files", ulogs.len());
    let mut text = Vec::new();
    for f in &ulogs {
        let (t, _) = decoded(f);
        assert!(!t.is_empty(), "{} decodes to nothing", f.display());
        text.extend_from_slice(&t);
    }
    let want: Vec<u8> = chain("server.log")
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    assert!(
        text == want,
        "decoded rotated binary logs differ from the rotated text files"
    );
}

/// A file cut off, garbage in the middle, a record that does not match
/// its call site's signature: each reported with the file and its offset,
/// the rest decoded, exit status 3, no panic.
#[test]
fn damaged_binary_logs_are_reported_by_offset_and_decoded_around() {
    let s = Scratch::new("bindamage");
    let w = Writer::start(&s, &["--format", "all"]);
    stress(&s.shm, 1, 2_000, &[]);
    let (status, err) = w.stop();
    assert!(status.success(), "{status:?}\n{err}");
    let file = s.dir.join("server.ulog");
    let good = std::fs::read(&file).unwrap();
    let (text, _) = decoded(&file);
    let want_lines = text.iter().filter(|&&b| b == b'\n').count();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("cut", good[..good.len() - 13].to_vec()),
        ("garbage", {
            let mut g = good.clone();
            let mid = (good.len() / 2) & !7;
            g.splice(mid..mid, std::iter::repeat_n(0xa5u8, 4096));
            g
        }),
        ("zeros-at-start", {
            let mut g = vec![0u8; 64];
            g.extend_from_slice(&good);
            g
        }),
    ];
    for (name, bytes) in cases {
        let path = s.dir.join(format!("{name}.ulog"));
        std::fs::write(&path, &bytes).unwrap();
        let out = decode(&path, "text");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{name}: {:?}\n{err}",
            out.status
        );
        assert!(
            err.contains(&format!("ul-decode: {}: offset ", path.display())),
            "{name}: {err}"
        );
        let lines = out.stdout.iter().filter(|&&b| b == b'\n').count();
        assert!(
            lines > 0 && lines <= want_lines,
            "{name}: {lines} lines of {want_lines}"
        );
        match name {
            // The last record is cut; every one before it is decoded.
            "cut" => assert_eq!(lines + 1, want_lines, "{name}"),
            "zeros-at-start" => assert_eq!(lines, want_lines, "{name}"),
            _ => {}
        }
        assert!(
            text.starts_with(&out.stdout) || name != "cut",
            "{name}: a cut file's lines are the whole file's first lines"
        );
    }
    let out = decode(&s.dir.join("missing.ulog"), "text");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.ulog"));
}

/// `--format binary` writes the binary log alone (no empty `server.log`,
/// no JSON files), and it holds every record: the fast path that copies
/// records without decoding them loses none and adds none.
#[test]
fn binary_only_writes_the_binary_log_alone() {
    let s = Scratch::new("binonly");
    let w = Writer::start(&s, &["--format", "binary"]);
    stress(&s.shm, 2, 5_000, &[]);
    let (status, err) = w.stop();
    assert!(status.success(), "{status:?}\n{err}");
    assert!(
        !s.dir.join("server.log").exists(),
        "an empty server.log was made"
    );
    for level in LEVELS {
        assert!(!s.dir.join(format!("server.{level}.json")).exists());
    }
    let (text, json) = decoded(&s.dir.join("server.ulog"));
    let text = String::from_utf8(text).unwrap();
    for t in 0..2 {
        for i in [0, 1, 2_500, 4_999] {
            let needle = format!(" t={t} i={i} x=");
            assert_eq!(
                text.matches(&needle).count(),
                1,
                "record t={t} i={i} not there exactly once"
            );
        }
    }
    let records = text.lines().filter(|l| l.contains("[stress] ")).count();
    assert_eq!(records, 10_000, "{records} stress records");
    assert_eq!(
        String::from_utf8(json)
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"source\":\"stress\""))
            .count(),
        10_000
    );
}

/// `ul-decode --follow` started on a live binary log prints the lines as
/// they are written, across rotations (the old file read to its end, then
/// the new one from its start): once the writer stops, its output is the
/// rotated text files and `server.log`, in order.
#[test]
fn follow_prints_the_lines_as_written_across_rotations() {
    use std::os::unix::process::ExitStatusExt;
    let s = Scratch::new("binfollow");
    let w = Writer::start(
        &s,
        &[
            "--format",
            "all",
            "--rotate-size",
            "256K",
            "--keep",
            "1000",
            "--batch-size",
            "512",
        ],
    );
    stress(&s.shm, 1, 200, &[]);
    let ulog = s.dir.join("server.ulog");
    assert!(wait_for(std::time::Duration::from_secs(10), || ulog.exists()));
    let out_path = s.dir.join("followed.log");
    let mut follow = Command::new(decode_bin())
        .arg("--follow")
        .arg(&ulog)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ul-decode --follow");
    stress(&s.shm, 2, 10_000, &[]);
    let (status, err) = w.stop();
    assert!(status.success(), "{status:?}\n{err}");
    let mut logs: Vec<PathBuf> = (1..)
        .map(|n| ul_writer::internals::rotate::numbered(&s.dir.join("server.log"), n))
        .take_while(|f| f.exists())
        .collect();
    assert!(logs.len() >= 2, "no rotation happened");
    logs.reverse();
    logs.push(s.dir.join("server.log"));
    let want: Vec<u8> = logs
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    let done = wait_for(std::time::Duration::from_secs(20), || {
        std::fs::metadata(&out_path).map_or(0, |m| m.len()) >= want.len() as u64
    });
    signal(follow.id(), libc::SIGTERM);
    let status = follow.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "ul-decode --follow ended by itself"
    );
    let mut err = String::new();
    use std::io::Read;
    follow
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.is_empty(), "{err}");
    assert!(
        done,
        "ul-decode --follow printed {} of {} bytes",
        std::fs::metadata(&out_path).unwrap().len(),
        want.len()
    );
    assert!(
        std::fs::read(&out_path).unwrap() == want,
        "followed lines differ from the text files"
    );
}
