//! The two output line formats: human-readable text and JSON lines.

use super::cursor::{Cursor, Lit, Piece, SLACK, U64_DIGITS};
use super::put::{put, same_bytes};
use ul_ring::args::Value;
use ul_ring::record::Level;

use super::placeholder::{cut_mark, write_display};
use super::time::TimestampFormatter;

/// A context value: a string from a context, or an argument from the call.
///
/// Text output shows it as `{}` would. JSON output keeps its type: integers
/// (128-bit ones included, written exactly) and finite floats are numbers,
/// `bool` a boolean, strings and `char` strings; non-finite floats are the
/// strings `"NaN"`, `"inf"` and `"-inf"`, since JSON has no number for them.
///
/// ```
/// use ul_writer::internals::format::ContextValue;
/// use ul_ring::args::Value;
/// let ctx = [("user", ContextValue::Str("ann")), ("retries", ContextValue::Value(Value::U64(3)))];
/// # let _ = ctx;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ContextValue<'a> {
    /// A string (from a thread or `Logger` context).
    Str(&'a str),
    /// A call's `key = value` argument.
    Value(Value<'a>),
}

/// Everything one output line shows; see [`write_text`] and [`write_json`].
///
/// ```
/// use ul_writer::internals::format::{ContextValue, LineRecord};
/// let ctx = [("session", ContextValue::Str("abc123"))];
/// let r = LineRecord {
///     timestamp_ns: 1_735_689_600_000_000_123,
///     level: ul_ring::record::Level::Info,
///     source: "UserService",
///     message: b"User action completed",
///     context: &ctx,
///     location: None,
///     pid: 1,
///     tid: 2,
///     seq: 3, truncated: false,
/// };
/// # let _ = r;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LineRecord<'a> {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Severity.
    pub level: Level,
    /// Source (service, module).
    pub source: &'a str,
    /// The formatted message, UTF-8; invalid sequences are written as
    /// U+FFFD.
    pub message: &'a [u8],
    /// Key-value pairs, in order.
    pub context: &'a [(&'a str, ContextValue<'a>)],
    /// The call's file and line, if its call site has them: JSON lines
    /// carry them as `"file"` and `"line"`; text lines show them only when
    /// the writer is asked to ([`LineParts::text_location`]).
    pub location: Option<&'a Location>,
    /// Producer process id.
    pub pid: u32,
    /// Producer thread id.
    pub tid: u32,
    /// The record's position in its lane (bytes published before it; in
    /// the shared lane, its slot's claim position): JSON's `"seq"`. It
    /// grows with each record of a thread within a region, and no two
    /// records of a lane share one, but it is not consecutive.
    pub seq: u64,
    /// Some value was cut at the producer's string limit (the record's
    /// `FLAG_TRUNCATED`): the JSON line says `"truncated":true` after the
    /// message (the text shows the cut where it is, `…[+N bytes]`).
    pub truncated: bool,
}

/// A call site's file and line, rendered once for both outputs.
///
/// ```
/// use ul_writer::internals::format::Location;
/// let l = Location::new("src/main.rs", 12).unwrap();
/// assert_eq!(l.text(), b"src/main.rs:12: ");
/// assert_eq!(l.json(), br#","file":"src/main.rs","line":12"#);
/// assert!(Location::new("", 0).is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// `file:line: `, escaped for a text line.
    text: Vec<u8>,
    /// `,"file":"file","line":line`.
    json: Vec<u8>,
}

impl Location {
    /// The location `file:line`; `None` for an empty file (call sites made
    /// at run time without one: `ul::log_dynamic`, the C API).
    pub fn new(file: &str, line: u32) -> Option<Self> {
        if file.is_empty() {
            return None;
        }
        let mut text = Vec::with_capacity(file.len() + 14);
        text_escaped(&mut text, file.as_bytes());
        text.push(b':');
        put(&mut text, itoa::Buffer::new().format(line).as_bytes());
        put(&mut text, b": ");
        let mut json = Vec::with_capacity(file.len() + 24);
        put(&mut json, b",\"file\":");
        json_str(&mut json, file.as_bytes());
        put(&mut json, b",\"line\":");
        put(&mut json, itoa::Buffer::new().format(line).as_bytes());
        Some(Location { text, json })
    }

    /// What a text line shows before the message: `file:line: `.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// What a JSON line has after `"context"`: `,"file":"..","line":N`.
    pub fn json(&self) -> &[u8] {
        &self.json
    }
}

/// Appends `s` for the text format: control characters (C0, DEL, C1) and
/// the Unicode line and paragraph separators escaped (`\n`, `\r`, `\t`,
/// else `\u{..}`) so that a record is always one line; invalid UTF-8
/// becomes U+FFFD.
fn text_escaped(out: &mut Vec<u8>, s: &[u8]) {
    // Fast path: printable ASCII needs neither validation nor escaping.
    if all_words(s, not_printable) {
        put(out, s);
    } else {
        text_escaped_slow(out, s);
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Nonzero if some byte of `w` is outside printable ASCII (0x20..0x7f).
///
/// Exact as a yes/no answer: the lowest such byte always sets its high bit
/// (below it every byte is printable, so no borrow or carry reaches it:
/// `b - 0x20` has its high bit set for `b < 0x20`, `b` itself for `b >=
/// 0x80`, `b + 1` for `b == 0x7f`); the bits a borrow or carry sets above
/// it only repeat the answer, and a word of printable bytes sets none.
#[inline(always)]
fn not_printable(w: u64) -> u64 {
    (w.wrapping_sub(0x20 * ONES) | w | w.wrapping_add(ONES)) & HIGHS
}

/// Nonzero if some byte of `w` is zero (exact as a yes/no answer, as in
/// [`not_printable`]).
#[inline(always)]
fn has_zero_byte(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// Nonzero if some byte of `w` needs a JSON escape or UTF-8 validation.
#[inline(always)]
fn not_json_plain(w: u64) -> u64 {
    not_printable(w)
        | has_zero_byte(w ^ (u64::from(b'"') * ONES))
        | has_zero_byte(w ^ (u64::from(b'\\') * ONES))
}

/// True if `bad` finds nothing in any 8-byte word of `s` (the tail padded
/// with spaces, which neither test flags). About a byte per instruction,
/// against three or four for a byte loop.
#[inline(always)]
fn all_words(s: &[u8], bad: impl Fn(u64) -> u64) -> bool {
    let mut chunks = s.chunks_exact(8);
    let mut acc = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc |= bad(u64::from_le_bytes(w));
    }
    // The tail, shifted into a word of spaces byte by byte (a variable-
    // length copy would be a memcpy call).
    let mut w = u64::from_le_bytes([b' '; 8]);
    for (i, &b) in chunks.remainder().iter().enumerate() {
        w = (w & !(0xff << (8 * i))) | (u64::from(b) << (8 * i));
    }
    acc |= bad(w);
    acc == 0
}

fn text_escaped_slow(out: &mut Vec<u8>, s: &[u8]) {
    for chunk in s.utf8_chunks() {
        text_escape_valid(out, chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            put(out, "\u{fffd}".as_bytes());
        }
    }
}

/// [`text_escaped`] for bytes known to be UTF-8.
fn text_escape_valid(out: &mut Vec<u8>, b: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // (encoded length, code point) of a character to escape.
        let (len, cp) = match (c, b.get(i + 1), b.get(i + 2)) {
            (0..=0x1f | 0x7f, _, _) => (1, u32::from(c)),
            // U+0080..=U+009F
            (0xc2, Some(&c1 @ 0x80..=0x9f), _) => (2, u32::from(c1)),
            // U+2028, U+2029
            (0xe2, Some(0x80), Some(&c2 @ (0xa8 | 0xa9))) => (3, 0x2000 | u32::from(c2 & 0x3f)),
            _ => {
                i += 1;
                continue;
            }
        };
        put(out, &b[start..i]);
        match cp {
            0x0a => put(out, b"\\n"),
            0x0d => put(out, b"\\r"),
            0x09 => put(out, b"\\t"),
            _ => {
                let _ = std::io::Write::write_fmt(out, format_args!("\\u{{{cp:x}}}"));
            }
        }
        i += len;
        start = i;
    }
    put(out, &b[start..]);
}

fn text_value(out: &mut Vec<u8>, v: &ContextValue<'_>) {
    match v {
        ContextValue::Str(s)
        | ContextValue::Value(Value::Str(s))
        | ContextValue::Value(Value::Text(s)) => text_escaped(out, s.as_bytes()),
        // The mark after a cut value needs no escaping.
        ContextValue::Value(Value::Cut { kept, omitted, .. }) => {
            text_escaped(out, kept.as_bytes());
            cut_mark(out, *omitted);
        }
        ContextValue::Value(Value::Char(c)) => {
            let mut b = [0u8; 4];
            text_escaped(out, c.encode_utf8(&mut b).as_bytes());
        }
        // Numbers and booleans hold no control characters.
        ContextValue::Value(v) => write_display(out, v),
    }
}

/// Appends one text line:
/// `UL: [2025-01-01T00:00:00.000000123Z] [UserService] INFO: User action completed [session:abc123]`.
///
/// Each context pair is one `[key:value]` group after the message (none
/// when the context is empty). Control characters in the source, message
/// and context are escaped (`\n`, `\r`, `\t`, others `\u{1b}`), as are
/// U+2028 and U+2029, so a record is always exactly one line; invalid UTF-8
/// becomes U+FFFD. Backslashes and brackets are written as they are.
///
/// ```
/// use ul_writer::internals::format::*;
/// let mut out = Vec::new();
/// let ctx = [("session", ContextValue::Str("abc123"))];
/// let r = LineRecord { timestamp_ns: 1_735_689_600_000_000_123, level: ul_ring::record::Level::Info,
///     source: "UserService", message: b"User action completed", context: &ctx, location: None, pid: 1, tid: 2, seq: 3, truncated: false };
/// write_text(&mut out, &mut TimestampFormatter::new(), &r);
/// assert_eq!(String::from_utf8(out).unwrap(),
///     "UL: [2025-01-01T00:00:00.000000123Z] [UserService] INFO: User action completed [session:abc123]\n");
/// ```
pub fn write_text(out: &mut Vec<u8>, ts: &mut TimestampFormatter, r: &LineRecord<'_>) {
    text_head(out, ts, r.timestamp_ns, r.source, r.level);
    text_escaped(out, r.message);
    text_tail(out, r.context);
}

/// The part of a text line before the message:
/// `UL: [2025-01-01T00:00:00.000000123Z] [UserService] INFO: `.
///
/// With [`text_tail`] and a message escaped by [`Escape::Text`] between
/// them, the same line as [`write_text`]; the writer formats messages
/// straight into the output this way.
///
/// ```
/// use ul_writer::internals::format::*;
/// let mut out = Vec::new();
/// text_head(&mut out, &mut TimestampFormatter::new(), 0, "S", ul_ring::record::Level::Warn);
/// assert_eq!(out, b"UL: [1970-01-01T00:00:00.000000000Z] [S] WARN: ");
/// ```
#[inline]
pub fn text_head(
    out: &mut Vec<u8>,
    ts: &mut TimestampFormatter,
    timestamp_ns: u64,
    source: &str,
    level: Level,
) {
    put(out, b"UL: [");
    ts.write(out, timestamp_ns);
    text_mid(out, source, level);
}

/// `] [source] LEVEL: `: the part of a text line between the timestamp
/// and the message.
fn text_mid(out: &mut Vec<u8>, source: &str, level: Level) {
    put(out, b"] [");
    text_escaped(out, source.as_bytes());
    put(out, b"] ");
    put(out, level.as_upper().as_bytes());
    put(out, b": ");
}

/// The part of a text line after the message: the context groups and the
/// newline (see [`text_head`]).
///
/// ```
/// use ul_writer::internals::format::*;
/// let mut out = Vec::new();
/// text_tail(&mut out, &[("session", ContextValue::Str("abc"))]);
/// assert_eq!(out, b" [session:abc]\n");
/// ```
#[inline]
pub fn text_tail(out: &mut Vec<u8>, context: &[(&str, ContextValue<'_>)]) {
    for (k, v) in context {
        put(out, b" [");
        text_escaped(out, k.as_bytes());
        out.push(b':');
        text_value(out, v);
        out.push(b']');
    }
    out.push(b'\n');
}

/// How a message is escaped for one output: [`Escape::Text`] as
/// [`write_text`] escapes it, [`Escape::Json`] as the inside of a JSON
/// string in [`write_json`].
///
/// ```
/// use ul_writer::internals::format::Escape;
/// assert!(Escape::Text.is_plain(b"say \"hi\""));
/// assert!(!Escape::Json.is_plain(b"say \"hi\""));
/// let mut out = Vec::new();
/// Escape::Json.escape(&mut out, b"say \"hi\"\n");
/// assert_eq!(out, b"say \\\"hi\\\"\\n");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// The text format: control characters and U+2028/U+2029 escaped.
    Text,
    /// Inside a JSON string: `"`, `\\` and control characters escaped.
    Json,
}

impl Escape {
    /// True if `s` is printable ASCII that this escaping leaves as it is,
    /// so it can be copied without [`Escape::escape`].
    ///
    /// ```
    /// assert!(ul_writer::internals::format::Escape::Text.is_plain(b"a b"));
    /// ```
    #[inline]
    pub fn is_plain(self, s: &[u8]) -> bool {
        match self {
            Escape::Text => all_words(s, not_printable),
            Escape::Json => all_words(s, not_json_plain),
        }
    }

    /// Appends `s` escaped (for JSON without the quotes); invalid UTF-8
    /// becomes U+FFFD.
    ///
    /// ```
    /// let mut out = Vec::new();
    /// ul_writer::internals::format::Escape::Text.escape(&mut out, b"a\tb");
    /// assert_eq!(out, b"a\\tb");
    /// ```
    pub fn escape(self, out: &mut Vec<u8>, s: &[u8]) {
        match self {
            Escape::Text => text_escaped(out, s),
            Escape::Json => json_str_body(out, s),
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string (quotes included); invalid UTF-8 becomes
/// U+FFFD.
fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    json_str_body(out, s);
    out.push(b'"');
}

/// [`json_str`] without the quotes.
fn json_str_body(out: &mut Vec<u8>, s: &[u8]) {
    // Fast path: printable ASCII other than `"` and `\\` is copied as is.
    if all_words(s, not_json_plain) {
        put(out, s);
        return;
    }
    for chunk in s.utf8_chunks() {
        json_escape_valid(out, chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            put(out, "\u{fffd}".as_bytes());
        }
    }
}

/// JSON string escaping, the same as serde_json's: `"`, `\\`, and the
/// control characters U+0000 to U+001F (short forms where JSON has them).
fn json_escape_valid(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                put(out, &s[start..i]);
                put(out, b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        put(out, &s[start..i]);
        put(out, esc);
        start = i + 1;
    }
    put(out, &s[start..]);
}

fn json_value(out: &mut Vec<u8>, v: &ContextValue<'_>) {
    match v {
        ContextValue::Str(s)
        | ContextValue::Value(Value::Str(s))
        | ContextValue::Value(Value::Text(s)) => json_str(out, s.as_bytes()),
        ContextValue::Value(Value::Cut { kept, omitted, .. }) => {
            out.push(b'"');
            json_str_body(out, kept.as_bytes());
            cut_mark(out, *omitted);
            out.push(b'"');
        }
        ContextValue::Value(Value::Bool(b)) => put(out, if *b { b"true" } else { b"false" }),
        ContextValue::Value(Value::Char(c)) => {
            let mut b = [0u8; 4];
            json_str(out, c.encode_utf8(&mut b).as_bytes());
        }
        ContextValue::Value(Value::F32(f)) if !f.is_finite() => {
            json_str(out, f.to_string().as_bytes())
        }
        ContextValue::Value(Value::F64(f)) if !f.is_finite() => {
            json_str(out, f.to_string().as_bytes())
        }
        // Integers of every width are JSON numbers, 128-bit ones too
        // (exact in the file; a reader that parses numbers into f64 rounds
        // those above 2^53, as it would any large integer).
        ContextValue::Value(v) => write_display(out, v),
    }
}

/// Appends one JSON line:
/// `{"level":"info","message":"...","timestamp":"...","source":"...","context":{...},"file":"...","line":1,"pid":1,"tid":2,"seq":3}`.
///
/// Keys always in this order; `context` is always present (`{}` when
/// empty), its values typed as [`ContextValue`] describes; `file` and
/// `line` only with a [`LineRecord::location`]. Strings are
/// escaped as serde_json escapes them (`"`, `\\`, U+0000 to U+001F);
/// invalid UTF-8 becomes U+FFFD. Built by hand, without serde, for speed.
///
/// ```
/// use ul_writer::internals::format::*;
/// let mut out = Vec::new();
/// let r = LineRecord { timestamp_ns: 0, level: ul_ring::record::Level::Warn,
///     source: "S", message: b"say \"hi\"", context: &[], location: None, pid: 1, tid: 2, seq: 3, truncated: false };
/// write_json(&mut out, &mut TimestampFormatter::new(), &r);
/// let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
/// assert_eq!(v["message"], "say \"hi\"");
/// ```
pub fn write_json(out: &mut Vec<u8>, ts: &mut TimestampFormatter, r: &LineRecord<'_>) {
    json_head(out, r.level);
    json_str_body(out, r.message);
    json_tail(out, ts, r);
}

/// The part of a JSON line before the message's escaped text:
/// `{"level":"info","message":"`. With [`json_tail`] after a message
/// escaped by [`Escape::Json`], the same line as [`write_json`].
///
/// ```
/// let mut out = Vec::new();
/// ul_writer::internals::format::json_head(&mut out, ul_ring::record::Level::Info);
/// assert_eq!(out, br#"{"level":"info","message":""#);
/// ```
#[inline]
pub fn json_head(out: &mut Vec<u8>, level: Level) {
    json_head_to(&mut Cursor::new(out, 0), level);
}

/// `{"level":"<level>","message":"` for each level, in level order.
static JSON_HEADS: [Lit; 5] = {
    const fn head(level: Level) -> Lit {
        let name = level.as_str().as_bytes();
        let (a, b) = (b"{\"level\":\"", b"\",\"message\":\"");
        let mut s = [0u8; 32];
        let mut n = 0;
        let mut i = 0;
        while i < a.len() {
            s[n] = a[i];
            (n, i) = (n + 1, i + 1);
        }
        i = 0;
        while i < name.len() {
            s[n] = name[i];
            (n, i) = (n + 1, i + 1);
        }
        i = 0;
        while i < b.len() {
            s[n] = b[i];
            (n, i) = (n + 1, i + 1);
        }
        Lit::from_const(s.split_at(n).0)
    }
    [
        head(Level::Trace),
        head(Level::Debug),
        head(Level::Info),
        head(Level::Warn),
        head(Level::Error),
    ]
};

/// [`json_head`] through a [`Cursor`]: one block.
#[inline]
pub fn json_head_to(c: &mut Cursor<'_>, level: Level) {
    c.lit(&JSON_HEADS[level as usize]);
}

#[cfg(test)]
#[test]
fn json_heads_are_the_pieces() {
    for level in [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ] {
        let mut want = b"{\"level\":\"".to_vec();
        want.extend_from_slice(level.as_str().as_bytes());
        want.extend_from_slice(b"\",\"message\":\"");
        assert_eq!(JSON_HEADS[level as usize].as_bytes(), want);
    }
}

/// The part of a JSON line after the message's text, from its closing
/// quote to the newline; `r.message` is not used (see [`json_head`]).
///
/// ```
/// use ul_writer::internals::format::*;
/// let r = LineRecord { timestamp_ns: 0, level: ul_ring::record::Level::Info,
///     source: "S", message: b"", context: &[], location: None, pid: 1, tid: 2, seq: 3, truncated: false };
/// let mut out = Vec::new();
/// json_tail(&mut out, &mut TimestampFormatter::new(), &r);
/// assert_eq!(out, br#"","timestamp":"1970-01-01T00:00:00.000000000Z","source":"S","context":{},"pid":1,"tid":2,"seq":3}
/// "#);
/// ```
#[inline]
pub fn json_tail(out: &mut Vec<u8>, ts: &mut TimestampFormatter, r: &LineRecord<'_>) {
    json_after_message(out, r.truncated);
    ts.write(out, r.timestamp_ns);
    json_source(out, r.source);
    json_context(out, r.context);
    json_location(out, r.location);
    json_ids(out, r.pid, r.tid);
    put(out, itoa::Buffer::new().format(r.seq).as_bytes());
    put(out, b"}\n");
}

/// From the message's closing quote to the timestamp's opening one.
#[inline(always)]
fn json_after_message(out: &mut Vec<u8>, truncated: bool) {
    if truncated {
        put(out, b"\",\"truncated\":true,\"timestamp\":\"");
    } else {
        put(out, b"\",\"timestamp\":\"");
    }
}

/// `","source":"source","context":{`: the part of a JSON line between the
/// timestamp and the context pairs.
fn json_source(out: &mut Vec<u8>, source: &str) {
    put(out, b"\",\"source\":");
    json_str(out, source.as_bytes());
    put(out, b",\"context\":{");
}

/// `,"pid":1,"tid":2,"seq":`: the part of a JSON line between the context
/// (and location) and the sequence number.
fn json_ids(out: &mut Vec<u8>, pid: u32, tid: u32) {
    put(out, b",\"pid\":");
    put(out, itoa::Buffer::new().format(pid).as_bytes());
    put(out, b",\"tid\":");
    put(out, itoa::Buffer::new().format(tid).as_bytes());
    put(out, b",\"seq\":");
}

/// The parts of a line that depend only on the source and level, or on the
/// pid and tid, rendered once and reused while they stay the same (records
/// come in runs from one call site and one thread).
///
/// [`LineParts::text_head`] and [`LineParts::json_tail`] write exactly what
/// [`text_head`] and [`json_tail`] write, without escaping the source or
/// formatting the pid and tid again for every record.
///
/// ```
/// use ul_writer::internals::format::*;
/// let r = LineRecord { timestamp_ns: 0, level: ul_ring::record::Level::Info,
///     source: "S", message: b"", context: &[], location: None, pid: 1, tid: 2, seq: 3, truncated: false };
/// let (mut a, mut b) = (Vec::new(), Vec::new());
/// let mut ts = TimestampFormatter::new();
/// let mut parts = LineParts::default();
/// parts.text_head(&mut a, &mut ts, &r);
/// parts.json_tail(&mut a, &mut ts, &r);
/// text_head(&mut b, &mut ts, r.timestamp_ns, r.source, r.level);
/// json_tail(&mut b, &mut ts, &r);
/// assert_eq!(a, b);
/// ```
#[derive(Debug, Default)]
pub struct LineParts {
    /// Source and level that `text_mid` and `json_source` show.
    source: String,
    level: Option<Level>,
    /// `] [source] LEVEL: `
    text_mid: Piece,
    /// `","source":"source","context":{`
    json_source: Piece,
    /// Pid and tid that `json_ids` shows.
    ids: Option<(u32, u32)>,
    /// `,"pid":1,"tid":2,"seq":`
    json_ids: Piece,
    /// Show the call's file and line in text lines (`ul-writer
    /// --text-location`): `... INFO: src/main.rs:12: message`.
    pub text_location: bool,
}

impl LineParts {
    /// Brings the source parts up to date for `source` and `level`.
    #[inline]
    fn source_parts(&mut self, source: &str, level: Level) {
        if self.level != Some(level) || !same_bytes(self.source.as_bytes(), source.as_bytes()) {
            self.rebuild_source(source, level);
        }
    }

    #[cold]
    fn rebuild_source(&mut self, source: &str, level: Level) {
        self.source.clear();
        self.source.push_str(source);
        self.level = Some(level);
        let mut mid = Vec::new();
        text_mid(&mut mid, source, level);
        self.text_mid = Piece::new(&mid);
        let mut js = Vec::new();
        json_source(&mut js, source);
        self.json_source = Piece::new(&js);
    }

    #[cold]
    fn rebuild_ids(&mut self, pid: u32, tid: u32) {
        self.ids = Some((pid, tid));
        let mut ids = Vec::new();
        json_ids(&mut ids, pid, tid);
        self.json_ids = Piece::new(&ids);
    }

    /// [`text_head`] for `r`'s timestamp, source and level, then `r`'s
    /// location if [`LineParts::text_location`] is set.
    #[inline]
    pub fn text_head(
        &mut self,
        out: &mut Vec<u8>,
        ts: &mut TimestampFormatter,
        r: &LineRecord<'_>,
    ) {
        self.text_head_to(&mut Cursor::new(out, 0), ts, r);
    }

    /// [`text_head`](Self::text_head) through a [`Cursor`].
    #[inline]
    pub fn text_head_to(
        &mut self,
        c: &mut Cursor<'_>,
        ts: &mut TimestampFormatter,
        r: &LineRecord<'_>,
    ) {
        self.source_parts(r.source, r.level);
        // `UL: [`, the timestamp (30 bytes, stored as 32) and the middle
        // piece (its length, stored with up to `SLACK` more).
        c.reserve(5 + 30 + self.text_mid.len() + SLACK);
        // SAFETY: the room just made is at least 5 for `array`, then
        // 30 + len + SLACK >= 32 for the timestamp (which appends 30),
        // then len + SLACK for the middle piece, each what the append
        // requires.
        unsafe {
            c.array(*b"UL: [");
            ts.write_unchecked(c, r.timestamp_ns);
            c.piece_unchecked(&self.text_mid);
        }
        if self.text_location {
            if let Some(l) = r.location {
                c.put(&l.text);
            }
        }
    }

    /// [`json_tail`] for `r`.
    #[inline]
    pub fn json_tail(
        &mut self,
        out: &mut Vec<u8>,
        ts: &mut TimestampFormatter,
        r: &LineRecord<'_>,
    ) {
        self.source_parts(r.source, r.level);
        if self.ids != Some((r.pid, r.tid)) {
            self.rebuild_ids(r.pid, r.tid);
        }
        json_after_message(out, r.truncated);
        ts.write(out, r.timestamp_ns);
        put(out, self.json_source.as_bytes());
        json_context(out, r.context);
        json_location(out, r.location);
        put(out, self.json_ids.as_bytes());
        put(out, itoa::Buffer::new().format(r.seq).as_bytes());
        put(out, b"}\n");
    }
}

impl LineParts {
    /// [`json_tail`](Self::json_tail) through a [`Cursor`]; a record
    /// without context pairs (the planned ones) with two capacity checks
    /// (three with a location).
    #[inline]
    pub fn json_tail_to(
        &mut self,
        c: &mut Cursor<'_>,
        ts: &mut TimestampFormatter,
        r: &LineRecord<'_>,
    ) {
        if !r.context.is_empty() {
            return c.with_vec(|out| self.json_tail(out, ts, r));
        }
        self.source_parts(r.source, r.level);
        if self.ids != Some((r.pid, r.tid)) {
            self.rebuild_ids(r.pid, r.tid);
        }
        const AFTER: Lit = Lit::from_const(b"\",\"timestamp\":\"");
        const AFTER_TRUNCATED: Lit = Lit::from_const(b"\",\"truncated\":true,\"timestamp\":\"");
        // The block after the message (at most 32), the timestamp (30,
        // stored as 32), the source piece and `}` (the empty context's
        // end).
        c.reserve(32 + 30 + self.json_source.len() + 1 + SLACK);
        // SAFETY: the room just made covers each append in turn with
        // `SLACK` to spare: the block (32 stored, at most 32 appended),
        // the timestamp (32 stored, 30 appended), the piece (its length
        // plus `SLACK` required), the byte.
        unsafe {
            c.block(if r.truncated {
                &AFTER_TRUNCATED
            } else {
                &AFTER
            });
            ts.write_unchecked(c, r.timestamp_ns);
            c.piece_unchecked(&self.json_source);
            c.byte(b'}');
        }
        if let Some(l) = r.location {
            c.put(&l.json);
        }
        // The ids piece, the sequence number (at most 20 digits) and the
        // line's end.
        c.reserve(self.json_ids.len() + U64_DIGITS + 2 + SLACK);
        // SAFETY: the room just made covers the piece (its length plus
        // `SLACK`), then the number (20 required and at most 20
        // appended, with `2 + SLACK` left), then the 2 bytes.
        unsafe {
            c.piece_unchecked(&self.json_ids);
            c.u64_unchecked(r.seq);
            c.array(*b"}\n");
        }
    }
}

/// Closes the context and appends the location, if any.
#[inline]
fn json_location(out: &mut Vec<u8>, location: Option<&Location>) {
    out.push(b'}');
    if let Some(l) = location {
        put(out, &l.json);
    }
}

/// The pairs inside a JSON line's `"context":{...}`, never a key twice
/// (see [`RENAME_PREFIX`]).
#[inline]
fn json_context(out: &mut Vec<u8>, context: &[(&str, ContextValue<'_>)]) {
    if has_repeated_key(context) {
        return json_context_renamed(out, context);
    }
    for (i, (k, v)) in context.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, k.as_bytes());
        out.push(b':');
        json_value(out, v);
    }
}

/// What a JSON line's context key is prefixed with when an earlier pair of
/// the same record already has it (records are untrusted, and a thread's
/// context, a call's keys and a `tracing` event's fields can each name the
/// same key): the first pair keeps the key, a later one is written as
/// `field.<key>`, with the prefix repeated until the key is unique
/// (`span`, `span`, `field.span` become `span`, `field.span`,
/// `field.field.span`). Deterministic: the same pairs always get the same
/// keys. Text lines show keys as recorded.
pub const RENAME_PREFIX: &str = "field.";

/// True if two pairs share a key. Pairwise for the usual few pairs.
#[inline]
fn has_repeated_key(context: &[(&str, ContextValue<'_>)]) -> bool {
    match context.len() {
        0 | 1 => false,
        n if n <= 16 => (1..n).any(|i| context[..i].iter().any(|p| p.0 == context[i].0)),
        _ => {
            let mut seen = std::collections::HashSet::with_capacity(context.len());
            !context.iter().all(|p| seen.insert(p.0))
        }
    }
}

/// [`json_context`] for pairs with a repeated key: each key is claimed in
/// order, and one already claimed gets [`RENAME_PREFIX`] until it is free.
#[cold]
fn json_context_renamed(out: &mut Vec<u8>, context: &[(&str, ContextValue<'_>)]) {
    use std::collections::{HashMap, HashSet};
    let mut claimed: HashSet<String> = HashSet::with_capacity(context.len());
    // Prefixes already tried per original key, so that n copies of one
    // key cost O(n) attempts, not O(n^2).
    let mut tried: HashMap<&str, usize> = HashMap::new();
    for (i, (k, v)) in context.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut key = (*k).to_owned();
        if claimed.contains(&key) {
            let n = tried.entry(k).or_insert(0);
            loop {
                *n += 1;
                key = RENAME_PREFIX.repeat(*n) + k;
                if !claimed.contains(&key) {
                    break;
                }
            }
        }
        json_str(out, key.as_bytes());
        claimed.insert(key);
        out.push(b':');
        json_value(out, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_parts_match_the_plain_functions_as_keys_change() {
        let ctx = [("k", ContextValue::Str("v\""))];
        let mut parts = LineParts::default();
        let mut ts = TimestampFormatter::new();
        let sources = ["A", "A", "B\n\"", "", "A"];
        let levels = [
            Level::Info,
            Level::Warn,
            Level::Warn,
            Level::Info,
            Level::Info,
        ];
        for (i, (src, level)) in sources.iter().zip(levels).enumerate() {
            for (pid, tid) in [(1, 2), (1, 2), (1, 3), (4_000_000, 2)] {
                let r = LineRecord {
                    timestamp_ns: 1_000_000_007 * i as u64,
                    level,
                    source: src,
                    message: b"m",
                    context: if i % 2 == 0 { &ctx } else { &[] },
                    location: None,
                    pid,
                    tid,
                    seq: i as u64,
                    truncated: false,
                };
                let (mut a, mut b) = (Vec::new(), Vec::new());
                parts.text_head(&mut a, &mut ts, &r);
                parts.json_tail(&mut a, &mut ts, &r);
                text_head(&mut b, &mut ts, r.timestamp_ns, r.source, r.level);
                json_tail(&mut b, &mut ts, &r);
                assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
            }
        }
    }

    fn rec<'a>(
        message: &'a [u8],
        source: &'a str,
        context: &'a [(&'a str, ContextValue<'a>)],
    ) -> LineRecord<'a> {
        LineRecord {
            timestamp_ns: 1_735_689_600_000_000_123,
            level: Level::Info,
            source,
            message,
            context,
            location: None,
            pid: 1,
            tid: 2,
            seq: 3,
            truncated: false,
        }
    }

    fn text(r: &LineRecord<'_>) -> String {
        let mut out = Vec::new();
        write_text(&mut out, &mut TimestampFormatter::new(), r);
        String::from_utf8(out).unwrap()
    }

    fn json(r: &LineRecord<'_>) -> String {
        let mut out = Vec::new();
        write_json(&mut out, &mut TimestampFormatter::new(), r);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_examples() {
        let ctx = [
            ("session", ContextValue::Str("abc123")),
            ("n", ContextValue::Value(Value::I64(-4))),
            ("ok", ContextValue::Value(Value::Bool(true))),
        ];
        assert_eq!(
            text(&rec(b"User action completed", "UserService", &ctx)),
            "UL: [2025-01-01T00:00:00.000000123Z] [UserService] INFO: User action completed [session:abc123] [n:-4] [ok:true]\n"
        );
        assert_eq!(
            text(&rec(b"m", "S", &[])),
            "UL: [2025-01-01T00:00:00.000000123Z] [S] INFO: m\n"
        );
    }

    #[test]
    fn text_escapes_controls() {
        let ctx = [
            ("k\n", ContextValue::Str("v\r\u{1b}")),
            ("c", ContextValue::Value(Value::Char('\n'))),
            ("s", ContextValue::Value(Value::Str("\u{85}x\u{2028}"))),
        ];
        let line = text(&rec(b"a\nb\tc\x7f\x00 \\n \xff\xfe \xc2", "s\nrc", &ctx));
        assert_eq!(
            line,
            "UL: [2025-01-01T00:00:00.000000123Z] [s\\nrc] INFO: a\\nb\\tc\\u{7f}\\u{0} \\n \u{fffd}\u{fffd} \u{fffd} [k\\n:v\\r\\u{1b}] [c:\\n] [s:\\u{85}x\\u{2028}]\n"
        );
        // Non-control multibyte characters pass through.
        assert!(
            text(&rec("é ¢ \u{a0} € \u{2027} 日本".as_bytes(), "S", &[]))
                .contains("é ¢ \u{a0} € \u{2027} 日本")
        );
    }

    #[test]
    fn json_example_and_types() {
        let ctx = [
            ("session", ContextValue::Str("abc123")),
            ("u", ContextValue::Value(Value::U64(u64::MAX))),
            ("i", ContextValue::Value(Value::I64(i64::MIN))),
            ("big", ContextValue::Value(Value::U128(u128::MAX))),
            ("f", ContextValue::Value(Value::F32(0.1))),
            ("nan", ContextValue::Value(Value::F64(f64::NAN))),
            ("inf", ContextValue::Value(Value::F32(f32::NEG_INFINITY))),
            ("b", ContextValue::Value(Value::Bool(false))),
            ("c", ContextValue::Value(Value::Char('"'))),
        ];
        assert_eq!(
            json(&rec(b"User action completed", "UserService", &ctx[..1])),
            r#"{"level":"info","message":"User action completed","timestamp":"2025-01-01T00:00:00.000000123Z","source":"UserService","context":{"session":"abc123"},"pid":1,"tid":2,"seq":3}
"#
        );
        let line = json(&rec(b"m", "S", &ctx));
        assert!(line.contains(
            r#""context":{"session":"abc123","u":18446744073709551615,"i":-9223372036854775808,"big":340282366920938463463374607431768211455,"f":0.1,"nan":"NaN","inf":"-inf","b":false,"c":"\""}"#
        ), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["context"]["u"], serde_json::json!(u64::MAX));
        assert_eq!(v["context"]["i"], serde_json::json!(i64::MIN));
        assert!(json(&rec(b"m", "S", &[])).contains(r#""context":{},"#));
    }

    #[test]
    fn word_tests_agree_with_bytes() {
        // Every byte value at every position of a word, among printable
        // neighbours of every kind.
        for b in 0..=255u8 {
            for pos in 0..8 {
                for fill in [b' ', b'~', b'A', b'!'] {
                    let mut w = [fill; 8];
                    w[pos] = b;
                    let word = u64::from_le_bytes(w);
                    let printable = (0x20..0x7f).contains(&b);
                    assert_eq!(not_printable(word) == 0, printable, "{b:#x} at {pos}");
                    let plain = printable && b != b'"' && b != b'\\';
                    assert_eq!(not_json_plain(word) == 0, plain, "{b:#x} at {pos}");
                }
            }
        }
        // Several bad bytes, and lengths around the word size.
        for len in 0..20 {
            let mut s = vec![b'a'; len];
            assert!(all_words(&s, not_printable));
            for i in 0..len {
                s[i] = 0x7f;
                assert!(!all_words(&s, not_printable));
                s[i] = b'\\';
                assert!(all_words(&s, not_printable));
                assert!(!all_words(&s, not_json_plain));
                s[i] = b'a';
            }
        }
        let s = [0xffu8, 0x00, 0x7f, 0x1f, 0x80, b'"', 0x20, 0xc2];
        assert!(!all_words(&s, not_printable));
    }

    #[test]
    fn location_in_json_always_and_in_text_when_asked() {
        let loc = Location::new("src/a \"b\".rs", 3).unwrap();
        let mut r = rec(b"m", "S", &[]);
        r.location = Some(&loc);
        let line = json(&r);
        assert!(
            line.contains(r#""context":{},"file":"src/a \"b\".rs","line":3,"pid":1,"#),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (&v["file"], &v["line"]),
            (&"src/a \"b\".rs".into(), &3.into())
        );
        // The plain text functions never show it; the parts when asked.
        assert!(!text(&r).contains("src/a"));
        let mut parts = LineParts::default();
        let mut ts = TimestampFormatter::new();
        for on in [false, true] {
            parts.text_location = on;
            let mut out = Vec::new();
            parts.text_head(&mut out, &mut ts, &r);
            let out = String::from_utf8(out).unwrap();
            assert_eq!(out.ends_with("INFO: src/a \"b\".rs:3: "), on, "{out}");
            let mut a = Vec::new();
            parts.json_tail(&mut a, &mut ts, &r);
            let mut b = Vec::new();
            json_tail(&mut b, &mut ts, &r);
            assert_eq!(a, b);
        }
        // A control character in a file name stays on one line.
        let odd = Location::new("a\nb.rs", 1).unwrap();
        assert_eq!(odd.text(), b"a\\nb.rs:1: ");
    }

    /// The keys of a JSON object, in order, as written (serde_json keeps
    /// only the last of duplicate keys, so it cannot see them).
    fn context_keys(line: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ctx = v["context"].as_object().unwrap();
        let start = line.find(r#""context":{"#).unwrap() + r#""context":"#.len();
        let mut keys = Vec::new();
        let mut de = serde_json::Deserializer::from_str(&line[start..]);
        // Re-read the object as a list of (key, value) in written order.
        struct Pairs(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Pairs {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Pairs;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut m: A,
                    ) -> Result<Pairs, A::Error> {
                        let mut keys = Vec::new();
                        while let Some((k, _)) = m.next_entry::<String, serde_json::Value>()? {
                            keys.push(k);
                        }
                        Ok(Pairs(keys))
                    }
                }
                d.deserialize_map(V)
            }
        }
        let pairs: Pairs = serde::Deserialize::deserialize(&mut de).unwrap();
        keys.extend(pairs.0);
        assert_eq!(keys.len(), ctx.len(), "duplicate keys in {line}");
        keys
    }

    /// Records are untrusted: whatever keys a record's context and call
    /// site carry, a JSON line never has the same key twice. A repeated key
    /// is renamed by prefixing `field.` until it is unique, first come
    /// first kept; text lines show the keys as recorded.
    #[test]
    fn json_never_repeats_a_context_key() {
        let v = |s| ContextValue::Str(s);
        let ctx = [
            ("span", v("a")),
            ("user", v("b")),
            ("span", v("c")),
            ("field.span", v("d")),
            ("span", v("e")),
            ("user", v("f")),
        ];
        let line = json(&rec(b"m", "S", &ctx));
        assert!(
            line.contains(
                r#""context":{"span":"a","user":"b","field.span":"c","field.field.span":"d","field.field.field.span":"e","field.user":"f"}"#
            ),
            "{line}"
        );
        assert_eq!(context_keys(&line).len(), 6);
        // The same every time, and through the cached parts too.
        let mut parts = LineParts::default();
        let mut a = Vec::new();
        parts.json_tail(
            &mut a,
            &mut TimestampFormatter::new(),
            &rec(b"m", "S", &ctx),
        );
        let mut b = Vec::new();
        json_tail(
            &mut b,
            &mut TimestampFormatter::new(),
            &rec(b"m", "S", &ctx),
        );
        assert_eq!(a, b);
        // Many copies of one key (a hostile call site): all distinct.
        let many: Vec<(&str, ContextValue<'_>)> = (0..255).map(|_| ("k", v("x"))).collect();
        let line = json(&rec(b"m", "S", &many));
        assert_eq!(context_keys(&line).len(), 255);
        // Text shows the keys as they were recorded.
        assert!(text(&rec(b"m", "S", &ctx))
            .ends_with("m [span:a] [user:b] [span:c] [field.span:d] [span:e] [user:f]\n"));
    }

    #[test]
    fn json_escapes() {
        let line = json(&rec(
            b"q\" b\\ n\n t\t \x01 \x7f \xff \xe2\x82 \xf0\x9f\x98\x80",
            "s\"",
            &[("k\"\n", ContextValue::Str("\u{0}"))],
        ));
        assert_eq!(line.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v["message"],
            "q\" b\\ n\n t\t \u{1} \u{7f} \u{fffd} \u{fffd} 😀"
        );
        assert_eq!(v["source"], "s\"");
        assert_eq!(v["context"]["k\"\n"], "\u{0}");
    }
}
