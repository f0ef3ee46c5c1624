//! Argument encoding (producer side) and decoding (writer side).
//!
//! After the 32-byte header: one tag byte per argument, then the values
//! packed back to back, little-endian, unaligned, then zero padding.
//!
//! | tag | type | bytes |
//! |---|---|---|
//! | 1..=5 | u8, u16, u32, u64, u128 | 1, 2, 4, 8, 16 |
//! | 6..=10 | i8, i16, i32, i64, i128 | 1, 2, 4, 8, 16 |
//! | 11, 12 | f32, f64 (IEEE bits) | 4, 8 |
//! | 13 | bool (0 or 1) | 1 |
//! | 14 | char (scalar value) | 4 |
//! | 15 | str: u32 length, UTF-8 bytes | 4 + length |

use crate::record::{DecodeError, RecordHeader, HEADER_LEN};

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
}

/// Longest string argument kept; longer ones are cut at a char boundary at
/// or below this and the record is flagged `FLAG_TRUNCATED`.
pub const MAX_STR_LEN: usize = 16 * 1024;

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
    /// `ptr` must be valid for writes of `len` bytes for `'a`, and nothing
    /// else may access those bytes while the encoder lives.
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

    /// Zero-fills the rest of the buffer (the record's padding) and returns
    /// the bytes written before it.
    #[inline(always)]
    pub fn finish(&mut self) -> usize {
        let written = self.pos;
        // SAFETY: `[pos, len)` is inside the buffer.
        unsafe { core::ptr::write_bytes(self.ptr.add(self.pos), 0, self.len - self.pos) };
        self.pos = self.len;
        written
    }
}

/// A value the producer copies raw into a record.
pub trait Arg {
    /// Its wire tag.
    const TAG: u8;
    /// Bytes its value takes (without the tag).
    fn wire_len(&self) -> usize;
    /// Writes the value (without the tag): exactly `wire_len()` bytes.
    fn put(&self, enc: &mut Encoder<'_>);
    /// True if `put` cuts the value (strings over [`MAX_STR_LEN`]).
    #[inline(always)]
    fn truncated(&self) -> bool {
        false
    }
}

macro_rules! int_arg {
    ($($t:ty => $tag:expr, $as:ty;)+) => {$(
        impl Arg for $t {
            const TAG: u8 = $tag;
            #[inline(always)]
            fn wire_len(&self) -> usize {
                core::mem::size_of::<$as>()
            }
            #[inline(always)]
            fn put(&self, enc: &mut Encoder<'_>) {
                enc.put_bytes(&(*self as $as).to_le_bytes());
            }
        }
    )+};
}

int_arg! {
    u8 => tag::U8, u8;
    u16 => tag::U16, u16;
    u32 => tag::U32, u32;
    u64 => tag::U64, u64;
    u128 => tag::U128, u128;
    usize => tag::U64, u64;
    i8 => tag::I8, i8;
    i16 => tag::I16, i16;
    i32 => tag::I32, i32;
    i64 => tag::I64, i64;
    i128 => tag::I128, i128;
    isize => tag::I64, i64;
}

impl Arg for f32 {
    const TAG: u8 = tag::F32;
    #[inline(always)]
    fn wire_len(&self) -> usize {
        4
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>) {
        enc.put_u32(self.to_bits());
    }
}

impl Arg for f64 {
    const TAG: u8 = tag::F64;
    #[inline(always)]
    fn wire_len(&self) -> usize {
        8
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>) {
        enc.put_u64(self.to_bits());
    }
}

impl Arg for bool {
    const TAG: u8 = tag::BOOL;
    #[inline(always)]
    fn wire_len(&self) -> usize {
        1
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>) {
        enc.put_u8(u8::from(*self));
    }
}

impl Arg for char {
    const TAG: u8 = tag::CHAR;
    #[inline(always)]
    fn wire_len(&self) -> usize {
        4
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>) {
        enc.put_u32(u32::from(*self));
    }
}

/// `s` cut to at most [`MAX_STR_LEN`] bytes at a char boundary.
#[inline(always)]
fn kept(s: &str) -> &str {
    if s.len() <= MAX_STR_LEN {
        return s;
    }
    let mut end = MAX_STR_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Arg for str {
    const TAG: u8 = tag::STR;
    #[inline(always)]
    fn wire_len(&self) -> usize {
        4 + kept(self).len()
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>) {
        let s = kept(self);
        enc.put_u32(s.len() as u32);
        enc.put_bytes(s.as_bytes());
    }
    #[inline(always)]
    fn truncated(&self) -> bool {
        self.len() > MAX_STR_LEN
    }
}

impl Arg for String {
    const TAG: u8 = tag::STR;
    #[inline(always)]
    fn wire_len(&self) -> usize {
        self.as_str().wire_len()
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>) {
        self.as_str().put(enc)
    }
    #[inline(always)]
    fn truncated(&self) -> bool {
        self.as_str().truncated()
    }
}

impl<T: Arg + ?Sized> Arg for &T {
    const TAG: u8 = T::TAG;
    #[inline(always)]
    fn wire_len(&self) -> usize {
        (**self).wire_len()
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>) {
        (**self).put(enc)
    }
    #[inline(always)]
    fn truncated(&self) -> bool {
        (**self).truncated()
    }
}

/// Bytes a tag's value takes, or None for a string (length-prefixed) or
/// an unknown tag.
const fn fixed_len(t: u8) -> Option<usize> {
    Some(match t {
        tag::U8 | tag::I8 | tag::BOOL => 1,
        tag::U16 | tag::I16 => 2,
        tag::U32 | tag::I32 | tag::F32 | tag::CHAR => 4,
        tag::U64 | tag::I64 | tag::F64 => 8,
        tag::U128 | tag::I128 => 16,
        _ => return None,
    })
}

/// A record's validated arguments.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    tags: &'a [u8],
    values: &'a [u8],
}

impl<'a> Args<'a> {
    /// Validates `nargs` arguments starting at `offset` of `record`.
    pub(crate) fn parse(
        record: &'a [u8],
        offset: usize,
        nargs: usize,
    ) -> Result<Self, DecodeError> {
        let end = record.len();
        let tags =
            record
                .get(offset..offset.saturating_add(nargs))
                .ok_or(DecodeError::ArgsOverrun {
                    offset,
                    len: nargs,
                    end,
                })?;
        let vstart = offset + nargs;
        let mut at = vstart;
        for (i, &t) in tags.iter().enumerate() {
            let need = match fixed_len(t) {
                Some(n) => n,
                None if t == tag::STR => {
                    let b = record.get(at..at + 4).ok_or(DecodeError::ArgsOverrun {
                        offset: at,
                        len: 4,
                        end,
                    })?;
                    let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                    let s = record.get(at + 4..(at + 4).saturating_add(n)).ok_or(
                        DecodeError::ArgsOverrun {
                            offset: at,
                            len: 4usize.saturating_add(n),
                            end,
                        },
                    )?;
                    if core::str::from_utf8(s).is_err() {
                        return Err(DecodeError::BadUtf8 { offset: at + 4 });
                    }
                    4 + n
                }
                None => {
                    return Err(DecodeError::BadTag {
                        tag: t,
                        offset: offset + i,
                    })
                }
            };
            let v = record.get(at..at + need).ok_or(DecodeError::ArgsOverrun {
                offset: at,
                len: need,
                end,
            })?;
            match t {
                tag::BOOL if v[0] > 1 => {
                    return Err(DecodeError::BadValue {
                        offset: at,
                        what: "bool",
                    })
                }
                tag::CHAR
                    if char::from_u32(u32::from_le_bytes([v[0], v[1], v[2], v[3]])).is_none() =>
                {
                    return Err(DecodeError::BadValue {
                        offset: at,
                        what: "char",
                    })
                }
                _ => {}
            }
            at += need;
        }
        Ok(Args {
            tags,
            values: &record[vstart..at],
        })
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
            tag::STR => {
                let n = u32::from_le_bytes(self.take_bytes()?) as usize;
                let b = self.values.get(..n)?;
                self.values = &self.values[n..];
                Value::Str(core::str::from_utf8(b).ok()?)
            }
            _ => return None,
        };
        Some(v)
    }
}

/// An owned argument, for building records in tests, fuzzers and tools.
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
}

impl OwnedValue {
    /// The value as the decoder returns it.
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
            OwnedValue::Str(v) => Value::Str(kept(v)),
        }
    }

    fn tag_and_put(&self, enc: Option<&mut Encoder<'_>>) -> (u8, usize) {
        fn go<T: Arg + ?Sized>(v: &T, enc: Option<&mut Encoder<'_>>) -> (u8, usize) {
            if let Some(e) = enc {
                v.put(e);
            }
            (T::TAG, v.wire_len())
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
        }
    }
}

/// Appends a whole record to `buf`: `header` (with `len` and `nargs` set
/// from `args`), the tags, the values, the padding. At most 255 arguments
/// are encoded.
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
    if args
        .iter()
        .any(|a| matches!(a, OwnedValue::Str(s) if s.len() > MAX_STR_LEN))
    {
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
