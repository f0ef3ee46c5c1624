//! `./demo.sh` (the README's first command) with another writer on the
//! machine (issue 14): by default the demo uses a region of its own, so its
//! writer serves, its records land in its own directory, and it exits 0;
//! pointed with `UL_SHM` at a region another writer serves, it says so and
//! exits 2 without logging into the other writer's files (before, it
//! printed "all written", then `kill: ... No such process`, exit 1).
//!
//! The script runs on this build's binaries (`UL_BIN_DIR`), not a release
//! build of its own, to keep the test quick.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

fn demo(shm: Option<&Path>, dir: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo.sh");
    let bins = writer_bin().parent().expect("bin dir").to_owned();
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .env("UL_BIN_DIR", &bins)
        .env("UL_DIR", dir)
        .env_remove("UL_SHM")
        .stdin(Stdio::null());
    if let Some(shm) = shm {
        cmd.env("UL_SHM", shm);
    }
    cmd.output().expect("run demo.sh")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn demo_uses_its_own_region_while_another_writer_serves() {
    let other = Scratch::new("demo-other");
    let w = Writer::start(&other, &[]);
    let mine = Scratch::new("demo-mine");
    let o = demo(None, &mine.dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("all written by ul-writer"), "{out}");
    assert!(!out.contains("No such process"), "{out}");
    // Its records are in its own directory, none in the other writer's.
    let log = mine.text();
    assert!(log.contains("worker 3 step 4999"), "{out}");
    assert!(
        log.contains("[AuthService] INFO: User ann logged in"),
        "{out}"
    );
    let (_, _) = w.stop();
    assert!(!other.text().contains("worker "), "{}", other.text());
    // The demo's region is removed at the end.
    let left: Vec<_> = std::fs::read_dir("/dev/shm")
        .expect("ls /dev/shm")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ul-demo-") && !n.contains('.'))
        .filter(|n| {
            // Only this test's: the script's pid is not known here, so
            // check that no region of a dead script is left (a live one
            // may be another test run's).
            let pid = n.trim_start_matches("ul-demo-");
            !Path::new(&format!("/proc/{pid}")).exists()
        })
        .collect();
    assert!(left.is_empty(), "demo regions left behind: {left:?}");
}

#[test]
fn demo_pointed_at_a_served_region_says_so_and_logs_nothing() {
    let other = Scratch::new("demo-served");
    let w = Writer::start(&other, &[]);
    let mine = Scratch::new("demo-refused");
    let o = demo(Some(&other.shm), &mine.dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("already serves"), "{out}");
    assert!(out.contains("nothing was logged"), "{out}");
    assert!(!out.contains("all written"), "{out}");
    assert!(!out.contains("No such process"), "{out}");
    let (_, _) = w.stop();
    assert!(!other.text().contains("worker "), "{}", other.text());
}

/// Every run used to add 27 MB to `./logs` for good; the demo's writer now
/// rotates, so a directory already past the limit is rotated, not grown.
#[test]
fn demo_keeps_its_directory_bounded() {
    let mine = Scratch::new("demo-bounded");
    std::fs::create_dir_all(&mine.dir).unwrap();
    let filler = "[earlier run] filler line for the rotation test\n".repeat(200_000);
    std::fs::write(mine.dir.join("server.log"), &filler).unwrap();
    assert!(filler.len() > 8 << 20);
    let o = demo(None, &mine.dir);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let rotated = std::fs::read_to_string(mine.dir.join("server.log.1")).unwrap_or_default();
    assert!(
        rotated.starts_with("[earlier run]"),
        "the 9.6 MB server.log was not rotated: {out}"
    );
    let total: u64 = std::fs::read_dir(&mine.dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total < 35 << 20, "{total} bytes in the demo's directory");
    let both = rotated + &mine.text();
    assert!(both.contains("worker 3 step 4999"), "{out}");
}
