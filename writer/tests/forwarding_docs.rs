//! `docs/forwarding.md`, checked where it can be here.
//!
//! - Its rsyslog config is, placeholders filled in, the one the forwarding
//!   tests run (`ul_test_support::rsyslog::config`), and its message
//!   example has the structured data the RFC 5424 formatter writes.
//! - Vector, Fluent Bit and the OpenTelemetry Collector cannot be installed
//!   here, so their configs are not run; what they rely on is checked
//!   against the real writer's files: every JSON line parses, `timestamp`
//!   matches the layout each config gives (read from the page and matched
//!   by that layout's documented rules), `level` is one of the five names,
//!   the fields each config names exist, `(pid, tid, seq)` names one
//!   record, the path patterns match the live files (Fluent Bit's not the
//!   rotated ones), and rotation, the writer's or logrotate's, renames a
//!   file (same inode, same first line) and opens a new one.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{signal, wait_for, Scratch, Writer};

const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

fn page() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/forwarding.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The contents of every fenced block whose info string is `lang`.
fn blocks(page: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(i) = rest.find(&open) {
        // Only a fence at the start of a line.
        if i > 0 && !rest[..i].ends_with('\n') {
            rest = &rest[i + open.len()..];
            continue;
        }
        let body = &rest[i + open.len()..];
        let end = body.find("\n```").expect("unterminated block");
        out.push(body[..end + 1].to_string());
        rest = &body[end + 4..];
    }
    out
}

/// The one block of `lang` that contains `marker`.
fn block(page: &str, lang: &str, marker: &str) -> String {
    let v: Vec<_> = blocks(page, lang)
        .into_iter()
        .filter(|b| b.contains(marker))
        .collect();
    assert_eq!(v.len(), 1, "one ```{lang} block with {marker:?}");
    v.into_iter().next().unwrap()
}

/// The text between `after` and the next `until` in `text`.
fn between<'a>(text: &'a str, after: &str, until: &str) -> &'a str {
    let i = text
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in {text}"))
        + after.len();
    let n = text[i..].find(until).expect("terminator");
    &text[i..i + n]
}

#[test]
fn rsyslog_config_is_the_one_the_forwarding_tests_run() {
    let page = page();
    let b = blocks(&page, "rsyslog");
    assert_eq!(b.len(), 1, "one ```rsyslog block");
    let filled = b[0]
        .replace("RELP_PORT", "2514")
        .replace("TCP_PORT", "10514")
        .replace("DIR", "/srv/ul-recv");
    assert_eq!(
        filled,
        ul_test_support::rsyslog::config(Path::new("/srv/ul-recv"), 2514, 10514),
        "docs/forwarding.md's rsyslog block differs from test-support/src/rsyslog.rs"
    );

    // The message example: the structured data as the formatter writes it.
    use ul_writer::internals::forward::syslog::{Message, Rfc5424, DEFAULT_SD_ID};
    let f = Rfc5424::with_fields(1, "HOST", "NAME", DEFAULT_SD_ID);
    let mut out = Vec::new();
    f.message(
        &mut out,
        &Message {
            level: ul_ring::record::Level::Info,
            timestamp_ns: 1_735_689_600_000_000_000,
            pid: 4242,
            tid: 4243,
            lane: Some(7),
            seq: 680,
            msg: b"LINE",
        },
    );
    let out = String::from_utf8(out).unwrap();
    let sd = &out[out.find(" - [").unwrap()..];
    let example = format!("<PRI>1 TIME HOST NAME PID{sd}");
    assert!(
        page.contains(&example),
        "the page's message example should read {example:?}"
    );
}

/// Whether `name` matches `pat`, a glob whose only wildcard is `*` (any
/// run of characters but `/`).
fn glob(pat: &str, name: &str) -> bool {
    match pat.split_once('*') {
        None => pat == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .take_while(|&i| !rest[..i].contains('/'))
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// Consumes `n` ASCII digits (exactly, or 1..=n if `up_to`) from `s`.
fn digits(s: &str, n: usize, up_to: bool) -> Option<&str> {
    let k = s.bytes().take(n).take_while(u8::is_ascii_digit).count();
    if k == n || (up_to && k > 0) {
        Some(&s[k..])
    } else {
        None
    }
}

/// Whether `ts` matches a strptime layout with the directives the page
/// uses: `%Y` (4 digits), `%m %d %H %M %S` (2), Fluent Bit's `%L`
/// (fractional seconds, up to nanoseconds: Configuring Parser), chrono's
/// `%.f` (a dot and up to 9 digits: what VRL's `parse_timestamp` takes),
/// anything else literal.
fn strptime_matches(layout: &str, ts: &str) -> bool {
    let (mut l, mut s) = (layout, ts);
    while !l.is_empty() {
        let next = if let Some(r) = l.strip_prefix("%Y") {
            l = r;
            digits(s, 4, false)
        } else if let Some(r) = ["%m", "%d", "%H", "%M", "%S"]
            .iter()
            .find_map(|d| l.strip_prefix(d))
        {
            l = r;
            digits(s, 2, false)
        } else if let Some(r) = l.strip_prefix("%L") {
            l = r;
            digits(s, 9, true)
        } else if let Some(r) = l.strip_prefix("%.f") {
            l = r;
            s.strip_prefix('.').and_then(|s| digits(s, 9, true))
        } else {
            assert!(!l.starts_with('%'), "directive not handled here: {l}");
            let c = l.chars().next().unwrap();
            l = &l[c.len_utf8()..];
            s.strip_prefix(c)
        };
        match next {
            Some(r) => s = r,
            None => return false,
        }
    }
    s.is_empty()
}

/// Whether `ts` matches a Go time layout with the elements the page uses:
/// `2006`, `01`, `02`, `15`, `04`, `05`, `.999999999` (a dot and up to 9
/// digits), `Z07:00` (`Z` or `±hh:mm`), anything else literal.
fn gotime_matches(layout: &str, ts: &str) -> bool {
    let (mut l, mut s) = (layout, ts);
    while !l.is_empty() {
        let next = if let Some(r) = l.strip_prefix("2006") {
            l = r;
            digits(s, 4, false)
        } else if let Some(r) = l.strip_prefix(".999999999") {
            l = r;
            s.strip_prefix('.').and_then(|s| digits(s, 9, true))
        } else if let Some(r) = l.strip_prefix("Z07:00") {
            l = r;
            s.strip_prefix('Z').or_else(|| {
                let r = s.strip_prefix(['+', '-'])?;
                digits(digits(r, 2, false)?.strip_prefix(':')?, 2, false)
            })
        } else if let Some(r) = ["01", "02", "15", "04", "05"]
            .iter()
            .find_map(|d| l.strip_prefix(d))
        {
            l = r;
            digits(s, 2, false)
        } else {
            let c = l.chars().next().unwrap();
            l = &l[c.len_utf8()..];
            s.strip_prefix(c)
        };
        match next {
            Some(r) => s = r,
            None => return false,
        }
    }
    s.is_empty()
}

#[test]
fn layout_matchers_reject_what_they_should() {
    assert!(strptime_matches(
        "%Y-%m-%dT%H:%M:%S.%LZ",
        "2025-01-01T00:00:00.000000123Z"
    ));
    assert!(!strptime_matches(
        "%Y-%m-%dT%H:%M:%S.%LZ",
        "2025-01-01T00:00:00Z"
    ));
    assert!(!strptime_matches(
        "%Y-%m-%dT%H:%M:%S%.fZ",
        "2025-01-01T00:00:00.0000001234Z"
    ));
    assert!(gotime_matches(
        "2006-01-02T15:04:05.999999999Z07:00",
        "2025-01-01T00:00:00.000000123Z"
    ));
    assert!(!gotime_matches(
        "2006-01-02T15:04:05.999999999Z07:00",
        "2025-01-01 00:00:00.000000123Z"
    ));
    assert!(glob("/d/server.*.json", "/d/server.info.json"));
    assert!(!glob("/d/server.*.json", "/d/server.info.json.1"));
    assert!(!glob("/d/server.*.json", "/d/server.log"));
}

fn inode(p: &Path) -> u64 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .ino()
}

fn first_line(p: &Path) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    t.lines().next().expect("a line").to_string()
}

/// Logs `n` records at each level, then waits for the files.
fn log_round(round: u32, n: u32) {
    for i in 0..n {
        ul::trace!(source: "fwd", "round {} i {}", round, i; k = i);
        ul::debug!(source: "fwd", "round {} i {}", round, i; k = i);
        ul::info!(source: "fwd", "round {} i {}", round, i; k = i);
        ul::warn!(source: "fwd", "round {} i {}", round, i; k = i);
        ul::error!(source: "fwd", "round {} i {}", round, i; k = i);
    }
    ul::flush().expect("flush");
}

#[test]
fn json_files_have_what_the_tailer_configs_rely_on() {
    let page = page();
    let vector = block(&page, "toml", "[sources.ul]");
    let fluent = block(&page, "ini", "[INPUT]");
    let parser = block(&page, "ini", "[PARSER]");
    let otel = block(&page, "yaml", "filelog:");
    let logrotate = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/logrotate.conf"),
    )
    .unwrap();

    let s = Scratch::new("fwd-docs");
    let w = Writer::start(
        &s,
        &[
            "--rotate-size",
            "16K",
            "--keep",
            "100",
            "--batch-size",
            "16",
        ],
    );
    ul::Options::new(&s.shm)
        .max_string_len(100)
        .overflow(ul::Overflow::Block {
            timeout: Duration::from_secs(30),
        })
        .init()
        .unwrap();
    ul::set_thread_context(ul::Context::new().with("session", "abc123"));
    let dir = &s.dir;
    let live = |level: &str| dir.join(format!("server.{level}.json"));

    // logrotate's way: rename, the writer keeps appending to the renamed
    // file, SIGHUP, a new file at the path.
    log_round(0, 3);
    let before = (inode(&live("error")), first_line(&live("error")));
    let renamed = dir.join("server.error.json.lr");
    std::fs::rename(live("error"), &renamed).unwrap();
    // As logrotate does, the text file too: the writer reopens it at once
    // on SIGHUP, which tells the test the signal was handled (a JSON file
    // is opened at the next record of its level).
    let text = dir.join("server.log");
    std::fs::rename(&text, dir.join("server.log.lr")).unwrap();
    log_round(1, 3);
    assert!(!live("error").exists());
    signal(w.pid(), libc::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(10), || text.exists()),
        "no new server.log after SIGHUP"
    );
    log_round(2, 3);
    assert_eq!((inode(&renamed), first_line(&renamed)), before);
    assert_ne!(inode(&live("error")), before.0);
    let renamed_lines = std::fs::read_to_string(&renamed).unwrap().lines().count();
    assert_eq!(renamed_lines, 6, "rounds 0 and 1 went to the renamed file");

    // The writer's own rotation: the live file becomes .1, then .2, ...
    let before = (inode(&live("info")), first_line(&live("info")));
    ul::info!(source: "fwd", "long {}", "x".repeat(500));
    ul::log_dynamic(ul::Level::Warn, "fwd", "no location");
    log_round(3, 300);
    let rotated: Vec<PathBuf> = (1..=100)
        .map(|k| dir.join(format!("server.info.json.{k}")))
        .filter(|p| p.exists())
        .collect();
    assert!(rotated.len() >= 2, "16K rotation should have happened");
    let same: Vec<_> = rotated.iter().filter(|p| inode(p) == before.0).collect();
    assert_eq!(
        same.len(),
        1,
        "the old live file is one of the rotated ones"
    );
    assert_eq!(
        first_line(same[0]),
        before.1,
        "rotation keeps the first line"
    );
    assert_ne!(inode(&live("info")), before.0);
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");

    // Every line of every JSON file.
    let vector_format = between(&vector, "format: \"", "\"");
    let fluent_format = between(&parser, "Time_Format ", "\n").trim();
    let otel_layout = between(&otel, "layout: \"", "\"");
    assert_eq!(between(&otel, "layout_type: ", "\n"), "gotime");
    assert_eq!(between(&parser, "Time_Key ", "\n").trim(), "timestamp");
    let otel_fields: Vec<&str> = otel
        .split("attributes.")
        .skip(1)
        .map(|r| {
            r.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .next()
                .unwrap()
        })
        .collect();
    assert!(otel_fields.contains(&"timestamp") && otel_fields.contains(&"level"));
    assert!(
        vector.contains("parse_timestamp!(.timestamp,") && vector.contains("string!(.message)")
    );

    let mut ids = HashSet::new();
    let mut per_level = BTreeMap::new();
    let (mut truncated, mut no_location, mut files) = (0, 0, Vec::new());
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if !name.starts_with("server.") || !name.contains(".json") {
            continue;
        }
        files.push(name.clone());
        let file_level = name.split('.').nth(1).unwrap().to_string();
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {line}"));
            let o = v
                .as_object()
                .unwrap_or_else(|| panic!("not an object: {line}"));
            let level = o["level"].as_str().unwrap();
            assert!(LEVELS.contains(&level), "{line}");
            assert_eq!(level, file_level, "{name}: {line}");
            let ts = o["timestamp"].as_str().unwrap();
            assert!(strptime_matches(vector_format, ts), "Vector: {ts}");
            assert!(strptime_matches(fluent_format, ts), "Fluent Bit: {ts}");
            assert!(gotime_matches(otel_layout, ts), "OTel: {ts}");
            // As the README says: 9 fraction digits and Z, and chrono (what
            // VRL parses with) reads it back to the same nanosecond.
            assert_eq!(ts.len(), "2025-01-01T00:00:00.000000123Z".len(), "{ts}");
            let t = chrono::NaiveDateTime::parse_from_str(ts, vector_format)
                .unwrap_or_else(|e| panic!("{ts}: {e}"));
            assert_eq!(t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(), ts);
            for f in otel_fields.iter().chain(&["message", "source"]) {
                assert!(o.contains_key(*f), "{name}: no {f:?}: {line}");
            }
            // The writer's own lines (drops, reopened files) are not
            // records: no lane, no identity.
            if o["source"] == "ul-writer" {
                continue;
            }
            let id = (
                o["pid"].as_u64().unwrap(),
                o["tid"].as_u64().unwrap(),
                o["seq"].as_u64().unwrap(),
            );
            assert!(ids.insert(id), "(pid, tid, seq) twice: {line}");
            assert_eq!(o["source"], "fwd", "{line}");
            truncated += usize::from(o.get("truncated") == Some(&serde_json::Value::Bool(true)));
            no_location += usize::from(!o.contains_key("file") && !o.contains_key("line"));
            *per_level.entry(file_level.clone()).or_insert(0) += 1;
        }
    }
    assert_eq!(truncated, 1, "the long string was cut and marked");
    assert_eq!(no_location, 1, "log_dynamic's record has no file/line");
    let want: BTreeMap<String, usize> = LEVELS
        .iter()
        .map(|l| {
            let extra = usize::from(*l == "info" || *l == "warn");
            (l.to_string(), 309 + extra)
        })
        .collect();
    assert_eq!(per_level, want, "every record once, across the rotations");

    // Path patterns, with the page's directory (logrotate.conf's) replaced
    // by the scratch one.
    assert!(logrotate.contains("/var/log/ul/server.*.json"));
    let pats = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|p| p.trim().trim_matches('"').replace("/var/log/ul/", ""))
            .collect()
    };
    let vector_pats = pats(between(&vector, "include = [", "]"));
    let otel_pats = pats(between(&otel, "include: [", "]"));
    let fluent_pats = pats(between(&fluent, "Path ", "\n"));
    let matched = |pats: &[String], f: &str| pats.iter().any(|p| glob(p, f));
    for (tool, p) in [
        ("Vector", &vector_pats),
        ("Fluent Bit", &fluent_pats),
        ("OTel", &otel_pats),
    ] {
        for l in LEVELS {
            assert!(matched(p, &format!("server.{l}.json")), "{tool} {p:?}");
        }
        assert!(!matched(p, "server.log"), "{tool} {p:?}");
    }
    assert!(matched(&vector_pats, "server.info.json.1"));
    assert!(matched(&otel_pats, "server.info.json.1"));
    for f in &files {
        let live_file = LEVELS.iter().any(|l| *f == format!("server.{l}.json"));
        assert_eq!(
            matched(&fluent_pats, f),
            live_file,
            "Fluent Bit's Path must match the live files only: {f}"
        );
    }
}
