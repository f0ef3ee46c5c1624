//! The record layouts and the record decoder.
//!
//! Every record starts with an 8-byte frame, `len u32 | kind u8 | ...`,
//! that the lanes read to walk records without decoding them. A log record
//! comes in one of two forms, told apart by the kind byte.
//!
//! **Compact** (kind `0x80 | flags`): what the log macros write. The call
//! site's level and argument types are registered once, with the call
//! site ([`crate::callsite`]: its *signature*, one tag per argument), so
//! the record carries only the values:
//!
//! ```text
//! len u32 | kind u8 | callsite u24      kind = 0x80 | COMPACT_TSC | COMPACT_TRUNCATED | COMPACT_CONTEXT
//! timestamp u64                         TSC ticks (COMPACT_TSC) or Unix ns
//! values in the signature's order, packed little-endian, no tags
//! context u32                           only with COMPACT_CONTEXT
//! zero padding to a multiple of 8
//! ```
//!
//! **Tagged** (kind 1): self-describing, for front ends whose argument
//! types are known only at run time (the `tracing` layer) and for tools:
//!
//! ```text
//! len u32 | kind u8 | level u8 | flags u16     frame: the first 8 bytes of every record
//! timestamp u64                                TSC ticks (FLAG_TSC) or Unix ns
//! callsite u32 | seq u32                       seq: unused since layout version 4 (0)
//! context u32 | nargs u8 | reserved [u8; 3]
//! nargs tag bytes, the values, zero padding to a multiple of 8
//! ```
//!
//! The decoder is the writer's first contact with bytes any producer could
//! have written: it accepts any slice, never panics, never reads out of
//! bounds and never allocates. A compact record is decoded against the
//! signature of the call site it names ([`decode_with`]); one that does not
//! match it (a length other than the signature's values give, a string
//! running past the record) is refused, never read another way.

use crate::args::Args;

/// Records start at, and are padded to, multiples of this.
pub const RECORD_ALIGN: usize = 8;
/// Bytes in a [`RecordHeader`] (the tagged form's header).
pub const HEADER_LEN: usize = 32;
/// Bytes before the values of a compact record: the frame word (length,
/// kind, callsite) and the timestamp.
pub const COMPACT_HEADER_LEN: usize = 16;
/// The kind byte of a compact record, without its flag bits.
pub const KIND_COMPACT: u8 = 0x80;
/// The kind byte bits of a compact record that are flags.
pub const COMPACT_FLAGS: u8 = 0x07;
/// Compact kind flag: the timestamp is in TSC ticks.
pub const COMPACT_TSC: u8 = 1;
/// Compact kind flag: a string argument was cut at the producer's limit.
pub const COMPACT_TRUNCATED: u8 = 2;
/// Compact kind flag: a context id (u32) follows the values.
pub const COMPACT_CONTEXT: u8 = 4;
/// Largest callsite id a compact record can name (24 bits). The callsite
/// arena is at most 128 MiB, so every id fits.
pub const MAX_COMPACT_CALLSITE: u32 = (1 << 24) - 1;
/// Largest record a producer may write (header and arguments).
pub const MAX_RECORD_LEN: usize = 64 * 1024;
/// Shortest frame: a padding record may be only its 8-byte frame.
pub const MIN_FRAME_LEN: usize = 8;

/// The timestamp is in TSC ticks (otherwise Unix nanoseconds).
pub const FLAG_TSC: u16 = 1;
/// The producer cut a string argument to [`crate::args::DEFAULT_STR_LIMIT`].
pub const FLAG_TRUNCATED: u16 = 2;

/// The header every log record starts with.
///
/// ```
/// use ul_ring::record::{RecordHeader, HEADER_LEN};
/// assert_eq!(std::mem::size_of::<RecordHeader>(), HEADER_LEN);
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RecordHeader {
    /// Whole record length, header and padding included; a multiple of 8.
    pub len: u32,
    /// A [`RecordKind`].
    pub kind: u8,
    /// A [`Level`].
    pub level: u8,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// TSC ticks if [`FLAG_TSC`], else nanoseconds since the Unix epoch.
    pub timestamp: u64,
    /// Callsite id (0: none).
    pub callsite: u32,
    /// Unused since layout version 4 (0): it was a per-thread count of
    /// records pushed, only ever shown in JSON lines, which now show the
    /// record's position in its lane instead.
    pub seq: u32,
    /// Context id (0: none).
    pub context: u32,
    /// Number of arguments that follow.
    pub nargs: u8,
    /// Zero.
    pub _reserved: [u8; 3],
}

const _: () = assert!(core::mem::size_of::<RecordHeader>() == HEADER_LEN);

impl RecordHeader {
    /// The header at the start of `bytes`, unchecked beyond its length:
    /// [`decode`] validates a record; this only reads its first 32 bytes.
    ///
    /// ```
    /// use ul_ring::record::RecordHeader;
    /// let h = RecordHeader { len: 32, seq: 7, ..Default::default() };
    /// let bytes = bytemuck::bytes_of(&h).to_vec();
    /// assert_eq!(RecordHeader::read(&bytes), Some(h));
    /// assert_eq!(RecordHeader::read(&bytes[..31]), None);
    /// ```
    #[inline]
    pub fn read(bytes: &[u8]) -> Option<RecordHeader> {
        bytes.get(..HEADER_LEN).map(bytemuck::pod_read_unaligned)
    }
}

/// What a frame holds.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A log record.
    Log = 1,
    /// Filler up to the end of a lane's buffer; skipped.
    Padding = 2,
    /// A channel message: the frame, then the message's bytes (see
    /// [`crate::channel`]). Never found in a log region.
    Message = 3,
    /// A compact log record: kind bytes `0x80..=0x87`, the low bits flags
    /// ([`COMPACT_TSC`], [`COMPACT_TRUNCATED`], [`COMPACT_CONTEXT`]).
    Compact = KIND_COMPACT,
}

impl TryFrom<u8> for RecordKind {
    type Error = DecodeError;
    fn try_from(v: u8) -> Result<Self, DecodeError> {
        match v {
            1 => Ok(RecordKind::Log),
            2 => Ok(RecordKind::Padding),
            3 => Ok(RecordKind::Message),
            k if k & !COMPACT_FLAGS == KIND_COMPACT => Ok(RecordKind::Compact),
            kind => Err(DecodeError::BadKind { kind }),
        }
    }
}

/// The first word of a compact record: its length, kind byte (with
/// `flags`, a combination of the `COMPACT_*` flags) and callsite id (at
/// most [`MAX_COMPACT_CALLSITE`]), as a little-endian u64.
///
/// ```
/// use ul_ring::record::{compact_word, read_frame, RecordKind, COMPACT_TSC};
/// let w = compact_word(40, COMPACT_TSC, 77).to_le_bytes();
/// let f = read_frame(&[&w[..], &[0; 32]].concat()).unwrap();
/// assert_eq!((f.len, RecordKind::try_from(f.kind)), (40, Ok(RecordKind::Compact)));
/// assert_eq!(u32::from_le_bytes([w[5], w[6], w[7], 0]), 77);
/// ```
#[inline(always)]
pub const fn compact_word(len: usize, flags: u8, callsite: u32) -> u64 {
    len as u64 | ((KIND_COMPACT | flags) as u64) << 32 | (callsite as u64) << 40
}

/// Severity of a record.
///
/// ```
/// use ul_ring::record::Level;
/// let l: Level = "WARN".parse().unwrap();
/// assert_eq!(l, Level::Warn);
/// assert_eq!((l.as_str(), l.as_upper()), ("warn", "WARN"));
/// assert!(Level::Error > Level::Info);
/// ```
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Finest detail.
    Trace = 0,
    /// Debugging detail.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something unexpected that was handled.
    Warn = 3,
    /// A failure.
    Error = 4,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 5] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ];

    /// Lower-case name: `"info"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Upper-case name: `"INFO"`.
    pub const fn as_upper(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

impl TryFrom<u8> for Level {
    type Error = DecodeError;
    fn try_from(v: u8) -> Result<Self, DecodeError> {
        match v {
            0 => Ok(Level::Trace),
            1 => Ok(Level::Debug),
            2 => Ok(Level::Info),
            3 => Ok(Level::Warn),
            4 => Ok(Level::Error),
            level => Err(DecodeError::BadLevel { level }),
        }
    }
}

impl core::fmt::Display for Level {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name that is not one of trace, debug, info, warn, error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown level {0:?}: use trace, debug, info, warn or error")]
pub struct ParseLevelError(pub String);

impl core::str::FromStr for Level {
    type Err = ParseLevelError;
    fn from_str(s: &str) -> Result<Self, ParseLevelError> {
        Level::ALL
            .into_iter()
            .find(|l| {
                l.as_str().eq_ignore_ascii_case(s)
                    || (s.eq_ignore_ascii_case("warning") && *l == Level::Warn)
            })
            .ok_or_else(|| ParseLevelError(s.to_string()))
    }
}

/// Rounds a record length up to [`RECORD_ALIGN`].
///
/// ```
/// assert_eq!(ul_ring::record::record_len(33), 40);
/// assert_eq!(ul_ring::record::record_len(40), 40);
/// ```
pub const fn record_len(unpadded: usize) -> usize {
    (unpadded + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// Why bytes are not a valid record. Offsets are within the record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than needed.
    #[error("record cut off: {needed} bytes needed at offset {offset}, {available} available")]
    Truncated {
        /// Where the missing bytes start.
        offset: usize,
        /// Bytes needed there.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The length field is impossible.
    #[error("record length {len} at offset 0 {why}")]
    BadLength {
        /// The length field.
        len: u32,
        /// What is wrong with it, e.g. "is not a multiple of 8".
        why: &'static str,
    },
    /// Unknown kind byte.
    #[error("unknown record kind {kind} at offset 4")]
    BadKind {
        /// The kind byte.
        kind: u8,
    },
    /// Level above error.
    #[error("unknown level {level} at offset 5")]
    BadLevel {
        /// The level byte.
        level: u8,
    },
    /// Unknown argument tag.
    #[error("unknown argument tag {tag} at offset {offset}")]
    BadTag {
        /// The tag byte.
        tag: u8,
        /// Its offset.
        offset: usize,
    },
    /// A string argument is not UTF-8.
    #[error("string argument at offset {offset} is not valid UTF-8")]
    BadUtf8 {
        /// Offset of its bytes.
        offset: usize,
    },
    /// A bool argument other than 0 or 1, or a char that is no scalar value.
    #[error("argument at offset {offset} holds an invalid {what}")]
    BadValue {
        /// Offset of the value.
        offset: usize,
        /// The type.
        what: &'static str,
    },
    /// An argument runs past the record's end.
    #[error("argument at offset {offset} needs {len} bytes, past the record's end at {end}")]
    ArgsOverrun {
        /// Offset of the argument.
        offset: usize,
        /// Bytes it needs.
        len: usize,
        /// The record's length.
        end: usize,
    },
    /// A compact record whose call site has no signature to read it by
    /// (the entry was registered for tagged records only).
    #[error("compact record names callsite {callsite}, which has no signature")]
    NoSignature {
        /// The callsite id the record names.
        callsite: u32,
    },
    /// A compact record longer than its call site's signature says: its
    /// values (and context) end more than the padding before its end.
    #[error("record length {len} does not match its call site's signature: its values end at offset {end}")]
    SignatureLength {
        /// The length field.
        len: u32,
        /// Where the values the signature describes end.
        end: usize,
    },
    /// A signature holds a byte that is no argument tag.
    #[error("signature byte {index} is {tag}, no argument tag")]
    BadSignature {
        /// The byte.
        tag: u8,
        /// Its index in the signature.
        index: usize,
    },
}

/// The 8-byte frame at the start of every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Whole record length.
    pub len: usize,
    /// Kind byte (not validated: padding is skipped whatever else it holds).
    pub kind: u8,
}

/// Reads only the 8-byte frame at the start of `bytes` and checks that the
/// whole record lies within `bytes`.
///
/// Errors if fewer than 8 bytes are given, or the length field is under 8,
/// not a multiple of 8, over [`MAX_RECORD_LEN`] or past the end of `bytes`.
/// The kind byte is returned as is.
///
/// ```
/// let mut rec = vec![0u8; 16];
/// rec[..4].copy_from_slice(&16u32.to_le_bytes());
/// rec[4] = 2; // padding
/// let f = ul_ring::record::read_frame(&rec).unwrap();
/// assert_eq!((f.len, f.kind), (16, 2));
/// assert!(ul_ring::record::read_frame(&rec[..12]).is_err());
/// ```
#[inline]
pub fn read_frame(bytes: &[u8]) -> Result<Frame, DecodeError> {
    let Some(head) = bytes.first_chunk::<MIN_FRAME_LEN>() else {
        return Err(DecodeError::Truncated {
            offset: 0,
            needed: MIN_FRAME_LEN,
            available: bytes.len(),
        });
    };
    check_frame(head, bytes.len())
}

/// [`read_frame`] for a reader that has only the frame's 8 bytes: checks
/// them as if `available` bytes (counted from the frame's start) followed.
///
/// ```
/// let mut head = [0u8; 8];
/// head[..4].copy_from_slice(&24u32.to_le_bytes());
/// assert_eq!(ul_ring::record::check_frame(&head, 24).unwrap().len, 24);
/// assert!(ul_ring::record::check_frame(&head, 16).is_err());
/// ```
#[inline]
pub fn check_frame(head: &[u8; MIN_FRAME_LEN], available: usize) -> Result<Frame, DecodeError> {
    let len32 = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let bad = |why| Err(DecodeError::BadLength { len: len32, why });
    let Ok(len) = usize::try_from(len32) else {
        return bad("does not fit in memory");
    };
    if len < MIN_FRAME_LEN {
        return bad("is shorter than the 8-byte frame");
    }
    if len % RECORD_ALIGN != 0 {
        return bad("is not a multiple of 8");
    }
    if len > MAX_RECORD_LEN {
        return bad("exceeds the 64 KiB maximum");
    }
    if len > available {
        return Err(DecodeError::Truncated {
            offset: 0,
            needed: len,
            available,
        });
    }
    Ok(Frame { len, kind: head[4] })
}

/// Which form a log record is in (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    /// Self-describing: a 32-byte header, a tag per argument.
    Tagged,
    /// Values only, read by the call site's signature.
    Compact,
}

/// What the first bytes of a log record say, before its arguments are
/// read: enough to find the call site whose signature a compact record
/// needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The record's form.
    pub form: Form,
    /// Whole record length.
    pub len: usize,
    /// Callsite id (0: none).
    pub callsite: u32,
}

/// Reads the frame and form of a log record: `bytes` is exactly the record.
///
/// Checks the frame (see [`read_frame`]), that its length is `bytes.len()`,
/// that the kind is a log record's ([`RecordKind::Log`] or
/// [`RecordKind::Compact`]) and that the record holds its form's header.
///
/// ```
/// use ul_ring::args::{encode_compact, CompactHeader, OwnedValue};
/// use ul_ring::record::{peek, Form};
/// let mut buf = Vec::new();
/// encode_compact(&mut buf, CompactHeader { callsite: 9, ..Default::default() }, &[OwnedValue::U32(1)]);
/// let h = peek(&buf).unwrap();
/// assert_eq!((h.form, h.len, h.callsite), (Form::Compact, 24, 9));
/// ```
#[inline]
pub fn peek(bytes: &[u8]) -> Result<Head, DecodeError> {
    let frame = read_frame(bytes)?;
    let bad = |why| {
        Err(DecodeError::BadLength {
            len: u32::try_from(frame.len).unwrap_or(u32::MAX),
            why,
        })
    };
    if frame.len != bytes.len() {
        return bad("does not match the bytes given");
    }
    match RecordKind::try_from(frame.kind)? {
        RecordKind::Log => {
            let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
                return bad("is shorter than the 32-byte log record header");
            };
            Ok(Head {
                form: Form::Tagged,
                len: frame.len,
                callsite: u32::from_le_bytes([head[16], head[17], head[18], head[19]]),
            })
        }
        RecordKind::Compact => {
            let need = COMPACT_HEADER_LEN
                + if frame.kind & COMPACT_CONTEXT != 0 {
                    4
                } else {
                    0
                };
            if frame.len < need {
                return bad("is shorter than the compact record's header and context");
            }
            // The length check above: at least 16 bytes.
            Ok(Head {
                form: Form::Compact,
                len: frame.len,
                callsite: u32::from_le_bytes([bytes[5], bytes[6], bytes[7], 0]),
            })
        }
        _ => Err(DecodeError::BadKind { kind: frame.kind }),
    }
}

/// A decoded log record, of either form, borrowing its strings from the
/// input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The form it was in.
    pub form: Form,
    /// Whole record length, header and padding included.
    pub len: usize,
    /// [`FLAG_TSC`] and [`FLAG_TRUNCATED`] (for either form).
    pub flags: u16,
    /// TSC ticks if [`FLAG_TSC`], else nanoseconds since the Unix epoch.
    pub timestamp: u64,
    /// Callsite id (0: none).
    pub callsite: u32,
    /// Context id (0: none).
    pub context: u32,
    /// The validated level of a tagged record; `None` for a compact one,
    /// whose level is its call site's.
    pub level: Option<Level>,
    /// The validated arguments.
    pub args: Args<'a>,
}

/// Decodes one whole tagged log record: `bytes` is exactly the record
/// (`bytes.len()` equals its `len` field). A compact record is refused
/// with [`DecodeError::NoSignature`]: it can only be read with its call
/// site's signature ([`decode_with`]).
///
/// Checks the frame (see [`read_frame`]), that the kind is
/// [`RecordKind::Log`], that the record holds a whole header, the level, every
/// argument tag, that every value lies within the record, that strings are
/// UTF-8, chars scalar values and bools 0 or 1. After that, iterating
/// [`Record::args`] cannot fail. Never panics and never allocates, whatever
/// `bytes` holds.
///
/// ```
/// use ul_ring::args::{encode_record, OwnedValue};
/// use ul_ring::record::{decode, RecordHeader};
/// let mut buf = Vec::new();
/// encode_record(&mut buf, RecordHeader { level: 2, ..Default::default() }, &[OwnedValue::U64(7)]);
/// let rec = decode(&buf).unwrap();
/// assert_eq!(rec.args.iter().count(), 1);
/// ```
pub fn decode(bytes: &[u8]) -> Result<Record<'_>, DecodeError> {
    decode_with(bytes, None)
}

/// Decodes one whole log record of either form: `bytes` is exactly the
/// record. A compact record is read by `signature`, the tags its call site
/// registered (the caller looks the call site up by [`peek`]'s callsite
/// id); `None` refuses it with [`DecodeError::NoSignature`]. A tagged
/// record ignores `signature`.
///
/// A compact record must match the signature exactly: every value inside
/// the record, strings UTF-8, chars scalar values, bools 0 or 1, and the
/// record no longer than its values (and context) padded to 8
/// ([`DecodeError::SignatureLength`]). Never panics and never allocates,
/// whatever `bytes` and `signature` hold.
///
/// ```
/// use ul_ring::args::{encode_compact, signature_of, tag, CompactHeader, OwnedValue, Value};
/// use ul_ring::record::{decode_with, DecodeError};
/// let args = [OwnedValue::U64(7), OwnedValue::U32(8), OwnedValue::F64(0.5)];
/// let mut buf = Vec::new();
/// encode_compact(&mut buf, CompactHeader { callsite: 3, ..Default::default() }, &args);
/// assert_eq!(buf.len(), 40);
/// let sig = signature_of(&args);
/// assert_eq!(sig, [tag::U64, tag::U32, tag::F64]);
/// let rec = decode_with(&buf, Some(&sig)).unwrap();
/// assert_eq!(rec.args.iter().collect::<Vec<_>>(), [Value::U64(7), Value::U64(8), Value::F64(0.5)]);
/// // Another signature: refused, not misread.
/// assert!(decode_with(&buf, Some(&[tag::U64])).is_err());
/// assert_eq!(decode_with(&buf, None), Err(DecodeError::NoSignature { callsite: 3 }));
/// ```
pub fn decode_with<'a>(
    bytes: &'a [u8],
    signature: Option<&'a [u8]>,
) -> Result<Record<'a>, DecodeError> {
    let head = peek(bytes)?;
    match head.form {
        Form::Tagged => {
            let Some(h) = bytes.get(..HEADER_LEN) else {
                // `peek` checked the length; unreachable, but not a panic.
                return Err(DecodeError::Truncated {
                    offset: 0,
                    needed: HEADER_LEN,
                    available: bytes.len(),
                });
            };
            let header: RecordHeader = bytemuck::pod_read_unaligned(h);
            let level = Level::try_from(header.level)?;
            let args = Args::parse(bytes, HEADER_LEN, usize::from(header.nargs))?;
            Ok(Record {
                form: Form::Tagged,
                len: head.len,
                flags: header.flags,
                timestamp: header.timestamp,
                callsite: header.callsite,
                context: header.context,
                level: Some(level),
                args,
            })
        }
        Form::Compact => {
            let Some(sig) = signature else {
                return Err(DecodeError::NoSignature {
                    callsite: head.callsite,
                });
            };
            let Some(h) = bytes.first_chunk::<COMPACT_HEADER_LEN>() else {
                // `peek` checked the length; unreachable, but not a panic.
                return Err(DecodeError::Truncated {
                    offset: 0,
                    needed: COMPACT_HEADER_LEN,
                    available: bytes.len(),
                });
            };
            let kind = h[4];
            let (args, mut end) = Args::parse_signed(bytes, sig, COMPACT_HEADER_LEN)?;
            let mut context = 0;
            if kind & COMPACT_CONTEXT != 0 {
                let word = end
                    .checked_add(4)
                    .and_then(|e| bytes.get(end..e))
                    .and_then(|b| b.first_chunk::<4>())
                    .ok_or(DecodeError::ArgsOverrun {
                        offset: end,
                        len: 4,
                        end: bytes.len(),
                    })?;
                context = u32::from_le_bytes(*word);
                end += 4;
            }
            if record_len(end) != head.len {
                return Err(DecodeError::SignatureLength {
                    len: head.len as u32,
                    end,
                });
            }
            let mut flags = 0;
            if kind & COMPACT_TSC != 0 {
                flags |= FLAG_TSC;
            }
            if kind & COMPACT_TRUNCATED != 0 {
                flags |= FLAG_TRUNCATED;
            }
            let [_, _, _, _, _, _, _, _, t @ ..] = *h;
            Ok(Record {
                form: Form::Compact,
                len: head.len,
                flags,
                timestamp: u64::from_le_bytes(t),
                callsite: head.callsite,
                context,
                level: None,
                args,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{encode_record, tag, OwnedValue, Value};

    fn log_header(level: u8) -> RecordHeader {
        RecordHeader {
            kind: RecordKind::Log as u8,
            level,
            ..Default::default()
        }
    }

    fn record(args: &[OwnedValue]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_record(&mut buf, log_header(2), args);
        buf
    }

    fn set_len(buf: &mut [u8], len: u32) {
        buf[..4].copy_from_slice(&len.to_le_bytes());
    }

    #[test]
    fn header_layout_is_little_endian_and_fixed() {
        let h = RecordHeader {
            len: 0x0102_0304,
            kind: 5,
            level: 6,
            flags: 0x0708,
            timestamp: 0x1112_1314_1516_1718,
            callsite: 0x2122_2324,
            seq: 0x3132_3334,
            context: 0x4142_4344,
            nargs: 9,
            _reserved: [0; 3],
        };
        let b = bytemuck::bytes_of(&h);
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(&b[0..4], &0x0102_0304u32.to_le_bytes());
        assert_eq!((b[4], b[5]), (5, 6));
        assert_eq!(&b[6..8], &0x0708u16.to_le_bytes());
        assert_eq!(&b[8..16], &0x1112_1314_1516_1718u64.to_le_bytes());
        assert_eq!(&b[16..20], &0x2122_2324u32.to_le_bytes());
        assert_eq!(&b[20..24], &0x3132_3334u32.to_le_bytes());
        assert_eq!(&b[24..28], &0x4142_4344u32.to_le_bytes());
        assert_eq!(b[28], 9);
    }

    #[test]
    fn empty_record_decodes() {
        let buf = record(&[]);
        assert_eq!(buf.len(), HEADER_LEN);
        let rec = decode(&buf).unwrap();
        assert_eq!(rec.level, Some(Level::Info));
        assert_eq!(rec.form, Form::Tagged);
        assert!(rec.args.is_empty());
        assert_eq!(rec.len, HEADER_LEN);
    }

    #[test]
    fn header_fields_survive() {
        let mut buf = Vec::new();
        let h = RecordHeader {
            level: 4,
            flags: FLAG_TSC,
            timestamp: u64::MAX - 1,
            callsite: 77,
            seq: 9,
            context: 3,
            ..Default::default()
        };
        encode_record(&mut buf, h, &[OwnedValue::Bool(true)]);
        let rec = decode(&buf).unwrap();
        assert_eq!(rec.level, Some(Level::Error));
        assert_eq!(rec.form, Form::Tagged);
        assert_eq!(rec.flags, FLAG_TSC);
        assert_eq!(rec.timestamp, u64::MAX - 1);
        assert_eq!((rec.callsite, rec.context), (77, 3));
        assert_eq!(rec.args.len(), 1);
        assert_eq!(rec.len, buf.len());
    }

    #[test]
    fn frame_errors() {
        assert_eq!(
            read_frame(&[8, 0, 0]),
            Err(DecodeError::Truncated {
                offset: 0,
                needed: 8,
                available: 3
            })
        );
        let mut buf = [0u8; 64];
        buf[4] = RecordKind::Padding as u8;
        for (len, why) in [
            (0, "shorter"),
            (4, "shorter"),
            (12, "multiple of 8"),
            (65, "multiple of 8"),
            (MAX_RECORD_LEN as u32 + 8, "64 KiB"),
            (u32::MAX, "multiple of 8"),
        ] {
            set_len(&mut buf, len);
            let e = read_frame(&buf).unwrap_err();
            assert!(matches!(e, DecodeError::BadLength { len: l, .. } if l == len));
            assert!(e.to_string().contains(why), "{e}");
            assert!(e.to_string().contains("at offset 0"), "{e}");
        }
        set_len(&mut buf, 72);
        assert_eq!(
            read_frame(&buf),
            Err(DecodeError::Truncated {
                offset: 0,
                needed: 72,
                available: 64
            })
        );
        set_len(&mut buf, 8);
        assert_eq!(read_frame(&buf), Ok(Frame { len: 8, kind: 2 }));
        set_len(&mut buf, 64);
        assert_eq!(read_frame(&buf), Ok(Frame { len: 64, kind: 2 }));
    }

    #[test]
    fn not_multiple_of_8_message() {
        let mut buf = record(&[OwnedValue::U8(1)]);
        set_len(&mut buf, 36);
        let e = decode(&buf).unwrap_err();
        assert_eq!(
            e.to_string(),
            "record length 36 at offset 0 is not a multiple of 8"
        );
    }

    #[test]
    fn truncated_record() {
        let buf = record(&[OwnedValue::Str("hello world".into())]);
        let cut = &buf[..buf.len() - 8];
        assert_eq!(
            decode(cut),
            Err(DecodeError::Truncated {
                offset: 0,
                needed: buf.len(),
                available: buf.len() - 8
            })
        );
        assert!(matches!(
            decode(&buf[..4]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(decode(&[]), Err(DecodeError::Truncated { .. })));
    }

    #[test]
    fn extra_bytes_are_an_error() {
        let mut buf = record(&[OwnedValue::U8(1)]);
        buf.extend_from_slice(&[0; 8]);
        let e = decode(&buf).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
    }

    #[test]
    fn short_log_record() {
        let mut buf = [0u8; 16];
        set_len(&mut buf, 16);
        buf[4] = RecordKind::Log as u8;
        let e = decode(&buf).unwrap_err();
        assert!(matches!(e, DecodeError::BadLength { len: 16, .. }));
        assert!(e.to_string().contains("32-byte"), "{e}");
    }

    #[test]
    fn bad_kind_and_level() {
        let mut buf = record(&[]);
        buf[4] = RecordKind::Padding as u8;
        assert_eq!(decode(&buf), Err(DecodeError::BadKind { kind: 2 }));
        buf[4] = 0;
        assert_eq!(decode(&buf), Err(DecodeError::BadKind { kind: 0 }));
        buf[4] = 9;
        assert_eq!(decode(&buf), Err(DecodeError::BadKind { kind: 9 }));
        buf[4] = 1;
        buf[5] = 5;
        let e = decode(&buf).unwrap_err();
        assert_eq!(e, DecodeError::BadLevel { level: 5 });
        assert!(e.to_string().contains("offset 5"));
    }

    #[test]
    fn bad_tag() {
        let mut buf = record(&[OwnedValue::U8(1), OwnedValue::U8(2)]);
        buf[HEADER_LEN + 1] = 17;
        let e = decode(&buf).unwrap_err();
        assert_eq!(
            e,
            DecodeError::BadTag {
                tag: 17,
                offset: HEADER_LEN + 1
            }
        );
        assert_eq!(e.to_string(), "unknown argument tag 17 at offset 33");
        buf[HEADER_LEN + 1] = 0;
        assert!(matches!(
            decode(&buf),
            Err(DecodeError::BadTag { tag: 0, .. })
        ));
    }

    #[test]
    fn bad_utf8() {
        let mut buf = record(&[OwnedValue::Str("abc".into())]);
        // tag at 32, length at 33..37, bytes at 37..40
        buf[HEADER_LEN + 1 + 4 + 1] = 0xff;
        let e = decode(&buf).unwrap_err();
        assert_eq!(e, DecodeError::BadUtf8 { offset: 37 });
        assert!(e.to_string().contains("offset 37"));
    }

    #[test]
    fn string_length_lying_past_end() {
        let mut buf = record(&[OwnedValue::Str("ab".into())]);
        let at = HEADER_LEN + 1;
        buf[at..at + 4].copy_from_slice(&100u32.to_le_bytes());
        let e = decode(&buf).unwrap_err();
        assert_eq!(
            e,
            DecodeError::ArgsOverrun {
                offset: at,
                len: 104,
                end: buf.len()
            }
        );
        buf[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&buf), Err(DecodeError::ArgsOverrun { .. })));
        // Pointing into the padding but still inside the record is fine
        // as long as the bytes are UTF-8 (zeros are).
        let room = (buf.len() - at - 4) as u32;
        buf[at..at + 4].copy_from_slice(&room.to_le_bytes());
        assert!(decode(&buf).is_ok());
    }

    #[test]
    fn nargs_lying() {
        let mut buf = record(&[OwnedValue::U64(u64::MAX)]);
        // More arguments than there are: the "tags" run into the value bytes
        // (0xff is no tag).
        buf[28] = 2;
        assert_eq!(
            decode(&buf),
            Err(DecodeError::BadTag {
                tag: 0xff,
                offset: 33
            })
        );
        // Far more than the record holds.
        buf[28] = 255;
        assert!(matches!(
            decode(&buf),
            Err(DecodeError::ArgsOverrun {
                offset: 32,
                len: 255,
                ..
            })
        ));
        // A tag whose value would run past the end.
        let mut buf = record(&[OwnedValue::U8(1)]);
        buf[HEADER_LEN] = tag::U128;
        assert!(matches!(
            decode(&buf),
            Err(DecodeError::ArgsOverrun {
                offset: 33,
                len: 16,
                end: 40
            })
        ));
        // Fewer than written: decodes, the rest is treated as padding.
        let mut buf = record(&[OwnedValue::U8(1), OwnedValue::U8(2)]);
        buf[28] = 1;
        let rec = decode(&buf).unwrap();
        // The second tag byte is now read as the first value.
        assert_eq!(rec.args.iter().collect::<Vec<_>>(), [Value::U64(1)]);
    }

    #[test]
    fn bad_bool_and_char() {
        let mut buf = record(&[OwnedValue::Bool(true)]);
        buf[HEADER_LEN + 1] = 2;
        assert_eq!(
            decode(&buf),
            Err(DecodeError::BadValue {
                offset: 33,
                what: "bool"
            })
        );
        let mut buf = record(&[OwnedValue::Char('x')]);
        buf[HEADER_LEN + 1..HEADER_LEN + 5].copy_from_slice(&0xD800u32.to_le_bytes());
        let e = decode(&buf).unwrap_err();
        assert_eq!(
            e,
            DecodeError::BadValue {
                offset: 33,
                what: "char"
            }
        );
        assert_eq!(e.to_string(), "argument at offset 33 holds an invalid char");
        buf[HEADER_LEN + 1..HEADER_LEN + 5].copy_from_slice(&0x11_0000u32.to_le_bytes());
        assert!(decode(&buf).is_err());
    }

    #[test]
    fn errors_are_clone_eq() {
        let e = DecodeError::BadUtf8 { offset: 3 };
        assert_eq!(e.clone(), e);
    }

    #[test]
    fn kinds_and_levels() {
        assert_eq!(RecordKind::try_from(1), Ok(RecordKind::Log));
        assert_eq!(RecordKind::try_from(2), Ok(RecordKind::Padding));
        assert_eq!(RecordKind::try_from(3), Ok(RecordKind::Message));
        assert!(RecordKind::try_from(4).is_err());
        for (i, l) in Level::ALL.into_iter().enumerate() {
            assert_eq!(l as u8 as usize, i);
            assert_eq!(Level::try_from(i as u8), Ok(l));
            assert_eq!(l.as_str().parse::<Level>(), Ok(l));
            assert_eq!(l.as_upper().parse::<Level>(), Ok(l));
            assert_eq!(l.to_string(), l.as_str());
            assert_eq!(l.as_upper(), l.as_str().to_ascii_uppercase());
        }
        assert_eq!("Warning".parse::<Level>(), Ok(Level::Warn));
        assert!(Level::Trace < Level::Debug && Level::Warn < Level::Error);
        let e = "loud".parse::<Level>().unwrap_err();
        let msg = e.to_string();
        for name in ["loud", "trace", "debug", "info", "warn", "error"] {
            assert!(msg.contains(name), "{msg}");
        }
        assert_eq!(Level::try_from(5), Err(DecodeError::BadLevel { level: 5 }));
    }

    fn compact(h: crate::args::CompactHeader, args: &[OwnedValue]) -> (Vec<u8>, Vec<u8>) {
        let mut buf = Vec::new();
        crate::args::encode_compact(&mut buf, h, args);
        (buf, crate::args::signature_of(args))
    }

    #[test]
    fn compact_layout_and_roundtrip() {
        use crate::args::CompactHeader;
        let args = [
            OwnedValue::U64(0x0102_0304_0506_0708),
            OwnedValue::U32(0x1112_1314),
            OwnedValue::F64(0.5),
        ];
        let h = CompactHeader {
            flags: FLAG_TSC,
            timestamp: 0x2122_2324_2526_2728,
            callsite: 0x00ab_cdef,
            context: 0,
        };
        let (buf, sig) = compact(h, &args);
        // 8 + 8 + 8 + 4 + 8 = 36, padded to 40.
        assert_eq!(buf.len(), 40);
        assert_eq!(&buf[..4], &40u32.to_le_bytes());
        assert_eq!(buf[4], KIND_COMPACT | COMPACT_TSC);
        assert_eq!(&buf[5..8], &[0xef, 0xcd, 0xab]);
        assert_eq!(&buf[8..16], &0x2122_2324_2526_2728u64.to_le_bytes());
        assert_eq!(&buf[16..24], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&buf[24..28], &0x1112_1314u32.to_le_bytes());
        assert_eq!(&buf[28..36], &0.5f64.to_bits().to_le_bytes());
        assert_eq!(&buf[36..], &[0; 4]);
        let rec = decode_with(&buf, Some(&sig)).unwrap();
        assert_eq!(rec.form, Form::Compact);
        assert_eq!(rec.level, None);
        assert_eq!(
            (rec.len, rec.flags, rec.timestamp),
            (40, FLAG_TSC, h.timestamp)
        );
        assert_eq!((rec.callsite, rec.context), (0x00ab_cdef, 0));
        let got: Vec<_> = rec.args.iter().collect();
        let want: Vec<_> = args.iter().map(OwnedValue::as_value).collect();
        assert_eq!(got, want);
        assert_eq!(
            peek(&buf),
            Ok(Head {
                form: Form::Compact,
                len: 40,
                callsite: 0x00ab_cdef
            })
        );
        // Without arguments: the 16-byte header alone.
        let (empty, sig) = compact(CompactHeader::default(), &[]);
        assert_eq!(empty.len(), COMPACT_HEADER_LEN);
        assert!(decode_with(&empty, Some(&sig)).unwrap().args.is_empty());
    }

    #[test]
    fn a_compact_context_follows_the_values() {
        use crate::args::CompactHeader;
        let h = CompactHeader {
            context: 0x4142_4344,
            ..Default::default()
        };
        // 36 bytes of header and values: the context fits the padding.
        let args = [OwnedValue::U64(1), OwnedValue::U32(2), OwnedValue::F64(3.0)];
        let (buf, sig) = compact(h, &args);
        assert_eq!(buf.len(), 40);
        assert_eq!(buf[4], KIND_COMPACT | COMPACT_CONTEXT);
        assert_eq!(&buf[36..40], &0x4142_4344u32.to_le_bytes());
        let rec = decode_with(&buf, Some(&sig)).unwrap();
        assert_eq!(rec.context, 0x4142_4344);
        assert_eq!(rec.args.len(), 3);
        // A string before it: the context is after the string's bytes.
        let args = [OwnedValue::Str("hello".into()), OwnedValue::Bool(true)];
        let (buf, sig) = compact(h, &args);
        assert_eq!(buf.len(), record_len(16 + 9 + 1 + 4));
        let rec = decode_with(&buf, Some(&sig)).unwrap();
        assert_eq!(rec.context, 0x4142_4344);
        assert_eq!(
            rec.args.iter().collect::<Vec<_>>(),
            [Value::Str("hello"), Value::Bool(true)]
        );
        // The flag without room for the word.
        let mut short = vec![0u8; 16];
        short[..8].copy_from_slice(&compact_word(16, COMPACT_CONTEXT, 1).to_le_bytes());
        assert!(decode_with(&short, Some(&[])).is_err());
        let (buf, _) = compact(h, &[OwnedValue::U32(7)]);
        // u32 then context: 16 + 4 + 4 = 24; read as a u64, the context is
        // missing.
        assert!(matches!(
            decode_with(&buf, Some(&[tag::U64])),
            Err(DecodeError::ArgsOverrun { offset: 24, .. })
        ));
    }

    #[test]
    fn a_compact_record_that_does_not_match_its_signature_is_refused() {
        use crate::args::CompactHeader;
        let h = CompactHeader {
            callsite: 5,
            ..Default::default()
        };
        let args = [OwnedValue::U64(1), OwnedValue::U32(2)];
        let (buf, sig) = compact(h, &args);
        assert_eq!(buf.len(), 32);
        // No signature: not read at all.
        assert_eq!(
            decode_with(&buf, None),
            Err(DecodeError::NoSignature { callsite: 5 })
        );
        assert_eq!(decode(&buf), Err(DecodeError::NoSignature { callsite: 5 }));
        // A signature whose values need more than the record has.
        assert!(matches!(
            decode_with(&buf, Some(&[tag::U64, tag::U64, tag::U64])),
            Err(DecodeError::ArgsOverrun {
                offset: 32,
                len: 8,
                end: 32
            })
        ));
        // One whose values end a whole word before the record does.
        let e = decode_with(&buf, Some(&[tag::U64])).unwrap_err();
        assert_eq!(e, DecodeError::SignatureLength { len: 32, end: 24 });
        assert!(
            e.to_string()
                .contains("does not match its call site's signature"),
            "{e}"
        );
        // A length field that grew by a word.
        let mut long = buf.clone();
        long.extend_from_slice(&[0; 8]);
        long[..4].copy_from_slice(&40u32.to_le_bytes());
        assert_eq!(
            decode_with(&long, Some(&sig)),
            Err(DecodeError::SignatureLength { len: 40, end: 28 })
        );
        // A byte of the signature that is no tag.
        assert_eq!(
            decode_with(&buf, Some(&[tag::U64, 0])),
            Err(DecodeError::BadSignature { tag: 0, index: 1 })
        );
        // A string whose length runs past the record.
        let (mut s, sig) = compact(h, &[OwnedValue::Str("abc".into())]);
        s[16..20].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            decode_with(&s, Some(&sig)),
            Err(DecodeError::ArgsOverrun { offset: 16, .. })
        ));
        // Kind bytes past the compact flags.
        let mut k = buf.clone();
        k[4] = KIND_COMPACT | 0x08;
        assert_eq!(
            decode_with(&k, Some(&sig)),
            Err(DecodeError::BadKind { kind: 0x88 })
        );
        // Shorter than the 16-byte header.
        let mut tiny = vec![0u8; 8];
        tiny[..8].copy_from_slice(&compact_word(8, 0, 1).to_le_bytes());
        assert!(matches!(
            decode_with(&tiny, Some(&[])),
            Err(DecodeError::BadLength { len: 8, .. })
        ));
    }

    #[test]
    fn record_len_rounds_up() {
        assert_eq!(record_len(0), 0);
        assert_eq!(record_len(1), 8);
        assert_eq!(record_len(8), 8);
        assert_eq!(record_len(HEADER_LEN + 1), 40);
    }
}
