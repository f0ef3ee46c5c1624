//! The README's C section, run as written (issue 14: its `cc` line named a
//! `hello.c` that is not at the repository root, its relative rpath made
//! the program fail with exit 127 when run from elsewhere, and its snippet
//! used undefined `buf`/`len` without `<stdio.h>`).
//!
//! - The ```sh block's lines run verbatim with `bash -e` in a directory laid
//!   out like the repository root (`capi/`, and `target/release/` holding
//!   this build's `libul_capi.{so,a}` and `ul-writer`): only the `cargo
//!   build` line is checked rather than run (this build made those files),
//!   and the region path is made unique.
//! - The program it built runs from another directory (its rpath is
//!   absolute).
//! - The ```c block compiles with `-Wall -Werror` by the block's own `cc`
//!   line and runs against a real `ul-writer`.

mod common;
use common::{lib_dir, writer_bin};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The first fenced block of `lang` after `heading` in the README.
fn readme_block(heading: &str, lang: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("read README.md");
    let from = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has no {heading:?}"));
    let rest = &readme[from..];
    let open = format!("```{lang}\n");
    let start = rest
        .find(&open)
        .unwrap_or_else(|| panic!("no ```{lang} block after {heading:?}"))
        + open.len();
    let len = rest[start..].find("```").expect("unterminated block");
    rest[start..start + len].to_owned()
}

/// A directory laid out like the repository root, removed on drop.
struct Root(PathBuf);

impl Root {
    fn new(tag: &str) -> Root {
        let root = std::env::temp_dir().join(format!("ul-readme-c-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let release = root.join("target/release");
        std::fs::create_dir_all(&release).expect("mkdir");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::os::unix::fs::symlink(repo.join("capi"), root.join("capi")).expect("symlink capi");
        for lib in ["libul_capi.so", "libul_capi.a"] {
            let built = lib_dir().join(lib);
            assert!(built.exists(), "{} is missing", built.display());
            std::os::unix::fs::symlink(&built, release.join(lib)).expect("symlink lib");
        }
        std::os::unix::fs::symlink(writer_bin(), release.join("ul-writer"))
            .expect("symlink ul-writer");
        Root(root)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `script` as a user would, without the LD_LIBRARY_PATH cargo sets
/// for tests (it names target/debug, where an older build's libul_capi.so
/// may lie): the rpath the commands give decides.
fn shell(root: &Path, script: &str) -> std::process::Output {
    Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .env_remove("LD_LIBRARY_PATH")
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .expect("run bash")
}

fn report(o: &std::process::Output) -> String {
    format!(
        "{:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_readme_c_commands_work_from_the_repository_root() {
    let root = Root::new("commands");
    let shm = format!("/dev/shm/ul-readme-c-{}", std::process::id());
    let block = readme_block("## From C and C++", "sh");
    let mut lines = block.lines();
    let build = lines.next().expect("a build line");
    assert_eq!(
        build, "cargo build --release -p ul-capi -p ul-writer",
        "the first line should build what the others use"
    );
    let script = lines.collect::<Vec<_>>().join("\n");
    assert!(script.contains("/dev/shm/ul-hello"), "{script}");
    let script = script.replace("/dev/shm/ul-hello", &shm);
    let o = shell(&root.0, &script);
    let _ = std::fs::remove_file(&shm);
    assert!(
        o.status.success(),
        "the README's commands failed: {}",
        report(&o)
    );
    let log = std::fs::read_to_string(root.0.join("logs-hello/server.log")).unwrap_or_default();
    // Once from the shared build, once from the static one.
    let hellos = log
        .lines()
        .filter(|l| l.ends_with("[CService] INFO: hello from C"))
        .count();
    assert_eq!(hellos, 2, "{log}\n{}", report(&o));
    assert!(!Path::new(&shm).exists(), "the commands leave {shm} behind");

    // The shared build runs from anywhere: its rpath is absolute. (ul_init
    // fails on a path in a directory that does not exist: exit 1, where a
    // library not found is the loader's 127.)
    for exe in ["hello", "hello-static"] {
        let o = Command::new(root.0.join(exe))
            .arg("/nonexistent-ul-readme-dir/region")
            .current_dir("/")
            .output()
            .expect("run hello");
        assert_eq!(o.status.code(), Some(1), "{exe} from /: {}", report(&o));
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("error while loading shared libraries"),
            "{}",
            report(&o)
        );
    }
}

#[test]
fn the_readme_c_program_compiles_cleanly_and_logs() {
    let root = Root::new("program");
    std::fs::write(
        root.0.join("program.c"),
        readme_block("## From C and C++", "c"),
    )
    .expect("write program.c");
    // The README's own `cc` line for the shared library, on the program.
    let block = readme_block("## From C and C++", "sh");
    let cc = block
        .lines()
        .find(|l| l.starts_with("cc ") && l.contains("-lul_capi"))
        .expect("a cc line linking -lul_capi");
    let cc = cc
        .replace("capi/examples/hello.c", "program.c")
        .replace("-o hello", "-o program");
    let o = shell(&root.0, &format!("{cc} -Wall -Wextra -Werror"));
    assert!(o.status.success(), "`{cc}` failed: {}", report(&o));

    let shm = PathBuf::from(format!("/dev/shm/ul-readme-prog-{}", std::process::id()));
    let dir = root.0.join("logs");
    let _ = std::fs::remove_file(&shm);
    let mut writer = common::start_writer(&shm, &dir, Stdio::inherit());
    let o = Command::new(root.0.join("program"))
        .arg(&shm)
        .env_remove("LD_LIBRARY_PATH")
        .current_dir("/")
        .output()
        .expect("run the program");
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let _ = writer.kill();
    let _ = writer.wait();
    let _ = std::fs::remove_file(&shm);
    assert!(
        o.status.success(),
        "the README's program failed: {}",
        report(&o)
    );
    let has = |needle: &str| log.lines().any(|l| l.ends_with(needle));
    assert!(has("[CService] INFO: hello from C"), "{log}");
    assert!(has("[CService] ERROR: request 42 done"), "{log}");
    assert!(!log.contains("the rest"), "{log}");
}
