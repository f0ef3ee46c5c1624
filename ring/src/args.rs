//! Argument encoding (producer side) and decoding (writer side).
//!
//! In a tagged record, after the 32-byte header: one tag byte per argument,
//! then the values packed back to back, little-endian, unaligned, then zero
//! padding. In a compact record the tags are the call site's signature,
//! registered once with it, and the values follow the 16-byte header alone
//! (see [`crate::record`]).
//!
//! | tag | type | bytes |
//! |---|---|---|
//! | 1..=5 | u8, u16, u32, u64, u128 | 1, 2, 4, 8, 16 |
//! | 6..=10 | i8, i16, i32, i64, i128 | 1, 2, 4, 8, 16 |
//! | 11, 12 | f32, f64 (IEEE bits) | 4, 8 |
//! | 13 | bool (0 or 1) | 1 |
//! | 14 | char (scalar value) | 4 |
//! | 15 | str: u32 length, UTF-8 bytes | 4 + length |
//! | 16 | text formatted at the call site: as str | 4 + length |
//!
//! A string longer than the producer's limit (16 KiB unless
//! `ul::Options::max_string_len` says otherwise) is cut at a char boundary
//! and says so: its length word has bit 31 set ([`STR_CUT`]) and is
//! followed by a u64, the number of bytes left out, then the bytes kept
//! (`4 + 8 + kept`). The writer marks the cut (`…[+N bytes]`).
//!
//! A str (15) is a value the writer formats by its placeholder's spec, as
//! it formats numbers. A text (16) is a value of some other type that the
//! producer already formatted with the placeholder's whole spec (`{:>8?}`
//! of a struct): the writer puts it in as it is, whatever the spec says.

use crate::record::{
    DecodeError, RecordHeader, COMPACT_CONTEXT, COMPACT_HEADER_LEN, COMPACT_TRUNCATED, COMPACT_TSC,
    FLAG_TRUNCATED, FLAG_TSC, HEADER_LEN, MAX_COMPACT_CALLSITE,
};

/// Wire tags.
pub mod tag {
    /// u8
    pub const U8: u8 = 1;
    /// u16
    pub const U16: u8 = 2;
    /// u32
    pub const U32: u8 = 3;
    /// u64 (and usize)
    pub const U64: u8 = 4;
    /// u128
    pub const U128: u8 = 5;
    /// i8
    pub const I8: u8 = 6;
    /// i16
    pub const I16: u8 = 7;
    /// i32
    pub const I32: u8 = 8;
    /// i64 (and isize)
    pub const I64: u8 = 9;
    /// i128
    pub const I128: u8 = 10;
    /// f32
    pub const F32: u8 = 11;
    /// f64
    pub const F64: u8 = 12;
    /// bool
    pub const BOOL: u8 = 13;
    /// char
    pub const CHAR: u8 = 14;
    /// str
    pub const STR: u8 = 15;
    /// Text formatted at the call site (same bytes as `STR`).
    pub const TEXT: u8 = 16;
}

/// Longest string argument kept unless the producer sets another limit;
/// longer ones are cut at a char boundary at or below the limit, say how
/// much was left out ([`STR_CUT`]), and the record is flagged
/// `FLAG_TRUNCATED`.
pub const DEFAULT_STR_LIMIT: usize = 16 * 1024;

/// Bit of a string's length word that says it was cut: a u64 count of the
/// bytes left out follows the word.
pub const STR_CUT: u32 = 1 << 31;

/// Longest string a length word can describe.
pub const MAX_STR_WIRE_LEN: usize = (STR_CUT - 1) as usize;

/// A decoded argument. Unsigned integers up to 64 bits decode to `U64`,
/// signed ones to `I64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// Unsigned integer.
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// 128-bit unsigned.
    U128(u128),
    /// 128-bit signed.
    I128(i128),
    /// f32.
    F32(f32),
    /// f64.
    F64(f64),
    /// bool.
    Bool(bool),
    /// char.
    Char(char),
    /// String.
    Str(&'a str),
    /// A value of another type, already formatted by the producer with
    /// its placeholder's spec: written as it is.
    Text(&'a str),
    /// A string or text cut at the producer's limit.
    Cut {
        /// The bytes kept (the start of the value).
        kept: &'a str,
        /// How many bytes were left out.
        omitted: u64,
        /// A text ([`tag::TEXT`]) rather than a str.
        formatted: bool,
    },
}

/// Writes a record into memory reserved for it. Every write is bounds
/// checked: one that would overflow writes nothing and sets
/// [`overflowed`](Encoder::overflowed).
///
/// ```
/// let mut buf = [0u8; 8];
/// let mut enc = ul_ring::args::Encoder::new(&mut buf);
/// enc.put_u32(7);
/// enc.put_u64(1); // does not fit
/// assert!(enc.overflowed());
/// assert_eq!(enc.finish(), 4);
/// ```
pub struct Encoder<'a> {
    ptr: *mut u8,
    len: usize,
    pos: usize,
    overflowed: bool,
    _buf: core::marker::PhantomData<&'a mut [u8]>,
}

impl<'a> Encoder<'a> {
    /// An encoder over `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be non-null and valid for writes of `len` bytes for `'a`
    /// (as for [`core::slice::from_raw_parts_mut`]; any non-null pointer
    /// will do when `len` is 0), and nothing else may access those bytes
    /// while the encoder lives.
    #[inline(always)]
    pub unsafe fn from_raw(ptr: *mut u8, len: usize) -> Self {
        Self {
            ptr,
            len,
            pos: 0,
            overflowed: false,
            _buf: core::marker::PhantomData,
        }
    }

    /// An encoder over a buffer.
    #[inline(always)]
    pub fn new(buf: &'a mut [u8]) -> Self {
        // SAFETY: the exclusive borrow makes `buf` ours for 'a.
        unsafe { Self::from_raw(buf.as_mut_ptr(), buf.len()) }
    }

    /// Appends bytes.
    #[inline(always)]
    pub fn put_bytes(&mut self, b: &[u8]) {
        if b.len() > self.len - self.pos {
            self.overflowed = true;
            return;
        }
        // SAFETY: `pos + b.len() <= len` (checked above), so the range is in
        // the buffer `from_raw`'s contract makes ours; `b` is not in it (we
        // hold the only access to it).
        unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), self.ptr.add(self.pos), b.len()) };
        self.pos += b.len();
    }

    /// Appends a byte.
    #[inline(always)]
    pub fn put_u8(&mut self, v: u8) {
        self.put_bytes(&[v]);
    }
    /// Appends a u16, little-endian.
    #[inline(always)]
    pub fn put_u16(&mut self, v: u16) {
        self.put_bytes(&v.to_le_bytes());
    }
    /// Appends a u32, little-endian.
    #[inline(always)]
    pub fn put_u32(&mut self, v: u32) {
        self.put_bytes(&v.to_le_bytes());
    }
    /// Appends a u64, little-endian.
    #[inline(always)]
    pub fn put_u64(&mut self, v: u64) {
        self.put_bytes(&v.to_le_bytes());
    }

    /// Appends a record header.
    #[inline(always)]
    pub fn put_header(&mut self, h: &RecordHeader) {
        self.put_bytes(bytemuck::bytes_of(h));
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True if some write did not fit.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Zeroes the buffer's last 8 bytes without moving the position: call it
    /// first, then write the record, and its padding (under 8 bytes, the
    /// record being a multiple of 8 long) is zero without a `memset`.
    #[inline(always)]
    pub fn zero_last_word(&mut self) {
        if self.len >= 8 {
            // SAFETY: `[len - 8, len)` is inside the buffer.
            unsafe { core::ptr::write_unaligned(self.ptr.add(self.len - 8).cast::<u64>(), 0) };
        }
    }

    /// Zero-fills the rest of the buffer (the record's padding) and returns
    /// the bytes written before it. Afterwards the encoder is full: any
    /// further write overflows.
    #[inline(always)]
    pub fn finish(&mut self) -> usize {
        let written = self.pos;
        // SAFETY: `pos <= len` always holds (`put_bytes` only advances within
        // bounds), so `[pos, len)` lies in the buffer that `from_raw`'s
        // contract makes ours to write.
        unsafe { core::ptr::write_bytes(self.ptr.add(self.pos), 0, self.len - self.pos) };
        self.pos = self.len;
        written
    }
}

/// A value the producer copies raw into a record.
///
/// The producer sizes the record from [`wire_len`](Arg::wire_len), writes
/// the tags, then [`put`](Arg::put)s each value:
///
/// ```
/// use ul_ring::args::{Arg, Encoder, Value};
/// use ul_ring::record::{decode, record_len, RecordHeader, HEADER_LEN};
///
/// let (a, b) = (42u32, "hi");
/// let max = ul_ring::args::DEFAULT_STR_LIMIT;
/// let len = record_len(HEADER_LEN + 2 + a.wire_len(max) + b.wire_len(max));
/// let mut buf = vec![0u8; len];
/// let mut enc = Encoder::new(&mut buf);
/// enc.put_header(&RecordHeader { len: len as u32, kind: 1, level: 2, nargs: 2, ..Default::default() });
/// enc.put_u8(u32::TAG);
/// enc.put_u8(<&str>::TAG);
/// a.put(&mut enc, max);
/// b.put(&mut enc, max);
/// enc.finish();
///
/// let rec = decode(&buf).unwrap();
/// let args: Vec<Value> = rec.args.iter().collect();
/// assert_eq!(args, [Value::U64(42), Value::Str("hi")]);
/// ```
pub trait Arg {
    /// Its wire tag.
    const TAG: u8;
    /// The tag to send it under when a radix placeholder (`{:x}`, `{:X}`,
    /// `{:o}`, `{:b}`) formats it: the same as [`TAG`](Arg::TAG) except
    /// for `i8`, `i16` and `i32`, which go as their unsigned bits (same
    /// bytes), because the writer widens signed integers to 64 bits and
    /// `format!("{:x}", -1i32)` is `ffffffff`, not sixteen `f`s.
    const RADIX_TAG: u8 = Self::TAG;
    /// True if the value's bytes depend on the string limit (strings):
    /// the producer reads the limit only for records that have one.
    const CUTTABLE: bool = false;
    /// Bytes its value takes (without the tag), a string cut to at most
    /// `max_str` bytes (numbers ignore it).
    fn wire_len(&self, max_str: usize) -> usize;
    /// Writes the value (without the tag): exactly `wire_len(max_str)`
    /// bytes.
    fn put(&self, enc: &mut Encoder<'_>, max_str: usize);
    /// True if `put` cuts the value (a string over `max_str` bytes).
    #[inline(always)]
    fn truncated(&self, max_str: usize) -> bool {
        let _ = max_str;
        false
    }
}

macro_rules! int_arg {
    ($($t:ty => $tag:expr, $radix:expr, $as:ty;)+) => {$(
        impl Arg for $t {
            const TAG: u8 = $tag;
            const RADIX_TAG: u8 = $radix;
            #[inline(always)]
            fn wire_len(&self, _: usize) -> usize {
                core::mem::size_of::<$as>()
            }
            #[inline(always)]
            fn put(&self, enc: &mut Encoder<'_>, _: usize) {
                enc.put_bytes(&(*self as $as).to_le_bytes());
            }
        }
    )+};
}

int_arg! {
    u8 => tag::U8, tag::U8, u8;
    u16 => tag::U16, tag::U16, u16;
    u32 => tag::U32, tag::U32, u32;
    u64 => tag::U64, tag::U64, u64;
    u128 => tag::U128, tag::U128, u128;
    usize => tag::U64, tag::U64, u64;
    i8 => tag::I8, tag::U8, i8;
    i16 => tag::I16, tag::U16, i16;
    i32 => tag::I32, tag::U32, i32;
    i64 => tag::I64, tag::I64, i64;
    i128 => tag::I128, tag::I128, i128;
    isize => tag::I64, tag::I64, i64;
}

impl Arg for f32 {
    const TAG: u8 = tag::F32;
    #[inline(always)]
    fn wire_len(&self, _: usize) -> usize {
        4
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>, _: usize) {
        enc.put_u32(self.to_bits());
    }
}

impl Arg for f64 {
    const TAG: u8 = tag::F64;
    #[inline(always)]
    fn wire_len(&self, _: usize) -> usize {
        8
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>, _: usize) {
        enc.put_u64(self.to_bits());
    }
}

impl Arg for bool {
    const TAG: u8 = tag::BOOL;
    #[inline(always)]
    fn wire_len(&self, _: usize) -> usize {
        1
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>, _: usize) {
        enc.put_u8(u8::from(*self));
    }
}

impl Arg for char {
    const TAG: u8 = tag::CHAR;
    #[inline(always)]
    fn wire_len(&self, _: usize) -> usize {
        4
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>, _: usize) {
        enc.put_u32(u32::from(*self));
    }
}

/// `s` cut to at most `max` bytes (and [`MAX_STR_WIRE_LEN`]) at a char
/// boundary.
#[inline(always)]
fn kept(s: &str, max: usize) -> &str {
    let max = max.min(MAX_STR_WIRE_LEN);
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Arg for str {
    const TAG: u8 = tag::STR;
    const CUTTABLE: bool = true;
    #[inline(always)]
    fn wire_len(&self, max_str: usize) -> usize {
        let k = kept(self, max_str).len();
        4 + k + if k < self.len() { 8 } else { 0 }
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>, max_str: usize) {
        let s = kept(self, max_str);
        if s.len() < self.len() {
            enc.put_u32(s.len() as u32 | STR_CUT);
            enc.put_u64((self.len() - s.len()) as u64);
        } else {
            enc.put_u32(s.len() as u32);
        }
        enc.put_bytes(s.as_bytes());
    }
    #[inline(always)]
    fn truncated(&self, max_str: usize) -> bool {
        self.len() > max_str.min(MAX_STR_WIRE_LEN)
    }
}

impl Arg for String {
    const TAG: u8 = tag::STR;
    const CUTTABLE: bool = true;
    #[inline(always)]
    fn wire_len(&self, max_str: usize) -> usize {
        self.as_str().wire_len(max_str)
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>, max_str: usize) {
        self.as_str().put(enc, max_str)
    }
    #[inline(always)]
    fn truncated(&self, max_str: usize) -> bool {
        self.as_str().truncated(max_str)
    }
}

/// A value formatted at the call site ([`tag::TEXT`]): the writer puts it
/// in its placeholder as it is. The log macros send one for an argument
/// whose type the codec does not carry raw (`{:?}` of a struct).
///
/// ```
/// use ul_ring::args::{Arg, Text, tag};
/// assert_eq!(<Text<String>>::TAG, tag::TEXT);
/// assert_eq!(Text("P { x: 3 }").wire_len(1024), 4 + 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text<S>(pub S);

impl<S: AsRef<str>> Arg for Text<S> {
    const TAG: u8 = tag::TEXT;
    const CUTTABLE: bool = true;
    #[inline(always)]
    fn wire_len(&self, max_str: usize) -> usize {
        self.0.as_ref().wire_len(max_str)
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>, max_str: usize) {
        self.0.as_ref().put(enc, max_str)
    }
    #[inline(always)]
    fn truncated(&self, max_str: usize) -> bool {
        self.0.as_ref().truncated(max_str)
    }
}

impl<T: Arg + ?Sized> Arg for &T {
    const TAG: u8 = T::TAG;
    const RADIX_TAG: u8 = T::RADIX_TAG;
    const CUTTABLE: bool = T::CUTTABLE;
    #[inline(always)]
    fn wire_len(&self, max_str: usize) -> usize {
        (**self).wire_len(max_str)
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>, max_str: usize) {
        (**self).put(enc, max_str)
    }
    #[inline(always)]
    fn truncated(&self, max_str: usize) -> bool {
        (**self).truncated(max_str)
    }
}

/// Bytes a tag's value takes, or None for a string (length-prefixed) or
/// an unknown tag.
///
/// ```
/// use ul_ring::args::{fixed_len, tag};
/// assert_eq!(fixed_len(tag::U32), Some(4));
/// assert_eq!(fixed_len(tag::STR), None);
/// ```
pub const fn fixed_len(t: u8) -> Option<usize> {
    Some(match t {
        tag::U8 | tag::I8 | tag::BOOL => 1,
        tag::U16 | tag::I16 => 2,
        tag::U32 | tag::I32 | tag::F32 | tag::CHAR => 4,
        tag::U64 | tag::I64 | tag::F64 => 8,
        tag::U128 | tag::I128 => 16,
        _ => return None,
    })
}

/// Checks the values of arguments with `tags` that start at `vstart` of
/// `record`: every tag known (else `bad_tag(tag, index)`), every value
/// inside `record`, strings UTF-8, chars scalar values, bools 0 or 1.
/// Returns the offset after the last value. Never panics.
fn check_values(
    record: &[u8],
    tags: &[u8],
    vstart: usize,
    bad_tag: impl Fn(u8, usize) -> DecodeError,
) -> Result<usize, DecodeError> {
    let end = record.len();
    let overrun = |offset: usize, len: usize| DecodeError::ArgsOverrun { offset, len, end };
    let mut at = vstart;
    for (i, &t) in tags.iter().enumerate() {
        let need = match fixed_len(t) {
            Some(n) => n,
            None if t == tag::STR || t == tag::TEXT => {
                let word = at
                    .checked_add(4)
                    .and_then(|e| record.get(at..e))
                    .and_then(|b| b.first_chunk::<4>())
                    .map(|b| u32::from_le_bytes(*b))
                    .ok_or(overrun(at, 4))?;
                let n = (word & !STR_CUT) as usize;
                // A cut string's count of bytes left out sits between
                // the word and the bytes.
                let head = if word & STR_CUT != 0 { 12 } else { 4 };
                let need = n.checked_add(head).ok_or(overrun(at, usize::MAX))?;
                let s = at
                    .checked_add(need)
                    .and_then(|e| record.get(at + head..e))
                    .ok_or(overrun(at, need))?;
                if core::str::from_utf8(s).is_err() {
                    return Err(DecodeError::BadUtf8 { offset: at + head });
                }
                need
            }
            None => return Err(bad_tag(t, i)),
        };
        let next = at.checked_add(need).ok_or(overrun(at, need))?;
        let v = record.get(at..next).ok_or(overrun(at, need))?;
        match t {
            tag::BOOL if v.first().is_none_or(|&b| b > 1) => {
                return Err(DecodeError::BadValue {
                    offset: at,
                    what: "bool",
                })
            }
            tag::CHAR
                if v.first_chunk::<4>()
                    .and_then(|b| char::from_u32(u32::from_le_bytes(*b)))
                    .is_none() =>
            {
                return Err(DecodeError::BadValue {
                    offset: at,
                    what: "char",
                })
            }
            _ => {}
        }
        at = next;
    }
    Ok(at)
}

/// A record's validated arguments. Two are equal if their bytes are.
///
/// Made by [`decode`](crate::record::decode), which checks every tag and
/// value, so iterating cannot fail.
///
/// ```
/// use ul_ring::args::{encode_record, OwnedValue, Value};
/// let mut buf = Vec::new();
/// encode_record(&mut buf, Default::default(), &[OwnedValue::I8(-1), OwnedValue::Bool(true)]);
/// let args = ul_ring::record::decode(&buf).unwrap().args;
/// assert_eq!(args.len(), 2);
/// assert_eq!(args.iter().collect::<Vec<_>>(), [Value::I64(-1), Value::Bool(true)]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Args<'a> {
    tags: &'a [u8],
    values: &'a [u8],
}

impl<'a> Args<'a> {
    /// Validates `nargs` arguments whose tags start at `offset` of `record`
    /// (`record` is the whole record, so offsets in errors are within it):
    /// a tagged record's.
    ///
    /// Checks every tag, that every value lies within `record`, that strings
    /// are UTF-8, chars scalar values and bools 0 or 1. Never panics.
    pub(crate) fn parse(
        record: &'a [u8],
        offset: usize,
        nargs: usize,
    ) -> Result<Self, DecodeError> {
        let end = record.len();
        let overrun = |offset: usize, len: usize| DecodeError::ArgsOverrun { offset, len, end };
        let vstart = offset.checked_add(nargs).ok_or(overrun(offset, nargs))?;
        let tags = record.get(offset..vstart).ok_or(overrun(offset, nargs))?;
        let at = check_values(record, tags, vstart, |t, i| DecodeError::BadTag {
            tag: t,
            offset: offset.saturating_add(i),
        })?;
        let values = record
            .get(vstart..at)
            .ok_or(overrun(vstart, at.saturating_sub(vstart)))?;
        Ok(Args { tags, values })
    }

    /// Validates the values of a compact record, which start at `vstart`
    /// of `record` and have the types `signature` (its call site's tags)
    /// gives. Returns them and the offset after the last one. Never panics.
    pub(crate) fn parse_signed(
        record: &'a [u8],
        signature: &'a [u8],
        vstart: usize,
    ) -> Result<(Self, usize), DecodeError> {
        let at = check_values(record, signature, vstart, |t, i| {
            DecodeError::BadSignature { tag: t, index: i }
        })?;
        let values = record.get(vstart..at).ok_or(DecodeError::ArgsOverrun {
            offset: vstart,
            len: at.saturating_sub(vstart),
            end: record.len(),
        })?;
        Ok((
            Args {
                tags: signature,
                values,
            },
            at,
        ))
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The arguments in order.
    pub fn iter(&self) -> ArgsIter<'a> {
        ArgsIter {
            tags: self.tags,
            values: self.values,
        }
    }
}

/// Iterator over [`Args`].
#[derive(Clone, Debug)]
pub struct ArgsIter<'a> {
    tags: &'a [u8],
    values: &'a [u8],
}

impl<'a> ArgsIter<'a> {
    fn take_bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (b, rest) = self.values.split_first_chunk::<N>()?;
        self.values = rest;
        Some(*b)
    }
}

impl<'a> Iterator for ArgsIter<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        let (&t, rest) = self.tags.split_first()?;
        self.tags = rest;
        // Validated by `Args::parse`; if anything is off anyway, end.
        let v = match t {
            tag::U8 => Value::U64(u64::from(self.take_bytes::<1>()?[0])),
            tag::U16 => Value::U64(u64::from(u16::from_le_bytes(self.take_bytes()?))),
            tag::U32 => Value::U64(u64::from(u32::from_le_bytes(self.take_bytes()?))),
            tag::U64 => Value::U64(u64::from_le_bytes(self.take_bytes()?)),
            tag::U128 => Value::U128(u128::from_le_bytes(self.take_bytes()?)),
            tag::I8 => Value::I64(i64::from(i8::from_le_bytes(self.take_bytes()?))),
            tag::I16 => Value::I64(i64::from(i16::from_le_bytes(self.take_bytes()?))),
            tag::I32 => Value::I64(i64::from(i32::from_le_bytes(self.take_bytes()?))),
            tag::I64 => Value::I64(i64::from_le_bytes(self.take_bytes()?)),
            tag::I128 => Value::I128(i128::from_le_bytes(self.take_bytes()?)),
            tag::F32 => Value::F32(f32::from_bits(u32::from_le_bytes(self.take_bytes()?))),
            tag::F64 => Value::F64(f64::from_bits(u64::from_le_bytes(self.take_bytes()?))),
            tag::BOOL => Value::Bool(self.take_bytes::<1>()?[0] != 0),
            tag::CHAR => Value::Char(char::from_u32(u32::from_le_bytes(self.take_bytes()?))?),
            tag::STR | tag::TEXT => {
                let word = u32::from_le_bytes(self.take_bytes()?);
                let omitted = if word & STR_CUT != 0 {
                    Some(u64::from_le_bytes(self.take_bytes()?))
                } else {
                    None
                };
                let n = (word & !STR_CUT) as usize;
                let (b, rest) = self.values.split_at_checked(n)?;
                self.values = rest;
                let s = core::str::from_utf8(b).ok()?;
                match (omitted, t == tag::TEXT) {
                    (None, false) => Value::Str(s),
                    (None, true) => Value::Text(s),
                    (Some(omitted), formatted) => Value::Cut {
                        kept: s,
                        omitted,
                        formatted,
                    },
                }
            }
            _ => return None,
        };
        Some(v)
    }
}

/// An owned argument, for building records in tests, fuzzers and tools
/// (see [`encode_record`]). With the `arbitrary` feature it implements
/// `arbitrary::Arbitrary`.
///
/// ```
/// use ul_ring::args::{OwnedValue, Value};
/// assert_eq!(OwnedValue::U16(3).as_value(), Value::U64(3));
/// assert_eq!(OwnedValue::Str("s".into()).as_value(), Value::Str("s"));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OwnedValue {
    /// u8
    U8(u8),
    /// u16
    U16(u16),
    /// u32
    U32(u32),
    /// u64
    U64(u64),
    /// u128
    U128(u128),
    /// i8
    I8(i8),
    /// i16
    I16(i16),
    /// i32
    I32(i32),
    /// i64
    I64(i64),
    /// i128
    I128(i128),
    /// f32
    F32(f32),
    /// f64
    F64(f64),
    /// bool
    Bool(bool),
    /// char
    Char(char),
    /// String
    Str(String),
    /// Text formatted at the call site ([`tag::TEXT`]).
    Text(String),
}

impl OwnedValue {
    /// The value as the decoder returns it: integers widened to 64 bits
    /// (128-bit ones kept), strings cut as the producer cuts them.
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::U8(v) => Value::U64(u64::from(*v)),
            OwnedValue::U16(v) => Value::U64(u64::from(*v)),
            OwnedValue::U32(v) => Value::U64(u64::from(*v)),
            OwnedValue::U64(v) => Value::U64(*v),
            OwnedValue::U128(v) => Value::U128(*v),
            OwnedValue::I8(v) => Value::I64(i64::from(*v)),
            OwnedValue::I16(v) => Value::I64(i64::from(*v)),
            OwnedValue::I32(v) => Value::I64(i64::from(*v)),
            OwnedValue::I64(v) => Value::I64(*v),
            OwnedValue::I128(v) => Value::I128(*v),
            OwnedValue::F32(v) => Value::F32(*v),
            OwnedValue::F64(v) => Value::F64(*v),
            OwnedValue::Bool(v) => Value::Bool(*v),
            OwnedValue::Char(v) => Value::Char(*v),
            OwnedValue::Str(v) | OwnedValue::Text(v) => {
                let formatted = matches!(self, OwnedValue::Text(_));
                let k = kept(v, DEFAULT_STR_LIMIT);
                match (k.len() < v.len(), formatted) {
                    (false, false) => Value::Str(k),
                    (false, true) => Value::Text(k),
                    (true, _) => Value::Cut {
                        kept: k,
                        omitted: (v.len() - k.len()) as u64,
                        formatted,
                    },
                }
            }
        }
    }

    /// Bytes its value takes in a record (without a tag), a string cut to
    /// [`DEFAULT_STR_LIMIT`] as the producer cuts it.
    ///
    /// ```
    /// use ul_ring::args::OwnedValue;
    /// assert_eq!(OwnedValue::U32(1).wire_len(), 4);
    /// assert_eq!(OwnedValue::Str("abc".into()).wire_len(), 4 + 3);
    /// ```
    pub fn wire_len(&self) -> usize {
        self.tag_and_put(None).1
    }

    fn tag_and_put(&self, enc: Option<&mut Encoder<'_>>) -> (u8, usize) {
        fn go<T: Arg + ?Sized>(v: &T, enc: Option<&mut Encoder<'_>>) -> (u8, usize) {
            if let Some(e) = enc {
                v.put(e, DEFAULT_STR_LIMIT);
            }
            (T::TAG, v.wire_len(DEFAULT_STR_LIMIT))
        }
        match self {
            OwnedValue::U8(v) => go(v, enc),
            OwnedValue::U16(v) => go(v, enc),
            OwnedValue::U32(v) => go(v, enc),
            OwnedValue::U64(v) => go(v, enc),
            OwnedValue::U128(v) => go(v, enc),
            OwnedValue::I8(v) => go(v, enc),
            OwnedValue::I16(v) => go(v, enc),
            OwnedValue::I32(v) => go(v, enc),
            OwnedValue::I64(v) => go(v, enc),
            OwnedValue::I128(v) => go(v, enc),
            OwnedValue::F32(v) => go(v, enc),
            OwnedValue::F64(v) => go(v, enc),
            OwnedValue::Bool(v) => go(v, enc),
            OwnedValue::Char(v) => go(v, enc),
            OwnedValue::Str(v) => go(v.as_str(), enc),
            OwnedValue::Text(v) => go(&Text(v), enc),
        }
    }
}

/// Appends a whole record to `buf`: `header` (with `len` and `nargs` set
/// from `args`), the tags, the values, the padding. At most 255 arguments
/// are encoded. A `kind` of 0 becomes [`RecordKind::Log`]; strings over
/// [`DEFAULT_STR_LIMIT`] are cut and set [`FLAG_TRUNCATED`]. Nothing limits the
/// total: a record over [`MAX_RECORD_LEN`] is written, and
/// [`decode`](crate::record::decode) refuses it.
///
/// [`RecordKind::Log`]: crate::record::RecordKind::Log
/// [`FLAG_TRUNCATED`]: crate::record::FLAG_TRUNCATED
/// [`MAX_RECORD_LEN`]: crate::record::MAX_RECORD_LEN
///
/// ```
/// use ul_ring::args::{encode_record, OwnedValue, Value};
/// let mut buf = Vec::new();
/// encode_record(&mut buf, Default::default(), &[OwnedValue::Str("hi".into())]);
/// assert_eq!(buf.len() % 8, 0);
/// let rec = ul_ring::record::decode(&buf).unwrap();
/// assert_eq!(rec.args.iter().next(), Some(Value::Str("hi")));
/// ```
pub fn encode_record(buf: &mut Vec<u8>, mut header: RecordHeader, args: &[OwnedValue]) {
    let args = &args[..args.len().min(255)];
    let body: usize = args.iter().map(|a| 1 + a.tag_and_put(None).1).sum();
    let len = crate::record::record_len(HEADER_LEN + body);
    header.len = len as u32;
    header.nargs = args.len() as u8;
    if header.kind == 0 {
        header.kind = crate::record::RecordKind::Log as u8;
    }
    if args.iter().any(
        |a| matches!(a, OwnedValue::Str(s) | OwnedValue::Text(s) if s.len() > DEFAULT_STR_LIMIT),
    ) {
        header.flags |= crate::record::FLAG_TRUNCATED;
    }
    let start = buf.len();
    buf.resize(start + len, 0);
    let mut enc = Encoder::new(&mut buf[start..]);
    enc.put_header(&header);
    for a in args {
        enc.put_u8(a.tag_and_put(None).0);
    }
    for a in args {
        a.tag_and_put(Some(&mut enc));
    }
    enc.finish();
}

/// The fields of a compact record that are not its arguments (see
/// [`encode_compact`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CompactHeader {
    /// [`FLAG_TSC`] and [`FLAG_TRUNCATED`]; other bits are ignored.
    pub flags: u16,
    /// TSC ticks or Unix nanoseconds.
    pub timestamp: u64,
    /// Callsite id, at most [`MAX_COMPACT_CALLSITE`].
    pub callsite: u32,
    /// Context id (0: none, and no context word).
    pub context: u32,
}

/// The signature of an argument list: its tags, as a call site registers
/// them for its compact records.
///
/// ```
/// use ul_ring::args::{signature_of, tag, OwnedValue};
/// assert_eq!(signature_of(&[OwnedValue::Str("x".into()), OwnedValue::Bool(true)]), [tag::STR, tag::BOOL]);
/// ```
pub fn signature_of(args: &[OwnedValue]) -> Vec<u8> {
    args.iter().map(|a| a.tag_and_put(None).0).collect()
}

/// Appends a whole compact record to `buf`: the header word, the
/// timestamp, the values of `args` (whose tags, [`signature_of`], are its
/// call site's signature), the context if not 0, the padding. Strings over
/// [`DEFAULT_STR_LIMIT`] are cut and set the truncation flag. Nothing
/// limits the total: a record over
/// [`MAX_RECORD_LEN`](crate::record::MAX_RECORD_LEN) is written, and
/// [`decode_with`](crate::record::decode_with) refuses it.
///
/// # Panics
///
/// If `header.callsite` is over [`MAX_COMPACT_CALLSITE`] (it cannot be
/// written), or the record is 4 GiB or more.
///
/// ```
/// use ul_ring::args::{encode_compact, CompactHeader, OwnedValue};
/// let mut buf = Vec::new();
/// encode_compact(&mut buf, CompactHeader::default(), &[]);
/// assert_eq!(buf.len(), 16);
/// encode_compact(&mut buf, CompactHeader { context: 5, ..Default::default() }, &[OwnedValue::U32(1)]);
/// assert_eq!(buf.len(), 16 + 24);
/// ```
pub fn encode_compact(buf: &mut Vec<u8>, header: CompactHeader, args: &[OwnedValue]) {
    assert!(
        header.callsite <= MAX_COMPACT_CALLSITE,
        "callsite id {} does not fit a compact record",
        header.callsite
    );
    let values: usize = args.iter().map(|a| a.tag_and_put(None).1).sum();
    let ctx = if header.context != 0 { 4 } else { 0 };
    let len = crate::record::record_len(COMPACT_HEADER_LEN + values + ctx);
    let mut flags = 0;
    if header.flags & FLAG_TSC != 0 {
        flags |= COMPACT_TSC;
    }
    let cut = args.iter().any(
        |a| matches!(a, OwnedValue::Str(s) | OwnedValue::Text(s) if s.len() > DEFAULT_STR_LIMIT),
    );
    if header.flags & FLAG_TRUNCATED != 0 || cut {
        flags |= COMPACT_TRUNCATED;
    }
    if ctx != 0 {
        flags |= COMPACT_CONTEXT;
    }
    let word = crate::record::compact_word(
        u32::try_from(len).expect("a record under 4 GiB") as usize,
        flags,
        header.callsite,
    );
    let start = buf.len();
    buf.resize(start + len, 0);
    let mut enc = Encoder::new(&mut buf[start..]);
    enc.put_u64(word);
    enc.put_u64(header.timestamp);
    for a in args {
        a.tag_and_put(Some(&mut enc));
    }
    if ctx != 0 {
        enc.put_u32(header.context);
    }
    enc.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{decode, RecordKind, FLAG_TRUNCATED};

    /// Encodes one argument through the `Arg` trait as the producer does
    /// and decodes it back.
    fn roundtrip<T: Arg + ?Sized>(v: &T) -> Vec<Value<'static>> {
        let len = crate::record::record_len(HEADER_LEN + 1 + v.wire_len(DEFAULT_STR_LIMIT));
        let mut buf = vec![0xAAu8; len];
        let header = RecordHeader {
            len: len as u32,
            kind: RecordKind::Log as u8,
            level: 2,
            nargs: 1,
            flags: if v.truncated(DEFAULT_STR_LIMIT) {
                FLAG_TRUNCATED
            } else {
                0
            },
            ..Default::default()
        };
        let mut enc = Encoder::new(&mut buf);
        enc.put_header(&header);
        enc.put_u8(T::TAG);
        let before = enc.position();
        v.put(&mut enc, DEFAULT_STR_LIMIT);
        assert_eq!(enc.position() - before, v.wire_len(DEFAULT_STR_LIMIT));
        assert!(!enc.overflowed());
        enc.finish();
        let buf: &'static [u8] = Box::leak(buf.into_boxed_slice());
        let rec = decode(buf).unwrap();
        assert_eq!(rec.args.len(), 1);
        rec.args.iter().collect()
    }

    fn one<T: Arg + ?Sized>(v: &T) -> Value<'static> {
        let vs = roundtrip(v);
        assert_eq!(vs.len(), 1);
        vs[0]
    }

    #[test]
    fn unsigned_roundtrip() {
        assert_eq!(u8::TAG, tag::U8);
        assert_eq!(one(&0xfeu8), Value::U64(0xfe));
        assert_eq!(u16::TAG, tag::U16);
        assert_eq!(one(&0xfedcu16), Value::U64(0xfedc));
        assert_eq!(u32::TAG, tag::U32);
        assert_eq!(one(&u32::MAX), Value::U64(u64::from(u32::MAX)));
        assert_eq!(u64::TAG, tag::U64);
        assert_eq!(one(&u64::MAX), Value::U64(u64::MAX));
        assert_eq!(u128::TAG, tag::U128);
        assert_eq!(one(&(u128::MAX - 7)), Value::U128(u128::MAX - 7));
        assert_eq!(usize::TAG, tag::U64);
        assert_eq!(one(&usize::MAX), Value::U64(usize::MAX as u64));
    }

    #[test]
    fn signed_roundtrip() {
        assert_eq!(i8::TAG, tag::I8);
        assert_eq!(one(&-128i8), Value::I64(-128));
        assert_eq!(i16::TAG, tag::I16);
        assert_eq!(one(&i16::MIN), Value::I64(i64::from(i16::MIN)));
        assert_eq!(i32::TAG, tag::I32);
        assert_eq!(one(&-5i32), Value::I64(-5));
        assert_eq!(i64::TAG, tag::I64);
        assert_eq!(one(&i64::MIN), Value::I64(i64::MIN));
        assert_eq!(i128::TAG, tag::I128);
        assert_eq!(one(&(i128::MIN + 3)), Value::I128(i128::MIN + 3));
        assert_eq!(isize::TAG, tag::I64);
        assert_eq!(one(&isize::MIN), Value::I64(isize::MIN as i64));
    }

    #[test]
    fn float_roundtrip() {
        assert_eq!(f32::TAG, tag::F32);
        assert_eq!(one(&1.5f32), Value::F32(1.5));
        assert_eq!(one(&f32::NEG_INFINITY), Value::F32(f32::NEG_INFINITY));
        let nan = f32::from_bits(0x7fc0_1234);
        assert!(matches!(one(&nan), Value::F32(x) if x.to_bits() == nan.to_bits()));
        assert_eq!(f64::TAG, tag::F64);
        assert_eq!(one(&-0.25f64), Value::F64(-0.25));
        assert!(matches!(one(&-0.0f64), Value::F64(x) if x.to_bits() == (-0.0f64).to_bits()));
        let nan = f64::from_bits(0xfff8_0000_0000_0042);
        assert!(matches!(one(&nan), Value::F64(x) if x.to_bits() == nan.to_bits()));
    }

    #[test]
    fn bool_char_roundtrip() {
        assert_eq!(bool::TAG, tag::BOOL);
        assert_eq!(one(&true), Value::Bool(true));
        assert_eq!(one(&false), Value::Bool(false));
        assert_eq!(char::TAG, tag::CHAR);
        for c in ['a', '\0', 'é', '\u{10FFFF}', '🦀'] {
            assert_eq!(one(&c), Value::Char(c));
        }
    }

    #[test]
    fn str_roundtrip() {
        assert_eq!(<str as Arg>::TAG, tag::STR);
        assert_eq!(String::TAG, tag::STR);
        assert_eq!(<&str as Arg>::TAG, tag::STR);
        assert_eq!(one("héllo"), Value::Str("héllo"));
        assert_eq!(one(""), Value::Str(""));
        assert_eq!(one(&String::from("owned")), Value::Str("owned"));
        assert_eq!(one(&&"ref"), Value::Str("ref"));
        assert_eq!(one(&&&7u8), Value::U64(7));
        assert_eq!("abc".wire_len(DEFAULT_STR_LIMIT), 7);
        assert!(!"abc".truncated(DEFAULT_STR_LIMIT));
    }

    #[test]
    fn long_strings_are_cut_at_a_char_boundary_and_say_how_much() {
        let max = DEFAULT_STR_LIMIT;
        // 'é' is 2 bytes; with an odd prefix the limit falls inside one.
        let s = format!("x{}", "é".repeat(max));
        assert!(s.truncated(max));
        assert!(String::from(s.as_str()).truncated(max));
        assert_eq!(s.wire_len(max), 4 + 8 + max - 1);
        let Value::Cut {
            kept,
            omitted,
            formatted: false,
        } = one(s.as_str())
        else {
            panic!("not a cut string")
        };
        assert_eq!(kept.len(), max - 1);
        assert_eq!(omitted as usize, s.len() - kept.len());
        assert!(s.starts_with(kept));
        // Exactly the limit is kept whole.
        let s = "y".repeat(max);
        assert!(!s.truncated(max));
        assert_eq!(
            one(s.as_str()),
            Value::Str(&*Box::leak(s.clone().into_boxed_str()))
        );
        // A 4-byte char straddling the limit.
        let s = format!("{}🦀", "z".repeat(max - 2));
        assert_eq!(s.wire_len(max), 4 + 8 + max - 2);
        // Another limit, and a text.
        assert!(Text("abcdef").truncated(4));
        assert_eq!(Text("abcdef").wire_len(4), 4 + 8 + 4);
        assert!(!Text("abcd").truncated(4));
    }

    #[test]
    fn a_cut_text_decodes_as_a_formatted_cut() {
        let long = "t".repeat(DEFAULT_STR_LIMIT + 5);
        let mut buf = Vec::new();
        encode_record(&mut buf, Default::default(), &[OwnedValue::Text(long)]);
        let rec = decode(&buf).unwrap();
        assert_ne!(rec.flags & FLAG_TRUNCATED, 0);
        assert_eq!(
            rec.args.iter().next(),
            Some(Value::Cut {
                kept: &"t".repeat(DEFAULT_STR_LIMIT),
                omitted: 5,
                formatted: true
            })
        );
    }

    #[test]
    fn a_cut_length_word_without_its_count_is_an_overrun() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            Default::default(),
            &[OwnedValue::Str("abcd".into())],
        );
        // Set the cut bit: the 8-byte count would now cover the bytes and
        // run past them.
        let word = HEADER_LEN + 1;
        buf[word + 3] |= 0x80;
        assert!(decode(&buf).is_err());
    }

    #[test]
    fn encode_record_flags_truncation() {
        let mut buf = Vec::new();
        let long = "a".repeat(DEFAULT_STR_LIMIT + 10);
        encode_record(
            &mut buf,
            RecordHeader::default(),
            &[OwnedValue::Str(long.clone())],
        );
        let rec = decode(&buf).unwrap();
        assert_ne!(rec.flags & FLAG_TRUNCATED, 0);
        let cut = Value::Cut {
            kept: &long[..DEFAULT_STR_LIMIT],
            omitted: 10,
            formatted: false,
        };
        assert!(rec.args.iter().next() == Some(cut), "not cut as said");
        assert!(OwnedValue::Str(long.clone()).as_value() == cut);
    }

    #[test]
    fn encode_record_appends_and_pads() {
        let mut buf = vec![1, 2, 3, 4, 5, 6, 7, 8];
        let args = [
            OwnedValue::U8(1),
            OwnedValue::I16(-2),
            OwnedValue::Str("three".into()),
            OwnedValue::Char('4'),
            OwnedValue::F64(5.5),
        ];
        encode_record(&mut buf, RecordHeader::default(), &args);
        assert_eq!(&buf[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let rec = &buf[8..];
        // 32 header + 5 tags + 1 + 2 + 9 + 4 + 8 = 61 -> 64
        assert_eq!(rec.len(), 64);
        assert_eq!(
            &rec[32..37],
            &[tag::U8, tag::I16, tag::STR, tag::CHAR, tag::F64]
        );
        assert_eq!(&rec[61..], &[0, 0, 0]);
        let got: Vec<_> = decode(rec).unwrap().args.iter().collect();
        let want: Vec<_> = args.iter().map(OwnedValue::as_value).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn encode_record_caps_at_255_args() {
        let args = vec![OwnedValue::Bool(true); 300];
        let mut buf = Vec::new();
        encode_record(&mut buf, RecordHeader::default(), &args);
        let rec = decode(&buf).unwrap();
        assert_eq!(rec.len, buf.len());
        assert_eq!(rec.args.len(), 255);
        assert_eq!(rec.args.iter().count(), 255);
    }

    #[test]
    fn encoder_bounds() {
        let mut buf = [0xffu8; 16];
        let mut enc = Encoder::new(&mut buf);
        enc.put_u16(0x0201);
        enc.put_u32(0x0605_0403);
        enc.put_bytes(&[7; 20]); // too long: nothing written
        assert!(enc.overflowed());
        enc.put_u8(7);
        assert_eq!(enc.position(), 7);
        assert_eq!(enc.finish(), 7);
        assert_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

        let mut buf = [0u8; 8];
        let mut enc = Encoder::new(&mut buf);
        enc.put_u64(u64::MAX);
        assert!(!enc.overflowed());
        enc.put_u8(1);
        assert!(enc.overflowed());
        assert_eq!(enc.finish(), 8);

        let mut empty: [u8; 0] = [];
        let mut enc = Encoder::new(&mut empty);
        enc.put_u8(1);
        assert!(enc.overflowed());
        assert_eq!(enc.finish(), 0);
    }

    #[test]
    fn zero_last_word_pads_without_finish() {
        let mut buf = [0xffu8; 40];
        let mut enc = Encoder::new(&mut buf);
        enc.zero_last_word();
        assert_eq!(enc.position(), 0);
        enc.put_header(&RecordHeader {
            len: 40,
            kind: 1,
            nargs: 1,
            ..Default::default()
        });
        enc.put_u8(tag::U16);
        0xabcdu16.put(&mut enc, DEFAULT_STR_LIMIT);
        assert_eq!(enc.position(), 35);
        assert!(!enc.overflowed());
        assert_eq!(&buf[35..], &[0; 5]);
        let got: Vec<_> = decode(&buf).unwrap().args.iter().collect();
        assert_eq!(got, [Value::U64(0xabcd)]);

        // Shorter than a word: nothing to do, nothing written.
        let mut small = [0xffu8; 7];
        Encoder::new(&mut small).zero_last_word();
        assert_eq!(small, [0xff; 7]);
    }

    #[test]
    fn encoder_from_raw() {
        let mut buf = [0xaau8; 40];
        // SAFETY: `buf` is a local array valid for 40 bytes of writes and
        // only the encoder touches it until it is dropped.
        let mut enc = unsafe { Encoder::from_raw(buf.as_mut_ptr(), buf.len()) };
        enc.put_header(&RecordHeader {
            len: 40,
            kind: 1,
            nargs: 1,
            ..Default::default()
        });
        enc.put_u8(tag::U8);
        9u8.put(&mut enc, DEFAULT_STR_LIMIT);
        enc.finish();
        let got: Vec<_> = decode(&buf).unwrap().args.iter().collect();
        assert_eq!(got, [Value::U64(9)]);
    }

    #[test]
    fn iterator_on_inconsistent_args_ends() {
        // Built by hand, bypassing `parse`: the iterator stops instead of
        // panicking.
        let a = Args {
            tags: &[tag::U64, tag::STR, 99],
            values: &[1, 2, 3],
        };
        assert_eq!(a.iter().next(), None);
        let a = Args {
            tags: &[tag::U8, tag::STR],
            values: &[1, 200, 0, 0, 0, b'x'],
        };
        assert_eq!(a.iter().collect::<Vec<_>>(), [Value::U64(1)]);
        let a = Args {
            tags: &[99, tag::U8],
            values: &[1],
        };
        assert_eq!(a.iter().count(), 0);
    }
}
