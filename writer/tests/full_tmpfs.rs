//! A full tmpfs, for real: each test mounts a small tmpfs of its own (we run
//! as root in CI; where mount is not permitted the test says so loudly and
//! returns) and unmounts it in a Drop guard.
//!
//! * A region larger than the tmpfs fails when it is created (the file is
//!   preallocated with `posix_fallocate`), with a clear error, never with a
//!   SIGBUS later.
//! * A log directory on a full tmpfs: the writer keeps the records in the
//!   ring, reports ENOSPC once with the path, retries with backoff, and
//!   writes everything exactly once when space is freed.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ul_ring::region::{Region, RegionError, RegionOptions};

/// A tmpfs mounted on a fresh directory; unmounted and removed on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` bytes, or returns None (after saying why)
    /// when this process may not mount.
    fn mount(tag: &str, size: u64) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("ul-tmpfs-{tag}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let target = CString::new(dir.as_os_str().as_bytes()).expect("path");
        let opts = CString::new(format!("size={size},mode=0700")).expect("opts");
        // SAFETY: all pointers are NUL-terminated strings that outlive the
        // call; mount reads them only.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            let _ = std::fs::remove_dir(&dir);
            if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
                eprintln!(
                    "\n*** SKIPPED: mounting a tmpfs on {} is not permitted ({e}); \
                     run as root (or with CAP_SYS_ADMIN) to test a full tmpfs ***\n",
                    dir.display()
                );
                return None;
            }
            panic!("mount tmpfs on {}: {e}", dir.display());
        }
        Some(Tmpfs { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = CString::new(self.dir.as_os_str().as_bytes()).expect("path");
        // SAFETY: a NUL-terminated path; MNT_DETACH unmounts even if a
        // process still has a file open there.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create filler");
    let block = vec![0u8; 4096];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = f.sync_all();
}

#[test]
fn a_region_larger_than_the_tmpfs_fails_at_creation() {
    let Some(fs) = Tmpfs::mount("small", 1 << 20) else {
        return;
    };
    let path = fs.path("region");
    // The default region is ~34 MiB; the tmpfs holds 1 MiB.
    let err = match Region::open(&path, &RegionOptions::default()) {
        Ok(_) => panic!("creating a region larger than its tmpfs must fail"),
        Err(e) => e,
    };
    match &err {
        RegionError::Io {
            op,
            path: p,
            source,
        } => {
            assert!(op.contains("allocate"), "failed at {op}, not at allocation");
            assert_eq!(p, &path);
            assert_eq!(source.raw_os_error(), Some(libc::ENOSPC), "{err}");
        }
        other => panic!("unexpected error: {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("tmpfs full"),
        "message should name the path and the likely cause: {msg}"
    );
    assert!(!path.exists(), "a failed creation leaves no file behind");

    // The writer binary says the same and exits with an error, at once.
    let dir = fs.path("logs-unused");
    let out = Command::new(writer_bin())
        .arg("--shm")
        .arg(&path)
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("run ul-writer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("allocate") && stderr.contains(&path.display().to_string()),
        "ul-writer's error should name the path and the allocation: {stderr}"
    );
    assert!(!path.exists());
}

#[test]
fn a_full_log_directory_keeps_records_in_the_ring_until_space_is_freed() {
    let Some(fs) = Tmpfs::mount("logs", 2 << 20) else {
        return;
    };
    let s = Scratch::new("fulltmpfs");
    let dir = fs.path("logs");
    let err_path = s.dir.with_extension("stderr");
    std::fs::create_dir_all(&dir).expect("log dir");
    fill(&fs.path("filler"));
    let mut writer = Command::new(writer_bin())
        .arg("--shm")
        .arg(&s.shm)
        .arg("--dir")
        .arg(&dir)
        .args(["--format", "text", "--flush-interval-ms", "20"])
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start ul-writer");
    assert!(
        wait_for(Duration::from_secs(10), || s.shm.exists()
            && dir.join("server.log").exists()),
        "the writer did not start"
    );
    let stderr = || std::fs::read_to_string(&err_path).unwrap_or_default();
    // 2 x 3000 records (about 400 KB of text) into a full file system.
    stress(&s.shm, 2, 3000, &["--no-flush"]);
    assert!(
        wait_for(Duration::from_secs(20), || stderr()
            .contains("No space left on device")),
        "the writer did not report ENOSPC:\n{}",
        stderr()
    );
    // Let it retry (and back off) a while against the full disk.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        std::fs::metadata(dir.join("server.log"))
            .map(|m| m.len())
            .unwrap_or(0),
        0,
        "nothing fits on the full file system"
    );
    std::fs::remove_file(fs.path("filler")).expect("free space");
    // A flush waits for every lane: once it returns, everything is on disk.
    stress(&s.shm, 1, 0, &["--timeout", "30"]);
    signal(writer.id(), libc::SIGTERM);
    let status = wait_timeout(&mut writer, Duration::from_secs(30)).expect("writer exit");
    assert!(status.success(), "writer exit: {status:?}\n{}", stderr());
    let err = stderr();
    let _ = std::fs::remove_file(&err_path);

    let reports: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("No space left on device") && l.contains("retrying"))
        .collect();
    assert_eq!(
        reports.len(),
        1,
        "ENOSPC is reported once per outage:\n{err}"
    );
    assert!(
        reports[0].contains(&dir.join("server.log").display().to_string()),
        "the report names the file: {}",
        reports[0]
    );
    assert!(
        err.contains("writing works again"),
        "recovery is reported:\n{err}"
    );

    let text = std::fs::read_to_string(dir.join("server.log")).expect("server.log");
    let mut seen = std::collections::HashMap::new();
    for line in text.lines() {
        assert!(line.starts_with("UL: ["), "malformed line: {line:?}");
        if let Some(rest) = line.split_once("] [stress] ").map(|x| x.1) {
            let key: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| w.starts_with("t=") || w.starts_with("i="))
                .collect();
            *seen.entry(key.join(" ")).or_insert(0u32) += 1;
        }
    }
    for t in 0..2 {
        for i in 0..3000 {
            assert_eq!(
                seen.get(&format!("t={t} i={i}")).copied(),
                Some(1),
                "record t={t} i={i} must be written exactly once"
            );
        }
    }
    assert_eq!(seen.len(), 6000);
}
