//! Formatting records: placeholders, timestamps, and the two line formats.

mod line;
mod placeholder;
mod time;

pub use line::{write_json, write_text, ContextValue, LineRecord};
pub use placeholder::{format_message, write_display, FormatOutcome};
pub use time::TimestampFormatter;
