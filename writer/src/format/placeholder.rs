//! Rust format-string placeholders, filled from decoded arguments.
//!
//! Supported: `{}` and `{:?}`, positional `{0}`, escapes `{{` `}}`, and the
//! spec `[[fill]align][+][#][0][width][.precision][type]` with types `?`,
//! `x`, `X`, `o`, `b`, `e`, `E`. The output equals `format!` for the same
//! value type, with one documented difference: integers decode to 64 (or
//! 128) bits, so `{:x}` of a negative `i32` prints 64-bit two's complement.
//! A spec that does not parse is copied verbatim; a placeholder without an
//! argument is copied verbatim; arguments left over are appended after the
//! message, each preceded by a space.

use std::fmt::Write as _;

use ul_ring::args::Value;

/// What [`format_message`] noticed besides the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FormatOutcome {
    /// Placeholders that had no argument (copied verbatim).
    pub missing: usize,
    /// Arguments with no placeholder (appended after the message).
    pub extra: usize,
    /// Placeholders whose spec did not parse (copied verbatim).
    pub bad_specs: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Align {
    Left,
    Right,
    Center,
}

#[derive(Clone, Copy, Debug, Default)]
struct Spec {
    fill: Option<char>,
    align: Option<Align>,
    plus: bool,
    alt: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
    ty: u8, // 0 Display, b'?', b'x', b'X', b'o', b'b', b'e', b'E'
}

fn parse_spec(s: &str) -> Option<Spec> {
    let mut spec = Spec::default();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let align_of = |c: char| match c {
        '<' => Some(Align::Left),
        '>' => Some(Align::Right),
        '^' => Some(Align::Center),
        _ => None,
    };
    if chars.len() >= 2 && align_of(chars[1]).is_some() {
        spec.fill = Some(chars[0]);
        spec.align = align_of(chars[1]);
        i = 2;
    } else if let Some(a) = chars.first().and_then(|&c| align_of(c)) {
        spec.align = Some(a);
        i = 1;
    }
    if chars.get(i) == Some(&'+') {
        spec.plus = true;
        i += 1;
    }
    if chars.get(i) == Some(&'#') {
        spec.alt = true;
        i += 1;
    }
    if chars.get(i) == Some(&'0') {
        spec.zero = true;
        i += 1;
    }
    let num = |i: &mut usize| -> Option<usize> {
        let start = *i;
        while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        chars[start..*i].iter().collect::<String>().parse().ok()
    };
    spec.width = num(&mut i);
    if chars.get(i) == Some(&'.') {
        i += 1;
        spec.precision = Some(num(&mut i)?);
    }
    match chars.get(i) {
        None => {}
        Some(&c) if "?xXobeE".contains(c) => {
            spec.ty = c as u8;
            i += 1;
        }
        Some(_) => return None,
    }
    if i != chars.len() {
        return None;
    }
    Some(spec)
}

/// Appends the message: `fmt` with its placeholders filled from `args`.
///
/// ```
/// use ul_ring::args::Value;
/// let mut out = Vec::new();
/// let args = [Value::U64(1), Value::I64(-2), Value::F64(0.5)];
/// ul_writer::format::format_message(&mut out, "int: {}, int: {:>4}, double: {:.2}", args.into_iter());
/// assert_eq!(out, b"int: 1, int:   -2, double: 0.50");
/// ```
pub fn format_message<'a>(
    out: &mut Vec<u8>,
    fmt: &str,
    args: impl Iterator<Item = Value<'a>>,
) -> FormatOutcome {
    let args: smallvec_lite::Args<'a> = smallvec_lite::Args::collect(args);
    let mut outcome = FormatOutcome::default();
    let mut next = 0usize;
    // Bit n set: argument n was used (arguments past 128 count as used).
    let mut used: u128 = 0;
    let bytes = fmt.as_bytes();
    let mut i = 0;
    let mut lit_start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                out.extend_from_slice(&bytes[lit_start..i + 1]);
                i += 2;
                lit_start = i;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                out.extend_from_slice(&bytes[lit_start..i + 1]);
                i += 2;
                lit_start = i;
            }
            b'{' => {
                out.extend_from_slice(&bytes[lit_start..i]);
                let Some(close) = fmt[i + 1..].find('}').map(|c| i + 1 + c) else {
                    // Unclosed: copy the rest verbatim.
                    outcome.bad_specs += 1;
                    lit_start = i;
                    break;
                };
                let inner = &fmt[i + 1..close];
                let (pos, spec) = match inner.split_once(':') {
                    Some((p, s)) => (p, s),
                    None => (inner, ""),
                };
                let index = if pos.is_empty() {
                    let n = next;
                    next += 1;
                    Some(n)
                } else {
                    pos.parse::<usize>().ok()
                };
                let parsed = parse_spec(spec);
                match (index, parsed) {
                    (Some(n), Some(spec)) if n < args.len() => {
                        if n < 128 {
                            used |= 1 << n;
                        }
                        write_value(out, args.get(n), &spec);
                    }
                    (Some(_), Some(_)) => {
                        outcome.missing += 1;
                        out.extend_from_slice(&bytes[i..close + 1]);
                    }
                    _ => {
                        outcome.bad_specs += 1;
                        out.extend_from_slice(&bytes[i..close + 1]);
                    }
                }
                i = close + 1;
                lit_start = i;
            }
            _ => i += 1,
        }
    }
    out.extend_from_slice(&bytes[lit_start.min(bytes.len())..]);
    for n in 0..args.len().min(128) {
        if used & (1 << n) == 0 {
            outcome.extra += 1;
            out.push(b' ');
            write_display(out, &args.get(n));
        }
    }
    outcome
}

/// Appends `v` as `{}` would.
///
/// ```
/// let mut out = Vec::new();
/// ul_writer::format::write_display(&mut out, &ul_ring::args::Value::F32(0.1));
/// assert_eq!(out, b"0.1");
/// ```
#[inline]
pub fn write_display(out: &mut Vec<u8>, v: &Value<'_>) {
    match *v {
        Value::U64(x) => out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes()),
        Value::I64(x) => out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes()),
        Value::U128(x) => out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes()),
        Value::I128(x) => out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes()),
        Value::F32(x) => {
            let _ = std::io::Write::write_fmt(out, format_args!("{x}"));
        }
        Value::F64(x) => {
            let _ = std::io::Write::write_fmt(out, format_args!("{x}"));
        }
        Value::Bool(x) => out.extend_from_slice(if x { b"true" } else { b"false" }),
        Value::Char(c) => {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
        Value::Str(s) => out.extend_from_slice(s.as_bytes()),
    }
}

/// True for values that pad like numbers (right-aligned, sign-aware zeros).
fn numeric(v: &Value<'_>) -> bool {
    !matches!(v, Value::Str(_) | Value::Bool(_) | Value::Char(_))
}

macro_rules! float_core {
    ($x:expr, $spec:expr, $s:expr) => {{
        let x = $x;
        let spec = $spec;
        let s: &mut String = $s;
        let _ = match (spec.ty, spec.plus, spec.precision) {
            (b'?', false, None) => write!(s, "{x:?}"),
            (b'?', true, None) => write!(s, "{x:+?}"),
            (b'?', false, Some(p)) => write!(s, "{x:.p$?}"),
            (b'?', true, Some(p)) => write!(s, "{x:+.p$?}"),
            (b'e', false, None) => write!(s, "{x:e}"),
            (b'e', true, None) => write!(s, "{x:+e}"),
            (b'e', false, Some(p)) => write!(s, "{x:.p$e}"),
            (b'e', true, Some(p)) => write!(s, "{x:+.p$e}"),
            (b'E', false, None) => write!(s, "{x:E}"),
            (b'E', true, None) => write!(s, "{x:+E}"),
            (b'E', false, Some(p)) => write!(s, "{x:.p$E}"),
            (b'E', true, Some(p)) => write!(s, "{x:+.p$E}"),
            (_, false, None) => write!(s, "{x}"),
            (_, true, None) => write!(s, "{x:+}"),
            (_, false, Some(p)) => write!(s, "{x:.p$}"),
            (_, true, Some(p)) => write!(s, "{x:+.p$}"),
        };
    }};
}

macro_rules! int_core {
    ($x:expr, $spec:expr, $s:expr) => {{
        let x = $x;
        let spec = $spec;
        let s: &mut String = $s;
        let _ = match (spec.ty, spec.alt) {
            (b'x', false) => write!(s, "{x:x}"),
            (b'x', true) => write!(s, "{x:#x}"),
            (b'X', false) => write!(s, "{x:X}"),
            (b'X', true) => write!(s, "{x:#X}"),
            (b'o', false) => write!(s, "{x:o}"),
            (b'o', true) => write!(s, "{x:#o}"),
            (b'b', false) => write!(s, "{x:b}"),
            (b'b', true) => write!(s, "{x:#b}"),
            (b'e', _) => write!(s, "{x:e}"),
            (b'E', _) => write!(s, "{x:E}"),
            _ => {
                if spec.plus {
                    write!(s, "{x:+}")
                } else {
                    write!(s, "{x}")
                }
            }
        };
    }};
}

/// Appends `v` formatted by `spec`.
fn write_value(out: &mut Vec<u8>, v: Value<'_>, spec: &Spec) {
    // Fast path: plain `{}`.
    if spec.ty == 0
        && spec.width.is_none()
        && spec.precision.is_none()
        && !spec.plus
        && !spec.alt
        && !spec.zero
    {
        write_display(out, &v);
        return;
    }
    let mut core = String::new();
    match v {
        Value::U64(x) => int_core!(x, spec, &mut core),
        Value::I64(x) => int_core!(x, spec, &mut core),
        Value::U128(x) => int_core!(x, spec, &mut core),
        Value::I128(x) => int_core!(x, spec, &mut core),
        Value::F32(x) => float_core!(x, spec, &mut core),
        Value::F64(x) => float_core!(x, spec, &mut core),
        Value::Bool(x) => {
            let _ = if spec.ty == b'?' {
                write!(core, "{x:?}")
            } else {
                write!(core, "{x}")
            };
        }
        Value::Char(c) => {
            let _ = if spec.ty == b'?' {
                write!(core, "{c:?}")
            } else {
                write!(core, "{c}")
            };
        }
        Value::Str(s) => {
            if spec.ty == b'?' {
                let _ = write!(core, "{s:?}");
            } else if let Some(p) = spec.precision {
                core.extend(s.chars().take(p));
            } else {
                core.push_str(s);
            }
        }
    }
    pad(out, &core, spec, numeric(&v));
}

fn pad(out: &mut Vec<u8>, core: &str, spec: &Spec, numeric: bool) {
    let len = core.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.extend_from_slice(core.as_bytes());
        return;
    }
    let fill_n = width - len;
    if spec.zero && numeric {
        // Zeros go after the sign and the radix prefix.
        let mut split = 0;
        let b = core.as_bytes();
        if matches!(b.first(), Some(b'+' | b'-')) {
            split = 1;
        }
        if b.len() >= split + 2
            && b[split] == b'0'
            && matches!(b[split + 1], b'x' | b'X' | b'o' | b'b')
        {
            split += 2;
        }
        out.extend_from_slice(&b[..split]);
        out.resize(out.len() + fill_n, b'0');
        out.extend_from_slice(&b[split..]);
        return;
    }
    let fill = spec.fill.unwrap_or(' ');
    let mut fb = [0u8; 4];
    let fill = fill.encode_utf8(&mut fb).as_bytes();
    let align = spec
        .align
        .unwrap_or(if numeric { Align::Right } else { Align::Left });
    let (pre, post) = match align {
        Align::Left => (0, fill_n),
        Align::Right => (fill_n, 0),
        Align::Center => (fill_n / 2, fill_n - fill_n / 2),
    };
    for _ in 0..pre {
        out.extend_from_slice(fill);
    }
    out.extend_from_slice(core.as_bytes());
    for _ in 0..post {
        out.extend_from_slice(fill);
    }
}

/// A small on-stack list of arguments (most messages have few).
mod smallvec_lite {
    use ul_ring::args::Value;

    const INLINE: usize = 16;

    // Kept on the stack on purpose: the point is to avoid a heap
    // allocation per message.
    #[allow(clippy::large_enum_variant)]
    pub enum Args<'a> {
        Inline([Value<'a>; INLINE], usize),
        Heap(Vec<Value<'a>>),
    }

    impl<'a> Args<'a> {
        pub fn collect(it: impl Iterator<Item = Value<'a>>) -> Self {
            let mut arr = [Value::Bool(false); INLINE];
            let mut n = 0;
            let mut it = it.peekable();
            while let Some(v) = it.next() {
                if n == INLINE {
                    let mut v2 = arr.to_vec();
                    v2.push(v);
                    v2.extend(it);
                    return Args::Heap(v2);
                }
                arr[n] = v;
                n += 1;
            }
            Args::Inline(arr, n)
        }
        pub fn len(&self) -> usize {
            match self {
                Args::Inline(_, n) => *n,
                Args::Heap(v) => v.len(),
            }
        }
        pub fn get(&self, i: usize) -> Value<'a> {
            match self {
                Args::Inline(a, _) => a[i],
                Args::Heap(v) => v[i],
            }
        }
    }
}
