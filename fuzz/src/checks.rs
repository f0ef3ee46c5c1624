// The bodies of the `drain_lane` and `format_record` fuzz targets.
//
// This file is not a module of its own: it is `include!`d by
// `fuzz/fuzz_targets/drain_lane.rs`, `fuzz/fuzz_targets/format_record.rs`
// and `writer/tests/fuzz_replay.rs` (which replays the corpora on stable
// Rust), so the fuzzer and CI run the very same checks. It may use only
// `std`, `ul_ring`, `ul_writer` and `serde_json`, all of which both places
// have. Every check panics on failure.
//
// Each module's body is a file of its own under `fuzz/src/checks/`, brought
// in with a nested `include!` (whose path is relative to this file), so the
// includers name only this one file.

/// The checks both targets make on the output lines of a record.
pub mod lines {
    include!("checks/lines.rs");
}

/// The call sites `drain_lane` inputs are read against, registered in this
/// order both in the engine rig's region and in a scratch table of the same
/// size for the in-memory half, so an id names the same entry in both.
/// Records name them by id (the first is 1); a compact record is read by
/// its call site's signature, where it has one.
pub mod sites {
    include!("checks/sites.rs");
}

/// `drain_lane`: arbitrary lane bytes and cursors through the real
/// `Consumer::read_batch`, each record decoded and formatted into in-memory
/// sinks.
///
/// Input layout (short inputs are zero-padded to 17 bytes):
///
/// | bytes | meaning |
/// |---|---|
/// | 0..8 | tail, u64 little-endian |
/// | 8..16 | head, u64 little-endian (see bit 7 below) |
/// | 16 | bits 0-2: capacity `CAPACITIES[b % 5]`; bits 3-5: records per call `BATCH_SIZES[b]`; bit 7: head is `tail + (field mod 2 * capacity)` |
/// | 17.. | the lane's bytes from offset 0 (cut to the capacity, the rest zero) |
pub mod drain_lane {
    include!("checks/drain_lane.rs");
}

/// The second half of `drain_lane`: the same cursors and bytes put into a
/// lane of a real region, drained by the writer's own `Engine::pass` into
/// real output files (on tmpfs), whose new lines are then checked.
///
/// One region and engine serve many inputs (a region cannot be unmapped
/// while the engine lives); they are replaced every [`RENEW_EVERY`] inputs.
/// The region holds the call sites of [`super::sites`] (formats, sources,
/// keys, signatures) so that ids in the records can name real entries: a
/// compact record is written only if it names one with a signature it
/// matches, and is otherwise skipped with an error line.
pub mod engine_drain {
    include!("checks/engine_drain.rs");
}

/// `format_record`: an arbitrary format string and arguments through
/// `format_message`, compared with `format!`, then through `write_text` and
/// `write_json`.
///
/// Input layout: a u16 little-endian length `n` (short inputs zero-padded),
/// then the format string (the next `n` bytes, or all there are, as lossy
/// UTF-8), then arguments, each a tag byte and its value (missing bytes read
/// as zero), at most [`MAX_ARGS`]:
///
/// | tag % 9 | value |
/// |---|---|
/// | 0 | u64, 8 bytes LE |
/// | 1 | i64, 8 bytes LE |
/// | 2 | f64, 8 bytes LE (IEEE bits) |
/// | 3 | f32, 4 bytes LE (IEEE bits) |
/// | 4 | bool, 1 byte (low bit) |
/// | 5 | char, 4 bytes LE, mod 0x110000 (surrogates become U+FFFD) |
/// | 6 | str, 1 length byte then that many bytes (lossy UTF-8) |
/// | 7 | u128, 16 bytes LE |
/// | 8 | i128, 16 bytes LE |
pub mod format_record {
    include!("checks/format_record.rs");
}
