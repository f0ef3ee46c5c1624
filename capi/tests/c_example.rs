//! `examples/hello.c`, compiled with the system C compiler against the
//! built library (shared and static), run against a real `ul-writer`: its
//! records, including the error descriptions it logs, are in server.log.

mod common;
use common::lib_dir;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn compile(out: &Path, static_link: bool) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let libs = lib_dir();
    let mut cc = Command::new(std::env::var_os("CC").unwrap_or("cc".into()));
    cc.arg(manifest.join("examples/hello.c"))
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(manifest.join("include"))
        .arg("-o")
        .arg(out);
    if static_link {
        cc.arg(libs.join("libul_capi.a"))
            .args(["-lpthread", "-ldl", "-lm", "-lrt"]);
    } else {
        cc.arg("-L")
            .arg(&libs)
            .arg("-lul_capi")
            .arg(format!("-Wl,-rpath,{}", libs.display()));
    }
    let o = cc.output().expect("run cc");
    assert!(
        o.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn run_against_writer(exe: &Path, tag: &str) -> String {
    let id = format!("ul-capi-{tag}-{}", std::process::id());
    let shm = PathBuf::from("/dev/shm").join(&id);
    let dir = std::env::temp_dir().join(&id);
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_dir_all(&dir);
    let mut writer = common::start_writer(&shm, &dir, Stdio::inherit());
    // The rpath decides which library loads, not the LD_LIBRARY_PATH cargo
    // sets for tests (it names target/debug, where an older build's
    // libul_capi.so may lie).
    let out = Command::new(exe)
        .arg(&shm)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("run hello");
    let text = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let _ = writer.kill();
    let _ = writer.wait();
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "hello failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn check(text: &str) {
    let has = |needle: &str| text.lines().any(|l| l.ends_with(needle));
    for needle in [
        "[CService] INFO: hello from C",
        "[c] WARN: no source given",
        "[CService] ERROR: request 42 done",
        "[CService] INFO: ul_log: message is NULL",
        "[CService] INFO: ul_log: message is not UTF-8 (invalid byte at offset 4)",
        "[CService] INFO: ul_log: level 42 is not a UlLevel (0 = trace .. 4 = error)",
        "[CService] DEBUG: formatted in C: 2 + 3 = 5",
    ] {
        assert!(has(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("trailing bytes"), "{text}");
}

#[test]
fn hello_c_logs_through_the_shared_library() {
    let exe = lib_dir().join("hello-c-shared");
    compile(&exe, false);
    check(&run_against_writer(&exe, "shared"));
}

#[test]
fn hello_c_logs_through_the_static_library() {
    let exe = lib_dir().join("hello-c-static");
    compile(&exe, true);
    check(&run_against_writer(&exe, "static"));
}
