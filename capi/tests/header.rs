//! `include/ul.h` is what cbindgen generates from the sources now: a stale
//! header fails here. `UL_BLESS=1 cargo test -p ul-capi --test header`
//! rewrites it.

use std::path::Path;

#[test]
fn header_matches_the_sources() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("UTF-8 header");
    let path = dir.join("include/ul.h");
    if std::env::var_os("UL_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/ul.h");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "{} is stale: run `UL_BLESS=1 cargo test -p ul-capi --test header` and commit it",
        path.display()
    );
    for f in [
        "ul_init",
        "ul_log",
        "ul_log_n",
        "ul_flush",
        "ul_writer_alive",
        "ul_last_error",
        "ul_enabled",
    ] {
        assert!(
            fresh.contains(&format!("{f}(")),
            "{f} missing from the header"
        );
    }
    for c in [
        "UL_LEVEL_INFO = 2",
        "UL_STATUS_OK = 0",
        "UL_STATUS_INVALID_UTF8",
    ] {
        assert!(fresh.contains(c), "{c} missing from the header");
    }
}
