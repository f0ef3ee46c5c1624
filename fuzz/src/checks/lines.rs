// The body of `checks::lines` (documented in `fuzz/src/checks.rs`, which
// includes this file inside `pub mod lines { ... }`; see there why the
// checks are included rather than a crate of their own).

use ul_ring::args::Value;
use ul_writer::internals::format::{write_json, write_text, ContextValue, LineRecord, TimestampFormatter};

/// `Display` of a decoded value, as `format!("{}", v)` writes it for the
/// value's own type.
pub fn display(v: &Value<'_>) -> String {
    match *v {
        Value::U64(x) => format!("{x}"),
        Value::I64(x) => format!("{x}"),
        Value::U128(x) => format!("{x}"),
        Value::I128(x) => format!("{x}"),
        Value::F32(x) => format!("{x}"),
        Value::F64(x) => format!("{x}"),
        Value::Bool(x) => format!("{x}"),
        Value::Char(x) => format!("{x}"),
        Value::Str(x) | Value::Text(x) => x.to_string(),
        Value::Cut { kept, omitted, .. } => format!("{kept}…[+{omitted} bytes]"),
    }
}

/// True if `got` (a JSON number) is `want` up to a few ULPs: the writer
/// prints the shortest round-tripping decimal, and serde_json (without
/// `float_roundtrip`) may parse it one ULP off.
fn close(got: f64, want: f64, eps: f64, tiny: f64) -> bool {
    got == want || (got - want).abs() <= (want.abs() * 4.0 * eps).max(tiny)
}

/// A `context` value in the JSON line holds what `cv` holds, typed as
/// `ContextValue` documents.
fn check_json_value(key: &str, j: &serde_json::Value, cv: &ContextValue<'_>) {
    let ok = match cv {
        ContextValue::Str(s)
        | ContextValue::Value(Value::Str(s))
        | ContextValue::Value(Value::Text(s)) => j.as_str() == Some(*s),
        ContextValue::Value(v @ Value::Cut { .. }) => j.as_str() == Some(display(v).as_str()),
        ContextValue::Value(Value::Char(c)) => j.as_str() == Some(c.to_string().as_str()),
        ContextValue::Value(Value::Bool(b)) => j.as_bool() == Some(*b),
        ContextValue::Value(Value::U64(x)) => j.as_u64() == Some(*x),
        ContextValue::Value(Value::I64(x)) => j.as_i64() == Some(*x),
        // Numbers, exact in the line; serde_json reads those past 64
        // bits as an f64.
        ContextValue::Value(Value::U128(x)) => j
            .as_f64()
            .is_some_and(|g| close(g, *x as f64, f64::EPSILON, 0.0)),
        ContextValue::Value(Value::I128(x)) => j
            .as_f64()
            .is_some_and(|g| close(g, *x as f64, f64::EPSILON, 0.0)),
        ContextValue::Value(Value::F64(x)) if !x.is_finite() => {
            j.as_str() == Some(x.to_string().as_str())
        }
        ContextValue::Value(Value::F32(x)) if !x.is_finite() => {
            j.as_str() == Some(x.to_string().as_str())
        }
        ContextValue::Value(Value::F64(x)) => j
            .as_f64()
            .is_some_and(|g| close(g, *x, f64::EPSILON, f64::MIN_POSITIVE)),
        ContextValue::Value(Value::F32(x)) => j
            .as_f64()
            .is_some_and(|g| close(g, f64::from(*x), f64::from(f32::EPSILON), 1e-44)),
    };
    assert!(ok, "JSON context {key:?} is {j}, want {cv:?}");
}

/// Writes `r` with `write_text` and `write_json` (through `ts`, whose
/// per-second cache carries over between calls) and checks both lines.
/// The keys of `r.context` must be distinct.
pub fn check(ts: &mut TimestampFormatter, r: &LineRecord<'_>) {
    let mut stamp = Vec::new();
    TimestampFormatter::new().write(&mut stamp, r.timestamp_ns);
    let stamp = String::from_utf8(stamp).expect("timestamp is not UTF-8");

    let mut text = Vec::new();
    write_text(&mut text, ts, r);
    let text = String::from_utf8(text).expect("text line is not UTF-8");
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "text line must end in its only newline: {text:?}"
    );
    let body = &text[..text.len() - 1];
    assert!(
        !body
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
        "text line holds a control character or line separator: {text:?}"
    );
    assert!(
        text.starts_with(&format!("UL: [{stamp}] [")),
        "text line {text:?} does not start with the timestamp {stamp}"
    );
    assert!(
        text.contains(&format!("] {}: ", r.level.as_upper())),
        "text line {text:?} lacks the level"
    );

    let mut json = Vec::new();
    write_json(&mut json, ts, r);
    assert!(
        json.ends_with(b"\n") && json.iter().filter(|&&b| b == b'\n').count() == 1,
        "JSON line must end in its only newline: {:?}",
        String::from_utf8_lossy(&json)
    );
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "JSON line does not parse ({e}): {:?}",
            String::from_utf8_lossy(&json)
        )
    });
    let message = String::from_utf8_lossy(r.message);
    assert_eq!(v["level"].as_str(), Some(r.level.as_str()), "{v}");
    assert_eq!(v["message"].as_str(), Some(message.as_ref()), "{v}");
    assert_eq!(v["timestamp"].as_str(), Some(stamp.as_str()), "{v}");
    assert_eq!(v["source"].as_str(), Some(r.source), "{v}");
    assert_eq!(v["pid"].as_u64(), Some(u64::from(r.pid)), "{v}");
    assert_eq!(v["tid"].as_u64(), Some(u64::from(r.tid)), "{v}");
    assert_eq!(v["seq"].as_u64(), Some(r.seq), "{v}");
    let ctx = v["context"].as_object().expect("context is not an object");
    assert_eq!(ctx.len(), r.context.len(), "{v}");
    for (k, cv) in r.context {
        let j = ctx
            .get(*k)
            .unwrap_or_else(|| panic!("context key {k:?} missing: {v}"));
        check_json_value(k, j, cv);
    }
}
