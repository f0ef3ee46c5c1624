// The body of `checks::format_record` (documented in `fuzz/src/checks.rs`, which
// includes this file inside `pub mod format_record { ... }`; see there why the
// checks are included rather than a crate of their own).

use std::fmt::{Debug, Display, LowerExp, LowerHex, Octal, UpperExp, UpperHex};

use ul_ring::args::{encode_compact, encode_record, signature_of, CompactHeader, OwnedValue, Value};
use ul_ring::record::Level;
use ul_writer::internals::format::{
    format_message, ContextValue, Escape, FormatOutcome, LineRecord, ParsedFormat, Plan,
    TimestampFormatter,
};

/// Most arguments decoded (enough to pass 128, where the formatter
/// changes how it tracks used arguments).
pub const MAX_ARGS: usize = 300;

/// An argument as the input encodes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    U64(u64),
    I64(i64),
    F64(f64),
    F32(f32),
    Bool(bool),
    Char(char),
    Str(String),
    U128(u128),
    I128(i128),
}

impl Arg {
    pub fn to_owned_value(&self) -> OwnedValue {
        match self {
            Arg::U64(x) => OwnedValue::U64(*x),
            Arg::I64(x) => OwnedValue::I64(*x),
            Arg::F64(x) => OwnedValue::F64(*x),
            Arg::F32(x) => OwnedValue::F32(*x),
            Arg::Bool(x) => OwnedValue::Bool(*x),
            Arg::Char(x) => OwnedValue::Char(*x),
            Arg::Str(x) => OwnedValue::Str(x.clone()),
            Arg::U128(x) => OwnedValue::U128(*x),
            Arg::I128(x) => OwnedValue::I128(*x),
        }
    }

    pub fn as_value(&self) -> Value<'_> {
        match self {
            Arg::U64(x) => Value::U64(*x),
            Arg::I64(x) => Value::I64(*x),
            Arg::F64(x) => Value::F64(*x),
            Arg::F32(x) => Value::F32(*x),
            Arg::Bool(x) => Value::Bool(*x),
            Arg::Char(x) => Value::Char(*x),
            Arg::Str(x) => Value::Str(x),
            Arg::U128(x) => Value::U128(*x),
            Arg::I128(x) => Value::I128(*x),
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    fn arr<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        let src = self.take(N);
        a[..src.len()].copy_from_slice(src);
        a
    }
}

pub fn parse(data: &[u8]) -> (String, Vec<Arg>) {
    let mut r = Reader(data);
    let fmt_len = usize::from(u16::from_le_bytes(r.arr()));
    let fmt = String::from_utf8_lossy(r.take(fmt_len)).into_owned();
    let mut args = Vec::new();
    while args.len() < MAX_ARGS {
        let Some(tag) = r.byte() else { break };
        args.push(match tag % 9 {
            0 => Arg::U64(u64::from_le_bytes(r.arr())),
            1 => Arg::I64(i64::from_le_bytes(r.arr())),
            2 => Arg::F64(f64::from_le_bytes(r.arr())),
            3 => Arg::F32(f32::from_le_bytes(r.arr())),
            4 => Arg::Bool(r.byte().unwrap_or(0) & 1 == 1),
            5 => Arg::Char(
                char::from_u32(u32::from_le_bytes(r.arr()) % 0x11_0000)
                    .unwrap_or(char::REPLACEMENT_CHARACTER),
            ),
            6 => {
                let n = usize::from(r.byte().unwrap_or(0));
                Arg::Str(String::from_utf8_lossy(r.take(n)).into_owned())
            }
            7 => Arg::U128(u128::from_le_bytes(r.arr())),
            _ => Arg::I128(i128::from_le_bytes(r.arr())),
        });
    }
    (fmt, args)
}

/// The input that [`parse`] reads back as `fmt` and `args` (strings
/// must be at most 255 bytes; chars other than U+FFFD come back as
/// they are).
pub fn encode(fmt: &[u8], args: &[Arg]) -> Vec<u8> {
    let n = u16::try_from(fmt.len()).expect("format string too long");
    let mut v = n.to_le_bytes().to_vec();
    v.extend_from_slice(fmt);
    for a in args {
        match a {
            Arg::U64(x) => {
                v.push(0);
                v.extend_from_slice(&x.to_le_bytes());
            }
            Arg::I64(x) => {
                v.push(1);
                v.extend_from_slice(&x.to_le_bytes());
            }
            Arg::F64(x) => {
                v.push(2);
                v.extend_from_slice(&x.to_le_bytes());
            }
            Arg::F32(x) => {
                v.push(3);
                v.extend_from_slice(&x.to_le_bytes());
            }
            Arg::Bool(x) => v.extend_from_slice(&[4, u8::from(*x)]),
            Arg::Char(x) => {
                v.push(5);
                v.extend_from_slice(&u32::from(*x).to_le_bytes());
            }
            Arg::Str(s) => {
                let n = u8::try_from(s.len()).expect("string argument too long");
                v.extend_from_slice(&[6, n]);
                v.extend_from_slice(s.as_bytes());
            }
            Arg::U128(x) => {
                v.push(7);
                v.extend_from_slice(&x.to_le_bytes());
            }
            Arg::I128(x) => {
                v.push(8);
                v.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    v
}

/// Declares the placeholders of one trait family and a function that
/// applies one with `format!` (which needs it as a literal).
macro_rules! family {
    ($list:ident, $func:ident, [$($bound:path),+], [$($spec:literal),+ $(,)?]) => {
        pub const $list: &[&str] = &[$($spec),+];
        fn $func<T: $($bound +)+>(spec: &str, v: T) -> Option<String> {
            match spec {
                $($spec => Some(format!($spec, v)),)+
                _ => None,
            }
        }
    };
}

family!(
    DISPLAY,
    display_as,
    [Display],
    [
        "{}", "{:5}", "{:<5}", "{:>5}", "{:^5}", "{:*^7}", "{:é>4}", "{:.2}", "{:.0}", "{:+}",
        "{:05}", "{:>8.3}", "{:+08.1}",
    ]
);
family!(
    DEBUG,
    debug_as,
    [Debug],
    ["{:?}", "{:>6?}", "{:.1?}", "{:#?}", "{:08?}"]
);
family!(
    RADIX,
    radix_as,
    [LowerHex, UpperHex, Octal, std::fmt::Binary],
    ["{:x}", "{:#x}", "{:X}", "{:#010x}", "{:o}", "{:#b}", "{:+x}"]
);
family!(
    EXP,
    exp_as,
    [LowerExp, UpperExp],
    ["{:e}", "{:E}", "{:.3e}", "{:+e}", "{:012.2e}"]
);

/// `format!(spec, a)` for `a`'s own type; `None` if that type does not
/// implement the placeholder's trait (`format!` would not compile).
pub fn expect(spec: &str, a: &Arg) -> Option<String> {
    fn int<T>(spec: &str, x: T) -> Option<String>
    where
        T: Display
            + Debug
            + LowerHex
            + UpperHex
            + Octal
            + std::fmt::Binary
            + LowerExp
            + UpperExp
            + Copy,
    {
        display_as(spec, x)
            .or_else(|| debug_as(spec, x))
            .or_else(|| radix_as(spec, x))
            .or_else(|| exp_as(spec, x))
    }
    fn float<T: Display + Debug + LowerExp + UpperExp + Copy>(
        spec: &str,
        x: T,
    ) -> Option<String> {
        display_as(spec, x)
            .or_else(|| debug_as(spec, x))
            .or_else(|| exp_as(spec, x))
    }
    fn text<T: Display + Debug + Copy>(spec: &str, x: T) -> Option<String> {
        display_as(spec, x).or_else(|| debug_as(spec, x))
    }
    match a {
        Arg::U64(x) => int(spec, *x),
        Arg::I64(x) => int(spec, *x),
        Arg::U128(x) => int(spec, *x),
        Arg::I128(x) => int(spec, *x),
        Arg::F64(x) => float(spec, *x),
        Arg::F32(x) => float(spec, *x),
        Arg::Bool(x) => text(spec, *x),
        Arg::Char(x) => text(spec, *x),
        Arg::Str(x) => text(spec, x.as_str()),
    }
}

fn known(spec: &str) -> bool {
    [DISPLAY, DEBUG, RADIX, EXP]
        .iter()
        .any(|l| l.contains(&spec))
}

/// What `format_message` must give for `fmt` and `args`, built with
/// `format!`, when `fmt` is in the modelled subset: literal text, `{{`,
/// `}}`, and placeholders without a position drawn from the families
/// above, each applicable to its argument's type. Placeholders past the
/// last argument stay verbatim (`missing`); arguments past the last
/// placeholder are appended, each after a space, as `{}` (`extra`).
/// `None` for anything else.
pub fn expected(fmt: &str, args: &[Arg]) -> Option<(String, FormatOutcome)> {
    let b = fmt.as_bytes();
    let mut out = String::new();
    let mut outcome = FormatOutcome::default();
    let mut next = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' if b.get(i + 1) == Some(&b'{') => {
                out.push('{');
                i += 2;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => {
                out.push('}');
                i += 2;
            }
            b'{' => {
                let close = i + 1 + b[i + 1..].iter().position(|&c| c == b'}' || c == b'{')?;
                if b[close] != b'}' {
                    return None;
                }
                let spec = &fmt[i..=close];
                if !known(spec) {
                    return None;
                }
                match args.get(next) {
                    Some(a) => out.push_str(&expect(spec, a)?),
                    None => {
                        out.push_str(spec);
                        outcome.missing += 1;
                    }
                }
                next += 1;
                i = close + 1;
            }
            // A lone `}`: `format!` refuses it.
            b'}' => return None,
            _ => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'{' || c == b'}')
                    .map_or(b.len(), |p| i + p);
                out.push_str(&fmt[i..end]);
                i = end;
            }
        }
    }
    for a in args.iter().skip(next) {
        out.push(' ');
        out.push_str(&super::lines::display(&a.as_value()));
        outcome.extra += 1;
    }
    Some((out, outcome))
}

/// The `format_record` target's body.
pub fn run(data: &[u8]) {
    let (fmt, args) = parse(data);
    let values: Vec<Value<'_>> = args.iter().map(Arg::as_value).collect();
    let mut out = Vec::new();
    let outcome = format_message(&mut out, &fmt, values.iter().copied());
    let msg = String::from_utf8(out)
        .unwrap_or_else(|e| panic!("{fmt:?} with {args:?} gave bad UTF-8: {e}"));
    assert!(outcome.extra <= args.len(), "{outcome:?}");
    if let Some((want, want_outcome)) = expected(&fmt, &args) {
        assert_eq!(msg, want, "{fmt:?} with {args:?}");
        assert_eq!(outcome, want_outcome, "{fmt:?} with {args:?}");
    }
    // The writer's direct path, where it applies, gives the message
    // escaped for each output exactly as escaping it afterwards does.
    let parsed = ParsedFormat::new(&fmt);
    for esc in [Escape::Text, Escape::Json] {
        let mut direct = b"prefix ".to_vec();
        let mut scratch = Vec::new();
        let args_iter = values.iter().copied();
        if let Some(o) =
            parsed.format_escaped(&mut direct, args_iter, values.len(), esc, &mut scratch)
        {
            let mut want = b"prefix ".to_vec();
            esc.escape(&mut want, msg.as_bytes());
            assert_eq!(direct, want, "{esc:?}: {fmt:?} with {args:?}");
            assert_eq!(o, outcome, "{esc:?}: {fmt:?} with {args:?}");
        } else {
            assert_eq!(direct, b"prefix ", "declined but wrote: {fmt:?}");
        }
    }
    // A plan, where the format and the arguments allow one, writes the
    // message from the record's bytes exactly as the general path does.
    let owned: Vec<OwnedValue> = args.iter().map(Arg::to_owned_value).collect();
    let mut record = Vec::new();
    encode_record(&mut record, Default::default(), &owned);
    // A string that an output escapes is the general path's.
    let escaped = owned
        .iter()
        .any(|v| matches!(v, OwnedValue::Str(s) if !Escape::Json.is_plain(s.as_bytes())));
    if owned.len() <= 255 {
        if let Some(plan) = Plan::new(&parsed, &record) {
            assert_eq!(plan.fits(&record), !escaped, "{fmt:?} with {args:?}");
            if !escaped {
                let mut planned = Vec::new();
                plan.write(&mut planned, &record);
                assert_eq!(planned, msg.as_bytes(), "plan: {fmt:?} with {args:?}");
            }
        }
    }
    // The same for a compact record by its signature; the general
    // decoder reads it as the tagged one.
    let sig = signature_of(&owned);
    let mut compact = Vec::new();
    encode_compact(&mut compact, CompactHeader::default(), &owned);
    if let Ok(rec) = ul_ring::record::decode_with(&compact, Some(&sig)) {
        let got: Vec<Value<'_>> = rec.args.iter().collect();
        let mut again = Vec::new();
        format_message(&mut again, &fmt, got.iter().copied());
        assert_eq!(again, msg.as_bytes(), "compact: {fmt:?} with {args:?}");
    } else {
        assert!(compact.len() > ul_ring::record::MAX_RECORD_LEN, "{fmt:?} with {args:?}");
    }
    if let Some(plan) = Plan::compact(&parsed, &sig) {
        assert!(!plan.fits(&record), "a compact plan took a tagged record");
        assert_eq!(plan.fits(&compact), !escaped, "compact: {fmt:?} with {args:?}");
        if !escaped {
            let mut planned = Vec::new();
            plan.write(&mut planned, &compact);
            assert_eq!(planned, msg.as_bytes(), "compact plan: {fmt:?} with {args:?}");
        }
    }

    // A timestamp, level and ids that vary with the input.
    let h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let keys: Vec<String> = (0..values.len().min(32)).map(|i| format!("a{i}")).collect();
    let mut context = vec![("fmt", ContextValue::Str(&fmt))];
    context.extend(
        keys.iter()
            .zip(&values)
            .map(|(k, v)| (k.as_str(), ContextValue::Value(*v))),
    );
    let line = LineRecord {
        timestamp_ns: h,
        level: Level::ALL[(h % 5) as usize],
        source: "format_record",
        message: msg.as_bytes(),
        context: &context,
        location: None,
        pid: (h >> 32) as u32,
        tid: h as u32,
        seq: args.len() as u64,
        truncated: false,
    };
    super::lines::check(&mut TimestampFormatter::new(), &line);
}
