//! `--shm` pointed at a file that is not a usable region (issue 14): the
//! writer refuses it with a message that names the path and tells what the
//! file is, as far as ul can know, and never advises removing a file that
//! it does not know to be a ul region. The file is left as it was.
//!
//! - ul's magic, but broken (truncated): ours; the message may say remove.
//! - no magic, other bytes (a copy of /etc/passwd, 8 KiB of 0xAB): not a ul
//!   region; says so, suggests another path, no "remove".
//! - empty, or zeros of a size no region here has: ul cannot tell; says
//!   both possibilities and how to check, no "remove".
//! - zeros of exactly a default region's size with the mode ul creates
//!   regions with (0600): probably a region whose creator died before
//!   publishing the magic (ul stores it last); may say remove, after
//!   checking that no process has it open.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::*;
use ul_ring::layout::Sizes;
use ul_ring::region::{Region, RegionOptions};

/// Runs `ul-writer --shm <s.shm>`; returns its exit code and stderr.
fn run_writer(s: &Scratch) -> (Option<i32>, String) {
    let mut child = Command::new(writer_bin())
        .arg("--shm")
        .arg(&s.shm)
        .arg("--dir")
        .arg(&s.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ul-writer");
    let status =
        wait_timeout(&mut child, std::time::Duration::from_secs(30)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("ul-writer --shm {} did not exit", s.shm.display())
        });
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    (status.code(), err)
}

/// Writes `bytes` at `s.shm` with `mode`, runs the writer on it, checks
/// that it failed and left the file as it was; returns its stderr.
fn refused(s: &Scratch, bytes: &[u8], mode: u32) -> String {
    std::fs::write(&s.shm, bytes).expect("write the file");
    std::fs::set_permissions(&s.shm, std::fs::Permissions::from_mode(mode)).expect("chmod");
    let (code, err) = run_writer(s);
    assert_eq!(code, Some(1), "ul-writer should refuse the file:\n{err}");
    assert_eq!(
        std::fs::read(&s.shm).expect("the file is still there"),
        bytes,
        "ul-writer changed a file it refused"
    );
    assert!(
        err.contains(&s.shm.display().to_string()),
        "the message does not name the path:\n{err}"
    );
    err
}

fn assert_no_removal_advice(err: &str) {
    assert!(
        !err.to_lowercase().contains("remove"),
        "advises removing a file ul does not know to be a region:\n{err}"
    );
}

fn default_region_len() -> usize {
    Sizes::default()
        .geometry()
        .expect("default sizes")
        .total_len
}

#[test]
fn a_text_file_is_not_a_region_and_is_not_to_be_removed() {
    let s = Scratch::new("passwd");
    let passwd = std::fs::read("/etc/passwd").unwrap_or_else(|_| {
        b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
            .to_vec()
    });
    let err = refused(&s, &passwd, 0o644);
    assert!(err.contains("not a ul region"), "{err}");
    assert!(!err.contains("truncated"), "{err}");
    assert!(err.contains("another path"), "{err}");
    assert_no_removal_advice(&err);
}

#[test]
fn a_large_file_without_the_magic_is_not_a_region() {
    let s = Scratch::new("garbage");
    let err = refused(&s, &vec![0xAB; 8192], 0o600);
    assert!(err.contains("not a ul region"), "{err}");
    assert_no_removal_advice(&err);
}

#[test]
fn an_empty_file_may_be_either_and_the_message_says_so() {
    let s = Scratch::new("empty");
    let err = refused(&s, &[], 0o600);
    assert!(err.contains("empty"), "{err}");
    assert!(err.contains("cannot tell"), "{err}");
    assert!(
        err.contains("fuser"),
        "the message should say how to check:\n{err}"
    );
    assert_no_removal_advice(&err);
}

#[test]
fn zeros_of_no_region_size_may_be_either() {
    let s = Scratch::new("zeros");
    let err = refused(&s, &vec![0; 8192], 0o644);
    assert!(err.contains("zeros"), "{err}");
    assert!(err.contains("cannot tell"), "{err}");
    assert!(err.contains("fuser"), "{err}");
    assert_no_removal_advice(&err);
}

#[test]
fn zeros_of_a_region_size_and_mode_are_probably_a_dead_creators_region() {
    let s = Scratch::new("deadcreator");
    let err = refused(&s, &vec![0; default_region_len()], 0o600);
    assert!(
        err.contains("probably a ul region whose creator died"),
        "{err}"
    );
    assert!(err.contains("fuser"), "{err}");
}

#[test]
fn a_truncated_region_is_ours_and_broken() {
    let s = Scratch::new("ourtrunc");
    let r = Region::open(&s.shm, &RegionOptions::default()).expect("create a region");
    drop(r);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&s.shm)
        .expect("open");
    f.set_len(1000).expect("truncate");
    let bytes = std::fs::read(&s.shm).expect("read");
    let err = refused(&s, &bytes, 0o600);
    assert!(err.contains("is a ul region"), "{err}");
    assert!(err.contains("broken"), "{err}");
    assert!(err.contains("1000 bytes"), "{err}");
    assert!(err.contains("remove"), "{err}");
}
