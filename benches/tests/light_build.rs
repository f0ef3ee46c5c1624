//! The workspace's test build (`cargo test --workspace`, the README's quick
//! start) builds no peer logger, no criterion and no plotters: only the
//! harness does, with `--features harness` (issue 14: they made a clean
//! test build take 8 minutes and 3 GB of `target/`).

use std::collections::BTreeSet;
use std::process::Command;

/// Every package `cargo tree --workspace` lists with normal, build and dev
/// edges (what `cargo test --workspace` compiles), with `extra` arguments.
fn workspace_packages(extra: &[&str]) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--workspace",
            "-e",
            "normal,build,dev",
            "--prefix",
            "none",
            "--format",
            "{p}",
            // The lock file is checked in: nothing needs the network.
            "--offline",
        ])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run `cargo tree`");
    assert!(
        out.status.success(),
        "`cargo tree --workspace {extra:?}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

const HARNESS_ONLY: &[&str] = &[
    "criterion",
    "plotters",
    "dejavu",
    "spdlog-rs",
    "slog",
    "slog-async",
    "slog-term",
    "slog-json",
    "fast_log",
    "ftlog",
    "tracing-appender",
];

#[test]
fn the_workspace_tests_do_not_build_the_harness_peers() {
    let deps = workspace_packages(&[]);
    let heavy: Vec<_> = HARNESS_ONLY.iter().filter(|p| deps.contains(**p)).collect();
    assert!(
        heavy.is_empty(),
        "`cargo test --workspace` would build {heavy:?}: keep them behind ul-benches' `harness` feature"
    );
}

#[test]
fn the_harness_feature_still_builds_them() {
    let deps = workspace_packages(&["--features", "ul-benches/harness"]);
    for p in HARNESS_ONLY {
        assert!(deps.contains(*p), "`--features harness` lost {p}");
    }
}
