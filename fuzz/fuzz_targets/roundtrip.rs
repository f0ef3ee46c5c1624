//! Arbitrary header fields and argument lists through `encode_record` and
//! back through `decode`: everything must survive (strings cut to
//! `DEFAULT_STR_LIMIT` with `FLAG_TRUNCATED`, at most 255 arguments), and records
//! over `MAX_RECORD_LEN` must be refused.
//!
//! The input type is `fuzz/src/roundtrip_input.rs` and the body
//! `check_roundtrip` in `fuzz/src/codec_checks.rs`; `ring/tests/codec.rs`
//! includes both to replay the corpus on stable Rust.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod codec_checks {
    include!("../src/codec_checks.rs");
}

mod input {
    use arbitrary::Arbitrary;
    use ul_ring::args::OwnedValue;
    use ul_ring::record::RecordHeader;

    include!("../src/roundtrip_input.rs");
}

fuzz_target!(|input: input::Input| {
    if let Err(e) = codec_checks::check_roundtrip(input.header(), &input.args) {
        panic!("{e}");
    }
});
