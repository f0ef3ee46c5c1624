//! An arbitrary format string and argument list through the writer's
//! `format_message`, compared with what `format!` gives for the same values
//! wherever the format string is in the modelled subset (literal text,
//! `{{`, `}}` and a table of placeholders whose trait the argument's type
//! implements); then the message through `write_text` and `write_json`.
//!
//! Checks: no panic; the message is UTF-8; it and the `FormatOutcome` equal
//! the `format!` model where it applies; the text line ends in its only
//! newline and holds no control character; the JSON line parses and holds
//! the message and every argument, typed.
//!
//! The body and the input layout are in `fuzz/src/checks.rs`
//! (`format_record`), which `writer/tests/fuzz_replay.rs` also includes to
//! replay the corpus on stable Rust.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../src/checks.rs");
}

fuzz_target!(|data: &[u8]| checks::format_record::run(data));
