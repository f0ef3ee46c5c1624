//! Rust format-string placeholders, filled from decoded arguments.
//!
//! Supported: `{}` and `{:?}`, positional `{0}`, escapes `{{` `}}`, and the
//! spec `[[fill]align][+|-][#][0][width][.precision][type]` with types `?`,
//! `x`, `X`, `o`, `b`, `e`, `E`. The output equals `format!` for the same
//! value type, including its quirks: `{:?}` of a `str` or `char` ignores
//! width and precision, precision truncates `str`, `bool` and `char` under
//! `{}`, the `0` flag pads numbers after their sign and radix prefix and is
//! ignored by text.
//!
//! Differences from `format!`, all documented:
//!
//! - Integers decode to 64 (or 128) bits, so `{:x}` of a negative `i32`
//!   prints the 64-bit two's complement (`ffffffffffffffff`, not `ffffffff`).
//! - Width and precision above [`MAX_WIDTH`] are refused (the placeholder is
//!   copied verbatim): format strings come from shared memory and must not
//!   make one message arbitrarily large.
//! - What `format!` rejects at compile time is handled at run time:
//!   a placeholder without an argument, or whose spec does not parse
//!   (`{name}`, `{:*}`, `{:x?}`, an unclosed `{`), is copied verbatim; a type
//!   that does not fit the value (`{:x}` of a float or string) is ignored and
//!   the value formatted as `{}` with the same fill, width and flags;
//!   arguments no placeholder used are appended after the message, each
//!   preceded by a space. [`FormatOutcome`] counts each of these.

use super::put::put;
use std::fmt::{Binary, Debug, Display, LowerExp, LowerHex, Octal, UpperExp, UpperHex};
use std::io::Write as _;

use ul_ring::args::Value;

use super::line::Escape;

/// Largest width or precision a placeholder may ask for.
///
/// A larger one (`{:100000}`) makes the spec invalid, so the placeholder is
/// copied verbatim. (`format!` itself stops at `u16::MAX`.)
///
/// ```
/// use ul_ring::args::Value;
/// use ul_writer::internals::format::{format_message, MAX_WIDTH};
/// let mut out = Vec::new();
/// let fmt = format!("{{:{}}}", MAX_WIDTH + 1);
/// let outcome = format_message(&mut out, &fmt, [Value::U64(1)].into_iter());
/// assert_eq!(outcome.bad_specs, 1);
/// ```
pub const MAX_WIDTH: usize = 4096;

/// What [`format_message`] noticed besides the output. All zero when the
/// format string and the arguments matched.
///
/// ```
/// use ul_ring::args::Value;
/// use ul_writer::internals::format::{format_message, FormatOutcome};
/// let mut out = Vec::new();
/// let o = format_message(&mut out, "{} {}", [Value::U64(1)].into_iter());
/// assert_eq!(o, FormatOutcome { missing: 1, ..Default::default() });
/// assert!(!o.is_clean());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FormatOutcome {
    /// Placeholders that had no argument (copied verbatim).
    pub missing: usize,
    /// Arguments with no placeholder (appended after the message).
    pub extra: usize,
    /// Placeholders whose spec did not parse, and stray `{` (copied
    /// verbatim).
    pub bad_specs: usize,
    /// Placeholders whose type does not apply to the argument (`{:x}` of a
    /// string): the argument was formatted as `{}` with the other flags.
    pub mismatched: usize,
}

impl FormatOutcome {
    /// True when every placeholder had an argument of a fitting type and
    /// every argument was used.
    ///
    /// ```
    /// assert!(ul_writer::internals::format::FormatOutcome::default().is_clean());
    /// ```
    pub fn is_clean(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Align {
    Left,
    Right,
    Center,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Display,
    Debug,
    LowerHex,
    UpperHex,
    Octal,
    Binary,
    LowerExp,
    UpperExp,
}

impl Ty {
    fn radix(self) -> bool {
        matches!(self, Ty::LowerHex | Ty::UpperHex | Ty::Octal | Ty::Binary)
    }
}

#[derive(Clone, Copy, Debug)]
struct Spec {
    fill: char,
    align: Option<Align>,
    plus: bool,
    alt: bool,
    zero: bool,
    /// 0 when absent (a width of 0 pads nothing either way).
    width: usize,
    precision: Option<usize>,
    ty: Ty,
}

impl Spec {
    const PLAIN: Spec = Spec {
        fill: ' ',
        align: None,
        plus: false,
        alt: false,
        zero: false,
        width: 0,
        precision: None,
        ty: Ty::Display,
    };

    /// `{}`: nothing but Display.
    fn is_plain(&self) -> bool {
        self.ty == Ty::Display
            && self.width == 0
            && self.precision.is_none()
            && !self.plus
            && !self.alt
            && !self.zero
    }
}

/// Parses the part after `:`; `None` if it is not in the supported grammar.
fn parse_spec(s: &str) -> Option<Spec> {
    let mut spec = Spec::PLAIN;
    if s.is_empty() {
        return Some(spec);
    }
    let align_of = |c: char| match c {
        '<' => Some(Align::Left),
        '>' => Some(Align::Right),
        '^' => Some(Align::Center),
        _ => None,
    };
    let mut chars = s.chars();
    let c0 = chars.next();
    let c1 = chars.next();
    let mut rest = s;
    if let (Some(fill), Some(align)) = (c0, c1.and_then(align_of)) {
        spec.fill = fill;
        spec.align = Some(align);
        rest = &s[fill.len_utf8() + 1..];
    } else if let Some(align) = c0.and_then(align_of) {
        spec.align = Some(align);
        rest = &s[1..];
    }
    // Everything after fill and alignment is ASCII.
    let b = rest.as_bytes();
    let mut i = 0;
    match b.first() {
        Some(b'+') => {
            spec.plus = true;
            i += 1;
        }
        // `-` is accepted and, as in std, does nothing.
        Some(b'-') => i += 1,
        _ => {}
    }
    if b.get(i) == Some(&b'#') {
        spec.alt = true;
        i += 1;
    }
    if b.get(i) == Some(&b'0') {
        spec.zero = true;
        i += 1;
    }
    let number = |i: &mut usize| -> Option<Option<usize>> {
        let start = *i;
        let mut n = 0usize;
        while let Some(d) = b.get(*i).filter(|d| d.is_ascii_digit()) {
            n = n * 10 + usize::from(d - b'0');
            if n > MAX_WIDTH {
                return None;
            }
            *i += 1;
        }
        Some((*i > start).then_some(n))
    };
    spec.width = number(&mut i)?.unwrap_or(0);
    if b.get(i) == Some(&b'.') {
        i += 1;
        spec.precision = Some(number(&mut i)??);
    }
    spec.ty = match &b[i..] {
        b"" => Ty::Display,
        b"?" => Ty::Debug,
        b"x" => Ty::LowerHex,
        b"X" => Ty::UpperHex,
        b"o" => Ty::Octal,
        b"b" => Ty::Binary,
        b"e" => Ty::LowerExp,
        b"E" => Ty::UpperExp,
        _ => return None,
    };
    Some(spec)
}

/// Which arguments a placeholder has used.
struct Used {
    small: u128,
    /// Only for messages with more than 128 arguments.
    big: Vec<bool>,
}

impl Used {
    fn new(n: usize) -> Self {
        Used {
            small: 0,
            big: if n > 128 { vec![false; n] } else { Vec::new() },
        }
    }
    fn set(&mut self, i: usize) {
        if i < 128 {
            self.small |= 1 << i;
        } else if let Some(b) = self.big.get_mut(i) {
            *b = true;
        }
    }
    fn get(&self, i: usize) -> bool {
        if i < 128 {
            self.small & (1 << i) != 0
        } else {
            self.big.get(i).copied().unwrap_or(false)
        }
    }
}

/// Which argument a placeholder names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Index {
    /// `{}` or `{:spec}`: the next argument in order.
    Next,
    /// `{3}`: that argument.
    At(usize),
    /// Not an index (`{name}`, `{ 0}`, a number that overflows).
    Bad,
}

/// One piece of a parsed format string.
#[derive(Clone, Copy, Debug)]
enum Piece {
    /// Literal bytes `fmt[start..end]`, copied as they are.
    Lit(usize, usize),
    /// `{}` at `fmt[start..start + 2]`: the next argument as Display.
    Next(usize),
    /// A placeholder `fmt[start..end]` (braces included): its index and
    /// its spec (`None`: the spec does not parse).
    Arg {
        index: Index,
        spec: Option<Spec>,
        start: usize,
        end: usize,
    },
}

/// A format string split once into literal text and placeholders, so that
/// formatting a record does not scan the string again.
///
/// The writer keeps one per call site; [`ParsedFormat::format`] then gives
/// exactly what [`format_message`] gives for the same string.
///
/// ```
/// use ul_ring::args::Value;
/// use ul_writer::internals::format::ParsedFormat;
/// let f = ParsedFormat::new("int: {}, hex: {:#x} {{ok}}");
/// let mut out = Vec::new();
/// let o = f.format(&mut out, [Value::U64(1), Value::U64(255)].into_iter(), 2);
/// assert_eq!(out, b"int: 1, hex: 0xff {ok}");
/// assert!(o.is_clean());
/// ```
#[derive(Clone, Debug)]
pub struct ParsedFormat {
    fmt: String,
    pieces: Vec<Piece>,
    /// Stray `{` that no `}` closes (literal text, each counted as a bad
    /// spec every time).
    stray: usize,
    /// `Some(n)`: the placeholders are exactly `n` in-order `{}`/`{:spec}`
    /// with valid specs and no positional index, so `n` arguments can be
    /// written as they are decoded, without collecting them first.
    sequential: Option<usize>,
    /// The whole format string (literals and specs, fill characters
    /// included) needs no text escaping, or no JSON escaping.
    plain: [bool; 2],
    /// What [`output_bound`](Self::output_bound) adds to every message
    /// whatever its arguments: the format string escaped, and each spec's
    /// widest padding and longest precision.
    fixed_bound: usize,
    /// Placeholders, plus one for the arguments no placeholder names
    /// (appended after the message): how often one argument can be
    /// written at most.
    arg_uses: usize,
}

/// Most bytes one byte of an encoded argument can become in a message,
/// escaping included, for a record not decoded yet: an `f64` (8 bytes and
/// a tag) is at most 330 characters as `Display` (the smallest subnormal,
/// written out); a string byte at most 7 (`Debug`'s `\u{1f}`, its
/// backslash escaped again for JSON); integers, bools and chars less.
pub const ARG_BYTE_BOUND: usize = 40;

/// Most bytes `v` can become as one placeholder's value or one context
/// value, escaping included, with no width or precision (those are in
/// [`ParsedFormat::output_bound`]'s share of the format string).
///
/// ```
/// use ul_ring::args::Value;
/// use ul_writer::internals::format::value_bound;
/// let x = f64::MIN_POSITIVE / 4.0;
/// assert!(format!("{x}").len() <= value_bound(&Value::F64(x)));
/// assert!(format!("{:#b}", u128::MAX).len() <= value_bound(&Value::U128(u128::MAX)));
/// assert!(format!("{:?}", "\u{1}").len() + 2 <= value_bound(&Value::Str("\u{1}")));
/// ```
pub fn value_bound(v: &Value<'_>) -> usize {
    match v {
        Value::Str(s) | Value::Text(s) => 7 * s.len() + 4,
        // The kept bytes and the cut mark (`…[+N bytes]`).
        Value::Cut { kept, .. } => 7 * kept.len() + 48,
        Value::Char(_) => 16,
        Value::Bool(_) => 8,
        // `{:#b}`: `0b` and 64 or 128 digits, or a sign and fewer.
        Value::U64(_) | Value::I64(_) => 72,
        Value::U128(_) | Value::I128(_) => 136,
        // `Display` writes every digit: at most 47 for an f32, 326 for
        // an f64 (the smallest subnormals), and a sign.
        Value::F32(_) => 64,
        Value::F64(_) => 340,
    }
}

/// Most bytes one character of a format string can become: a control
/// character escaped as `\u{1f}` (text) or `\u001f` (JSON).
pub const ESCAPE_BOUND: usize = 6;

impl ParsedFormat {
    /// Splits `fmt` into literal text and placeholders. Never fails: what
    /// does not parse is kept to be copied verbatim, as [`format_message`]
    /// documents.
    ///
    /// ```
    /// let f = ul_writer::internals::format::ParsedFormat::new("a {} b {:>4}");
    /// assert_eq!(f.as_str(), "a {} b {:>4}");
    /// ```
    pub fn new(fmt: &str) -> Self {
        let bytes = fmt.as_bytes();
        let mut pieces = Vec::new();
        let mut stray = 0;
        let lit = |pieces: &mut Vec<Piece>, a: usize, b: usize| {
            if a < b {
                // Merge with a literal just before (after `{{` or a stray
                // `{`), so the common case copies one slice.
                if let Some(Piece::Lit(_, end)) = pieces.last_mut() {
                    if *end == a {
                        *end = b;
                        return;
                    }
                }
                pieces.push(Piece::Lit(a, b));
            }
        };
        let mut i = 0;
        let mut lit_start = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    lit(&mut pieces, lit_start, i + 1);
                    i += 2;
                    lit_start = i;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    lit(&mut pieces, lit_start, i + 1);
                    i += 2;
                    lit_start = i;
                }
                b'{' if bytes.get(i + 1) == Some(&b'}') => {
                    lit(&mut pieces, lit_start, i);
                    pieces.push(Piece::Next(i));
                    i += 2;
                    lit_start = i;
                }
                b'{' => {
                    let end = bytes[i + 1..]
                        .iter()
                        .position(|&b| b == b'}' || b == b'{')
                        .map(|p| i + 1 + p);
                    let close = match end {
                        Some(close) if bytes[close] == b'}' => close,
                        _ => {
                            // A `{` that no `}` closes: literal text.
                            stray += 1;
                            i += 1;
                            continue;
                        }
                    };
                    lit(&mut pieces, lit_start, i);
                    let inner = &fmt[i + 1..close];
                    let (pos, spec) = inner.split_once(':').unwrap_or((inner, ""));
                    let index = if pos.is_empty() {
                        Index::Next
                    } else if pos.bytes().all(|b| b.is_ascii_digit()) {
                        pos.parse::<usize>().map_or(Index::Bad, Index::At)
                    } else {
                        Index::Bad
                    };
                    pieces.push(Piece::Arg {
                        index,
                        spec: parse_spec(spec),
                        start: i,
                        end: close + 1,
                    });
                    i = close + 1;
                    lit_start = i;
                }
                // Literal text: jump to the next brace.
                // (A lone `}` is literal too: step over it.)
                _ => {
                    i += 1 + bytes[i + 1..]
                        .iter()
                        .position(|&b| b == b'{' || b == b'}')
                        .unwrap_or(bytes.len() - i - 1);
                }
            }
        }
        lit(&mut pieces, lit_start, bytes.len());
        let sequential = (stray == 0
            && pieces.iter().all(|p| match p {
                Piece::Lit(..) | Piece::Next(_) => true,
                Piece::Arg { index, spec, .. } => *index == Index::Next && spec.is_some(),
            }))
        .then(|| {
            pieces
                .iter()
                .filter(|p| !matches!(p, Piece::Lit(..)))
                .count()
        });
        let placeholders = pieces
            .iter()
            .filter(|p| !matches!(p, Piece::Lit(..)))
            .count();
        // A fill character is at most 4 bytes, escaped at most 10
        // (`\u{10ffff}`); a precision adds at most that many digits.
        let padding: usize = pieces
            .iter()
            .map(|p| match p {
                Piece::Arg {
                    spec: Some(spec), ..
                } => 10 * spec.width + spec.precision.unwrap_or(0) + 8,
                _ => 0,
            })
            .sum();
        ParsedFormat {
            fmt: fmt.to_owned(),
            pieces,
            stray,
            sequential,
            plain: [Escape::Text.is_plain(bytes), Escape::Json.is_plain(bytes)],
            fixed_bound: ESCAPE_BOUND * fmt.len() + padding,
            arg_uses: placeholders + 1,
        }
    }

    /// Most bytes a message of this format can take in either output,
    /// escaped, for `nargs` arguments that take at most `args` bytes each
    /// time they are written (the sum of their [`value_bound`]s): every
    /// literal and placeholder text escaped, each placeholder's padding
    /// and precision, and every argument once if the placeholders take
    /// them in order, else as many times as placeholders may name it plus
    /// once (arguments no placeholder names are appended). A bound, not an
    /// estimate: the writer makes this much room before it formats a
    /// record.
    ///
    /// ```
    /// use ul_ring::args::Value;
    /// use ul_writer::internals::format::{value_bound, Escape, ParsedFormat};
    /// let f = ParsedFormat::new("{0} {0:>30} {1:?}");
    /// let args = [Value::F64(f64::MIN_POSITIVE / 4.0), Value::Str("\u{1}")];
    /// let mut out = Vec::new();
    /// f.format(&mut out, args.into_iter(), 2);
    /// let mut escaped = Vec::new();
    /// Escape::Json.escape(&mut escaped, &out);
    /// let bound: usize = args.iter().map(value_bound).sum();
    /// assert!(escaped.len() <= f.output_bound(bound, 2));
    /// ```
    pub fn output_bound(&self, args: usize, nargs: usize) -> usize {
        let uses = if self.sequential == Some(nargs) {
            1
        } else {
            self.arg_uses
        };
        self.fixed_bound.saturating_add(uses.saturating_mul(args))
    }

    /// The format string.
    ///
    /// ```
    /// assert_eq!(ul_writer::internals::format::ParsedFormat::new("{}").as_str(), "{}");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.fmt
    }

    /// Appends the message with its placeholders filled from `args`, which
    /// yields `nargs` values; the same output and outcome as
    /// [`format_message`] with this format string.
    ///
    /// ```
    /// use ul_ring::args::Value;
    /// let f = ul_writer::internals::format::ParsedFormat::new("{} {}");
    /// let mut out = Vec::new();
    /// let o = f.format(&mut out, [Value::U64(1)].into_iter(), 1);
    /// assert_eq!(out, b"1 {}");
    /// assert_eq!(o.missing, 1);
    /// ```
    pub fn format<'a>(
        &self,
        out: &mut Vec<u8>,
        args: impl Iterator<Item = Value<'a>>,
        nargs: usize,
    ) -> FormatOutcome {
        if self.sequential == Some(nargs) {
            self.format_in_order(out, args, None)
        } else {
            self.format_any(out, args)
        }
    }

    /// Appends the message escaped by `esc`, formatted straight into `out`
    /// (no staging copy, no escape pass over text that cannot need it);
    /// `None`, with nothing written, unless this is the common case: every
    /// argument used once, in order, and a format string that needs no
    /// escaping. `scratch` holds an argument's text while it is escaped.
    ///
    /// Only strings and chars are checked after they are written (and,
    /// rarely, escaped in place); numbers and booleans never need it.
    ///
    /// ```
    /// use ul_ring::args::Value;
    /// use ul_writer::internals::format::{Escape, ParsedFormat};
    /// let f = ParsedFormat::new("user {} said {}");
    /// let mut out = Vec::new();
    /// let args = [Value::U64(7), Value::Str("\"hi\"")];
    /// f.format_escaped(&mut out, args.into_iter(), 2, Escape::Json, &mut Vec::new()).unwrap();
    /// assert_eq!(out, br#"user 7 said \"hi\""#);
    /// assert!(ParsedFormat::new("{0}").format_escaped(&mut out, args.into_iter(), 1, Escape::Json, &mut Vec::new()).is_none());
    /// ```
    #[inline]
    pub fn format_escaped<'a>(
        &self,
        out: &mut Vec<u8>,
        args: impl Iterator<Item = Value<'a>>,
        nargs: usize,
        esc: Escape,
        scratch: &mut Vec<u8>,
    ) -> Option<FormatOutcome> {
        let plain = match esc {
            Escape::Text => self.plain[0],
            Escape::Json => self.plain[1],
        };
        if !plain || self.sequential != Some(nargs) {
            return None;
        }
        Some(self.format_in_order(out, args, Some((esc, scratch))))
    }

    /// The literal text around the placeholders (`n + 1` pieces, some
    /// empty, for `n` placeholders), if every placeholder is a plain `{}`
    /// and the string needs no escaping in either output: what a
    /// [`Plan`](super::Plan) is made of.
    pub(crate) fn plain_literals(&self) -> Option<Vec<Vec<u8>>> {
        if self.sequential.is_none() || self.stray != 0 || self.plain != [true, true] {
            return None;
        }
        let bytes = self.fmt.as_bytes();
        let mut lits = vec![Vec::new()];
        for p in &self.pieces {
            match *p {
                // Pieces on either side of a `{{` are separate literals.
                Piece::Lit(a, b) => lits
                    .last_mut()
                    .expect("never empty")
                    .extend_from_slice(&bytes[a..b]),
                Piece::Next(_) => lits.push(Vec::new()),
                Piece::Arg { .. } => return None,
            }
        }
        Some(lits)
    }

    /// The common case: every argument used once, in order.
    ///
    /// With `escape`, each string or char argument is escaped in place
    /// after it is written (see [`ParsedFormat::format_escaped`]).
    #[inline]
    fn format_in_order<'a>(
        &self,
        out: &mut Vec<u8>,
        mut args: impl Iterator<Item = Value<'a>>,
        mut escape: Option<(Escape, &mut Vec<u8>)>,
    ) -> FormatOutcome {
        let bytes = self.fmt.as_bytes();
        let mut outcome = FormatOutcome::default();
        for p in &self.pieces {
            match *p {
                Piece::Lit(a, b) => put(out, &bytes[a..b]),
                Piece::Next(start) => match args.next() {
                    Some(v) => {
                        let at = out.len();
                        write_display(out, &v);
                        escape_arg(out, at, &v, &mut escape);
                    }
                    None => {
                        outcome.missing += 1;
                        put(out, &bytes[start..start + 2]);
                    }
                },
                Piece::Arg {
                    spec, start, end, ..
                } => match (args.next(), spec) {
                    (Some(v), Some(spec)) => {
                        let at = out.len();
                        if !write_value(out, v, &spec) {
                            outcome.mismatched += 1;
                        }
                        escape_arg(out, at, &v, &mut escape);
                    }
                    // The caller's count was wrong: behave as when the
                    // argument is missing.
                    _ => {
                        outcome.missing += 1;
                        put(out, &bytes[start..end]);
                    }
                },
            }
        }
        for v in args {
            outcome.extra += 1;
            out.push(b' ');
            let at = out.len();
            write_display(out, &v);
            escape_arg(out, at, &v, &mut escape);
        }
        outcome
    }

    fn format_any<'a>(
        &self,
        out: &mut Vec<u8>,
        args: impl Iterator<Item = Value<'a>>,
    ) -> FormatOutcome {
        let args = small_args::Args::collect(args);
        let bytes = self.fmt.as_bytes();
        let mut outcome = FormatOutcome {
            bad_specs: self.stray,
            ..Default::default()
        };
        let mut next = 0usize;
        let mut used = Used::new(args.len());
        for p in &self.pieces {
            let (index, spec, start, end) = match *p {
                Piece::Lit(a, b) => {
                    put(out, &bytes[a..b]);
                    continue;
                }
                Piece::Next(start) => (Index::Next, Some(Spec::PLAIN), start, start + 2),
                Piece::Arg {
                    index,
                    spec,
                    start,
                    end,
                } => (index, spec, start, end),
            };
            let index = match index {
                Index::Next => {
                    next += 1;
                    Some(next - 1)
                }
                Index::At(n) => Some(n),
                Index::Bad => None,
            };
            match (index, spec) {
                (Some(n), Some(spec)) if n < args.len() => {
                    used.set(n);
                    if !write_value(out, args.get(n), &spec) {
                        outcome.mismatched += 1;
                    }
                }
                (Some(_), Some(_)) => {
                    outcome.missing += 1;
                    put(out, &bytes[start..end]);
                }
                _ => {
                    outcome.bad_specs += 1;
                    put(out, &bytes[start..end]);
                }
            }
        }
        for n in 0..args.len() {
            if !used.get(n) {
                outcome.extra += 1;
                out.push(b' ');
                write_display(out, &args.get(n));
            }
        }
        outcome
    }
}

/// Appends the message: `fmt` with its placeholders filled from `args`.
///
/// Never panics, whatever `fmt` and `args` hold: a placeholder without an
/// argument or whose spec does not parse is copied verbatim, arguments no
/// placeholder used are appended, each after a space, and [`FormatOutcome`]
/// counts each case. (This parses `fmt` each time; [`ParsedFormat`] parses
/// it once.)
///
/// ```
/// use ul_ring::args::Value;
/// use ul_writer::internals::format::format_message;
/// let mut out = Vec::new();
/// let args = [Value::U64(1), Value::I64(-2), Value::F64(0.5), Value::F32(0.1)];
/// let o = format_message(&mut out, "int: {}, int: {:>4}, double: {:.2}, {{float}}: {:?}", args.into_iter());
/// assert_eq!(out, b"int: 1, int:   -2, double: 0.50, {float}: 0.1");
/// assert!(o.is_clean());
///
/// out.clear();
/// let o = format_message(&mut out, "{0:#x} {} {} {}", [Value::U64(255), Value::Str("b")].into_iter());
/// assert_eq!(out, b"0xff 255 b {}");
/// assert_eq!(o.missing, 1);
/// ```
pub fn format_message<'a>(
    out: &mut Vec<u8>,
    fmt: &str,
    args: impl Iterator<Item = Value<'a>>,
) -> FormatOutcome {
    ParsedFormat::new(fmt).format_any(out, args)
}

/// Escapes the text of a string or char argument written at `out[at..]`
/// in place, if `escape` asks for it and the text needs it.
#[inline(always)]
fn escape_arg(
    out: &mut Vec<u8>,
    at: usize,
    v: &Value<'_>,
    escape: &mut Option<(Escape, &mut Vec<u8>)>,
) {
    if let Some((esc, scratch)) = escape {
        if matches!(
            v,
            Value::Str(_) | Value::Text(_) | Value::Cut { .. } | Value::Char(_)
        ) && !esc.is_plain(&out[at..])
        {
            scratch.clear();
            scratch.extend_from_slice(&out[at..]);
            out.truncate(at);
            esc.escape(out, scratch);
        }
    }
}

/// Appends `v` as `{}` would: integers through `itoa`, strings copied,
/// floats as std's `Display` writes them (an `f32` prints as an `f32`).
///
/// ```
/// use ul_ring::args::Value;
/// use ul_writer::internals::format::write_display;
/// let mut out = Vec::new();
/// write_display(&mut out, &Value::F32(0.1));
/// write_display(&mut out, &Value::Char('/'));
/// write_display(&mut out, &Value::I64(-7));
/// assert_eq!(out, b"0.1/-7");
/// ```
#[inline]
pub fn write_display(out: &mut Vec<u8>, v: &Value<'_>) {
    match *v {
        Value::U64(x) => put(out, itoa::Buffer::new().format(x).as_bytes()),
        Value::I64(x) => put(out, itoa::Buffer::new().format(x).as_bytes()),
        Value::U128(x) => put(out, itoa::Buffer::new().format(x).as_bytes()),
        Value::I128(x) => put(out, itoa::Buffer::new().format(x).as_bytes()),
        Value::F32(x) => super::float::write_f32(out, x),
        Value::F64(x) => super::float::write_f64(out, x),
        Value::Bool(x) => put(out, if x { b"true" } else { b"false" }),
        Value::Char(c) => {
            let mut b = [0u8; 4];
            put(out, c.encode_utf8(&mut b).as_bytes());
        }
        Value::Str(s) | Value::Text(s) => put(out, s.as_bytes()),
        Value::Cut { kept, omitted, .. } => {
            put(out, kept.as_bytes());
            cut_mark(out, omitted);
        }
    }
}

/// `…[+N bytes]`: after a value the producer cut at its string limit, `N`
/// the bytes it left out.
///
/// ```
/// use ul_ring::args::Value;
/// let mut out = Vec::new();
/// ul_writer::internals::format::write_display(&mut out, &Value::Cut { kept: "abc", omitted: 83616, formatted: false });
/// assert_eq!(String::from_utf8(out).unwrap(), "abc…[+83616 bytes]");
/// ```
#[inline(never)]
pub fn cut_mark(out: &mut Vec<u8>, omitted: u64) {
    put(out, "…[+".as_bytes());
    put(out, itoa::Buffer::new().format(omitted).as_bytes());
    put(out, b" bytes]");
}

/// Appends `v` formatted by `spec`; false if the spec's type does not apply
/// to the value (which is then formatted as Display).
fn write_value(out: &mut Vec<u8>, v: Value<'_>, spec: &Spec) -> bool {
    if spec.is_plain() {
        write_display(out, &v);
        return true;
    }
    if let Value::Text(s) = v {
        // Formatted by the producer with this very spec: as it is.
        put(out, s.as_bytes());
        return true;
    }
    if let Value::Cut {
        kept,
        omitted,
        formatted,
    } = v
    {
        // What is left of the value, formatted as it would have been,
        // then the mark.
        let fits = if formatted {
            put(out, kept.as_bytes());
            true
        } else {
            write_value(out, Value::Str(kept), spec)
        };
        cut_mark(out, omitted);
        return fits;
    }
    let start = out.len();
    let (fits, numeric) = match v {
        Value::U64(x) => (int_core(out, x, spec), true),
        Value::I64(x) => (int_core(out, x, spec), true),
        Value::U128(x) => (int_core(out, x, spec), true),
        Value::I128(x) => (int_core(out, x, spec), true),
        Value::F32(x) => (float_core(out, x, spec), true),
        Value::F64(x) => (float_core(out, x, spec), true),
        // bool's Debug is its Display, padded and truncated alike.
        Value::Bool(x) => (
            text_core(out, if x { "true" } else { "false" }, spec),
            false,
        ),
        // char's and str's Debug ignore width and precision.
        Value::Char(c) if spec.ty == Ty::Debug => {
            let _ = write!(out, "{c:?}");
            return true;
        }
        Value::Str(s) if spec.ty == Ty::Debug => {
            let _ = write!(out, "{s:?}");
            return true;
        }
        Value::Char(c) => {
            let mut b = [0u8; 4];
            (text_core(out, c.encode_utf8(&mut b), spec), false)
        }
        Value::Str(s) => (text_core(out, s, spec), false),
        Value::Text(_) | Value::Cut { .. } => unreachable!("handled above"),
    };
    // The radix prefix (`0x`) is there only for an integer under `#`.
    let prefixed = fits && spec.alt && spec.ty.radix();
    pad(out, start, spec, numeric, prefixed);
    fits
}

/// `s` cut to `precision` characters, as `Formatter::pad` does.
fn text_core(out: &mut Vec<u8>, s: &str, spec: &Spec) -> bool {
    let s = match spec.precision.and_then(|p| s.char_indices().nth(p)) {
        Some((cut, _)) => &s[..cut],
        None => s,
    };
    put(out, s.as_bytes());
    matches!(spec.ty, Ty::Display | Ty::Debug)
}

/// An integer under `spec`, sign and radix prefix included, unpadded.
fn int_core<T>(out: &mut Vec<u8>, x: T, spec: &Spec) -> bool
where
    T: Display + LowerHex + UpperHex + Octal + Binary + LowerExp + UpperExp,
{
    let (p, a) = (spec.plus, spec.alt);
    let _ = match spec.ty {
        // Integer Debug (without `x?`) is Display; precision does nothing.
        Ty::Display | Ty::Debug if p => write!(out, "{x:+}"),
        Ty::Display | Ty::Debug => write!(out, "{x}"),
        Ty::LowerHex => match (p, a) {
            (false, false) => write!(out, "{x:x}"),
            (false, true) => write!(out, "{x:#x}"),
            (true, false) => write!(out, "{x:+x}"),
            (true, true) => write!(out, "{x:+#x}"),
        },
        Ty::UpperHex => match (p, a) {
            (false, false) => write!(out, "{x:X}"),
            (false, true) => write!(out, "{x:#X}"),
            (true, false) => write!(out, "{x:+X}"),
            (true, true) => write!(out, "{x:+#X}"),
        },
        Ty::Octal => match (p, a) {
            (false, false) => write!(out, "{x:o}"),
            (false, true) => write!(out, "{x:#o}"),
            (true, false) => write!(out, "{x:+o}"),
            (true, true) => write!(out, "{x:+#o}"),
        },
        Ty::Binary => match (p, a) {
            (false, false) => write!(out, "{x:b}"),
            (false, true) => write!(out, "{x:#b}"),
            (true, false) => write!(out, "{x:+b}"),
            (true, true) => write!(out, "{x:+#b}"),
        },
        Ty::LowerExp => match (p, spec.precision) {
            (false, None) => write!(out, "{x:e}"),
            (true, None) => write!(out, "{x:+e}"),
            (false, Some(n)) => write!(out, "{x:.n$e}"),
            (true, Some(n)) => write!(out, "{x:+.n$e}"),
        },
        Ty::UpperExp => match (p, spec.precision) {
            (false, None) => write!(out, "{x:E}"),
            (true, None) => write!(out, "{x:+E}"),
            (false, Some(n)) => write!(out, "{x:.n$E}"),
            (true, Some(n)) => write!(out, "{x:+.n$E}"),
        },
    };
    true
}

/// A float under `spec`, sign included, unpadded.
fn float_core<T>(out: &mut Vec<u8>, x: T, spec: &Spec) -> bool
where
    T: Display + Debug + LowerExp + UpperExp,
{
    let p = spec.plus;
    let _ = match spec.ty {
        Ty::Debug => match (p, spec.precision) {
            (false, None) => write!(out, "{x:?}"),
            (true, None) => write!(out, "{x:+?}"),
            (false, Some(n)) => write!(out, "{x:.n$?}"),
            (true, Some(n)) => write!(out, "{x:+.n$?}"),
        },
        Ty::LowerExp => match (p, spec.precision) {
            (false, None) => write!(out, "{x:e}"),
            (true, None) => write!(out, "{x:+e}"),
            (false, Some(n)) => write!(out, "{x:.n$e}"),
            (true, Some(n)) => write!(out, "{x:+.n$e}"),
        },
        Ty::UpperExp => match (p, spec.precision) {
            (false, None) => write!(out, "{x:E}"),
            (true, None) => write!(out, "{x:+E}"),
            (false, Some(n)) => write!(out, "{x:.n$E}"),
            (true, Some(n)) => write!(out, "{x:+.n$E}"),
        },
        // Display, and the radix types that floats do not have.
        _ => match (p, spec.precision) {
            (false, None) => write!(out, "{x}"),
            (true, None) => write!(out, "{x:+}"),
            (false, Some(n)) => write!(out, "{x:.n$}"),
            (true, Some(n)) => write!(out, "{x:+.n$}"),
        },
    };
    !spec.ty.radix()
}

/// Pads `out[start..]` to the spec's width.
fn pad(out: &mut Vec<u8>, start: usize, spec: &Spec, numeric: bool, prefixed: bool) {
    // Characters, not bytes: count the bytes that start one.
    let len = out[start..].iter().filter(|&&b| b & 0xc0 != 0x80).count();
    if len >= spec.width {
        return;
    }
    let n = spec.width - len;
    if spec.zero && numeric {
        // Zeros go after the sign and the radix prefix; alignment and fill
        // are ignored, as in std.
        let mut split = start;
        if matches!(out.get(split), Some(b'+' | b'-')) {
            split += 1;
        }
        if prefixed {
            split += 2;
        }
        let split = split.min(out.len());
        out.splice(split..split, std::iter::repeat_n(b'0', n));
        return;
    }
    let mut fb = [0u8; 4];
    let fill = spec.fill.encode_utf8(&mut fb).as_bytes();
    let align = spec
        .align
        .unwrap_or(if numeric { Align::Right } else { Align::Left });
    let (pre, post) = match align {
        Align::Left => (0, n),
        Align::Right => (n, 0),
        Align::Center => (n / 2, n - n / 2),
    };
    if pre > 0 {
        let bytes = fill.iter().copied().cycle().take(pre * fill.len());
        out.splice(start..start, bytes);
    }
    for _ in 0..post {
        put(out, fill);
    }
}

/// A small on-stack list of arguments (most messages have few).
mod small_args {
    use ul_ring::args::Value;

    const INLINE: usize = 16;

    // Kept on the stack on purpose: the point is to avoid a heap
    // allocation per message.
    #[allow(clippy::large_enum_variant)]
    pub(super) enum Args<'a> {
        Inline([Value<'a>; INLINE], usize),
        Heap(Vec<Value<'a>>),
    }

    impl<'a> Args<'a> {
        pub(super) fn collect(mut it: impl Iterator<Item = Value<'a>>) -> Self {
            let mut arr = [Value::Bool(false); INLINE];
            let mut n = 0;
            while let Some(v) = it.next() {
                if n == INLINE {
                    let mut all = arr.to_vec();
                    all.push(v);
                    all.extend(it);
                    return Args::Heap(all);
                }
                arr[n] = v;
                n += 1;
            }
            Args::Inline(arr, n)
        }

        pub(super) fn len(&self) -> usize {
            match self {
                Args::Inline(_, n) => *n,
                Args::Heap(v) => v.len(),
            }
        }

        /// Callers check `i < len()`; out of range reads `false` rather
        /// than panicking.
        pub(super) fn get(&self, i: usize) -> Value<'a> {
            let v = match self {
                Args::Inline(a, n) => a[..*n].get(i),
                Args::Heap(v) => v.get(i),
            };
            v.copied().unwrap_or(Value::Bool(false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: &str, args: &[Value<'_>]) -> (String, FormatOutcome) {
        let mut out = Vec::new();
        let o = format_message(&mut out, f, args.iter().copied());
        (String::from_utf8(out).unwrap(), o)
    }

    #[test]
    fn missing_args_stay_verbatim() {
        let (s, o) = fmt("a {} b {:>4} c {0}", &[]);
        assert_eq!(s, "a {} b {:>4} c {0}");
        assert_eq!(o.missing, 3);
        let (s, o) = fmt("a {} b {} c", &[Value::U64(1)]);
        assert_eq!(s, "a 1 b {} c");
        assert_eq!(
            o,
            FormatOutcome {
                missing: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn extra_args_are_appended() {
        let (s, o) = fmt("a {}", &[Value::U64(1), Value::Str("x"), Value::F32(0.1)]);
        assert_eq!(s, "a 1 x 0.1");
        assert_eq!(o.extra, 2);
        let (s, o) = fmt("", &[Value::Bool(true)]);
        assert_eq!(s, " true");
        assert_eq!(o.extra, 1);
        // Used by position only: not extra.
        let (s, o) = fmt("{1} {1}", &[Value::U64(1), Value::U64(2)]);
        assert_eq!(s, "2 2 1");
        assert_eq!(o.extra, 1);
    }

    #[test]
    fn more_than_128_args() {
        let args: Vec<Value<'_>> = (0..200).map(Value::U64).collect();
        let f = "{} ".repeat(150);
        let (s, o) = fmt(&f, &args);
        let want: String = (0..150).map(|i| format!("{i} ")).collect::<String>()
            + &(150..200).map(|i| format!(" {i}")).collect::<String>();
        assert_eq!(s, want);
        assert_eq!(o.extra, 50);
        let (s, o) = fmt("{199} {0}", &args[..]);
        assert!(s.starts_with("199 0 1 2 "));
        assert_eq!(o.extra, 198);
    }

    #[test]
    fn bad_specs_stay_verbatim() {
        for bad in [
            "{:q}",
            "{name}",
            "{:*}",
            "{:.*}",
            "{:1$}",
            "{:x?}",
            "{:>8.}",
            "{+1}",
            "{ 0}",
            "{:99999}",
            "{:.99999}",
            "{:18446744073709551616}",
        ] {
            let (s, o) = fmt(&format!("<{bad}>"), &[Value::U64(1)]);
            assert_eq!(s, format!("<{bad}> 1"), "{bad}");
            assert_eq!(o.bad_specs, 1, "{bad}");
            assert_eq!(o.extra, 1, "{bad}");
        }
    }

    #[test]
    fn stray_braces() {
        let (s, o) = fmt("x { y {}", &[Value::U64(1)]);
        assert_eq!(s, "x { y 1");
        assert_eq!(o.bad_specs, 1);
        let (s, o) = fmt("open {", &[]);
        assert_eq!(s, "open {");
        assert_eq!(o.bad_specs, 1);
        let (s, _) = fmt("{ {{ }} {", &[]);
        assert_eq!(s, "{ { } {");
        let (s, o) = fmt("lone } and {}}", &[Value::U64(3)]);
        assert_eq!(s, "lone } and 3}");
        assert!(o.is_clean());
        let (s, _) = fmt("{{}}{{{}}}", &[Value::U64(3)]);
        assert_eq!(s, format!("{{}}{{{}}}", 3));
    }

    #[test]
    fn type_mismatch_formats_as_display() {
        let (s, o) = fmt(
            "{:>6x}|{:#x}|{:e}",
            &[Value::F64(1.5), Value::Str("ab"), Value::Bool(true)],
        );
        assert_eq!(s, "   1.5|ab|true");
        assert_eq!(o.mismatched, 3);
        let (s, o) = fmt("{:#08x}", &[Value::F32(2.5)]);
        assert_eq!(s, "000002.5");
        assert_eq!(o.mismatched, 1);
    }

    #[test]
    fn quirks_of_std() {
        let (s, _) = fmt(
            "[{:>8?}] [{:.1?}] [{:>6?}] [{:.2?}] [{:.2}] [{:.0}] [{:08}] [{:+}]",
            &[
                Value::Str("ab"),
                Value::Str("abc"),
                Value::Char('c'),
                Value::Bool(true),
                Value::Bool(false),
                Value::Char('c'),
                Value::Str("ab"),
                Value::Str("ab"),
            ],
        );
        assert_eq!(
            s,
            format!(
                "[{:>8?}] [{:.1?}] [{:>6?}] [{:.2?}] [{:.2}] [{:.0}] [{:08}] [{:+}]",
                "ab", "abc", 'c', true, false, 'c', "ab", "ab"
            )
        );
        let (s, _) = fmt(
            "[{:08}] [{:08}] [{:+#010x}] [{:+e}] [{:.2e}] [{:<08}] [{:-}] [{:08}]",
            &[
                Value::F64(f64::NAN),
                Value::F64(f64::NEG_INFINITY),
                Value::U64(5),
                Value::U64(5),
                Value::U64(1234),
                Value::I64(-3),
                Value::I64(5),
                Value::F32(-1.5),
            ],
        );
        assert_eq!(
            s,
            format!(
                "[{:08}] [{:08}] [{:+#010x}] [{:+e}] [{:.2e}] [{:<08}] [{:-}] [{:08}]",
                f64::NAN,
                f64::NEG_INFINITY,
                5u64,
                5u64,
                1234u64,
                -3i64,
                5i64,
                -1.5f32
            )
        );
    }

    #[test]
    fn unicode() {
        let (s, o) = fmt(
            "héllo {} wörld {:é^9} {:.2} {:>4} ✓{{}}",
            &[
                Value::Str("日本"),
                Value::Str("ß"),
                Value::Str("日本語"),
                Value::Char('語'),
            ],
        );
        assert_eq!(
            s,
            format!(
                "héllo {} wörld {:é^9} {:.2} {:>4} ✓{{}}",
                "日本", "ß", "日本語", '語'
            )
        );
        assert!(o.is_clean());
        let (s, _) = fmt("{:?}", &[Value::Str("a\"\n\u{1}é")]);
        assert_eq!(s, format!("{:?}", "a\"\n\u{1}é"));
        let (s, _) = fmt("{:?}", &[Value::Char('\'')]);
        assert_eq!(s, "'\\''");
    }

    #[test]
    fn large_widths_are_bounded() {
        let w = MAX_WIDTH;
        let (s, o) = fmt(
            &format!("{{:{w}}}{{:.{w}e}}{{:.{w}}}"),
            &[Value::U64(1), Value::F64(1.5), Value::F32(0.1)],
        );
        assert!(o.is_clean());
        assert_eq!(s, format!("{:w$}{:.w$e}{:.w$}", 1u64, 1.5f64, 0.1f32));
    }

    #[test]
    fn floats_keep_their_width() {
        let (s, _) = fmt(
            "{} {:?} {} {:?} {:e} {:.3}",
            &[
                Value::F32(0.1),
                Value::F32(0.1),
                Value::F64(1e20),
                Value::F64(1e20),
                Value::F32(1234.5),
                Value::F32(2.0005),
            ],
        );
        assert_eq!(
            s,
            format!(
                "{} {:?} {} {:?} {:e} {:.3}",
                0.1f32, 0.1f32, 1e20f64, 1e20f64, 1234.5f32, 2.0005f32
            )
        );
    }

    #[test]
    fn i128_and_u128() {
        let (s, _) = fmt(
            "{} {:x} {:#b} {:e} {:+}",
            &[
                Value::U128(u128::MAX),
                Value::I128(i128::MIN),
                Value::U128(5),
                Value::I128(-12345),
                Value::I128(7),
            ],
        );
        assert_eq!(
            s,
            format!(
                "{} {:x} {:#b} {:e} {:+}",
                u128::MAX,
                i128::MIN,
                5u128,
                -12345i128,
                7i128
            )
        );
    }
}
