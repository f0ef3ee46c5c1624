//! `ul_writer_state()` against a real `ul-writer`: running, stopped by
//! SIGSTOP (not gone), running again after SIGCONT, gone once killed; the
//! same classification as `ul::writer_state()`, `ul-stat` and `ul-log`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ul_capi::{ul_init, ul_writer_alive, ul_writer_state, UlStatus, UlWriterState};

fn kill(sig: &str, pid: u32) {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(st.success(), "kill {sig} {pid}");
}

fn wait_state(want: UlWriterState) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if ul_writer_state() == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn c_api_tells_stopped_from_gone() {
    let id = format!("ul-capi-state-{}", std::process::id());
    let shm = PathBuf::from("/dev/shm").join(&id);
    let dir = std::env::temp_dir().join(&id);
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_dir_all(&dir);
    let mut writer = common::start_writer(&shm, &dir, Stdio::null());
    let pid = writer.id();
    let path = std::ffi::CString::new(shm.to_str().unwrap()).unwrap();
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    assert_eq!(unsafe { ul_init(path.as_ptr()) }, UlStatus::Ok);
    assert!(wait_state(UlWriterState::Running));
    assert!(ul_writer_alive());

    kill("-STOP", pid);
    assert!(
        wait_state(UlWriterState::Stopped),
        "{:?}",
        ul_writer_state()
    );
    assert!(!ul_writer_alive());
    kill("-CONT", pid);
    assert!(
        wait_state(UlWriterState::Running),
        "{:?}",
        ul_writer_state()
    );

    let _ = writer.kill();
    let _ = writer.wait();
    assert_eq!(ul_writer_state(), UlWriterState::Gone);
    assert!(!ul_writer_alive());
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_dir_all(&dir);
}
