//! Placeholder formatting matches `format!` for every supported argument
//! type and spec (property tests), and the line formats stay one line and
//! valid JSON whatever the message holds.

use proptest::prelude::*;
use ul_ring::args::Value;
use ul_ring::record::Level;
use ul_writer::format::{
    format_message, write_json, write_text, ContextValue, LineRecord, TimestampFormatter,
};

const SPECS: &[&str] = &[
    "{}", "{:?}", "{:>8}", "{:<8}", "{:^8}", "{:*^9}", "{:08}", "{:+}", "{:.3}", "{:>10.3}",
    "{:+.2}", "{:x}", "{:X}", "{:o}", "{:b}", "{:#x}", "{:#010x}", "{:e}", "{:E}",
];

/// `format!` of `v` with `SPECS[i]` (a macro: each spec must be a literal).
macro_rules! expect {
    ($i:expr, $v:expr) => {
        match $i {
            0 => format!("{}", $v),
            1 => format!("{:?}", $v),
            2 => format!("{:>8}", $v),
            3 => format!("{:<8}", $v),
            4 => format!("{:^8}", $v),
            5 => format!("{:*^9}", $v),
            6 => format!("{:08}", $v),
            7 => format!("{:+}", $v),
            8 => format!("{:.3}", $v),
            9 => format!("{:>10.3}", $v),
            10 => format!("{:+.2}", $v),
            _ => unreachable!(),
        }
    };
    (int $i:expr, $v:expr) => {
        match $i {
            11 => format!("{:x}", $v),
            12 => format!("{:X}", $v),
            13 => format!("{:o}", $v),
            14 => format!("{:b}", $v),
            15 => format!("{:#x}", $v),
            16 => format!("{:#010x}", $v),
            17 => format!("{:e}", $v),
            18 => format!("{:E}", $v),
            i => expect!(i, $v),
        }
    };
    (float $i:expr, $v:expr) => {
        match $i {
            17 => format!("{:e}", $v),
            18 => format!("{:E}", $v),
            i => expect!(i, $v),
        }
    };
    (text $i:expr, $v:expr) => {
        match $i {
            0 => format!("{}", $v),
            1 => format!("{:?}", $v),
            2 => format!("{:>8}", $v),
            3 => format!("{:<8}", $v),
            4 => format!("{:^8}", $v),
            5 => format!("{:*^9}", $v),
            8 => format!("{:.3}", $v),
            9 => format!("{:>10.3}", $v),
            _ => unreachable!(),
        }
    };
}

/// A value, the specs valid for its type, and `format!`'s output for each.
#[derive(Debug, Clone)]
struct Case {
    value: Owned,
    spec: usize,
}

#[derive(Debug, Clone)]
enum Owned {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I8(i8),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Char(char),
    Str(String),
}

impl Owned {
    fn value(&self) -> Value<'_> {
        match self {
            Owned::U8(v) => Value::U64(u64::from(*v)),
            Owned::U16(v) => Value::U64(u64::from(*v)),
            Owned::U32(v) => Value::U64(u64::from(*v)),
            Owned::U64(v) => Value::U64(*v),
            Owned::I8(v) => Value::I64(i64::from(*v)),
            Owned::I32(v) => Value::I64(i64::from(*v)),
            Owned::I64(v) => Value::I64(*v),
            Owned::F32(v) => Value::F32(*v),
            Owned::F64(v) => Value::F64(*v),
            Owned::Bool(v) => Value::Bool(*v),
            Owned::Char(v) => Value::Char(*v),
            Owned::Str(v) => Value::Str(v),
        }
    }

    fn valid_specs(&self) -> Vec<usize> {
        match self {
            Owned::U8(_) | Owned::U16(_) | Owned::U32(_) | Owned::U64(_) => {
                (0..SPECS.len()).collect()
            }
            Owned::I8(_) | Owned::I32(_) | Owned::I64(_) | Owned::F32(_) | Owned::F64(_) => {
                (0..=10).chain([17, 18]).collect()
            }
            Owned::Bool(_) | Owned::Char(_) => vec![0, 1, 2, 3, 4, 5],
            Owned::Str(_) => vec![0, 1, 2, 3, 4, 5, 8, 9],
        }
    }

    fn expected(&self, i: usize) -> String {
        match self {
            Owned::U8(v) => expect!(int i, v),
            Owned::U16(v) => expect!(int i, v),
            Owned::U32(v) => expect!(int i, v),
            Owned::U64(v) => expect!(int i, v),
            Owned::I8(v) => expect!(float i, v),
            Owned::I32(v) => expect!(float i, v),
            Owned::I64(v) => expect!(float i, v),
            Owned::F32(v) => expect!(float i, v),
            Owned::F64(v) => expect!(float i, v),
            Owned::Bool(v) => expect!(text i, v),
            Owned::Char(v) => expect!(text i, v),
            Owned::Str(v) => expect!(text i, v),
        }
    }
}

fn owned() -> impl Strategy<Value = Owned> {
    prop_oneof![
        any::<u8>().prop_map(Owned::U8),
        any::<u16>().prop_map(Owned::U16),
        any::<u32>().prop_map(Owned::U32),
        any::<u64>().prop_map(Owned::U64),
        any::<i8>().prop_map(Owned::I8),
        any::<i32>().prop_map(Owned::I32),
        any::<i64>().prop_map(Owned::I64),
        any::<f32>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Owned::F32),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Owned::F64),
        (-1e6f64..1e6).prop_map(Owned::F64),
        any::<bool>().prop_map(Owned::Bool),
        any::<char>().prop_map(Owned::Char),
        "\\PC{0,12}".prop_map(Owned::Str),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    owned().prop_flat_map(|value| {
        let specs = value.valid_specs();
        (Just(value), proptest::sample::select(specs))
            .prop_map(|(value, spec)| Case { value, spec })
    })
}

/// Literal text between placeholders, with `{{` and `}}` escapes.
fn literal() -> impl Strategy<Value = (String, String)> {
    proptest::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9 ,.:=é-]{0,6}".prop_map(|s| (s.clone(), s)),
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn placeholders_match_format(pieces in proptest::collection::vec((literal(), case()), 0..6), tail in literal()) {
        let mut fmt = String::new();
        let mut want = String::new();
        for ((lit_fmt, lit_want), c) in &pieces {
            fmt.push_str(lit_fmt);
            want.push_str(lit_want);
            fmt.push_str(SPECS[c.spec]);
            want.push_str(&c.value.expected(c.spec));
        }
        fmt.push_str(&tail.0);
        want.push_str(&tail.1);
        let mut out = Vec::new();
        let outcome = format_message(&mut out, &fmt, pieces.iter().map(|(_, c)| c.value.value()));
        prop_assert_eq!(String::from_utf8(out).unwrap(), want, "format string {:?}", fmt);
        prop_assert_eq!(outcome, Default::default());
    }

    #[test]
    fn any_format_string_and_args_never_panic(fmt in "\\PC{0,40}", vals in proptest::collection::vec(owned(), 0..5)) {
        let mut out = Vec::new();
        format_message(&mut out, &fmt, vals.iter().map(Owned::value));
        prop_assert!(std::str::from_utf8(&out).is_ok());
    }

    #[test]
    fn lines_stay_one_line_and_json_parses(
        msg in proptest::collection::vec(any::<u8>(), 0..60),
        source in "\\PC{0,10}",
        key in "\\PC{0,6}",
        val in "\\PC{0,10}",
        num in any::<i64>(),
        ts in any::<u64>(),
        level in 0u8..5,
    ) {
        let level = Level::try_from(level).unwrap();
        let ctx = [(key.as_str(), ContextValue::Str(&val)), ("n", ContextValue::Value(Value::I64(num)))];
        let r = LineRecord { timestamp_ns: ts % 4_000_000_000_000_000_000, level, source: &source, message: &msg, context: &ctx, pid: 1, tid: 2, seq: 3 };
        let mut ts_fmt = TimestampFormatter::new();
        let mut text = Vec::new();
        write_text(&mut text, &mut ts_fmt, &r);
        prop_assert_eq!(text.iter().filter(|&&b| b == b'\n').count(), 1);
        prop_assert_eq!(text.last(), Some(&b'\n'));
        let mut json = Vec::new();
        write_json(&mut json, &mut ts_fmt, &r);
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let want_msg = String::from_utf8_lossy(&msg).into_owned();
        prop_assert_eq!(v["message"].as_str().unwrap(), want_msg.as_str());
        prop_assert_eq!(v["source"].as_str().unwrap(), source.as_str());
        prop_assert_eq!(v["level"].as_str().unwrap(), level.as_str());
        prop_assert_eq!(&v["context"]["n"], &serde_json::json!(num));
        if key != "n" {
            prop_assert_eq!(v["context"][key.as_str()].as_str().unwrap(), val.as_str());
        }
        let parsed = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap();
        prop_assert_eq!(parsed.timestamp_nanos_opt().unwrap() as u64, r.timestamp_ns);
    }
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
    assert!(o.bad_specs >= 1);
    out.clear();
    format_message(
        &mut out,
        "{1} {0}",
        [Value::U64(1), Value::U64(2)].into_iter(),
    );
    assert_eq!(out, b"2 1");
}
