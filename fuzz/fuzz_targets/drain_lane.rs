//! Arbitrary bytes as a lane's data plus arbitrary cursors, drained by the
//! writer's real `Consumer::read_batch` (one batch after another, each
//! committed) into in-memory sinks: every record is decoded and, when it
//! decodes, formatted as a message, a text line and a JSON line.
//!
//! Checks: no panic; each call makes progress or reaches the head; the new
//! tail never passes the head; a corrupt lane is skipped to the head; the
//! records handed out are exactly those an independent walk of the lane
//! finds, copied intact; the text line is one line and the JSON line parses.
//!
//! Then the same cursors and bytes go into the lane of a real (tmpfs)
//! region, and the writer's own `Engine::pass` drains it into real output
//! files: it must finish within a bounded number of passes, leave the lane
//! drained, and write one text and one JSON line per decodable record, one
//! error line per undecodable record and one per corrupt stretch, every
//! JSON line valid.
//!
//! The body and the input layout are in `fuzz/src/checks.rs`
//! (`drain_lane`), which `writer/tests/fuzz_replay.rs` also includes to
//! replay the corpus on stable Rust.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../src/checks.rs");
}

fuzz_target!(|data: &[u8]| checks::drain_lane::run(data));
