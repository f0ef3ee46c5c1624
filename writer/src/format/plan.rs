//! Formatting plans: the message of a call site whose placeholders are all
//! `{}` and whose arguments are all fixed-size numbers (or bools), written
//! straight from a record's bytes.
//!
//! Every record of such a call site has the same layout: the same length,
//! the same tags, each value at the same offset. A [`Plan`] is made from one
//! record that decoded cleanly. A later record that has that length and
//! those tags is formatted by the plan without decoding it: its values are
//! read at their offsets (every bit pattern of an integer or a float is a
//! value, and bools are checked to be 0 or 1, so nothing is left to
//! validate) and written by [`write_display`], the function the general
//! path uses, so the text is the same byte for byte. Anything else (a
//! string, a spec such as `{:>8}`, text that needs escaping, a record that
//! does not fit) takes the general path.

use ul_ring::args::{tag, Value};
use ul_ring::record::HEADER_LEN;

use super::{put, write_display, write_f64, ParsedFormat};

/// How to write one call site's messages from its records' bytes (see the
/// module docs).
///
/// ```
/// use ul_ring::args::{encode_record, OwnedValue};
/// use ul_writer::format::{ParsedFormat, Plan};
///
/// let mut rec = Vec::new();
/// encode_record(&mut rec, Default::default(), &[OwnedValue::U32(7), OwnedValue::F64(0.5)]);
/// let plan = Plan::new(&ParsedFormat::new("n={} x={}"), &rec).unwrap();
/// assert!(plan.fits(&rec));
/// let mut out = Vec::new();
/// plan.write(&mut out, &rec);
/// assert_eq!(out, b"n=7 x=0.5");
/// // A string argument, or a spec, is for the general path.
/// assert!(Plan::new(&ParsedFormat::new("n={:>4} x={}"), &rec).is_none());
/// ```
#[derive(Debug)]
pub struct Plan {
    /// Length of every record that fits.
    len: usize,
    /// Their tags.
    tags: Vec<u8>,
    /// The literals, back to back; `ends[i]` is where literal `i` ends.
    text: Vec<u8>,
    ends: Vec<usize>,
    /// Each argument's tag and offset in the record.
    args: Vec<(u8, usize)>,
    /// Some argument is a bool (its byte must be 0 or 1).
    has_bool: bool,
    /// With 1 to 8 arguments, their tags as the little-endian word at
    /// offset 32, and the mask of the bytes that are tags.
    tag_word: Option<(u64, u64)>,
}

impl Plan {
    /// A plan for `format`'s messages, made from `record`, a record of its
    /// call site that decodes cleanly; `None` if the format or the
    /// arguments are not for a plan.
    pub fn new(format: &ParsedFormat, record: &[u8]) -> Option<Plan> {
        let lits = format.plain_literals()?;
        let nargs = usize::from(*record.get(HEADER_LEN - 4)?);
        if lits.len() != nargs + 1 {
            return None;
        }
        let tags = record.get(HEADER_LEN..HEADER_LEN + nargs)?.to_vec();
        let mut args = Vec::with_capacity(nargs);
        let mut at = HEADER_LEN + nargs;
        for &t in &tags {
            let n = match t {
                tag::U8 | tag::I8 | tag::BOOL => 1,
                tag::U16 | tag::I16 => 2,
                tag::U32 | tag::I32 | tag::F32 => 4,
                tag::U64 | tag::I64 | tag::F64 => 8,
                tag::U128 | tag::I128 => 16,
                _ => return None,
            };
            args.push((t, at));
            at += n;
        }
        if at > record.len() {
            return None;
        }
        let mut text = Vec::new();
        let mut ends = Vec::with_capacity(lits.len());
        for l in lits {
            text.extend_from_slice(&l);
            ends.push(text.len());
        }
        // A record with arguments is at least 40 bytes (lengths are
        // multiples of 8), so the word can be read.
        let tag_word = (1..=8).contains(&nargs).then(|| {
            let mut w = [0u8; 8];
            w[..nargs].copy_from_slice(&tags);
            let mask = u64::MAX >> (8 * (8 - nargs));
            (u64::from_le_bytes(w), mask)
        });
        Some(Plan {
            tag_word,
            len: record.len(),
            has_bool: tags.contains(&tag::BOOL),
            tags,
            text,
            ends,
            args,
        })
    }

    /// True if `record` (a log record of the plan's call site) has the
    /// plan's layout, so [`write`](Self::write) formats it as the general
    /// path would.
    #[inline]
    pub fn fits(&self, record: &[u8]) -> bool {
        let tags_match = match self.tag_word {
            Some((word, mask)) => record
                .get(HEADER_LEN..HEADER_LEN + 8)
                .and_then(|b| b.first_chunk::<8>())
                .is_some_and(|b| (u64::from_le_bytes(*b) ^ word) & mask == 0),
            None => record.get(HEADER_LEN..HEADER_LEN + self.tags.len()) == Some(&self.tags[..]),
        };
        record.len() == self.len
            && record.get(HEADER_LEN - 4).map(|&n| usize::from(n)) == Some(self.tags.len())
            && tags_match
            && (!self.has_bool
                || self
                    .args
                    .iter()
                    .all(|&(t, at)| t != tag::BOOL || record[at] <= 1))
    }

    /// Appends the message of `record`, which [`fits`](Self::fits).
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>, record: &[u8]) {
        let mut start = 0;
        for (i, &(t, at)) in self.args.iter().enumerate() {
            let end = self.ends[i];
            put(out, &self.text[start..end]);
            start = end;
            write_value(out, t, &record[at..]);
        }
        put(out, &self.text[start..]);
    }
}

/// Writes the value of tag `t` at the start of `b` (long enough:
/// [`Plan::fits`]) as [`write_display`] writes its decoded [`Value`].
#[inline(always)]
fn write_value(out: &mut Vec<u8>, t: u8, b: &[u8]) {
    fn le<const N: usize>(b: &[u8]) -> [u8; N] {
        *b.first_chunk::<N>().expect("the record fits the plan")
    }
    #[inline(always)]
    fn int(out: &mut Vec<u8>, x: impl itoa::Integer) {
        put(out, itoa::Buffer::new().format(x).as_bytes());
    }
    match t {
        tag::U8 => int(out, b[0]),
        tag::U16 => int(out, u16::from_le_bytes(le(b))),
        tag::U32 => int(out, u32::from_le_bytes(le(b))),
        tag::U64 => int(out, u64::from_le_bytes(le(b))),
        tag::I8 => int(out, b[0] as i8),
        tag::I16 => int(out, i16::from_le_bytes(le(b))),
        tag::I32 => int(out, i32::from_le_bytes(le(b))),
        tag::I64 => int(out, i64::from_le_bytes(le(b))),
        tag::F64 => write_f64(out, f64::from_bits(u64::from_le_bytes(le(b)))),
        // The rare ones, through the general path's own function.
        tag::U128 => write_display(out, &Value::U128(u128::from_le_bytes(le(b)))),
        tag::I128 => write_display(out, &Value::I128(i128::from_le_bytes(le(b)))),
        tag::F32 => write_display(out, &Value::F32(f32::from_bits(u32::from_le_bytes(le(b))))),
        // Only tags `Plan::new` accepted reach here: a bool.
        _ => write_display(out, &Value::Bool(b[0] != 0)),
    }
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

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn random_value(r: &mut Rng) -> OwnedValue {
        let x = r.next();
        match r.next() % 13 {
            0 => OwnedValue::U8(x as u8),
            1 => OwnedValue::U16(x as u16),
            2 => OwnedValue::U32(x as u32),
            3 => OwnedValue::U64(x),
            4 => OwnedValue::U128(u128::from(x) << 64 | u128::from(r.next())),
            5 => OwnedValue::I8(x as i8),
            6 => OwnedValue::I16(x as i16),
            7 => OwnedValue::I32(x as i32),
            8 => OwnedValue::I64(x as i64),
            9 => OwnedValue::I128(-(i128::from(x) << 20)),
            10 => OwnedValue::F32(f32::from_bits(x as u32)),
            11 => OwnedValue::F64(if x % 2 == 0 {
                f64::from_bits(r.next())
            } else {
                (x % 100_000) as f64 / 4.0
            }),
            _ => OwnedValue::Bool(x % 2 == 0),
        }
    }

    #[test]
    fn plans_write_what_the_general_path_writes() {
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        let lits = ["", "a", "Logging int: ", ", x = ", "{{b}}", " ~ "];
        let mut planned = 0;
        for _ in 0..20_000 {
            let n = (r.next() % 11) as usize;
            let mut fmt = String::new();
            for _ in 0..n {
                fmt.push_str(lits[(r.next() % lits.len() as u64) as usize]);
                fmt.push_str("{}");
            }
            fmt.push_str(lits[(r.next() % lits.len() as u64) as usize]);
            let f = ParsedFormat::new(&fmt);
            let args: Vec<_> = (0..n).map(|_| random_value(&mut r)).collect();
            let first = rec(&args);
            let plan = Plan::new(&f, &first).expect("numeric args and plain `{}`s plan");
            planned += 1;
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
            for record in [first, rec(&later)] {
                assert!(plan.fits(&record), "{fmt:?} {later:?}");
                let mut out = Vec::new();
                plan.write(&mut out, &record);
                assert_eq!(out, general(&f, &record), "{fmt:?} {later:?}");
            }
        }
        assert_eq!(planned, 20_000);
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
        let s = rec(&[OwnedValue::Str("s".into()), OwnedValue::U8(1)]);
        assert!(Plan::new(&ParsedFormat::new("{} {}"), &s).is_none());
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
