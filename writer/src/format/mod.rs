//! Formatting records: placeholders, timestamps, and the two line formats.
//!
//! - [`format_message`] fills a message's `{}` placeholders from decoded
//!   arguments, as `format!` would;
//! - [`TimestampFormatter`] writes RFC 3339 UTC timestamps with
//!   nanoseconds;
//! - [`write_text`] and [`write_json`] write one record as one line.
//!
//! ```
//! use ul_ring::args::Value;
//! use ul_writer::internals::format::*;
//! let mut msg = Vec::new();
//! format_message(&mut msg, "user {} did {:?}", [Value::U64(7), Value::Str("login")].into_iter());
//! let r = LineRecord { timestamp_ns: 0, level: ul_ring::record::Level::Info, source: "auth",
//!     message: &msg, context: &[], location: None, pid: 1, tid: 1, seq: 0, truncated: false };
//! let mut out = Vec::new();
//! write_text(&mut out, &mut TimestampFormatter::new(), &r);
//! assert_eq!(out, b"UL: [1970-01-01T00:00:00.000000000Z] [auth] INFO: user 7 did \"login\"\n");
//! ```

mod cursor;
mod float;
mod line;
mod placeholder;
mod plan;
mod put;
mod time;

pub use cursor::{decimal_digits, Cursor, Lit, Piece, SLACK, U64_DIGITS};
pub use float::{write_f32, write_f64, write_f64_to};
pub use line::{
    json_head, json_head_to, json_tail, text_head, text_tail, write_json, write_text, ContextValue,
    Escape, LineParts, LineRecord, Location, RENAME_PREFIX,
};
pub use placeholder::{
    cut_mark, format_message, value_bound, write_display, FormatOutcome, ParsedFormat,
    ARG_BYTE_BOUND, ESCAPE_BOUND, MAX_WIDTH,
};
pub use plan::Plan;
pub use put::{put, same_bytes};
pub use time::TimestampFormatter;
