//! The two output line formats: human-readable text and JSON lines.

use ul_ring::args::Value;
use ul_ring::record::Level;

use super::placeholder::write_display;
use super::time::TimestampFormatter;

/// A context value: a string from a context, or an argument from the call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ContextValue<'a> {
    /// A string (from a thread or `Logger` context).
    Str(&'a str),
    /// A call's `key = value` argument.
    Value(Value<'a>),
}

/// Everything one output line shows.
#[derive(Clone, Copy, Debug)]
pub struct LineRecord<'a> {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Severity.
    pub level: Level,
    /// Source (service, module).
    pub source: &'a str,
    /// The formatted message (UTF-8; invalid bytes are replaced).
    pub message: &'a [u8],
    /// Key-value pairs, in order.
    pub context: &'a [(&'a str, ContextValue<'a>)],
    /// Producer process id.
    pub pid: u32,
    /// Producer thread id.
    pub tid: u32,
    /// Per-lane sequence number.
    pub seq: u32,
}

/// Appends `s` with control characters escaped, so a record is one line.
fn text_escaped(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b < 0x20 || b == 0x7f {
            out.extend_from_slice(&s[start..i]);
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => {
                    let _ = std::io::Write::write_fmt(out, format_args!("\\u{{{b:x}}}"));
                }
            }
            start = i + 1;
        }
    }
    out.extend_from_slice(&s[start..]);
}

fn text_value(out: &mut Vec<u8>, v: &ContextValue<'_>) {
    match v {
        ContextValue::Str(s) => text_escaped(out, s.as_bytes()),
        ContextValue::Value(Value::Str(s)) => text_escaped(out, s.as_bytes()),
        ContextValue::Value(v) => write_display(out, v),
    }
}

/// Appends one text line:
/// `UL: [2025-01-01T00:00:00.000000123Z] [UserService] INFO: User action completed [session:abc123]`.
///
/// ```
/// use ul_writer::format::*;
/// let mut out = Vec::new();
/// let ctx = [("session", ContextValue::Str("abc123"))];
/// let r = LineRecord { timestamp_ns: 1_735_689_600_000_000_123, level: ul_ring::record::Level::Info,
///     source: "UserService", message: b"User action completed", context: &ctx, pid: 1, tid: 2, seq: 3 };
/// write_text(&mut out, &mut TimestampFormatter::new(), &r);
/// assert_eq!(String::from_utf8(out).unwrap(),
///     "UL: [2025-01-01T00:00:00.000000123Z] [UserService] INFO: User action completed [session:abc123]\n");
/// ```
pub fn write_text(out: &mut Vec<u8>, ts: &mut TimestampFormatter, r: &LineRecord<'_>) {
    out.extend_from_slice(b"UL: [");
    ts.write(out, r.timestamp_ns);
    out.extend_from_slice(b"] [");
    text_escaped(out, r.source.as_bytes());
    out.extend_from_slice(b"] ");
    out.extend_from_slice(r.level.as_upper().as_bytes());
    out.extend_from_slice(b": ");
    text_escaped(out, r.message);
    for (k, v) in r.context {
        out.extend_from_slice(b" [");
        text_escaped(out, k.as_bytes());
        out.push(b':');
        text_value(out, v);
        out.push(b']');
    }
    out.push(b'\n');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string (quotes included); invalid UTF-8 becomes
/// U+FFFD.
fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut rest = s;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                json_escape_valid(out, valid.as_bytes());
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                json_escape_valid(out, valid);
                out.extend_from_slice("\u{fffd}".as_bytes());
                let skip = e.error_len().unwrap_or(after.len());
                rest = &after[skip..];
            }
        }
    }
    out.push(b'"');
}

fn json_escape_valid(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

fn json_value(out: &mut Vec<u8>, v: &ContextValue<'_>) {
    match v {
        ContextValue::Str(s) | ContextValue::Value(Value::Str(s)) => json_str(out, s.as_bytes()),
        ContextValue::Value(Value::Bool(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" })
        }
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
        // 128-bit integers exceed what JSON readers hold exactly: strings.
        ContextValue::Value(v @ (Value::U128(_) | Value::I128(_))) => {
            let mut tmp = Vec::new();
            write_display(&mut tmp, v);
            json_str(out, &tmp);
        }
        ContextValue::Value(v) => write_display(out, v),
    }
}

/// Appends one JSON line:
/// `{"level":"info","message":"...","timestamp":"...","source":"...","context":{...},"pid":1,"tid":2,"seq":3}`.
///
/// ```
/// use ul_writer::format::*;
/// let mut out = Vec::new();
/// let r = LineRecord { timestamp_ns: 0, level: ul_ring::record::Level::Warn,
///     source: "S", message: b"say \"hi\"", context: &[], pid: 1, tid: 2, seq: 3 };
/// write_json(&mut out, &mut TimestampFormatter::new(), &r);
/// let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
/// assert_eq!(v["message"], "say \"hi\"");
/// ```
pub fn write_json(out: &mut Vec<u8>, ts: &mut TimestampFormatter, r: &LineRecord<'_>) {
    out.extend_from_slice(b"{\"level\":\"");
    out.extend_from_slice(r.level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    json_str(out, r.message);
    out.extend_from_slice(b",\"timestamp\":\"");
    ts.write(out, r.timestamp_ns);
    out.extend_from_slice(b"\",\"source\":");
    json_str(out, r.source.as_bytes());
    out.extend_from_slice(b",\"context\":{");
    for (i, (k, v)) in r.context.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, k.as_bytes());
        out.push(b':');
        json_value(out, v);
    }
    out.extend_from_slice(b"},\"pid\":");
    out.extend_from_slice(itoa::Buffer::new().format(r.pid).as_bytes());
    out.extend_from_slice(b",\"tid\":");
    out.extend_from_slice(itoa::Buffer::new().format(r.tid).as_bytes());
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(itoa::Buffer::new().format(r.seq).as_bytes());
    out.extend_from_slice(b"}\n");
}
