//! Any bytes through the record decoder: it must never panic, and whatever
//! it accepts must keep the promises `decode` documents. Random bytes rarely
//! have a length field equal to their length, so the prefix the frame
//! claims is decoded too, as the writer does.
//!
//! The body is `check_decode` in `fuzz/src/codec_checks.rs`, which
//! `ring/tests/codec.rs` also includes to replay the corpus on stable Rust.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod codec_checks {
    include!("../src/codec_checks.rs");
}

fuzz_target!(|data: &[u8]| codec_checks::check_decode(data));
