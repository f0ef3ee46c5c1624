//! Placeholder formatting matches `format!` for every supported argument
//! type and spec; timestamps match chrono; the text format keeps a record on
//! one line; the JSON format is exactly what serde_json would write and
//! round-trips.

mod common;

use std::fmt::{Binary, Debug, Display, LowerExp, LowerHex, Octal, UpperExp, UpperHex};

use chrono::{DateTime, SecondsFormat};
use proptest::prelude::*;
use ul_ring::args::Value;
use ul_ring::record::Level;
use ul_writer::internals::format::{
    format_message, write_json, write_text, ContextValue, Escape, FormatOutcome, LineRecord,
    ParsedFormat, TimestampFormatter,
};

/// Declares the specs of one family and a function that applies each with
/// `format!` (which needs the spec as a literal).
macro_rules! specs {
    ($list:ident, $func:ident, [$($bound:path),+], [$($spec:literal),+ $(,)?]) => {
        const $list: &[&str] = &[$($spec),+];
        fn $func<T: $($bound +)+>(spec: &str, v: T) -> String {
            match spec {
                $($spec => format!($spec, v),)+
                _ => unreachable!("{spec}"),
            }
        }
    };
}

// Specs every value type takes (text, bool, char, floats, integers).
specs!(
    ALL,
    apply_all,
    [Display, Debug],
    [
        "{}", "{:?}", "{:#?}", "{:#}", "{:>8}", "{:<8}", "{:^8}", "{:*^9}", "{:é>7}", "{:&<6}",
        "{:08}", "{:<08}", "{:+}", "{:-}", "{:.3}", "{:.0}", "{:>10.3}", "{:+.2}", "{:>8?}",
        "{:.1?}", "{:<5?}", "{:^+9.1}", "{:+08.2}", "{:0}", "{:1}", "{:+#08}",
    ]
);
// Specs of floats and integers.
specs!(
    EXP,
    apply_exp,
    [LowerExp, UpperExp],
    [
        "{:e}",
        "{:E}",
        "{:.2e}",
        "{:.0E}",
        "{:+e}",
        "{:012.3E}",
        "{:>12e}",
        "{:^+#14.1e}",
    ]
);
// Specs of integers only.
specs!(
    RADIX,
    apply_radix,
    [LowerHex, UpperHex, Octal, Binary],
    [
        "{:x}",
        "{:X}",
        "{:o}",
        "{:b}",
        "{:#x}",
        "{:#X}",
        "{:#o}",
        "{:#b}",
        "{:#010x}",
        "{:+x}",
        "{:+#X}",
        "{:08b}",
        "{:>#12x}",
        "{:^+#14o}",
        "{:_<#9b}",
        "{:.3x}",
    ]
);

/// The argument values, as typed at the call site: the codec's own
/// [`OwnedValue`] (`as_value` gives what the producer encodes).
use ul_ring::args::OwnedValue as Owned;

/// What `format!` does with each owned value.
trait Expect {
    fn specs(&self) -> Vec<&'static str>;
    fn expected(&self, spec: &str) -> String;
}

impl Expect for Owned {
    /// The specs `format!` accepts for the original type. Signed integers
    /// narrower than 64 bits leave out the radix specs: they decode to
    /// `i64`, so a negative one prints 64-bit two's complement (documented).
    fn specs(&self) -> Vec<&'static str> {
        let mut v = ALL.to_vec();
        match self {
            Owned::U8(_)
            | Owned::U16(_)
            | Owned::U32(_)
            | Owned::U64(_)
            | Owned::U128(_)
            | Owned::I64(_)
            | Owned::I128(_) => {
                v.extend(EXP);
                v.extend(RADIX);
            }
            Owned::I8(_) | Owned::I16(_) | Owned::I32(_) | Owned::F32(_) | Owned::F64(_) => {
                v.extend(EXP)
            }
            // A text is already formatted: any spec leaves it as it is.
            Owned::Bool(_) | Owned::Char(_) | Owned::Str(_) | Owned::Text(_) => {}
        }
        v
    }

    /// `format!` of the original value with `spec`.
    fn expected(&self, spec: &str) -> String {
        macro_rules! int {
            ($v:expr) => {
                if ALL.contains(&spec) {
                    apply_all(spec, $v)
                } else if EXP.contains(&spec) {
                    apply_exp(spec, $v)
                } else {
                    apply_radix(spec, $v)
                }
            };
        }
        macro_rules! float {
            ($v:expr) => {
                if ALL.contains(&spec) {
                    apply_all(spec, $v)
                } else {
                    apply_exp(spec, $v)
                }
            };
        }
        match self {
            Owned::U8(v) => int!(v),
            Owned::U16(v) => int!(v),
            Owned::U32(v) => int!(v),
            Owned::U64(v) => int!(v),
            Owned::U128(v) => int!(v),
            Owned::I8(v) => float!(v),
            Owned::I16(v) => float!(v),
            Owned::I32(v) => float!(v),
            Owned::I64(v) => int!(v),
            Owned::I128(v) => int!(v),
            Owned::F32(v) => float!(v),
            Owned::F64(v) => float!(v),
            Owned::Bool(v) => apply_all(spec, v),
            Owned::Char(v) => apply_all(spec, v),
            Owned::Str(v) => apply_all(spec, v),
            Owned::Text(v) => v.clone(),
        }
    }
}

/// `{:>8}` -> `{3:>8}`, `{}` -> `{3}`.
fn positional(spec: &str, i: usize) -> String {
    format!("{{{i}{}", &spec[1..])
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        proptest::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
        Just(String::new()),
    ]
}

fn owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        any::<u8>().prop_map(Owned::U8),
        any::<u16>().prop_map(Owned::U16),
        any::<u32>().prop_map(Owned::U32),
        any::<u64>().prop_map(Owned::U64),
        any::<u128>().prop_map(Owned::U128),
        any::<i8>().prop_map(Owned::I8),
        any::<i16>().prop_map(Owned::I16),
        any::<i32>().prop_map(Owned::I32),
        any::<i64>().prop_map(Owned::I64),
        any::<i128>().prop_map(Owned::I128),
        proptest::num::f32::ANY.prop_map(Owned::F32),
        proptest::num::f64::ANY.prop_map(Owned::F64),
        (-1e6f64..1e6).prop_map(Owned::F64),
        (-1e3f32..1e3).prop_map(Owned::F32),
        any::<bool>().prop_map(Owned::Bool),
        any::<char>().prop_map(Owned::Char),
        any_string().prop_map(Owned::Str),
        any_string().prop_map(Owned::Text),
    ]
}

/// A value and a spec that `format!` accepts for its type.
fn case() -> impl Strategy<Value = (Owned, &'static str)> {
    owned().prop_flat_map(|value| {
        let specs = value.specs();
        (Just(value), proptest::sample::select(specs))
    })
}

/// Literal text between placeholders, with `{{` and `}}` escapes: (format
/// string, what it prints).
fn literal() -> impl Strategy<Value = (String, String)> {
    proptest::collection::vec(
        prop_oneof![
            "[^{}]{0,6}".prop_map(|s| (s.clone(), s)),
            // Text that needs no escaping, so `format_escaped` takes it.
            "[a-z ,:.=]{0,6}".prop_map(|s| (s.clone(), s)),
            Just(("{{".to_string(), "{".to_string())),
            Just(("}}".to_string(), "}".to_string())),
        ],
        0..4,
    )
    .prop_map(|parts| {
        let fmt = parts.iter().map(|p| p.0.as_str()).collect();
        let want = parts.iter().map(|p| p.1.as_str()).collect();
        (fmt, want)
    })
}

fn run(fmt: &str, args: impl Iterator<Item = Owned>) -> (String, FormatOutcome) {
    let owned: Vec<Owned> = args.collect();
    let mut out = Vec::new();
    let outcome = format_message(&mut out, fmt, owned.iter().map(Owned::as_value));
    // The writer's path, the format string parsed once per call site, must
    // give the same bytes and outcome.
    let parsed = ParsedFormat::new(fmt);
    for _ in 0..2 {
        let mut again = Vec::new();
        let o = parsed.format(&mut again, owned.iter().map(Owned::as_value), owned.len());
        assert_eq!(again, out, "ParsedFormat differs for {fmt:?}");
        assert_eq!(o, outcome, "ParsedFormat outcome differs for {fmt:?}");
    }
    // Formatting straight into an output, escaped on the way, must give
    // what escaping the whole message gives, whenever it applies.
    for esc in [Escape::Text, Escape::Json] {
        let mut direct = b"head ".to_vec();
        let mut scratch = Vec::new();
        let args = owned.iter().map(Owned::as_value);
        if let Some(o) = parsed.format_escaped(&mut direct, args, owned.len(), esc, &mut scratch) {
            let mut want = b"head ".to_vec();
            esc.escape(&mut want, &out);
            assert_eq!(direct, want, "format_escaped({esc:?}) differs for {fmt:?}");
            assert_eq!(o, outcome, "format_escaped outcome differs for {fmt:?}");
        } else {
            assert_eq!(direct, b"head ", "format_escaped wrote and declined");
        }
    }
    (String::from_utf8(out).expect("UTF-8 out"), outcome)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn placeholders_match_format(
        pieces in proptest::collection::vec((literal(), case()), 0..6),
        tail in literal(),
    ) {
        let mut fmt = String::new();
        let mut want = String::new();
        for ((lit_fmt, lit_want), (value, spec)) in &pieces {
            fmt.push_str(lit_fmt);
            want.push_str(lit_want);
            fmt.push_str(spec);
            want.push_str(&value.expected(spec));
        }
        fmt.push_str(&tail.0);
        want.push_str(&tail.1);
        let (got, outcome) = run(&fmt, pieces.iter().map(|(_, (v, _))| v.clone()));
        prop_assert_eq!(got, want, "format string {:?}", fmt);
        prop_assert_eq!(outcome, FormatOutcome::default());
    }

    #[test]
    fn positional_placeholders_match_format(
        cases in proptest::collection::vec(case(), 1..6),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        lits in proptest::collection::vec(literal(), 12),
    ) {
        // Every argument once, in reverse, then random ones again.
        let refs: Vec<usize> = (0..cases.len())
            .rev()
            .chain(picks.iter().map(|p| p.index(cases.len())))
            .collect();
        let mut fmt = String::new();
        let mut want = String::new();
        for (n, &i) in refs.iter().enumerate() {
            let (lit_fmt, lit_want) = &lits[n];
            fmt.push_str(lit_fmt);
            want.push_str(lit_want);
            let (value, spec) = &cases[i];
            fmt.push_str(&positional(spec, i));
            want.push_str(&value.expected(spec));
        }
        let (got, outcome) = run(&fmt, cases.iter().map(|(v, _)| v.clone()));
        prop_assert_eq!(got, want, "format string {:?}", fmt);
        prop_assert_eq!(outcome, FormatOutcome::default());
    }

    #[test]
    fn missing_args_stay_verbatim(
        pieces in proptest::collection::vec((literal(), case()), 1..6),
        given in any::<prop::sample::Index>(),
    ) {
        let given = given.index(pieces.len());
        let mut fmt = String::new();
        let mut want = String::new();
        for (n, ((lit_fmt, lit_want), (value, spec))) in pieces.iter().enumerate() {
            fmt.push_str(lit_fmt);
            want.push_str(lit_want);
            fmt.push_str(spec);
            if n < given {
                want.push_str(&value.expected(spec));
            } else {
                want.push_str(spec);
            }
        }
        let (got, outcome) = run(&fmt, pieces.iter().take(given).map(|(_, (v, _))| v.clone()));
        prop_assert_eq!(got, want, "format string {:?}", fmt);
        prop_assert_eq!(outcome, FormatOutcome { missing: pieces.len() - given, ..Default::default() });
    }

    #[test]
    fn extra_args_are_appended(
        pieces in proptest::collection::vec((literal(), case()), 1..6),
        placeholders in any::<prop::sample::Index>(),
    ) {
        let placeholders = placeholders.index(pieces.len());
        let mut fmt = String::new();
        let mut want = String::new();
        for (n, ((lit_fmt, lit_want), (value, spec))) in pieces.iter().enumerate() {
            if n < placeholders {
                fmt.push_str(lit_fmt);
                want.push_str(lit_want);
                fmt.push_str(spec);
                want.push_str(&value.expected(spec));
            }
        }
        for (_, (value, _)) in &pieces[placeholders..] {
            want.push(' ');
            want.push_str(&value.expected("{}"));
        }
        let (got, outcome) = run(&fmt, pieces.iter().map(|(_, (v, _))| v.clone()));
        prop_assert_eq!(got, want, "format string {:?}", fmt);
        prop_assert_eq!(outcome, FormatOutcome { extra: pieces.len() - placeholders, ..Default::default() });
    }

    /// Format strings made of the characters that matter to the parser,
    /// and arbitrary ones: never a panic, always UTF-8.
    #[test]
    fn any_format_string_and_args_never_panic(
        fmt in prop_oneof!["[{}:0-9.#+<>^xXobeE?$*a-zé -]{0,40}", "\\PC{0,40}", ".{0,40}"],
        vals in proptest::collection::vec(owned(), 0..5),
    ) {
        let (got, _) = run(&fmt, vals.into_iter());
        prop_assert!(got.len() < 64 * 1024 * 1024);
    }

    #[test]
    fn timestamps_match_chrono(
        base in any::<u64>(),
        steps in proptest::collection::vec(0u64..3_000_000_000, 1..20),
        signed in any::<i64>(),
    ) {
        let mut t = TimestampFormatter::new();
        let mut ns = base;
        for s in steps {
            ns = ns.saturating_add(s);
            let mut out = Vec::new();
            t.write(&mut out, ns);
            let want = DateTime::from_timestamp((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Nanos, true);
            prop_assert_eq!(String::from_utf8(out).unwrap(), want);
        }
        let mut out = Vec::new();
        t.write_i64(&mut out, signed);
        let want = DateTime::from_timestamp_nanos(signed).to_rfc3339_opts(SecondsFormat::Nanos, true);
        prop_assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}

/// `a` and `b` within a relative `tol`, or a few units in the last place
/// apart (subnormals).
fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= b.abs() * tol || a.to_bits().abs_diff(b.to_bits()) <= 8
}

/// A context value of any type.
fn ctx_value() -> impl Strategy<Value = Owned> {
    prop_oneof![
        any::<u64>().prop_map(Owned::U64),
        any::<i64>().prop_map(Owned::I64),
        any::<u128>().prop_map(Owned::U128),
        any::<i128>().prop_map(Owned::I128),
        proptest::num::f32::ANY.prop_map(Owned::F32),
        proptest::num::f64::ANY.prop_map(Owned::F64),
        any::<bool>().prop_map(Owned::Bool),
        any::<char>().prop_map(Owned::Char),
        any_string().prop_map(Owned::Str),
    ]
}

/// Raw bytes, often UTF-8 with control characters.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..60),
        any_string().prop_map(String::into_bytes),
        "[a-z \\n\\t\\r\\\\\"\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{2028}\\u{2029}é]{0,30}"
            .prop_map(String::into_bytes),
    ]
}

fn level() -> impl Strategy<Value = Level> {
    proptest::sample::select(Level::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn text_lines_are_one_line_and_exact(
        msg in message(),
        source in any_string(),
        ctx in proptest::collection::vec((any_string(), ctx_value()), 0..4),
        ts in any::<u64>(),
        level in level(),
    ) {
        let pairs: Vec<(&str, ContextValue<'_>)> = ctx
            .iter()
            .enumerate()
            .map(|(i, (k, v))| (k.as_str(), if i % 2 == 0 { ContextValue::Value(v.as_value()) } else {
                match v.as_value() { Value::Str(s) => ContextValue::Str(s), other => ContextValue::Value(other) }
            }))
            .collect();
        let r = LineRecord { timestamp_ns: ts, level, source: &source, message: &msg, context: &pairs, location: None, pid: 1, tid: 2, seq: 3, truncated: false };
        let mut out = Vec::new();
        write_text(&mut out, &mut TimestampFormatter::new(), &r);
        let line = String::from_utf8(out).expect("text is UTF-8");
        prop_assert!(line.ends_with('\n'));
        prop_assert!(!line[..line.len() - 1].chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'), "{:?}", line);

        let ts_text = DateTime::from_timestamp((ts / 1_000_000_000) as i64, (ts % 1_000_000_000) as u32)
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::Nanos, true);
        let mut want = format!(
            "UL: [{ts_text}] [{}] {}: {}",
            common::text_escape(&source),
            level.as_upper(),
            common::text_escape(&String::from_utf8_lossy(&msg)),
        );
        for (k, v) in &ctx {
            let v = match v {
                Owned::Str(s) => common::text_escape(s),
                Owned::Char(c) => common::text_escape(&c.to_string()),
                other => other.expected("{}"),
            };
            want.push_str(&format!(" [{}:{}]", common::text_escape(k), v));
        }
        want.push('\n');
        prop_assert_eq!(line, want);
    }

    #[test]
    fn json_lines_are_exact_and_round_trip(
        msg in message(),
        source in any_string(),
        ctx in proptest::collection::vec((any_string(), ctx_value()), 0..5),
        ts in any::<u64>(),
        level in level(),
        ids in any::<(u32, u32, u64)>(),
    ) {
        // Keys made unique so that every pair can be looked up.
        let keys: Vec<String> = ctx.iter().enumerate().map(|(i, (k, _))| format!("{i}{k}")).collect();
        let pairs: Vec<(&str, ContextValue<'_>)> = keys
            .iter()
            .zip(&ctx)
            .map(|(k, (_, v))| (k.as_str(), ContextValue::Value(v.as_value())))
            .collect();
        let r = LineRecord { timestamp_ns: ts, level, source: &source, message: &msg, context: &pairs, location: None, pid: ids.0, tid: ids.1, seq: ids.2, truncated: false };
        let mut out = Vec::new();
        write_json(&mut out, &mut TimestampFormatter::new(), &r);
        let line = String::from_utf8(out).expect("JSON is UTF-8");
        prop_assert!(line.ends_with('\n'));
        prop_assert_eq!(line.matches('\n').count(), 1);

        // Byte for byte what serde_json writes (floats aside: Rust's Display).
        let js = |s: &str| serde_json::to_string(s).unwrap();
        let ts_text = DateTime::from_timestamp((ts / 1_000_000_000) as i64, (ts % 1_000_000_000) as u32)
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::Nanos, true);
        let msg_text = String::from_utf8_lossy(&msg).into_owned();
        let ctx_text: Vec<String> = keys
            .iter()
            .zip(&ctx)
            .map(|(k, (_, v))| {
                let v = match v {
                    Owned::U64(x) => serde_json::to_string(x).unwrap(),
                    Owned::I64(x) => serde_json::to_string(x).unwrap(),
                    Owned::Bool(x) => serde_json::to_string(x).unwrap(),
                    Owned::F32(x) if x.is_finite() => format!("{x}"),
                    Owned::F64(x) if x.is_finite() => format!("{x}"),
                    Owned::F32(x) => js(&x.to_string()),
                    Owned::F64(x) => js(&x.to_string()),
                    Owned::U128(x) => x.to_string(),
                    Owned::I128(x) => x.to_string(),
                    Owned::Char(c) => js(&c.to_string()),
                    Owned::Str(s) => js(s),
                    _ => unreachable!(),
                };
                format!("{}:{v}", js(k))
            })
            .collect();
        let want = format!(
            "{{\"level\":\"{}\",\"message\":{},\"timestamp\":\"{ts_text}\",\"source\":{},\"context\":{{{}}},\"pid\":{},\"tid\":{},\"seq\":{}}}\n",
            level.as_str(), js(&msg_text), js(&source), ctx_text.join(","), ids.0, ids.1, ids.2,
        );
        prop_assert_eq!(&line, &want);

        // And it parses back to the same fields.
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        prop_assert_eq!(v["level"].as_str(), Some(level.as_str()));
        prop_assert_eq!(v["message"].as_str(), Some(msg_text.as_str()));
        prop_assert_eq!(v["source"].as_str(), Some(source.as_str()));
        prop_assert_eq!(v["timestamp"].as_str(), Some(ts_text.as_str()));
        let parsed = DateTime::parse_from_rfc3339(&ts_text).unwrap();
        prop_assert_eq!(parsed.timestamp() as u64, ts / 1_000_000_000);
        prop_assert_eq!(parsed.timestamp_subsec_nanos() as u64, ts % 1_000_000_000);
        prop_assert_eq!(v["pid"].as_u64(), Some(u64::from(ids.0)));
        prop_assert_eq!(v["tid"].as_u64(), Some(u64::from(ids.1)));
        prop_assert_eq!(v["seq"].as_u64(), Some(ids.2));
        let obj = v["context"].as_object().expect("context is an object");
        prop_assert_eq!(obj.len(), ctx.len());
        for (k, (_, val)) in keys.iter().zip(&ctx) {
            let got = &obj[k.as_str()];
            match val {
                Owned::U64(x) => prop_assert_eq!(got.as_u64(), Some(*x)),
                Owned::I64(x) => prop_assert_eq!(got.as_i64(), Some(*x)),
                Owned::Bool(x) => prop_assert_eq!(got.as_bool(), Some(*x)),
                // The text is exact (checked above: Rust's shortest round-trip
                // form); serde_json's default parser reads long decimals only
                // to within a few units in the last place.
                Owned::F32(x) if x.is_finite() => {
                    let g = got.as_f64().expect("number") as f32;
                    prop_assert!(g.to_bits().abs_diff(x.to_bits()) <= 2, "{} vs {}", g, x);
                }
                Owned::F64(x) if x.is_finite() => {
                    let g = got.as_f64().expect("number");
                    prop_assert!(close(g, *x, 1e-12), "{} vs {}", g, x);
                }
                Owned::F32(x) => prop_assert_eq!(got.as_str().map(str::to_owned), Some(x.to_string())),
                Owned::F64(x) => prop_assert_eq!(got.as_str().map(str::to_owned), Some(x.to_string())),
                // Exact in the line (checked above); serde_json's default
                // parser reads a number past 64 bits as an f64.
                Owned::U128(_) | Owned::I128(_) => prop_assert!(got.is_number(), "{}", got),
                Owned::Char(c) => prop_assert_eq!(got.as_str().map(str::to_owned), Some(c.to_string())),
                Owned::Str(s) => prop_assert_eq!(got.as_str(), Some(s.as_str())),
                _ => unreachable!(),
            }
        }
    }
}

#[test]
fn narrow_signed_hex_prints_64_bits() {
    let mut out = Vec::new();
    format_message(&mut out, "{:x}", [Value::I64(i64::from(-1i32))].into_iter());
    assert_eq!(out, b"ffffffffffffffff");
}

#[test]
fn missing_extra_and_bad_placeholders_are_kept_and_reported() {
    let mut out = Vec::new();
    let o = format_message(&mut out, "a {} b {} c", [Value::U64(1)].into_iter());
    assert_eq!(out, b"a 1 b {} c");
    assert_eq!(o.missing, 1);
    out.clear();
    let o = format_message(
        &mut out,
        "a {}",
        [Value::U64(1), Value::Str("x")].into_iter(),
    );
    assert_eq!(out, b"a 1 x");
    assert_eq!(o.extra, 1);
    out.clear();
    let o = format_message(&mut out, "bad {:q} {", [Value::U64(1)].into_iter());
    assert_eq!(out, b"bad {:q} { 1");
    assert_eq!(o.bad_specs, 2);
    out.clear();
    format_message(
        &mut out,
        "{1} {0}",
        [Value::U64(1), Value::U64(2)].into_iter(),
    );
    assert_eq!(out, b"2 1");
}
