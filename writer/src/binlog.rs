//! The binary log, `<dir>/<name>.ulog`: the records as the writer read them
//! from the lanes, with what it takes to turn them into the very lines
//! `ul-writer` writes (`ul-decode`, [`Decoder`]).
//!
//! A file is a sequence of *blocks*. Every block starts at a multiple of 8
//! with an 8-byte header and is padded with zeros to a multiple of 8; all
//! integers are little-endian:
//!
//! ```text
//! len u32 | type u8 | 0 0 0          len: the whole block, header and padding included
//! ```
//!
//! | type | block | body after the header |
//! |--:|---|---|
//! | 1 | session | magic `ULOG\0\r\n\x1a`, format version u32 (1), region layout version u32, writer pid u32, flags u32 (bit 0: `--text-location`), clock: tsc_base u64, ns_base u64, ticks_per_ns f64 |
//! | 2 | clock | tsc_base u64, ns_base u64, ticks_per_ns f64 |
//! | 3 | entry | id u32, 0 u32, then the callsite-table entry exactly as the arena lays it out, commit word included ([`ul_ring::callsite`]) |
//! | 4 | run | pid u32, tid u32, lane u32 (`u32::MAX`: the shared lane), 0 u32, first position u64, then records as read from the lane, bytes copied |
//! | 5 | writer line | wall-clock ns u64, pid u32, level u8, 0 0 0, message length u32, 0 u32, message (UTF-8) |
//!
//! A file starts with a session block. A session block starts a new
//! callsite table: the entries of the blocks before it are forgotten (a
//! writer that starts again, or serves another region, writes one before
//! anything else, followed by the entries it has written so far). Entry
//! blocks come before the first record that names their id: each call site
//! and context once per session, and again in each rotated file. A clock
//! block changes how the records' TSC timestamps convert from there on (the
//! writer re-derives its clock rate every 10 s). The records of a run are
//! consecutive in their lane: the first is at the run's position, each next
//! one at the previous one's position plus its length (the JSON `"seq"`).
//! The records are those the writer validated against their call site's
//! signature (a record it skipped is not in the file; its error line is, as
//! a writer line). Unknown block types are skipped by their length.
//!
//! [`Decoder`] treats every byte as untrusted: a block or record that does
//! not check out is reported with its file offset and skipped, and decoding
//! goes on at the next block (found, after garbage, at the next multiple of
//! 8 that holds a plausible block header).

use std::collections::HashMap;

use ul_ring::callsite::{parse_entry, CallsiteError, Entry};
use ul_ring::clock::Calibration;
use ul_ring::record::{read_frame, Level};

use crate::batch_lines::BatchLines;
/// Where a run of records came from (a lane or the shared lane, with its
/// producer), as [`put_run_header`] writes it.
pub use crate::batch_lines::Origin;
use crate::callsite_cache::Entries;
/// The lines a [`Decoder`] makes: text, JSON, or both.
pub use crate::outputs::Format;
use crate::outputs::TEXT;

/// The first 8 bytes of a session block's body.
pub const MAGIC: [u8; 8] = *b"ULOG\0\r\n\x1a";
/// The file format's version, in every session block.
pub const VERSION: u32 = 1;
/// Bytes in a block header.
pub const BLOCK_HEADER: usize = 8;
/// Largest block a reader accepts (a run is cut well before this).
pub const MAX_BLOCK: usize = 64 << 20;
/// A run is closed once it holds this many bytes; the next record starts
/// another.
pub const MAX_RUN: usize = 16 << 20;
/// The `lane` of a run of shared-lane records.
pub const SHARED_LANE: u32 = u32::MAX;

/// Block types.
pub mod block {
    /// A session: magic, versions, writer pid, flags, clock. Starts a new
    /// callsite table.
    pub const SESSION: u8 = 1;
    /// A new clock calibration.
    pub const CLOCK: u8 = 2;
    /// A callsite-table entry (call site or context).
    pub const ENTRY: u8 = 3;
    /// A run of records from one lane.
    pub const RUN: u8 = 4;
    /// A line of the writer's own.
    pub const WRITER_LINE: u8 = 5;
}

/// Session flag: text lines show file and line (`--text-location`).
pub const FLAG_TEXT_LOCATION: u32 = 1;

/// Bytes of a session block.
pub const SESSION_LEN: usize = BLOCK_HEADER + 8 + 16 + 24;
/// Bytes of a run block's header (header and the run's own fields).
pub const RUN_HEADER: usize = BLOCK_HEADER + 24;
/// Bytes of a writer line block before its message.
pub const WRITER_LINE_HEADER: usize = BLOCK_HEADER + 24;

fn put_header(out: &mut Vec<u8>, len: usize, kind: u8) {
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&[kind, 0, 0, 0]);
}

fn put_clock(out: &mut Vec<u8>, c: &Calibration) {
    out.extend_from_slice(&c.tsc_base.to_le_bytes());
    out.extend_from_slice(&c.ns_base.to_le_bytes());
    out.extend_from_slice(&c.ticks_per_ns.to_bits().to_le_bytes());
}

fn pad(out: &mut Vec<u8>) {
    let n = out.len().next_multiple_of(8);
    out.resize(n, 0);
}

/// Appends a session block.
pub fn put_session(out: &mut Vec<u8>, pid: u32, flags: u32, clock: &Calibration) {
    put_header(out, SESSION_LEN, block::SESSION);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&ul_ring::layout::LAYOUT_VERSION.to_le_bytes());
    out.extend_from_slice(&pid.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    put_clock(out, clock);
}

/// Appends a clock block.
pub fn put_clock_block(out: &mut Vec<u8>, clock: &Calibration) {
    put_header(out, CLOCK_BLOCK_LEN, block::CLOCK);
    put_clock(out, clock);
}

/// The length of the block [`put_entry`] appends for `entry`.
pub fn entry_block_len(entry: &Entry) -> usize {
    BLOCK_HEADER + 8 + ul_ring::callsite::encode_entry(entry).len()
}

/// The length of the block [`put_clock_block`] appends.
pub const CLOCK_BLOCK_LEN: usize = BLOCK_HEADER + 24;

/// Appends an entry block for entry `id`.
pub fn put_entry(out: &mut Vec<u8>, id: u32, entry: &Entry) {
    let bytes = ul_ring::callsite::encode_entry(entry);
    put_header(out, BLOCK_HEADER + 8 + bytes.len(), block::ENTRY);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&bytes);
}

/// Appends the header of a run block holding no record yet (its length is
/// [`RUN_HEADER`]; [`set_len`] makes it cover the records appended after).
pub fn put_run_header(out: &mut Vec<u8>, origin: Origin, first_pos: u64) {
    put_header(out, RUN_HEADER, block::RUN);
    out.extend_from_slice(&origin.pid.to_le_bytes());
    out.extend_from_slice(&origin.tid.to_le_bytes());
    let lane = origin.lane.map_or(SHARED_LANE, |l| l as u32);
    out.extend_from_slice(&lane.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&first_pos.to_le_bytes());
}

/// Sets the length of the block at `at` in `out` to reach `out`'s end.
#[inline]
pub fn set_len(out: &mut [u8], at: usize) {
    let len = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// Appends a writer line block.
pub fn put_writer_line(out: &mut Vec<u8>, ns: u64, pid: u32, level: Level, message: &str) {
    let len = (WRITER_LINE_HEADER + message.len()).next_multiple_of(8);
    put_header(out, len, block::WRITER_LINE);
    out.extend_from_slice(&ns.to_le_bytes());
    out.extend_from_slice(&pid.to_le_bytes());
    out.extend_from_slice(&[level as u8, 0, 0, 0]);
    out.extend_from_slice(&(message.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(message.as_bytes());
    pad(out);
}

/// One block, as read by [`read_block`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawBlock<'a> {
    /// The block type.
    pub kind: u8,
    /// The body: the bytes after the header, padding included.
    pub body: &'a [u8],
    /// The whole block's length.
    pub len: usize,
}

/// Why bytes are not a block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The block runs past the end of the bytes given (a file cut off, or
    /// still being written).
    #[error("block cut off: {needed} bytes needed, {available} there")]
    Truncated {
        /// Bytes the block needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The header is impossible.
    #[error("no block header: {0}")]
    BadHeader(&'static str),
}

/// Reads the block at the start of `bytes`, checking its header only.
pub fn read_block(bytes: &[u8]) -> Result<RawBlock<'_>, BlockError> {
    let Some(h) = bytes.first_chunk::<BLOCK_HEADER>() else {
        return Err(BlockError::Truncated {
            needed: BLOCK_HEADER,
            available: bytes.len(),
        });
    };
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if len < BLOCK_HEADER || len % 8 != 0 || len > MAX_BLOCK {
        return Err(BlockError::BadHeader(
            "length under 8, not a multiple of 8 or over 64 MiB",
        ));
    }
    if h[4] == 0 || h[5..8] != [0, 0, 0] {
        return Err(BlockError::BadHeader(
            "type 0, or reserved header bytes not zero",
        ));
    }
    let Some(block) = bytes.get(..len) else {
        return Err(BlockError::Truncated {
            needed: len,
            available: bytes.len(),
        });
    };
    Ok(RawBlock {
        kind: h[4],
        body: &block[BLOCK_HEADER..],
        len,
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.first_chunk::<4>())
        .map_or(0, |w| u32::from_le_bytes(*w))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.first_chunk::<8>())
        .map_or(0, |w| u64::from_le_bytes(*w))
}

fn clock_at(b: &[u8], at: usize) -> Result<Calibration, String> {
    let c = Calibration {
        tsc_base: u64_at(b, at),
        ns_base: u64_at(b, at + 8),
        ticks_per_ns: f64::from_bits(u64_at(b, at + 16)),
    };
    if !(c.ticks_per_ns.is_finite() && c.ticks_per_ns > 0.0) {
        return Err(format!("clock rate {} is no rate", c.ticks_per_ns));
    }
    Ok(c)
}

/// The callsite table a file has given so far.
#[derive(Default)]
struct FileTable {
    entries: HashMap<u32, Entry>,
}

impl Entries for FileTable {
    fn entry(&self, id: u32) -> Result<Entry, CallsiteError> {
        self.entries
            .get(&id)
            .cloned()
            .ok_or(CallsiteError::BadId { id })
    }
}

/// Most entries a file's table holds: a file naming more is hostile.
const MAX_ENTRIES: usize = 1 << 20;

/// A problem in the input: where (file offset) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// File offset of the bad block or record.
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

/// Turns a binary log into the lines `ul-writer` writes: the text lines of
/// `server.log`, or the JSON lines of the `server.<level>.json` files in
/// the order they were written (all levels in one stream).
///
/// ```
/// use ul_writer::binlog::{put_session, put_writer_line, Decoder};
/// use ul_writer::internals::outputs::Format;
/// use ul_ring::clock::Calibration;
/// use ul_ring::record::Level;
/// let mut file = Vec::new();
/// let clock = Calibration { tsc_base: 0, ns_base: 0, ticks_per_ns: 1.0 };
/// put_session(&mut file, 7, 0, &clock);
/// put_writer_line(&mut file, 1_700_000_000_000_000_000, 7, Level::Warn, "hello");
/// let mut d = Decoder::new(Format::Text);
/// let mut out = Vec::new();
/// let used = d.feed(&file, true, &mut out, &mut |e| panic!("{e:?}"));
/// assert_eq!(used, file.len());
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.ends_with("[ul-writer] WARN: hello\n"), "{text}");
/// ```
pub struct Decoder {
    maker: BatchLines,
    table: FileTable,
    json: bool,
    /// File offset of the next byte [`feed`](Self::feed) is given.
    pub offset: u64,
    /// A session block was seen.
    session: bool,
    /// Records decoded into lines.
    pub records: u64,
    /// Problems reported.
    pub damaged: u64,
    /// In garbage: skipping to the next plausible block, reported once.
    resyncing: bool,
}

impl Decoder {
    /// A decoder writing `format`: [`Format::Text`] or [`Format::Json`]
    /// (anything else is taken as text).
    pub fn new(format: Format) -> Self {
        let format = if format == Format::Json {
            Format::Json
        } else {
            Format::Text
        };
        let calib = Calibration {
            tsc_base: 0,
            ns_base: 0,
            ticks_per_ns: 1.0,
        };
        Decoder {
            maker: BatchLines::new(format, calib),
            table: FileTable::default(),
            json: format == Format::Json,
            offset: 0,
            session: false,
            records: 0,
            damaged: 0,
            resyncing: false,
        }
    }

    fn damage(&mut self, offset: u64, what: String, report: &mut dyn FnMut(Damage)) {
        self.damaged += 1;
        report(Damage { offset, what });
    }

    /// Moves the lines formatted so far into `out`.
    fn take_lines(&mut self, out: &mut Vec<u8>) {
        if self.json {
            // One line at most sits in one level's buffer.
            for b in &mut self.maker.bufs[1..6] {
                out.extend_from_slice(b);
                b.clear();
            }
        } else {
            out.extend_from_slice(&self.maker.bufs[TEXT]);
            self.maker.bufs[TEXT].clear();
        }
    }

    /// Decodes the whole blocks at the start of `bytes` (the file's bytes
    /// from [`offset`](Self::offset) on), appending their lines to `out`
    /// and reporting damage; returns the bytes used. A block cut off at the
    /// end is left for the next call (more may be written: `--follow`),
    /// unless `at_end`, when it is reported and everything is used.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        at_end: bool,
        out: &mut Vec<u8>,
        report: &mut dyn FnMut(Damage),
    ) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            let here = self.offset + at as u64;
            let r = read_block(&bytes[at..]);
            match r {
                // After garbage only a block type this version knows ends
                // the search: a stray word is less likely to pass.
                Ok(b) if !self.resyncing || b.kind <= block::WRITER_LINE => {
                    self.resyncing = false;
                    self.block(here, b, out, report);
                    at += b.len;
                }
                Err(BlockError::Truncated { .. }) if !at_end => break,
                Err(e @ BlockError::Truncated { .. })
                    if !self.resyncing
                        && bytes.len() - at >= RUN_HEADER
                        && bytes[at + 4] == block::RUN =>
                {
                    // A run cut off (the writer died, the file was cut):
                    // its whole records are decoded; the cut one is
                    // reported with the rest.
                    self.damage(
                        here,
                        format!(
                            "{e}: the file ends inside this run; its whole records are decoded"
                        ),
                        report,
                    );
                    let cut = RawBlock {
                        kind: block::RUN,
                        body: &bytes[at + BLOCK_HEADER..],
                        len: bytes.len() - at,
                    };
                    self.block(here, cut, out, report);
                    at = bytes.len();
                }
                r => {
                    if !self.resyncing {
                        let what = match r {
                            Err(e @ BlockError::Truncated { .. }) => {
                                format!("{e}: the file ends inside it; looking for blocks after it")
                            }
                            Err(e) => format!("{e}; skipping to the next block"),
                            Ok(_) => "garbage; skipping to the next block".to_string(),
                        };
                        self.damage(here, what, report);
                        self.resyncing = true;
                    }
                    at += 8;
                }
            }
        }
        let at = at.min(bytes.len());
        self.offset += at as u64;
        at
    }

    fn block(
        &mut self,
        here: u64,
        b: RawBlock<'_>,
        out: &mut Vec<u8>,
        report: &mut dyn FnMut(Damage),
    ) {
        if !self.session && b.kind != block::SESSION {
            self.damage(
                here,
                "no session block before this block: not the start of a binary log (decoding it as well as can be)"
                    .to_string(),
                report,
            );
            self.session = true;
        }
        let body = b.body;
        match b.kind {
            block::SESSION => {
                if body.len() < SESSION_LEN - BLOCK_HEADER || body[..8] != MAGIC {
                    return self.damage(
                        here,
                        "session block without the ULOG magic".into(),
                        report,
                    );
                }
                let version = u32_at(body, 8);
                if version != VERSION {
                    return self.damage(
                        here,
                        format!("format version {version}; this decoder reads version {VERSION}"),
                        report,
                    );
                }
                self.session = true;
                self.table.entries.clear();
                self.maker.names.clear();
                let flags = u32_at(body, 20);
                self.maker
                    .set_text_location(flags & FLAG_TEXT_LOCATION != 0);
                match clock_at(body, 24) {
                    Ok(c) => self.maker.calib = c,
                    Err(e) => self.damage(here, format!("session block: {e}"), report),
                }
            }
            block::CLOCK => match clock_at(body, 0) {
                Ok(c) => self.maker.calib = c,
                Err(e) => self.damage(here, format!("clock block: {e}"), report),
            },
            block::ENTRY => {
                let id = u32_at(body, 0);
                match body.get(8..).map(|e| {
                    let len = u32_at(e, 0) as usize;
                    parse_entry(id, e.get(..len).unwrap_or(e))
                }) {
                    Some(Ok(e)) => {
                        if self.table.entries.len() >= MAX_ENTRIES {
                            return self.damage(
                                here,
                                "more than 2^20 entries in one session; entry ignored".into(),
                                report,
                            );
                        }
                        self.table.entries.insert(id, e);
                        self.maker.names.forget(id);
                    }
                    Some(Err(e)) => self.damage(here, format!("entry block: {e}"), report),
                    None => self.damage(here, "entry block too short".into(), report),
                }
            }
            block::RUN => {
                if body.len() < RUN_HEADER - BLOCK_HEADER {
                    return self.damage(here, "run block too short".into(), report);
                }
                let lane = u32_at(body, 8);
                let origin = Origin {
                    lane: (lane != SHARED_LANE).then_some(lane as usize),
                    pid: u32_at(body, 0),
                    tid: u32_at(body, 4),
                };
                let first = u64_at(body, 16);
                let records = &body[RUN_HEADER - BLOCK_HEADER..];
                let mut at = 0;
                while at < records.len() {
                    let where_ = here + (RUN_HEADER + at) as u64;
                    let frame = match read_frame(&records[at..]) {
                        Ok(f) => f,
                        Err(e) => {
                            return self.damage(
                                where_,
                                format!("record in a run: {e}; the rest of the run is skipped"),
                                report,
                            )
                        }
                    };
                    let rec = &records[at..at + frame.len];
                    let pos = first.wrapping_add(at as u64);
                    match self.maker.record_from(&self.table, 0, origin, pos, rec) {
                        Ok(true) => {
                            self.records += 1;
                            self.take_lines(out);
                        }
                        // The decoder sets no limit: unreachable, not a panic.
                        Ok(false) => self.damage(where_, "record skipped: no room".into(), report),
                        Err(why) => self.damage(where_, format!("record skipped: {why}"), report),
                    }
                    at += frame.len;
                }
            }
            block::WRITER_LINE => {
                let ns = u64_at(body, 0);
                let pid = u32_at(body, 8);
                let level = body.get(12).copied().unwrap_or(0xff);
                let n = u32_at(body, 16) as usize;
                let msg = body.get(24..).and_then(|m| m.get(..n));
                match (Level::try_from(level), msg.map(std::str::from_utf8)) {
                    (Ok(level), Some(Ok(msg))) => {
                        self.maker.writer_line_at(level, msg, ns, pid);
                        self.take_lines(out);
                    }
                    (Err(_), _) => {
                        self.damage(here, format!("writer line with level {level}"), report)
                    }
                    (_, None) => self.damage(
                        here,
                        "writer line's message runs past its block".into(),
                        report,
                    ),
                    (_, Some(Err(_))) => {
                        self.damage(here, "writer line's message is not UTF-8".into(), report)
                    }
                }
            }
            other => self.damage(
                here,
                format!("unknown block type {other} ({} bytes) skipped", b.len),
                report,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ul_ring::args::{encode_compact, tag, CompactHeader, OwnedValue};
    use ul_ring::callsite::EntryKind;

    fn clock() -> Calibration {
        Calibration {
            tsc_base: 0,
            ns_base: 0,
            ticks_per_ns: 1.0,
        }
    }

    fn compact(n: u64) -> Vec<u8> {
        let mut r = Vec::new();
        let h = CompactHeader {
            callsite: 1,
            timestamp: 1_700_000_000_000_000_000 + n,
            ..Default::default()
        };
        encode_compact(&mut r, h, &[OwnedValue::U64(n)]);
        r
    }

    /// A session, the call site, and one run of `records`; the file offset
    /// of each record.
    fn file(records: &[Vec<u8>]) -> (Vec<u8>, Vec<u64>) {
        let mut f = Vec::new();
        put_session(&mut f, 9, 0, &clock());
        let entry = Entry {
            kind: EntryKind::Callsite,
            level: Level::Info as u8,
            line: 3,
            strings: vec!["n={}".into(), "svc".into(), "main.rs".into(), "app".into()],
            signature: Some(vec![tag::U64]),
        };
        put_entry(&mut f, 1, &entry);
        let origin = Origin {
            lane: Some(2),
            pid: 10,
            tid: 11,
        };
        let at = f.len();
        put_run_header(&mut f, origin, 4096);
        let mut offsets = Vec::new();
        for r in records {
            offsets.push(f.len() as u64);
            f.extend_from_slice(r);
        }
        set_len(&mut f, at);
        (f, offsets)
    }

    fn decode_all(f: &[u8], format: Format) -> (String, Vec<Damage>) {
        let mut d = Decoder::new(format);
        let mut out = Vec::new();
        let mut damage = Vec::new();
        assert_eq!(d.feed(f, true, &mut out, &mut |e| damage.push(e)), f.len());
        (String::from_utf8(out).unwrap(), damage)
    }

    #[test]
    fn records_decode_with_their_positions() {
        let (f, _) = file(&[compact(1), compact(2)]);
        let (text, damage) = decode_all(&f, Format::Text);
        assert_eq!(damage, []);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.contains("[svc] INFO: n=1\n") && text.contains("[svc] INFO: n=2\n"),
            "{text}"
        );
        let (json, _) = decode_all(&f, Format::Json);
        // Positions: the run's first, then the first plus its length.
        assert!(
            json.contains("\"seq\":4096") && json.contains("\"seq\":4120"),
            "{json}"
        );
    }

    /// A record that does not match its call site's signature is reported
    /// at its own offset and skipped; the records around it are decoded.
    #[test]
    fn a_record_not_matching_its_signature_is_reported_by_offset() {
        let mut long = compact(2);
        long.extend_from_slice(&[0; 8]);
        let n = long.len() as u32;
        long[..4].copy_from_slice(&n.to_le_bytes());
        let (f, offsets) = file(&[compact(1), long, compact(3)]);
        let (text, damage) = decode_all(&f, Format::Text);
        assert_eq!(damage.len(), 1, "{damage:?}");
        assert_eq!(damage[0].offset, offsets[1]);
        assert!(damage[0].what.contains("signature"), "{damage:?}");
        assert!(
            text.contains("n=1\n") && text.contains("n=3\n") && !text.contains("n=2"),
            "{text}"
        );
    }

    /// A record naming a call site the file never gave is reported (a
    /// compact record cannot be read without its signature).
    #[test]
    fn a_record_without_its_entry_is_reported() {
        let (mut f, offsets) = file(&[compact(1)]);
        // The entry block turned into one of an unknown type.
        let entry_at = SESSION_LEN;
        f[entry_at + 4] = 0x7f;
        let (text, damage) = decode_all(&f, Format::Text);
        assert_eq!(text, "");
        assert_eq!(damage.len(), 2, "{damage:?}");
        assert_eq!(damage[0].offset, entry_at as u64);
        assert_eq!(damage[1].offset, offsets[0]);
    }

    /// Whatever the bytes, the decoder neither panics nor loops: every
    /// prefix and every one-byte change of a good file decodes.
    #[test]
    fn every_cut_and_every_flipped_byte_decodes_without_panic() {
        let (f, _) = file(&[compact(1), compact(2), compact(3)]);
        for cut in 0..f.len() {
            let _ = decode_all(&f[..cut], Format::Text);
        }
        for at in 0..f.len() {
            for x in [0x01, 0x80, 0xff] {
                let mut g = f.clone();
                g[at] ^= x;
                let _ = decode_all(&g, Format::Json);
            }
        }
    }
}
