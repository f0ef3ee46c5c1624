//! `ul` is a library that applications link: it must pull in only what
//! logging needs. The `ul-log` CLI lives in its own crate (`ul-log/`) so
//! that clap and its dependencies stay out of every user's build.

use std::collections::BTreeSet;
use std::process::Command;

/// The packages in `cargo tree -p ul -e normal` with `features` (none:
/// the default features), the root `ul` itself excluded.
fn normal_dependencies(features: &[&str]) -> BTreeSet<String> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "tree",
        "-p",
        "ul",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
        // The lock file is checked in: nothing needs the network.
        "--offline",
    ])
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    for f in features {
        cmd.args(["--features", f]);
    }
    let out = cmd.output().expect("run `cargo tree`");
    assert!(
        out.status.success(),
        "`cargo tree -p ul -e normal --offline {features:?}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        // "name v1.2.3 (path)" or "name v1.2.3 (*)": the name.
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "ul")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_library_does_not_depend_on_the_cli_stack() {
    for features in [&[][..], &["log"], &["tracing"], &["log", "tracing"]] {
        let deps = normal_dependencies(features);
        for cli in [
            "clap",
            "clap_builder",
            "clap_derive",
            "clap_lex",
            "anstream",
        ] {
            assert!(
                !deps.contains(cli),
                "`ul` with features {features:?} depends on {cli}: {deps:?}"
            );
        }
        assert!(deps.contains("ul-ring"), "{deps:?}");
    }
}

/// The README states this number ("Using it"); update both together.
#[test]
fn the_default_dependency_count_is_the_one_the_readme_states() {
    let deps = normal_dependencies(&[]);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("read README.md");
    let claim = format!("{} crates besides itself", deps.len());
    assert!(
        readme.contains(&claim),
        "README.md should say `ul` (default features) pulls in {claim}: {deps:?}"
    );
}
