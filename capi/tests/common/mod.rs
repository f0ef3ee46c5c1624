//! What the C API's tests share: this build's library directory and
//! `ul-writer`, and a writer started on a private region.

#![allow(dead_code)] // each test binary uses its own part of this

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory holding this test's build of `libul_capi.{so,a}` (next to
/// the test binary, in `target/<profile>/deps`).
pub fn lib_dir() -> PathBuf {
    std::env::current_exe()
        .expect("current_exe")
        .parent()
        .expect("deps dir")
        .to_owned()
}

/// The `ul-writer` binary of this build, built if it is missing.
pub fn writer_bin() -> PathBuf {
    let p = lib_dir().parent().expect("profile dir").join("ul-writer");
    if !p.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", "ul-writer", "--bin", "ul-writer"])
            .status()
            .expect("cargo build ul-writer");
        assert!(st.success(), "building ul-writer failed");
    }
    p
}

/// True once `shm` is an initialised ul region (its magic is published
/// last, after every other header field).
fn region_ready(shm: &Path) -> bool {
    use std::os::unix::fs::FileExt;
    let at = std::mem::offset_of!(ul_ring::layout::RegionHeader, id)
        + std::mem::offset_of!(ul_ring::layout::Identity, magic);
    let mut word = [0u8; 8];
    std::fs::File::open(shm)
        .and_then(|f| f.read_exact_at(&mut word, at as u64))
        .is_ok_and(|()| u64::from_ne_bytes(word) == ul_ring::layout::MAGIC)
}

/// Starts `ul-writer --shm shm --dir dir --flush-interval-ms 20` (standard
/// error to `stderr`) and waits until it serves the region and has opened
/// its files.
pub fn start_writer(shm: &Path, dir: &Path, stderr: Stdio) -> Child {
    let mut writer = Command::new(writer_bin())
        .arg("--shm")
        .arg(shm)
        .arg("--dir")
        .arg(dir)
        .args(["--flush-interval-ms", "20"])
        .stdin(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start ul-writer");
    let start = Instant::now();
    while !(region_ready(shm) && dir.join("server.log").exists()) {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = writer.kill();
            panic!("ul-writer did not start on {}", shm.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    writer
}
