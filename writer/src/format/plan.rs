//! Formatting plans: the message of a call site whose placeholders are all
//! `{}` and whose arguments are all numbers, bools or strings, written
//! straight from a record's bytes.
//!
//! Every record of such a call site has the same tags, and without strings
//! the same length, with each value at the same offset. A [`Plan`] is made
//! from one record that decoded cleanly (a tagged one), or from the call
//! site's signature (a compact one, whose tags are the signature's). A
//! later record of the same form that has those tags (a compact one always
//! has them) is formatted by the plan without decoding it: its values are read
//! in place (every bit pattern of an integer or a float is a value, bools
//! are checked to be 0 or 1, and strings to lie inside the record and to
//! be printable ASCII other than `"` and `\\`, which is valid UTF-8 that
//! neither the text nor the JSON escaping changes) and written by the
//! functions the general path uses, so the text is the same byte for byte.
//! Anything else (a char, a spec such as `{:>8}`, literal text that needs
//! escaping, a string that does, a record that does not fit) takes the
//! general path.

use ul_ring::args::{tag, Value};
use ul_ring::record::{
    record_len, Form, RecordKind, COMPACT_CONTEXT, COMPACT_FLAGS, COMPACT_HEADER_LEN, HEADER_LEN,
    KIND_COMPACT,
};

use super::cursor::{Cursor, Piece, SLACK};
use super::float::{short_decimal, write_f64_slow};
use super::{write_display, Escape, ParsedFormat};

/// How to write one call site's messages from its records' bytes (see the
/// module docs).
///
/// ```
/// use ul_ring::args::{encode_record, OwnedValue};
/// use ul_writer::internals::format::{ParsedFormat, Plan};
///
/// let mut rec = Vec::new();
/// encode_record(&mut rec, Default::default(), &[OwnedValue::U32(7), OwnedValue::F64(0.5)]);
/// let plan = Plan::new(&ParsedFormat::new("n={} x={}"), &rec).unwrap();
/// assert!(plan.fits(&rec));
/// let mut out = Vec::new();
/// plan.write(&mut out, &rec);
/// assert_eq!(out, b"n=7 x=0.5");
///
/// // Strings too, when neither output's escaping would change them.
/// let mut rec = Vec::new();
/// encode_record(&mut rec, Default::default(), &[OwnedValue::Str("ann".into())]);
/// let plan = Plan::new(&ParsedFormat::new("user {}"), &rec).unwrap();
/// assert!(plan.fits(&rec));
/// let mut quoted = Vec::new();
/// encode_record(&mut quoted, Default::default(), &[OwnedValue::Str("\"ann\"".into())]);
/// assert!(!plan.fits(&quoted));
///
/// // A spec is for the general path.
/// assert!(Plan::new(&ParsedFormat::new("n={:>4}"), &rec).is_none());
/// ```
#[derive(Debug)]
pub struct Plan {
    /// The form of the records it writes.
    form: Form,
    /// Where the first value starts.
    vstart: usize,
    /// Length of every record that fits, for plans without strings (with
    /// strings the length varies and [`fits`](Self::fits) walks the
    /// record).
    len: Option<usize>,
    /// The arguments' tags.
    tags: Vec<u8>,
    /// Per argument, in order: the literal before it, and how to write it.
    steps: Vec<Step>,
    /// The literal after the last argument.
    last: Piece,
    /// The room a [`Cursor`] needs for the message's bounded appends: each
    /// literal, each argument at its [`width`], plus [`SLACK`].
    room: usize,
    /// Without strings: the offsets of the bool arguments' bytes (each
    /// must be 0 or 1).
    bools: Vec<usize>,
    /// Tagged, with 1 to 8 arguments: their tags as the little-endian
    /// word at offset 32, and the mask of the bytes that are tags.
    tag_word: Option<(u64, u64)>,
}

/// One argument of a [`Plan`] and the literal before it.
#[derive(Debug)]
struct Step {
    lit: Piece,
    /// The argument's tag and size in the record (0 for a string).
    tag: u8,
    size: usize,
    /// The room a [`Cursor`] needs after this argument for the rest of
    /// the message (as [`Plan::room`] counts it).
    rest: usize,
}

/// The most bytes [`write_value`] appends for tag `t` without reserving
/// for itself: the longest `{}` of its integers (`-128`, `65535`,
/// `-2147483648`, `18446744073709551615`, `-9223372036854775808`), and of
/// an `f64` that is a short decimal (17: `Cursor::decimal_unchecked`); 0
/// for the others (strings, the slow float path and the rare tags make
/// their own room).
fn width(t: u8) -> usize {
    match t {
        tag::U8 => 3,
        tag::I8 => 4,
        tag::U16 => 5,
        tag::I16 => 6,
        tag::U32 => 10,
        tag::I32 => 11,
        tag::U64 | tag::I64 => 20,
        tag::F64 => 17,
        _ => 0,
    }
}

/// Bytes of a fixed-size argument with tag `t`; `None` for a string, and
/// for tags a plan does not take.
fn fixed_size(t: u8) -> Option<usize> {
    match t {
        tag::U8 | tag::I8 | tag::BOOL => Some(1),
        tag::U16 | tag::I16 => Some(2),
        tag::U32 | tag::I32 | tag::F32 => Some(4),
        tag::U64 | tag::I64 | tag::F64 => Some(8),
        tag::U128 | tag::I128 => Some(16),
        _ => None,
    }
}

/// The bytes of the string whose length prefix is at `at`, and the offset
/// after them; `None` if they do not lie inside `record`.
#[inline]
fn string_at(record: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let n = u32::from_le_bytes(*record.get(at..)?.first_chunk::<4>()?) as usize;
    let end = (at + 4).checked_add(n)?;
    Some((record.get(at + 4..end)?, end))
}

impl Plan {
    /// A plan for `format`'s messages, made from `record`, a tagged record
    /// of its call site that decodes cleanly; `None` if the format or the
    /// arguments are not for a plan.
    pub fn new(format: &ParsedFormat, record: &[u8]) -> Option<Plan> {
        let nargs = usize::from(*record.get(HEADER_LEN - 4)?);
        let tags = record.get(HEADER_LEN..HEADER_LEN + nargs)?;
        let mut plan = Plan::make(format, Form::Tagged, HEADER_LEN + nargs, tags)?;
        let end = plan.fixed_end();
        match (plan.len, end) {
            // Without strings, every record is as long as this one.
            (Some(_), Some(end)) if end <= record.len() => plan.len = Some(record.len()),
            (None, _) => {
                // With strings: this one must lie inside the record.
                let mut at = plan.vstart;
                for &t in &plan.tags {
                    at = match fixed_size(t) {
                        Some(n) => at + n,
                        None => string_at(record, at)?.1,
                    };
                }
                if at > record.len() {
                    return None;
                }
            }
            _ => return None,
        }
        // A record with arguments is at least 40 bytes (lengths are
        // multiples of 8), so the word can be read.
        plan.tag_word = (1..=8).contains(&nargs).then(|| {
            let mut w = [0u8; 8];
            w[..nargs].copy_from_slice(tags);
            let mask = u64::MAX >> (8 * (8 - nargs));
            (u64::from_le_bytes(w), mask)
        });
        Some(plan)
    }

    /// A plan for `format`'s messages in compact records without a context,
    /// whose values have the types `signature` gives (the call site's);
    /// `None` if the format or the arguments are not for a plan.
    ///
    /// ```
    /// use ul_ring::args::{encode_compact, signature_of, CompactHeader, OwnedValue};
    /// use ul_writer::internals::format::{ParsedFormat, Plan};
    ///
    /// let args = [OwnedValue::U64(7), OwnedValue::U32(8), OwnedValue::F64(0.5)];
    /// let mut rec = Vec::new();
    /// encode_compact(&mut rec, CompactHeader::default(), &args);
    /// let plan = Plan::compact(&ParsedFormat::new("{} {} {}"), &signature_of(&args)).unwrap();
    /// assert!(plan.fits(&rec));
    /// let mut out = Vec::new();
    /// plan.write(&mut out, &rec);
    /// assert_eq!(out, b"7 8 0.5");
    /// // One word longer than the signature says: not this plan's (the
    /// // general path refuses it and says why).
    /// rec.extend_from_slice(&[0; 8]);
    /// rec[..4].copy_from_slice(&48u32.to_le_bytes());
    /// assert!(!plan.fits(&rec));
    /// ```
    pub fn compact(format: &ParsedFormat, signature: &[u8]) -> Option<Plan> {
        let mut plan = Plan::make(format, Form::Compact, COMPACT_HEADER_LEN, signature)?;
        if plan.len.is_some() {
            plan.len = Some(record_len(plan.fixed_end()?));
        }
        Some(plan)
    }

    /// The parts of a plan for records of `form` whose values, of types
    /// `tags`, start at `vstart`.
    fn make(format: &ParsedFormat, form: Form, vstart: usize, tags: &[u8]) -> Option<Plan> {
        let lits = format.plain_literals()?;
        if lits.len() != tags.len() + 1 {
            return None;
        }
        let mut bools = Vec::new();
        let mut has_str = false;
        let mut at = vstart;
        for &t in tags {
            if t == tag::STR || t == tag::TEXT {
                has_str = true;
                continue;
            }
            if t == tag::BOOL {
                bools.push(at);
            }
            at += fixed_size(t)?;
        }
        // `rest[i]`: the room needed after argument `i`.
        let mut rest = vec![0; tags.len()];
        let mut need = SLACK + lits[tags.len()].len();
        for i in (0..tags.len()).rev() {
            rest[i] = need;
            need += lits[i].len() + width(tags[i]);
        }
        let steps = tags
            .iter()
            .zip(&lits)
            .zip(rest)
            .map(|((&t, l), rest)| Step {
                lit: Piece::new(l),
                tag: t,
                size: fixed_size(t).unwrap_or(0),
                rest,
            })
            .collect();
        Some(Plan {
            form,
            vstart,
            tag_word: None,
            // Set by the callers: here only "no strings".
            len: (!has_str).then_some(0),
            bools: if has_str { Vec::new() } else { bools },
            tags: tags.to_vec(),
            last: Piece::new(&lits[tags.len()]),
            steps,
            room: need,
        })
    }

    /// Where the values end, for a plan without strings.
    fn fixed_end(&self) -> Option<usize> {
        self.tags
            .iter()
            .try_fold(self.vstart, |at, &t| Some(at + fixed_size(t)?))
    }

    /// True if, for a compact record of the plan's call site, [`fits`](Self::fits)
    /// asks only its kind and length: no strings, no bools (every bit
    /// pattern of its other values is a value). Then a record whose frame
    /// word (length, kind, call site) equals one that fitted fits too.
    pub fn checks_only_the_frame(&self) -> bool {
        self.form == Form::Compact && self.len.is_some() && self.bools.is_empty()
    }

    /// True if `record` (a log record of the plan's call site) is of the
    /// plan's form, has its tags (a tagged one) and is as long as they say
    /// (a compact one: exactly, padding aside), and its values are all the
    /// plan can write as they are, so [`write`](Self::write) formats it as
    /// the general path would.
    #[inline]
    pub fn fits(&self, record: &[u8]) -> bool {
        let Some(&kind) = record.get(4) else {
            return false;
        };
        let form_matches = match self.form {
            Form::Tagged => {
                kind == RecordKind::Log as u8
                    && match self.tag_word {
                        Some((word, mask)) => record
                            .get(HEADER_LEN..HEADER_LEN + 8)
                            .and_then(|b| b.first_chunk::<8>())
                            .is_some_and(|b| (u64::from_le_bytes(*b) ^ word) & mask == 0),
                        None => {
                            record.get(HEADER_LEN..HEADER_LEN + self.tags.len())
                                == Some(&self.tags[..])
                        }
                    }
                    && record.get(HEADER_LEN - 4).map(|&n| usize::from(n)) == Some(self.tags.len())
            }
            // A compact record of the call site has its signature's tags;
            // one with a context is not for a plan.
            Form::Compact => kind & !(COMPACT_FLAGS & !COMPACT_CONTEXT) == KIND_COMPACT,
        };
        if !form_matches {
            return false;
        }
        match self.len {
            Some(len) => record.len() == len && self.bools.iter().all(|&at| record[at] <= 1),
            None => self.walk_fits(record),
        }
    }

    /// [`fits`](Self::fits) for a plan with strings: every value inside
    /// the record, bools 0 or 1, strings plain.
    fn walk_fits(&self, record: &[u8]) -> bool {
        let mut at = self.vstart;
        for &t in &self.tags {
            if t == tag::STR || t == tag::TEXT {
                match string_at(record, at) {
                    Some((s, end)) if Escape::Json.is_plain(s) => at = end,
                    _ => return false,
                }
            } else {
                if t == tag::BOOL && record.get(at).is_none_or(|&b| b > 1) {
                    return false;
                }
                // Only tags `Plan::new` took (the tags matched): all
                // fixed-size but strings.
                match fixed_size(t) {
                    Some(n) => at += n,
                    None => return false,
                }
            }
        }
        match self.form {
            Form::Tagged => at <= record.len(),
            // Exactly the record's length, padding aside, as the decoder
            // requires: a longer record is refused there, not printed here.
            Form::Compact => record_len(at) == record.len(),
        }
    }

    /// Appends the message of `record`, which [`fits`](Self::fits).
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>, record: &[u8]) {
        self.write_to(&mut Cursor::new(out, 0), record);
    }

    /// [`write`](Self::write) through a [`Cursor`]: one capacity check for
    /// the literals and the numbers (strings and the rare tags make their
    /// own room).
    #[inline]
    pub fn write_to(&self, c: &mut Cursor<'_>, record: &[u8]) {
        c.reserve(self.room);
        let mut at = self.vstart;
        for step in &self.steps {
            // SAFETY: the room is at least what the rest of the message
            // needs (`Plan::room`, reserved above, for the first step;
            // the previous step's `rest`, which `write_value` leaves,
            // for the others): this literal's length plus `SLACK`, what
            // `piece_unchecked` requires, and after it at least
            // `width(step.tag) + step.rest`.
            unsafe { c.piece_unchecked(&step.lit) };
            // SAFETY: the room is at least `width(step.tag) + step.rest`
            // (just above), what `write_value` requires; `rest >= SLACK`
            // (it counts `SLACK`); `size` is the tag's `fixed_size`.
            at = unsafe { write_value(c, step.tag, step.size, record, at, step.rest) };
        }
        // SAFETY: the room is at least the last step's `rest` (or
        // `Plan::room` without arguments): this literal's length plus
        // `SLACK`.
        unsafe { c.piece_unchecked(&self.last) };
    }
}

/// Writes the value of tag `t` (of `size` bytes, its [`fixed_size`]; any
/// for a string) at offset `at` of `record` (inside it: [`Plan::fits`]) as
/// [`write_display`] writes its decoded [`Value`]; returns the offset after
/// it, and leaves the cursor's room at least `rest`.
///
/// # Safety
///
/// The cursor's room must be at least [`width`]`(t) + rest`, and `rest` at
/// least [`SLACK`].
#[inline(always)]
unsafe fn write_value(
    c: &mut Cursor<'_>,
    t: u8,
    size: usize,
    record: &[u8],
    at: usize,
    rest: usize,
) -> usize {
    fn le<const N: usize>(b: &[u8]) -> [u8; N] {
        *b.first_chunk::<N>().expect("the record fits the plan")
    }
    debug_assert!(rest >= SLACK && c.room() >= width(t) + rest);
    let b = &record[at..];
    // SAFETY: for each integer, the room is at least `width(t) + rest`
    // and `rest >= SLACK` (32), so at least 32, more than the 20 (21 for
    // an i64) that `u64_unchecked` (`i64_unchecked`) require; each appends
    // at most `width(t)` bytes (the longest `{}` of its type), which
    // leaves at least `rest`. The float and the string: see below.
    unsafe {
        match t {
            tag::U8 => c.u64_unchecked(u64::from(b[0])),
            tag::U16 => c.u64_unchecked(u64::from(u16::from_le_bytes(le(b)))),
            tag::U32 => c.u64_unchecked(u64::from(u32::from_le_bytes(le(b)))),
            tag::U64 => c.u64_unchecked(u64::from_le_bytes(le(b))),
            tag::I8 => c.i64_unchecked(i64::from(b[0] as i8)),
            tag::I16 => c.i64_unchecked(i64::from(i16::from_le_bytes(le(b)))),
            tag::I32 => c.i64_unchecked(i64::from(i32::from_le_bytes(le(b)))),
            tag::I64 => c.i64_unchecked(i64::from_le_bytes(le(b))),
            // A short decimal: at most 17 bytes (`width`), under the same
            // argument (`decimal_unchecked` requires 17, and `n < 10^15`,
            // `k <= 9`, which `short_decimal` gives). Other floats grow
            // the vector as they need, and make `rest` again.
            tag::F64 => match short_decimal(f64::from_bits(u64::from_le_bytes(le(b)))) {
                Some((neg, n, k)) => c.decimal_unchecked(neg, n, k),
                None => {
                    let x = f64::from_bits(u64::from_le_bytes(le(b)));
                    c.with_vec(|out| write_f64_slow(out, x));
                    c.reserve(rest);
                }
            },
            tag::STR | tag::TEXT => {
                let (s, end) = string_at(record, at).expect("the record fits the plan");
                // Plain ASCII (`fits`): what `{}` writes for the decoded
                // `&str` (and a text is written as it is under any spec).
                // `slice` requires room for `s`, made here with `rest`.
                c.reserve(s.len() + rest);
                c.slice(s);
                return end;
            }
            // The rare ones, through the general path's own function.
            _ => {
                let v = match t {
                    tag::U128 => Value::U128(u128::from_le_bytes(le(b))),
                    tag::I128 => Value::I128(i128::from_le_bytes(le(b))),
                    tag::F32 => Value::F32(f32::from_bits(u32::from_le_bytes(le(b)))),
                    // Only tags `Plan::new` accepted reach here: a bool.
                    _ => Value::Bool(b[0] != 0),
                };
                c.with_vec(|out| write_display(out, &v));
                c.reserve(rest);
            }
        }
    }
    at + size
}

#[cfg(test)]
mod tests {
    use super::*;
    use ul_ring::args::{encode_record, OwnedValue};
    use ul_ring::record::decode;

    fn rec(args: &[OwnedValue]) -> Vec<u8> {
        let mut r = Vec::new();
        encode_record(&mut r, Default::default(), args);
        r
    }

    /// What the general path writes for `fmt` and `record`.
    fn general(fmt: &ParsedFormat, record: &[u8]) -> Vec<u8> {
        let args = decode(record).expect("test records decode").args;
        let mut out = Vec::new();
        fmt.format(&mut out, args.iter(), args.len());
        out
    }

    use ul_test_support::Rng;

    fn random_value(r: &mut Rng) -> OwnedValue {
        let x = r.next_u64();
        match r.next_u64() % 15 {
            0 => OwnedValue::U8(x as u8),
            1 => OwnedValue::U16(x as u16),
            2 => OwnedValue::U32(x as u32),
            3 => OwnedValue::U64(x),
            4 => OwnedValue::U128(u128::from(x) << 64 | u128::from(r.next_u64())),
            5 => OwnedValue::I8(x as i8),
            6 => OwnedValue::I16(x as i16),
            7 => OwnedValue::I32(x as i32),
            8 => OwnedValue::I64(x as i64),
            9 => OwnedValue::I128(-(i128::from(x) << 20)),
            10 => OwnedValue::F32(f32::from_bits(x as u32)),
            11 => OwnedValue::F64(if x % 2 == 0 {
                f64::from_bits(r.next_u64())
            } else {
                (x % 100_000) as f64 / 4.0
            }),
            12 => OwnedValue::Bool(x % 2 == 0),
            _ => OwnedValue::Str(random_string(r)),
        }
    }

    /// Mostly plain ASCII, sometimes with what an output escapes (a quote,
    /// a backslash, a control character, DEL) or non-ASCII text.
    fn random_string(r: &mut Rng) -> String {
        let n = (r.next_u64() % 70) as usize;
        let mut s: String = (0..n)
            .map(|_| char::from(b' ' + (r.next_u64() % 95) as u8))
            .filter(|&c| c != '"' && c != '\\')
            .collect();
        if r.next_u64() % 3 == 0 {
            let odd = ["\"", "\\", "\n", "\t", "\u{7f}", "é", "\u{2028}", "\0"];
            let at = s.len() / 2;
            s.insert_str(at, odd[(r.next_u64() % odd.len() as u64) as usize]);
        }
        s
    }

    /// True if `v` is a string that an output's escaping would change.
    fn escaped(v: &OwnedValue) -> bool {
        matches!(v, OwnedValue::Str(s) if !Escape::Json.is_plain(s.as_bytes()))
    }

    #[test]
    fn plans_write_what_the_general_path_writes() {
        let mut r = Rng::from_state(0x2545_f491_4f6c_dd1d);
        let lits = [
            "",
            "a",
            "Logging int: ",
            ", x = ",
            "{{b}}",
            " ~ ",
            "a literal longer than thirty-two bytes: ",
        ];
        let (mut planned, mut strings) = (0, 0);
        for _ in 0..20_000 {
            let n = (r.next_u64() % 11) as usize;
            let mut fmt = String::new();
            for _ in 0..n {
                fmt.push_str(lits[(r.next_u64() % lits.len() as u64) as usize]);
                fmt.push_str("{}");
            }
            fmt.push_str(lits[(r.next_u64() % lits.len() as u64) as usize]);
            let f = ParsedFormat::new(&fmt);
            let args: Vec<_> = (0..n).map(|_| random_value(&mut r)).collect();
            let first = rec(&args);
            let plan = Plan::new(&f, &first).expect("numbers, bools, strings and plain `{}`s plan");
            // A later record of the same layout, other values.
            let later: Vec<_> = args
                .iter()
                .map(|a| loop {
                    let v = random_value(&mut r);
                    if core::mem::discriminant(&v) == core::mem::discriminant(a) {
                        break v;
                    }
                })
                .collect();
            for (values, record) in [(&args, first.clone()), (&later, rec(&later))] {
                // What an output escapes is the general path's to write.
                let plain = !values.iter().any(escaped);
                assert_eq!(plan.fits(&record), plain, "{fmt:?} {values:?}");
                if plain {
                    let mut out = Vec::new();
                    plan.write(&mut out, &record);
                    assert_eq!(out, general(&f, &record), "{fmt:?} {values:?}");
                    planned += 1;
                    strings += usize::from(values.iter().any(|v| matches!(v, OwnedValue::Str(_))));
                }
            }
        }
        // Most records fit, many of them with strings.
        assert!(planned > 30_000 && strings > 10_000, "{planned} {strings}");
    }

    #[test]
    fn strings_that_do_not_lie_inside_the_record_do_not_fit() {
        let r = rec(&[OwnedValue::Str("abcdef".into()), OwnedValue::U32(9)]);
        let plan = Plan::new(&ParsedFormat::new("{} {}"), &r).unwrap();
        assert!(plan.fits(&r));
        let len_at = HEADER_LEN + 2;
        for bad in [7u32, 1000, u32::MAX] {
            let mut b = r.clone();
            b[len_at..len_at + 4].copy_from_slice(&bad.to_le_bytes());
            assert!(!plan.fits(&b), "length {bad}");
        }
        // A shorter string moves the next value: still fits, and is read
        // where it now is.
        let s = rec(&[OwnedValue::Str("ab".into()), OwnedValue::U32(9)]);
        assert!(plan.fits(&s));
        let mut out = Vec::new();
        plan.write(&mut out, &s);
        assert_eq!(out, b"ab 9");
        // Not valid UTF-8, and not plain either: the general path reports it.
        let mut u = r.clone();
        u[len_at + 4] = 0xff;
        assert!(!plan.fits(&u));
    }

    #[test]
    fn what_a_plan_does_not_take() {
        let nums = rec(&[OwnedValue::U64(1), OwnedValue::F64(2.0)]);
        for fmt in [
            "{} {:>4}",
            "{1} {0}",
            "{} {} {}",
            "{}",
            "tab\t{} {}",
            "quote\" {} {}",
            "{ {} {}",
        ] {
            assert!(Plan::new(&ParsedFormat::new(fmt), &nums).is_none(), "{fmt}");
        }
        let c = rec(&[OwnedValue::Char('x')]);
        assert!(Plan::new(&ParsedFormat::new("{}"), &c).is_none());

        let plan = Plan::new(&ParsedFormat::new("{} {}"), &nums).unwrap();
        // Other tags, another length, another count: not this plan's.
        assert!(!plan.fits(&rec(&[OwnedValue::U64(1), OwnedValue::F32(2.0)])));
        assert!(!plan.fits(&rec(&[OwnedValue::U64(1), OwnedValue::U64(2)])));
        assert!(!plan.fits(&rec(&[OwnedValue::U64(1)])));
        assert!(!plan.fits(&nums[..nums.len() - 8]));
        // A bool byte other than 0 or 1 is left to the general path,
        // which reports it.
        let mut b = rec(&[OwnedValue::Bool(true), OwnedValue::U8(3)]);
        let plan = Plan::new(&ParsedFormat::new("{} {}"), &b).unwrap();
        assert!(plan.fits(&b));
        b[HEADER_LEN + 2] = 2;
        assert!(!plan.fits(&b));
    }
}
