//! Any bytes as a binary log (`<name>.ulog`) through the decoder
//! `ul-decode` runs (`ul_writer::binlog::Decoder`).
//!
//! Checks: no panic; every byte used; damage reported inside the file; the
//! text is UTF-8 lines, as many as the JSON lines, which all parse; a file
//! read in two pieces decodes as read whole.
//!
//! The body is in `fuzz/src/decode_ulog.rs`, which
//! `writer/tests/fuzz_replay.rs` also includes to replay the corpus on
//! stable Rust.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../src/decode_ulog.rs");
}

fuzz_target!(|data: &[u8]| checks::decode_ulog::run(data));
