//! The fixed-layout record header and the record decoder.
//!
//! ```text
//! len u32 | kind u8 | level u8 | flags u16     frame: the first 8 bytes of every record
//! timestamp u64                                TSC ticks (FLAG_TSC) or Unix ns
//! callsite u32 | seq u32
//! context u32 | nargs u8 | reserved [u8; 3]
//! nargs tag bytes, the values, zero padding to a multiple of 8
//! ```
//!
//! The decoder is the writer's first contact with bytes any producer could
//! have written: it accepts any slice, never panics, never reads out of
//! bounds and never allocates.

use crate::args::Args;

/// Records start at, and are padded to, multiples of this.
pub const RECORD_ALIGN: usize = 8;
/// Bytes in a [`RecordHeader`].
pub const HEADER_LEN: usize = 32;
/// Largest record a producer may write (header and arguments).
pub const MAX_RECORD_LEN: usize = 64 * 1024;
/// Shortest frame: a padding record may be only its 8-byte frame.
pub const MIN_FRAME_LEN: usize = 8;

/// The timestamp is in TSC ticks (otherwise Unix nanoseconds).
pub const FLAG_TSC: u16 = 1;
/// The producer cut a string argument to [`crate::args::MAX_STR_LEN`].
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
    /// Per-lane sequence number.
    pub seq: u32,
    /// Context id (0: none).
    pub context: u32,
    /// Number of arguments that follow.
    pub nargs: u8,
    /// Zero.
    pub _reserved: [u8; 3],
}

const _: () = assert!(core::mem::size_of::<RecordHeader>() == HEADER_LEN);

/// What a frame holds.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A log record.
    Log = 1,
    /// Filler up to the end of a lane's buffer; skipped.
    Padding = 2,
}

impl TryFrom<u8> for RecordKind {
    type Error = DecodeError;
    fn try_from(v: u8) -> Result<Self, DecodeError> {
        match v {
            1 => Ok(RecordKind::Log),
            2 => Ok(RecordKind::Padding),
            kind => Err(DecodeError::BadKind { kind }),
        }
    }
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
    #[error("record length {len} at offset 0 is invalid: {why}")]
    BadLength {
        /// The length field.
        len: u32,
        /// What is wrong with it.
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
}

/// The 8-byte frame at the start of every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Whole record length.
    pub len: usize,
    /// Kind byte (not validated: padding is skipped whatever else it holds).
    pub kind: u8,
}

/// Reads the frame at the start of `bytes` and checks that the whole
/// record lies within `bytes`.
///
/// ```
/// let mut rec = vec![0u8; 16];
/// rec[..4].copy_from_slice(&16u32.to_le_bytes());
/// rec[4] = 2; // padding
/// let f = ul_ring::record::read_frame(&rec).unwrap();
/// assert_eq!((f.len, f.kind), (16, 2));
/// assert!(ul_ring::record::read_frame(&rec[..12]).is_err());
/// ```
pub fn read_frame(bytes: &[u8]) -> Result<Frame, DecodeError> {
    let Some(head) = bytes.get(..MIN_FRAME_LEN) else {
        return Err(DecodeError::Truncated {
            offset: 0,
            needed: MIN_FRAME_LEN,
            available: bytes.len(),
        });
    };
    let len32 = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let len = len32 as usize;
    if len < MIN_FRAME_LEN {
        return Err(DecodeError::BadLength {
            len: len32,
            why: "shorter than a frame",
        });
    }
    if len % RECORD_ALIGN != 0 {
        return Err(DecodeError::BadLength {
            len: len32,
            why: "not a multiple of 8",
        });
    }
    if len > MAX_RECORD_LEN {
        return Err(DecodeError::BadLength {
            len: len32,
            why: "longer than the 64 KiB maximum",
        });
    }
    if len > bytes.len() {
        return Err(DecodeError::Truncated {
            offset: 0,
            needed: len,
            available: bytes.len(),
        });
    }
    Ok(Frame { len, kind: head[4] })
}

/// A decoded log record, borrowing its strings from the input.
#[derive(Clone, Debug)]
pub struct Record<'a> {
    /// The header as written.
    pub header: RecordHeader,
    /// The validated level.
    pub level: Level,
    /// The validated arguments.
    pub args: Args<'a>,
}

/// Decodes one whole log record: `bytes` is exactly the record.
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
    let frame = read_frame(bytes)?;
    if frame.len != bytes.len() {
        return Err(DecodeError::BadLength {
            len: frame.len as u32,
            why: "does not match the bytes given",
        });
    }
    if frame.len < HEADER_LEN {
        return Err(DecodeError::Truncated {
            offset: 0,
            needed: HEADER_LEN,
            available: frame.len,
        });
    }
    let header: RecordHeader = bytemuck::pod_read_unaligned(&bytes[..HEADER_LEN]);
    if RecordKind::try_from(header.kind)? != RecordKind::Log {
        return Err(DecodeError::BadKind { kind: header.kind });
    }
    let level = Level::try_from(header.level)?;
    let args = Args::parse(bytes, HEADER_LEN, header.nargs as usize)?;
    Ok(Record {
        header,
        level,
        args,
    })
}
