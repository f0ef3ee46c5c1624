//! The log macros refuse what `format!` refuses, with rustc's own errors
//! pointing at the call: wrong argument counts, unknown names, bad specs,
//! values without the placeholder's trait. Each case in `tests/ui/` has the
//! error rustc gives, in the `.stderr` beside it (regenerate with
//! `TRYBUILD=overwrite cargo test -p ul --test compile_fail` after a
//! toolchain change, and read the diff).

#[test]
fn format_mistakes_fail_to_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
