// Where the fuzz corpora live, for the stable replay tests.
//
// `include!`d by `ring/tests/codec.rs` and `writer/tests/fuzz_replay.rs`
// (both crates sit beside `fuzz/`). Uses only `std`.

use std::path::{Path, PathBuf};

/// The `fuzz/` directory.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Files directly under each of `dirs` (missing directories are skipped).
fn files_in(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every corpus and regression file of `target`, sorted.
pub fn corpus(target: &str) -> Vec<PathBuf> {
    let f = fuzz_dir();
    files_in(&[
        f.join("corpus").join(target),
        f.join("regressions").join(target),
    ])
}
