//! Formats records, and the writer's own lines, into the buffers of one
//! batch: one buffer per output (`server.log`, then `server.<level>.json`
//! in level order).
//!
//! The engine owns one [`BatchLines`]; each format helper thread owns
//! another (see [`crate::format_threads`]), so a long run of one lane's records
//! can be formatted in parts at once and the parts appended in order.

use ul_ring::bytes::ByteStore;
use ul_ring::callsite::CallsiteTable;
use ul_ring::clock::Calibration;
use ul_ring::lane::Consumer;
use ul_ring::record::{
    decode_with, peek, Form, Level, RecordHeader, RecordKind, COMPACT_CONTEXT, COMPACT_FLAGS,
    COMPACT_TRUNCATED, COMPACT_TSC, FLAG_TRUNCATED, FLAG_TSC, KIND_COMPACT,
};
use ul_ring::region::Region;

use crate::binlog;
use crate::callsite_cache::{CallsiteCache, Entries, LINE_OVERHEAD};
use crate::format::{
    format_message, json_head, json_head_to, text_tail, value_bound, write_json, write_text,
    ContextValue, Cursor, Escape, LineParts, LineRecord, ParsedFormat, Plan, TimestampFormatter,
    ARG_BYTE_BOUND,
};
use crate::outputs::{Format, BINARY, COUNT, TEXT};

/// Capacity a batch buffer is first given when a record needs room in it.
const FIRST_CAPACITY: usize = 64 << 10;

/// Room kept for a line of the writer's own (a drop report, a skipped
/// record, reclaimed lanes): such lines are short, and are written
/// without a room check.
pub const WRITER_LINE_BOUND: usize = 4 << 10;

/// Where a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The lane it was read from (`None`: the shared lane).
    pub lane: Option<usize>,
    /// The producing process.
    pub pid: u32,
    /// The producing thread.
    pub tid: u32,
}

/// The formatting state and output buffers of one batch (see the module
/// docs).
pub struct BatchLines {
    format: Format,
    /// Call sites and contexts of the region being read.
    pub names: CallsiteCache,
    /// Tick-to-ns conversion of the region being read.
    pub calib: Calibration,
    /// Timestamp text, cached per second.
    pub ts: TimestampFormatter,
    msg: Vec<u8>,
    /// An argument's text while it is escaped in place.
    esc: Vec<u8>,
    /// Line parts kept from the last record (source, level, pid, tid).
    parts: LineParts,
    /// One buffer per output, indexed as [`crate::outputs::Outputs`] is.
    pub bufs: Vec<Vec<u8>>,
    /// Records formatted since the last [`clear`](Self::clear).
    pub records: u64,
    /// The level and time (Unix ns) of the last record formatted (a
    /// forwarding sink's syslog header takes them; see
    /// `crate::forward`).
    pub last: (Level, u64),
    /// Count records that cannot be read in the region's statistics (the
    /// engine's and its helpers' lines; a forwarding sink reads the same
    /// records again and does not count them twice).
    pub count_errors: bool,
    /// Records written by their call site's [`Plan`] (never reset).
    pub planned: u64,
    /// This process, the pid of the writer's own lines.
    pid: u32,
    /// Most bytes of capacity the buffers may hold in all (see
    /// [`set_limit`](Self::set_limit)).
    limit: usize,
    /// A record found no room since the last [`clear`](Self::clear): the
    /// batch is full.
    pub full: bool,
    /// Growing a buffer failed (the allocator refused) since the last
    /// [`clear`](Self::clear).
    pub alloc_failed: Option<usize>,
    /// Where the binary log's buffer stands (see [`crate::binlog`]).
    bin: BinState,
    /// A format helper's part (see [`begin_part`](Self::begin_part)): the
    /// ids of the entries its binary records name, in order, each once;
    /// the engine defines them when it appends the part. `None` for the
    /// engine's own maker, which defines entries itself.
    part_defs: Option<(Vec<u32>, std::collections::HashSet<u32>)>,
}

/// What the binary log's buffer has written since it was cleared, and
/// before (the blocks of earlier batches are in the file).
struct BinState {
    /// The region (its address) whose table the last session block opened
    /// (0: none yet).
    key: usize,
    /// The clock the last session or clock block gave.
    calib: Option<Calibration>,
    /// The open run: its block's offset in the buffer, the buffer's length
    /// after its last record (the run is open only while that is still the
    /// buffer's length), its origin and the position its next record has.
    run_at: usize,
    run_end: usize,
    origin: Origin,
    next_pos: u64,
    /// Bytes of entry blocks defined before this batch (see
    /// [`BatchLines::binary_prefix`]).
    defs_before: usize,
    /// With the binary log alone: the frame word of the last record that
    /// took its call site's plan when that plan checks only the frame
    /// ([`Plan::checks_only_the_frame`]), with the key of its region (0:
    /// none). A record with the same word, from the same region, is valid
    /// as it is: [`BatchLines::record`] copies it straight into the open run.
    fast: (u64, usize),
}

impl BatchLines {
    /// Empty buffers for `format`; `calib` converts record timestamps.
    pub fn new(format: Format, calib: Calibration) -> Self {
        BatchLines {
            format,
            names: CallsiteCache::default(),
            calib,
            ts: TimestampFormatter::new(),
            msg: Vec::with_capacity(1024),
            esc: Vec::with_capacity(1024),
            parts: LineParts::default(),
            // Allocated as records need room, within `limit`.
            bufs: (0..COUNT).map(|_| Vec::new()).collect(),
            records: 0,
            last: (Level::Info, 0),
            count_errors: true,
            planned: 0,
            pid: std::process::id(),
            limit: usize::MAX,
            full: false,
            alloc_failed: None,
            bin: BinState {
                key: 0,
                calib: None,
                run_at: 0,
                run_end: usize::MAX,
                origin: Origin {
                    lane: None,
                    pid: 0,
                    tid: 0,
                },
                next_pos: 0,
                defs_before: 0,
                fast: (0, 0),
            },
            part_defs: None,
        }
    }

    /// Starts a format helper's part of a lane of `region` (see
    /// [`crate::format_threads`]), formatted with [`calib`](Self::calib): its
    /// binary records go into runs of their own, with no session, entry or
    /// clock block; the engine's [`append_part`](Self::append_part) puts
    /// what they need before them. Call after [`clear`](Self::clear).
    pub fn begin_part(&mut self, region: &Region) {
        let (mut ids, mut seen) = self.part_defs.take().unwrap_or_default();
        ids.clear();
        seen.clear();
        self.part_defs = Some((ids, seen));
        self.bin.key = region as *const Region as usize;
        self.bin.calib = Some(self.calib);
        self.bin.run_end = usize::MAX;
        self.bin.fast = (0, 0);
    }

    /// The ids of the entries the part's binary records name (see
    /// [`begin_part`](Self::begin_part)), in the order first named.
    pub fn part_defs(&mut self) -> Vec<u32> {
        self.part_defs
            .as_mut()
            .map(|(ids, _)| std::mem::take(ids))
            .unwrap_or_default()
    }

    /// Appends a format helper's part of a lane of `region` (lines made by
    /// a maker after [`begin_part`](Self::begin_part), with `calib`), with
    /// its `records`: for the binary log, first a session block if the
    /// records come from another region than the last ones, the entry
    /// blocks of `defs` not written yet, and a clock block if the part's
    /// clock is not the one the file has; then the part's blocks, as
    /// [`append`](Self::append). Call [`room_for`](Self::room_for) first.
    ///
    /// False (and [`full`](Self::full) set, nothing appended) if the batch
    /// has no room for the binary blocks that go before the part's: the
    /// part is read again next pass. Room for all of them is made before
    /// any is written, so no buffer grows here but by `try_reserve`.
    #[must_use]
    pub fn append_part(
        &mut self,
        region: &Region,
        table: &CallsiteTable<'_>,
        bufs: &[Vec<u8>],
        records: u64,
        defs: &[u32],
        calib: Calibration,
    ) -> bool {
        if self.format.binary() && bufs.get(BINARY).is_some_and(|b| !b.is_empty()) {
            let key = region as *const Region as usize;
            let mut need = bufs[BINARY].len() + binlog::CLOCK_BLOCK_LEN;
            if self.bin.key != key {
                need += binlog::SESSION_LEN + self.names.defined_bytes().len();
            }
            for &id in defs {
                need += self.names.undefined_len(table, id);
            }
            if !self.reserve(BINARY, need) {
                self.full = true;
                return false;
            }
            self.binary_session(key);
            for &id in defs {
                self.names.define(table, id, &mut self.bufs[BINARY]);
            }
            if !self.bin.calib.is_some_and(|c| same_clock(&c, &calib)) {
                binlog::put_clock_block(&mut self.bufs[BINARY], &calib);
                self.bin.calib = Some(calib);
            }
        }
        self.append(bufs, records);
        // The part's last run is not one this maker can extend.
        self.bin.run_end = usize::MAX;
        true
    }

    /// The blocks a binary log file that this process has not written to
    /// yet (a new one, one rotated, one reopened, one whose last batch was
    /// taken back) must start with, before the batch: a session block and
    /// every entry written so far for the region whose records are read.
    ///
    /// Entries this batch defines are in the batch already; a batch that
    /// starts with a session of its own needs no prefix (`None`).
    pub fn binary_prefix(&self) -> Option<Vec<u8>> {
        let buf = &self.bufs[BINARY];
        if buf.get(4) == Some(&binlog::block::SESSION) {
            return None;
        }
        let defs = self.names.defined_bytes();
        let defs = &defs[..self.bin.defs_before.min(defs.len())];
        let mut out = Vec::with_capacity(binlog::SESSION_LEN + defs.len());
        binlog::put_session(&mut out, self.pid, self.session_flags(), &self.calib);
        out.extend_from_slice(defs);
        Some(out)
    }

    /// For the binary log: if the records that follow come from another
    /// region (`key`) than the last ones, a session block and every entry
    /// defined so far, so that a reader can resolve their ids.
    fn binary_session(&mut self, key: usize) {
        if self.bin.key != key {
            self.bin.key = key;
            let flags = self.session_flags();
            let buf = &mut self.bufs[BINARY];
            binlog::put_session(buf, self.pid, flags, &self.calib);
            buf.extend_from_slice(self.names.defined_bytes());
            self.bin.calib = Some(self.calib);
        }
    }

    fn session_flags(&self) -> u32 {
        if self.parts.text_location {
            binlog::FLAG_TEXT_LOCATION
        } else {
            0
        }
    }

    /// Copies a record that was written as lines into the binary log's
    /// buffer: after a session block if the records come from another
    /// region than the last ones, the entries of its call site and context
    /// if they are new to the file, a clock block if the clock changed, and
    /// a run header unless it extends the open run.
    #[allow(clippy::too_many_arguments)]
    fn binary_record<T: Entries + ?Sized>(
        &mut self,
        table: &T,
        key: usize,
        origin: Origin,
        pos: u64,
        bytes: &[u8],
        callsite: u32,
        context: u32,
    ) {
        self.binary_session(key);
        if let Some((ids, seen)) = &mut self.part_defs {
            // A helper's part: the engine defines them (`append_part`).
            for id in [callsite, context] {
                if id != 0 && seen.insert(id) {
                    ids.push(id);
                }
            }
        } else {
            if callsite != 0 {
                self.names.define(table, callsite, &mut self.bufs[BINARY]);
            }
            if context != 0 {
                self.names.define(table, context, &mut self.bufs[BINARY]);
            }
        }
        let buf = &mut self.bufs[BINARY];
        if !self.bin.calib.is_some_and(|c| same_clock(&c, &self.calib)) {
            binlog::put_clock_block(buf, &self.calib);
            self.bin.calib = Some(self.calib);
        }
        let b = &mut self.bin;
        if b.run_end != buf.len()
            || b.next_pos != pos
            || b.origin != origin
            || buf.len() - b.run_at >= binlog::MAX_RUN
        {
            b.run_at = buf.len();
            b.origin = origin;
            binlog::put_run_header(buf, origin, pos);
        }
        buf.extend_from_slice(bytes);
        binlog::set_len(buf, b.run_at);
        b.run_end = buf.len();
        b.next_pos = pos.wrapping_add(bytes.len() as u64);
    }

    /// Bounds the buffers' capacity, all outputs together, to `bytes`:
    /// a record whose line could take more room than is left is not
    /// formatted ([`record`](Self::record) returns false and
    /// [`full`](Self::full) is set), so the batch ends before it. The
    /// first record of an empty batch is always formatted, whatever its
    /// size. Buffers already larger are shrunk once empty.
    pub fn set_limit(&mut self, bytes: usize) {
        self.limit = bytes;
        if self.capacity() > bytes {
            for b in self.bufs.iter_mut().filter(|b| b.is_empty()) {
                b.shrink_to(0);
            }
        }
    }

    /// The limit set by [`set_limit`](Self::set_limit).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes of capacity the buffers hold, all outputs together.
    pub fn capacity(&self) -> usize {
        self.bufs.iter().map(Vec::capacity).sum()
    }

    /// Bytes of lines buffered, all outputs together.
    pub fn len(&self) -> usize {
        self.bufs.iter().map(Vec::len).sum()
    }

    /// True if buffer `i` has `need` bytes of spare capacity, growing it
    /// (with `try_reserve`, so a refused allocation is an answer, not an
    /// abort) within the limit if it has not (see
    /// [`make_room`](Self::make_room)).
    #[inline]
    fn reserve(&mut self, i: usize, need: usize) -> bool {
        let b = &self.bufs[i];
        if b.capacity() - b.len() >= need {
            return true;
        }
        let mut needs = [0; COUNT];
        needs[i] = need;
        self.make_room(&needs)
    }

    /// Makes `needs[i]` bytes of spare capacity in every buffer `i` at
    /// once, within the limit: false if the lines there plus those asked
    /// for exceed it (or the allocator refused; see
    /// [`alloc_failed`](Self::alloc_failed)). The first record of a batch
    /// gets what it needs, whatever the limit.
    ///
    /// The limit counts capacity, and a buffer keeps the capacity it grew
    /// to in earlier batches: so when the capacity of the buffers stands
    /// in the way but their lines and the new ones fit, the spare capacity
    /// is shared out again, each buffer keeping a share in proportion to
    /// its lines (shrinking first, then growing, so the buffers never hold
    /// more than the limit). Otherwise a buffer grows by doubling, within
    /// what the others leave.
    #[cold]
    fn make_room(&mut self, needs: &[usize; COUNT]) -> bool {
        let first = self.records == 0;
        let mut want = [0usize; COUNT];
        let (mut total_want, mut total_fixed) = (0usize, 0usize);
        for (j, b) in self.bufs.iter().enumerate().take(COUNT) {
            want[j] = b.len().saturating_add(needs[j]);
            total_want = total_want.saturating_add(want[j]);
            total_fixed = total_fixed.saturating_add(want[j].max(b.capacity()));
        }
        if first || total_fixed <= self.limit {
            for j in 0..COUNT {
                let (len, cap) = (self.bufs[j].len(), self.bufs[j].capacity());
                if cap >= want[j] {
                    continue;
                }
                // Double (amortised growth), within what the others keep
                // (at least what they were asked to make room for).
                let room = if first {
                    usize::MAX
                } else {
                    let others: usize = (0..COUNT)
                        .filter(|&k| k != j)
                        .map(|k| want[k].max(self.bufs[k].capacity()))
                        .sum();
                    self.limit - others
                };
                let new_cap = (cap * 2).max(FIRST_CAPACITY).min(room).max(want[j]);
                if !self.grow(j, new_cap - len, needs[j]) {
                    return false;
                }
            }
            return true;
        }
        if total_want > self.limit {
            return false;
        }
        // Share the spare capacity out again, in proportion to the lines.
        let spare = (self.limit - total_want) as u128;
        let target: [usize; COUNT] = std::array::from_fn(|j| {
            want[j] + (spare * want[j] as u128 / total_want.max(1) as u128) as usize
        });
        for (b, &t) in self.bufs.iter_mut().zip(&target) {
            if b.capacity() > t {
                b.shrink_to(t);
            }
        }
        for j in 0..COUNT {
            let (len, cap) = (self.bufs[j].len(), self.bufs[j].capacity());
            if cap < want[j] && !self.grow(j, target[j] - len, needs[j]) {
                return false;
            }
        }
        true
    }

    /// Grows buffer `j` to `extra` bytes of spare capacity, else (refused)
    /// to just `need`; false, and [`alloc_failed`](Self::alloc_failed) set,
    /// if that is refused too.
    fn grow(&mut self, j: usize, extra: usize, need: usize) -> bool {
        let b = &mut self.bufs[j];
        if b.try_reserve_exact(extra).is_ok() || b.try_reserve_exact(need).is_ok() {
            return true;
        }
        self.alloc_failed = Some(b.len().saturating_add(need));
        false
    }

    /// Makes `need` bytes of room for a record's lines at `level`: in the
    /// text buffer and the level's JSON buffer, as the format writes
    /// them. False (and [`full`](Self::full) set) if the batch has no
    /// such room: the record is left for the next batch.
    #[inline]
    fn room(&mut self, level: Level, need: usize) -> bool {
        let spare = |b: &Vec<u8>| b.capacity() - b.len();
        let json = 1 + level as usize;
        if (!self.format.text() || spare(&self.bufs[TEXT]) >= need)
            && (!self.format.json() || spare(&self.bufs[json]) >= need)
            && (!self.format.binary() || spare(&self.bufs[BINARY]) >= need)
        {
            return true;
        }
        let mut needs = [0; COUNT];
        for (on, i) in [
            (self.format.text(), TEXT),
            (self.format.json(), json),
            (self.format.binary(), BINARY),
        ] {
            if on {
                needs[i] = need;
            }
        }
        let ok = self.make_room(&needs);
        if !ok {
            self.full = true;
        }
        ok
    }

    /// Makes room for lines formatted elsewhere (a helper's part): false
    /// (and [`full`](Self::full) set) if the batch cannot take them all.
    pub fn room_for(&mut self, bufs: &[Vec<u8>]) -> bool {
        let needs: [usize; COUNT] = std::array::from_fn(|i| bufs.get(i).map_or(0, Vec::len));
        if self
            .bufs
            .iter()
            .zip(&needs)
            .all(|(b, &n)| b.capacity() - b.len() >= n)
        {
            return true;
        }
        let ok = self.make_room(&needs);
        if !ok {
            self.full = true;
        }
        ok
    }

    /// Shows each record's file and line in text lines (`ul-writer
    /// --text-location`): `... INFO: src/main.rs:12: message`. JSON lines
    /// carry them (`"file"`, `"line"`) either way.
    pub fn set_text_location(&mut self, on: bool) {
        self.parts.text_location = on;
    }

    /// Whether text lines show file and line (see
    /// [`set_text_location`](Self::set_text_location)).
    pub fn text_location(&self) -> bool {
        self.parts.text_location
    }

    /// Empties the buffers for the next batch.
    pub fn clear(&mut self) {
        for b in &mut self.bufs {
            b.clear();
        }
        self.records = 0;
        self.full = false;
        self.alloc_failed = None;
        self.bin.defs_before = self.names.defined_bytes().len();
    }

    /// True if no line is buffered.
    pub fn is_empty(&self) -> bool {
        self.bufs.iter().all(Vec::is_empty)
    }

    /// Appends lines formatted elsewhere (a helper's part of a lane, which
    /// follows this one's), with their record count. Call
    /// [`room_for`](Self::room_for) first to stay within the limit.
    pub fn append(&mut self, bufs: &[Vec<u8>], records: u64) {
        for (mine, theirs) in self.bufs.iter_mut().zip(bufs) {
            mine.extend_from_slice(theirs);
        }
        self.records += records;
    }

    /// Formats one record into the batch buffers. False if the batch has
    /// no room for it (see [`set_limit`](Self::set_limit)): nothing was
    /// written, and the record belongs in the next batch.
    ///
    /// `bytes` are the record's own bytes, `pos` its lane position (for
    /// error lines, and the JSON line's `"seq"`). A record that does not
    /// decode becomes an error line saying what and where, and is counted
    /// in the region's statistics: among them a compact record whose call
    /// site cannot be read (an unknown id, an entry not committed, one
    /// without a signature or a level) or whose bytes do not match its
    /// call site's signature. A tagged record names its call site only for
    /// its format: it is written even when that cannot be read.
    #[inline]
    pub fn record(
        &mut self,
        region: &Region,
        table: &CallsiteTable<'_>,
        origin: Origin,
        pos: u64,
        bytes: &[u8],
    ) -> bool {
        let key = region as *const Region as usize;
        if self.bin.fast.1 == key && self.binary_fast(origin, pos, bytes) {
            return true;
        }
        self.record_general(region, table, key, origin, pos, bytes)
    }

    /// [`record`](Self::record) past the binary log's fast path, out of
    /// line so that the fast path inlines into the lane's read loop.
    #[inline(never)]
    fn record_general(
        &mut self,
        region: &Region,
        table: &CallsiteTable<'_>,
        key: usize,
        origin: Origin,
        pos: u64,
        bytes: &[u8],
    ) -> bool {
        match self.record_from(table, key, origin, pos, bytes) {
            Ok(done) => done,
            Err(why) => self.skipped(region, origin, pos, &why),
        }
    }

    /// Formats a *span* of one lane's records (consecutive, back to back,
    /// each frame checked: [`Consumer::read_spans`](ul_ring::lane::Consumer::read_spans)),
    /// the first at `pos`: as [`record`](Self::record) would one by one,
    /// but for the binary log alone a stretch of records that all carry
    /// the binary log's fast-path frame word is copied in one go. Returns the
    /// records formatted and, if the batch ran out of room, the position
    /// of the first record left for the next batch.
    pub fn span(
        &mut self,
        region: &Region,
        table: &CallsiteTable<'_>,
        origin: Origin,
        pos: u64,
        span: &[u8],
    ) -> (usize, Option<u64>) {
        let key = region as *const Region as usize;
        let mut done = 0;
        // The fast stretch being gathered: `[from, at)`, `n` records.
        let (mut at, mut from, mut n) = (0usize, 0usize, 0usize);
        while let Some(word) = span.get(at..).and_then(|s| s.first_chunk::<8>()) {
            let w = u64::from_le_bytes(*word);
            let len = (w & 0xffff_ffff) as usize;
            if len < 8 || span.len() - at < len {
                // Not a checked frame (no span holds one): stop, as the
                // record-by-record walk would.
                break;
            }
            if w == self.bin.fast.0 && self.bin.fast.1 == key {
                n += 1;
                at += len;
                continue;
            }
            if n > 0 {
                let p = pos.wrapping_add(from as u64);
                let (k, cut) = self.binary_fast_span(region, table, origin, p, &span[from..at], n);
                done += k;
                if cut.is_some() {
                    return (done, cut);
                }
                n = 0;
            }
            let p = pos.wrapping_add(at as u64);
            if !self.record(region, table, origin, p, &span[at..at + len]) {
                return (done, Some(p));
            }
            done += 1;
            at += len;
            from = at;
        }
        if n > 0 {
            let p = pos.wrapping_add(from as u64);
            let (k, cut) = self.binary_fast_span(region, table, origin, p, &span[from..at], n);
            done += k;
            return (done, cut);
        }
        (done, None)
    }

    /// With the binary log alone: copies the records of a lane from `from`
    /// (below `to`, at most `max`) that carry the binary log's fast frame
    /// word (`BinState::fast`) straight from the lane into the binary
    /// buffer, once, checking them there ([`Consumer::copy_matching`]), in
    /// the open run or in a new one for `origin`; returns the position
    /// reached and the records copied. Such records are valid whatever
    /// their values hold (see `binary_fast`): this is that path without
    /// the copy out of the lane first. Nothing is done (`(from, 0)`) unless
    /// the fast word is this region's and the clock is the one the file
    /// has; the caller reads what is left the usual way. Sets
    /// [`full`](Self::full) when it stopped for want of room.
    pub fn direct<B: ByteStore>(
        &mut self,
        consumer: &Consumer<'_, B>,
        region: &Region,
        origin: Origin,
        (from, to): (u64, u64),
        max: usize,
    ) -> (u64, usize) {
        let key = region as *const Region as usize;
        let (word, fast_key) = self.bin.fast;
        let len = (word & 0xffff_ffff) as usize;
        if fast_key != key
            || self.bin.key != key
            || self.format.text()
            || self.format.json()
            || len < 8
            || max == 0
            || !self.bin.calib.is_some_and(|c| same_clock(&c, &self.calib))
        {
            return (from, 0);
        }
        // Room for what is there (within the limit), else for one record.
        let want = (to.wrapping_sub(from).min(self.limit as u64) as usize)
            .min(max.saturating_mul(len))
            .saturating_add(binlog::RUN_HEADER);
        if !self.reserve(BINARY, want) && !self.reserve(BINARY, len + binlog::RUN_HEADER) {
            self.full = true;
            return (from, 0);
        }
        let buf = &mut self.bufs[BINARY];
        let b = &mut self.bin;
        let saved = (b.run_at, b.run_end, b.origin, b.next_pos);
        let opened = b.run_end != buf.len()
            || b.next_pos != from
            || b.origin != origin
            || buf.len() - b.run_at >= binlog::MAX_RUN;
        if opened {
            b.run_at = buf.len();
            b.origin = origin;
            binlog::put_run_header(buf, origin, from);
        }
        // Within the capacity there is (no reallocation) and the run's
        // bound.
        let max_bytes = buf.capacity().min(b.run_at + binlog::MAX_RUN);
        let (pos, n) = consumer.copy_matching(from, to, max, word, buf, max_bytes);
        if n == 0 {
            if opened {
                buf.truncate(b.run_at);
                (b.run_at, b.run_end, b.origin, b.next_pos) = saved;
            }
            return (from, 0);
        }
        binlog::set_len(buf, b.run_at);
        b.run_end = buf.len();
        b.next_pos = pos;
        self.records += n as u64;
        self.planned += n as u64;
        if pos != to && n < max && buf.capacity() - buf.len() < len {
            self.full = true;
        }
        (pos, n)
    }

    /// `n` records with the fast frame word, back to back in `bytes`, the
    /// first at `pos`: appended to the open run in one copy if they
    /// continue it under the same clock and the buffer has the room, else
    /// one by one through [`record`](Self::record) (which opens a run, or
    /// finds the batch full). Returns what [`span`](Self::span) does.
    fn binary_fast_span(
        &mut self,
        region: &Region,
        table: &CallsiteTable<'_>,
        origin: Origin,
        pos: u64,
        bytes: &[u8],
        n: usize,
    ) -> (usize, Option<u64>) {
        let b = &mut self.bin;
        let buf = &mut self.bufs[BINARY];
        if b.key == b.fast.1
            && b.run_end == buf.len()
            && b.next_pos == pos
            && b.origin == origin
            && b.calib.is_some_and(|c| same_clock(&c, &self.calib))
            && buf.len() - b.run_at < binlog::MAX_RUN
            && buf.capacity() - buf.len() >= bytes.len()
        {
            buf.extend_from_slice(bytes);
            binlog::set_len(buf, b.run_at);
            b.run_end = buf.len();
            b.next_pos = pos.wrapping_add(bytes.len() as u64);
            self.records += n as u64;
            self.planned += n as u64;
            return (n, None);
        }
        let (mut at, mut done) = (0, 0);
        while let Some(word) = bytes.get(at..).and_then(|s| s.first_chunk::<8>()) {
            let len = u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize;
            let Some(rec) = bytes.get(at..at + len).filter(|_| len >= 8) else {
                break;
            };
            let p = pos.wrapping_add(at as u64);
            if !self.record(region, table, origin, p, rec) {
                return (done, Some(p));
            }
            done += 1;
            at += len;
        }
        (done, None)
    }

    /// The binary log alone, a record whose frame word is
    /// [`BinState::fast`]'s (so it is valid as it is) that continues the
    /// open run, with the clock unchanged: copied, nothing else to do.
    /// False if any of that does not hold (nothing done).
    #[inline(always)]
    fn binary_fast(&mut self, origin: Origin, pos: u64, bytes: &[u8]) -> bool {
        let Some(word) = bytes.first_chunk::<8>() else {
            return false;
        };
        let b = &mut self.bin;
        let buf = &mut self.bufs[BINARY];
        // `b.key`: no session of another region since (the caller
        // checked that the record's region is the fast word's).
        if u64::from_le_bytes(*word) != b.fast.0
            || b.key != b.fast.1
            || bytes.len() as u64 != b.fast.0 & 0xffff_ffff
            || b.run_end != buf.len()
            || b.next_pos != pos
            || b.origin != origin
            || !b.calib.is_some_and(|c| same_clock(&c, &self.calib))
            || buf.len() - b.run_at >= binlog::MAX_RUN
            || buf.capacity() - buf.len() < bytes.len()
        {
            return false;
        }
        append_small(buf, bytes);
        binlog::set_len(buf, b.run_at);
        b.run_end = buf.len();
        b.next_pos = pos.wrapping_add(bytes.len() as u64);
        self.records += 1;
        self.planned += 1;
        true
    }

    /// [`record`](Self::record) with call sites from any [`Entries`]
    /// (`ul-decode` reads them from the binary log): formats the record
    /// (`Ok(true)`), finds no room for it (`Ok(false)`, nothing written),
    /// or says why it cannot be written (and writes nothing). `key` names
    /// the table `table` is (the binary log starts a session when it
    /// changes).
    pub fn record_from<T: Entries + ?Sized>(
        &mut self,
        table: &T,
        key: usize,
        origin: Origin,
        pos: u64,
        bytes: &[u8],
    ) -> Result<bool, String> {
        if let Some(done) = self.record_planned(table, key, origin, pos, bytes) {
            return Ok(done);
        }
        let head = match peek(bytes) {
            Ok(h) => h,
            Err(e) => return Err(e.to_string()),
        };
        let (site, site_err) = self.names.site(table, head.callsite);
        if site_err {
            if let Err(e) = &site {
                crate::diag!("{e}");
            }
        }
        // A compact record can only be read by its call site's signature,
        // and has its call site's level.
        let (decoded, site_level) = match (head.form, &site) {
            (Form::Tagged, _) => (decode_with(bytes, None), None),
            (Form::Compact, Err(e)) => {
                return Err(format!(
                    "compact record names callsite {}: {e}",
                    head.callsite
                ));
            }
            (Form::Compact, Ok(s)) => match s.level {
                Some(level) => (decode_with(bytes, s.signature.as_deref()), Some(level)),
                None => {
                    return Err(format!(
                        "compact record names callsite {}, whose level is invalid",
                        head.callsite
                    ));
                }
            },
        };
        let rec = match decoded {
            Ok(r) => r,
            Err(e) => return Err(e.to_string()),
        };
        let Some(level) = rec.level.or(site_level) else {
            // Unreachable: a tagged record has a level, a compact one its
            // call site's. Not a panic all the same.
            return Err("record without a level".to_string());
        };
        let ctx = if rec.context != 0 {
            let (c, first) = self.names.context(table, rec.context);
            if first {
                if let Err(e) = &c {
                    crate::diag!("{e}");
                }
            }
            c.ok()
        } else {
            None
        };
        let nargs = rec.args.len();
        let (format, keys, source, location) = match &site {
            Ok(s) => {
                let source = s.source(ctx.as_deref());
                let keys = &s.keys[..s.keys.len().min(nargs)];
                (Some(&s.format), keys, source, s.location.as_ref())
            }
            Err(_) => (None, &[][..], "unknown", None),
        };
        if let Ok(s) = &site {
            // A plan is made from the first record of each form that
            // decodes.
            s.plan(rec.form)
                .get_or_init(|| match (rec.form, &s.signature) {
                    (Form::Tagged, _) => Plan::new(&s.format, bytes),
                    (Form::Compact, Some(sig)) => Plan::compact(&s.format, sig),
                    (Form::Compact, None) => None,
                });
        }
        let npos = nargs - keys.len();
        // Room for the record's lines before anything is written.
        let args_bound: usize = rec.args.iter().map(|v| value_bound(&v)).sum();
        let ctx_bound = ctx.as_ref().map_or(0, |c| c.bound(keys.len()));
        let need = match &site {
            Ok(s) => s.line_bound(s.format.output_bound(args_bound, npos), ctx_bound),
            Err(_) => LINE_OVERHEAD + 64 + ctx_bound + 2 * args_bound,
        };
        // The binary log takes the record's bytes, a run header and a
        // clock block at most (entries, once per call site, are not
        // counted).
        if !self.room(level, need) || (self.format.binary() && !self.room_binary(bytes.len())) {
            return Ok(false);
        }
        let mut pairs: Vec<(&str, ContextValue<'_>)> = Vec::new();
        if let Some(c) = &ctx {
            for (k, v) in &c.pairs {
                pairs.push((k.as_str(), ContextValue::Str(v.as_str())));
            }
        }
        for (k, v) in keys.iter().zip(rec.args.iter().skip(npos)) {
            pairs.push((k.as_str(), ContextValue::Value(v)));
        }
        let ns = self.timestamp_ns(rec.flags, rec.timestamp);
        self.last = (level, ns);
        let line = LineRecord {
            timestamp_ns: ns,
            level,
            source,
            message: &[],
            context: &pairs,
            location,
            pid: origin.pid,
            tid: origin.tid,
            seq: pos,
            truncated: rec.flags & FLAG_TRUNCATED != 0,
        };
        // The message is formatted straight into each output when its
        // format allows (`ParsedFormat::format_escaped`); otherwise once
        // into `self.msg` and escaped from there.
        let positional = || rec.args.iter().take(npos);
        let mut staged = false;
        // The text buffer comes first; the JSON ones follow in level order.
        const _: () = assert!(TEXT == 0);
        let (text_buf, json_bufs) = self.bufs.split_at_mut(TEXT + 1);
        let text_buf = &mut text_buf[TEXT];
        // Where the text message landed in `text_buf`, if formatted there.
        let mut text_msg = None;
        if self.format.text() {
            self.parts.text_head(text_buf, &mut self.ts, &line);
            let at = text_buf.len();
            let direct = format.and_then(|f| {
                f.format_escaped(text_buf, positional(), npos, Escape::Text, &mut self.esc)
            });
            if direct.is_some() {
                text_msg = Some(at..text_buf.len());
            } else {
                stage(&mut self.msg, format, positional(), npos);
                staged = true;
                Escape::Text.escape(text_buf, &self.msg);
            }
            text_tail(text_buf, &pairs);
        }
        if self.format.json() {
            let out = &mut json_bufs[level as usize];
            json_head(out, level);
            // A text message with nothing to escape for JSON either (the
            // usual case) is copied rather than formatted again.
            let copied = match text_msg {
                Some(r) if Escape::Json.is_plain(&text_buf[r.clone()]) => {
                    crate::format::put(out, &text_buf[r]);
                    true
                }
                _ => false,
            };
            if !copied
                && format
                    .and_then(|f| {
                        f.format_escaped(out, positional(), npos, Escape::Json, &mut self.esc)
                    })
                    .is_none()
            {
                if !staged {
                    stage(&mut self.msg, format, positional(), npos);
                }
                Escape::Json.escape(out, &self.msg);
            }
            self.parts.json_tail(out, &mut self.ts, &line);
        }
        if self.format.binary() {
            // Entries only for what resolved: an id that does not is
            // written as unknown, and is unknown to the decoder too.
            let callsite = if site.is_ok() { rec.callsite } else { 0 };
            let context = if ctx.is_some() { rec.context } else { 0 };
            self.binary_record(table, key, origin, pos, bytes, callsite, context);
        }
        self.records += 1;
        Ok(true)
    }

    /// Room in the binary log's buffer for a record of `len` bytes, a run
    /// header and a clock block; false (and [`full`](Self::full) set) if
    /// the batch has none.
    fn room_binary(&mut self, len: usize) -> bool {
        let ok = self.reserve(BINARY, len + binlog::RUN_HEADER + 32);
        if !ok {
            self.full = true;
        }
        ok
    }

    /// Reports a record that cannot be written: an error line in the batch
    /// saying why and where, counted in the region's statistics. False,
    /// with nothing counted or written, if the batch has no room for the
    /// line (the record is then seen again in the next batch), as
    /// [`record`](Self::record) returns.
    #[cold]
    fn skipped(
        &mut self,
        region: &Region,
        origin: Origin,
        pos: u64,
        why: &dyn std::fmt::Display,
    ) -> bool {
        if !self.room(Level::Error, WRITER_LINE_BOUND) {
            return false;
        }
        if self.count_errors {
            region.header().stats.decode_errors.add(1);
        }
        let where_ = match origin.lane {
            Some(l) => format!("lane {l}"),
            None => "the shared lane".to_string(),
        };
        let msg = format!(
            "skipped a record from pid {} in {where_} at position {pos}: {why}",
            origin.pid
        );
        self.writer_line(Level::Error, &msg);
        true
    }

    /// Formats `bytes` by its call site's [`Plan`] if it has one and the
    /// record fits it (no context, no key-value fields): the same lines as
    /// [`record`](Self::record) writes, without decoding the record.
    /// `None` if it does not apply (nothing is written then), else what
    /// [`record`](Self::record) returns.
    fn record_planned<T: Entries + ?Sized>(
        &mut self,
        table: &T,
        key: usize,
        origin: Origin,
        pos: u64,
        bytes: &[u8],
    ) -> Option<bool> {
        let frame = bytes.first_chunk::<8>()?;
        // `decode` rejects a frame length other than the bytes given (a
        // shared-lane slot carries its own length); so does the plan.
        if u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize != bytes.len() {
            return None;
        }
        let kind = frame[4];
        let (form, callsite, flags, timestamp, own_level) = if kind == RecordKind::Log as u8 {
            let hdr = RecordHeader::read(bytes)?;
            if hdr.context != 0 {
                return None;
            }
            let Ok(level) = Level::try_from(hdr.level) else {
                return None;
            };
            (
                Form::Tagged,
                hdr.callsite,
                hdr.flags,
                hdr.timestamp,
                Some(level),
            )
        } else if kind & !(COMPACT_FLAGS & !COMPACT_CONTEXT) == KIND_COMPACT {
            let h = bytes.first_chunk::<16>()?;
            let mut flags = 0;
            if kind & COMPACT_TSC != 0 {
                flags |= FLAG_TSC;
            }
            if kind & COMPACT_TRUNCATED != 0 {
                flags |= FLAG_TRUNCATED;
            }
            let [_, _, _, _, _, c0, c1, c2, t @ ..] = *h;
            let callsite = u32::from_le_bytes([c0, c1, c2, 0]);
            (Form::Compact, callsite, flags, u64::from_le_bytes(t), None)
        } else {
            return None;
        };
        let site = match self.names.site(table, callsite) {
            (Ok(s), _) => s,
            (Err(e), first) => {
                // Reported here, the first time, as `record` would.
                if first {
                    crate::diag!("{e}");
                }
                return None;
            }
        };
        let level = own_level.or(site.level)?;
        let Some(Some(plan)) = site.plan(form).get() else {
            return None;
        };
        if !site.keys.is_empty() || !plan.fits(bytes) {
            return None;
        }
        if !self.format.text() && !self.format.json() {
            // The binary log alone: the record is checked, copy it.
            if !self.room_binary(bytes.len()) {
                return Some(false);
            }
            self.binary_record(table, key, origin, pos, bytes, callsite, 0);
            if plan.checks_only_the_frame() && bytes.len() >= 8 {
                let w = u64::from_le_bytes(*bytes.first_chunk::<8>().unwrap_or(&[0; 8]));
                self.bin.fast = (w, key);
            }
            self.records += 1;
            self.planned += 1;
            return Some(true);
        }
        // Not decoded: bounded by the record's length (a plan's
        // placeholders are in-order `{}`, each argument written once).
        let need = site.line_bound(
            site.format
                .output_bound(ARG_BYTE_BOUND * bytes.len(), usize::MAX),
            0,
        );
        if !self.room(level, need) || (self.format.binary() && !self.room_binary(bytes.len())) {
            return Some(false);
        }
        let ns = self.timestamp_ns(flags, timestamp);
        self.last = (level, ns);
        let line = LineRecord {
            timestamp_ns: ns,
            level,
            source: site.source(None),
            message: &[],
            context: &[],
            location: site.location.as_ref(),
            pid: origin.pid,
            tid: origin.tid,
            seq: pos,
            truncated: flags & FLAG_TRUNCATED != 0,
        };
        let (text_buf, json_bufs) = self.bufs.split_at_mut(TEXT + 1);
        let text_buf = &mut text_buf[TEXT];
        if self.format.text() {
            // The whole line through one cursor (no context: the tail is
            // the newline).
            let (msg, end) = {
                let mut c = Cursor::new(text_buf, 0);
                self.parts.text_head_to(&mut c, &mut self.ts, &line);
                let msg = c.len();
                plan.write_to(&mut c, bytes);
                let end = c.len();
                c.put(b"\n");
                (msg, end)
            };
            // A planned message never needs escaping (plain literals,
            // numbers, strings `Plan::fits` found plain), so the JSON line
            // takes the same text.
            if self.format.json() {
                let mut c = Cursor::new(&mut json_bufs[level as usize], 0);
                json_head_to(&mut c, level);
                c.put(&text_buf[msg..end]);
                self.parts.json_tail_to(&mut c, &mut self.ts, &line);
            }
        } else if self.format.json() {
            let mut c = Cursor::new(&mut json_bufs[level as usize], 0);
            json_head_to(&mut c, level);
            plan.write_to(&mut c, bytes);
            self.parts.json_tail_to(&mut c, &mut self.ts, &line);
        }
        if self.format.binary() {
            self.binary_record(table, key, origin, pos, bytes, callsite, 0);
        }
        self.records += 1;
        self.planned += 1;
        Some(true)
    }

    /// A record's time in ns since the epoch: its TSC ticks converted (if
    /// `flags` has [`FLAG_TSC`]), or the ns it carries.
    fn timestamp_ns(&self, flags: u16, timestamp: u64) -> u64 {
        if flags & FLAG_TSC != 0 {
            self.calib.to_ns(timestamp)
        } else {
            timestamp
        }
    }

    /// Adds a line of the writer's own (drops, reclaimed lanes, skipped
    /// bytes) to the current batch.
    pub fn writer_line(&mut self, level: Level, message: &str) {
        self.writer_line_at(level, message, ul_ring::clock::wall_ns(), self.pid);
    }

    /// [`writer_line`](Self::writer_line) with its time (Unix ns) and the
    /// writer's pid given (`ul-decode` reads them from the binary log).
    ///
    /// Such lines are not bounded by the batch budget, but their room is
    /// asked for with `try_reserve` like a record's: if the allocator
    /// refuses it, the line goes to standard error instead (see
    /// [`crate::diag`]) and the writer runs on, rather than abort on a
    /// buffer's growth.
    pub fn writer_line_at(&mut self, level: Level, message: &str, ns: u64, pid: u32) {
        // Escaping takes at most 6 bytes per byte (`\u001f`); the rest of
        // a line (time, level, source, pid, JSON keys; the binary block's
        // header) is well under the overhead counted.
        let need = message.len().saturating_mul(6).saturating_add(512);
        let targets = [
            (self.format.text(), TEXT),
            (self.format.json(), 1 + level as usize),
            (self.format.binary(), BINARY),
        ];
        for (on, i) in targets {
            let b = &mut self.bufs[i];
            if on && b.capacity() - b.len() < need && b.try_reserve_exact(need).is_err() {
                crate::diag!(
                    "no memory for a line of the log (the allocator refused {need} bytes more); \
                     it was: {level:?} {message}"
                );
                return;
            }
        }
        if self.format.binary() {
            binlog::put_writer_line(&mut self.bufs[BINARY], ns, pid, level, message);
        }
        let line = LineRecord {
            timestamp_ns: ns,
            level,
            source: "ul-writer",
            message: message.as_bytes(),
            context: &[],
            location: None,
            pid,
            tid: 0,
            seq: 0,
            truncated: false,
        };
        if self.format.text() {
            write_text(&mut self.bufs[TEXT], &mut self.ts, &line);
        }
        if self.format.json() {
            write_json(&mut self.bufs[1 + level as usize], &mut self.ts, &line);
        }
    }
}

/// True if `a` and `b` convert alike (the rate compared by its bits: no
/// float comparison on the fast path, and a NaN rate equals itself).
#[inline(always)]
fn same_clock(a: &Calibration, b: &Calibration) -> bool {
    a.tsc_base == b.tsc_base
        && a.ns_base == b.ns_base
        && a.ticks_per_ns.to_bits() == b.ticks_per_ns.to_bits()
}

/// `buf.extend_from_slice(bytes)`, with the usual record lengths copied
/// as fixed-size arrays: a copy the compiler inlines, rather than a call to
/// `memcpy` for each 40-byte record.
#[inline(always)]
fn append_small(buf: &mut Vec<u8>, bytes: &[u8]) {
    macro_rules! fixed {
        ($($n:literal)*) => {
            match bytes.len() {
                $($n => {
                    if let Some(a) = bytes.first_chunk::<$n>() {
                        buf.extend_from_slice(a);
                        return;
                    }
                })*
                _ => {}
            }
        };
    }
    fixed!(16 24 32 40 48 56 64);
    buf.extend_from_slice(bytes);
}

/// Formats a record's message into `msg` (cleared first): by its call
/// site's format, or, for an unknown call site, a placeholder text followed
/// by the arguments.
fn stage<'a>(
    msg: &mut Vec<u8>,
    format: Option<&ParsedFormat>,
    args: impl Iterator<Item = ul_ring::args::Value<'a>>,
    nargs: usize,
) {
    msg.clear();
    let _ = match format {
        Some(f) => f.format(msg, args, nargs),
        None => format_message(msg, "<unknown callsite>", args),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use ul_ring::args::{encode_compact, encode_record, signature_of, CompactHeader, OwnedValue};
    use ul_ring::callsite::EntryKind;
    use ul_ring::region::RegionOptions;

    /// A region of its own in /dev/shm, removed on drop.
    struct Shm(std::path::PathBuf, Region);

    impl Drop for Shm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn region(tag: &str) -> Shm {
        let path = std::path::PathBuf::from(format!(
            "/dev/shm/ul-lines-test-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let r = Region::open(&path, &RegionOptions::default()).expect("open a test region");
        Shm(path, r)
    }

    /// The lines `maker` adds to each output for `record`.
    fn lines_of(maker: &mut BatchLines, shm: &Shm, record: &[u8]) -> Vec<Vec<u8>> {
        let before: Vec<usize> = maker.bufs.iter().map(Vec::len).collect();
        let origin = Origin {
            lane: Some(0),
            pid: 42,
            tid: 7,
        };
        maker.record(&shm.1, &shm.1.callsites(), origin, 0, record);
        maker
            .bufs
            .iter()
            .zip(before)
            .map(|(b, n)| b[n..].to_vec())
            .collect()
    }

    /// Records of one call site, through a maker that has its plan and
    /// through a new maker each time (whose first record of a call site
    /// always takes the general path): the lines must be identical, for
    /// strings that need escaping (general path both times) and for those
    /// that do not (the plan, the second time).
    #[test]
    fn planned_lines_are_the_general_paths_lines() {
        let shm = region("plan");
        let table = shm.1.callsites();
        let fmt = "user {} said {} ({} times, {})";
        let id = table
            .register(EntryKind::Callsite, 2, 1, &[fmt, "chat", "main.rs", "app"])
            .expect("register the call site");
        let strings = [
            "ann",
            "",
            "a plain sentence, with digits 0123456789 and punctuation!?",
            "/var/log/app.log",
            "{braces} [brackets] <angles> 'quotes'",
            "x",
            "say \"hi\"",
            "back\\slash",
            "tab\there",
            "new\nline",
            "caf\u{e9}",
            "del\u{7f}",
            "sep\u{2028}",
        ];
        let mut rng = ul_test_support::Rng::from_state(0x9e37_79b9_7f4a_7c15);
        for format in [Format::Text, Format::Json, Format::Both] {
            let calib = Calibration::from_anchors((0, 0), (1, 1));
            let mut warm = BatchLines::new(format, calib);
            let mut planned = 0;
            for k in 0..400u64 {
                let x = rng.next_u64();
                let (a, b) = (
                    strings[(x % 13) as usize],
                    strings[((x >> 8) % 13) as usize],
                );
                let mut rec = Vec::new();
                encode_record(
                    &mut rec,
                    RecordHeader {
                        kind: RecordKind::Log as u8,
                        level: Level::Info as u8,
                        timestamp: 1_700_000_000_000_000_000 + x % 5_000_000_000,
                        callsite: id,
                        seq: k as u32,
                        ..Default::default()
                    },
                    &[
                        OwnedValue::Str(a.into()),
                        OwnedValue::Str(b.into()),
                        OwnedValue::U64(x >> 40),
                        OwnedValue::F64((x % 1000) as f64 / 8.0),
                    ],
                );
                let before = warm.planned;
                let got = lines_of(&mut warm, &shm, &rec);
                let want = lines_of(&mut BatchLines::new(format, calib), &shm, &rec);
                assert_eq!(got, want, "{format:?}: {a:?} {b:?}");
                let plain = [a, b].iter().all(|s| Escape::Json.is_plain(s.as_bytes()));
                if k > 0 {
                    assert_eq!(warm.planned > before, plain, "{format:?}: {a:?} {b:?}");
                }
                planned += warm.planned - before;
            }
            assert!(planned > 50, "{format:?}: only {planned} records planned");
        }
    }

    /// Compact records, planned and general, give the lines their tagged
    /// twins give (the JSON `"seq"` is the position either way), and take
    /// their level from the call site.
    #[test]
    fn compact_records_are_written_as_tagged_ones() {
        let shm = region("compact");
        let table = shm.1.callsites();
        let site = ["n={} s={} x={}", "svc", "main.rs", "app"];
        let cases: [&[OwnedValue]; 3] = [
            &[OwnedValue::U64(7), OwnedValue::U32(8), OwnedValue::F64(0.5)],
            &[
                OwnedValue::U64(1),
                OwnedValue::Str("plain".into()),
                OwnedValue::F64(2.0),
            ],
            &[
                OwnedValue::I8(-1),
                OwnedValue::Str("say \"hi\"".into()),
                OwnedValue::Bool(true),
            ],
        ];
        let calib = Calibration::from_anchors((0, 0), (1, 1));
        for args in cases {
            let sig = signature_of(args);
            let id = table
                .register_signed(EntryKind::Callsite, Level::Warn as u8, 3, &site, Some(&sig))
                .expect("register the call site");
            let mut tagged = Vec::new();
            let hdr = RecordHeader {
                level: Level::Warn as u8,
                timestamp: 1_700_000_000_123_456_789,
                callsite: id,
                ..Default::default()
            };
            encode_record(&mut tagged, hdr, args);
            let mut compact = Vec::new();
            let ch = CompactHeader {
                timestamp: hdr.timestamp,
                callsite: id,
                ..Default::default()
            };
            encode_compact(&mut compact, ch, args);
            assert!(compact.len() < tagged.len());
            for format in [Format::Text, Format::Json, Format::Both] {
                let want = lines_of(&mut BatchLines::new(format, calib), &shm, &tagged);
                let mut warm = BatchLines::new(format, calib);
                for round in 0..3 {
                    let got = lines_of(&mut warm, &shm, &compact);
                    assert_eq!(got, want, "{format:?} {args:?} round {round}");
                }
                let plain = !args.iter().any(
                    |a| matches!(a, OwnedValue::Str(s) if !Escape::Json.is_plain(s.as_bytes())),
                );
                assert_eq!(
                    warm.planned,
                    if plain { 2 } else { 0 },
                    "{format:?} {args:?}"
                );
            }
            let text = String::from_utf8(
                lines_of(&mut BatchLines::new(Format::Both, calib), &shm, &compact)
                    .swap_remove(TEXT),
            )
            .unwrap();
            assert!(text.contains("] [svc] WARN: n="), "{text}");
        }
    }

    /// A compact record the writer cannot read by its call site is skipped
    /// with an error line that says why, and counted; never printed.
    #[test]
    fn compact_records_that_do_not_match_are_skipped_and_reported() {
        let shm = region("mismatch");
        let table = shm.1.callsites();
        let site = ["a={} b={}", "", "main.rs", "app"];
        let args = [OwnedValue::U64(1), OwnedValue::Str("xyz".into())];
        let sig = signature_of(&args);
        let signed = table
            .register_signed(EntryKind::Callsite, 2, 1, &site, Some(&sig))
            .unwrap();
        let unsigned = table.register(EntryKind::Callsite, 2, 1, &site).unwrap();
        let bad_level = table
            .register_signed(EntryKind::Callsite, 9, 1, &site, Some(&sig))
            .unwrap();
        let compact = |callsite: u32| {
            let mut r = Vec::new();
            let h = CompactHeader {
                callsite,
                ..Default::default()
            };
            encode_compact(&mut r, h, &args);
            r
        };
        let good = compact(signed);
        // A word longer than the signature's values.
        let mut long = good.clone();
        long.extend_from_slice(&[0; 8]);
        let n = long.len() as u32;
        long[..4].copy_from_slice(&n.to_le_bytes());
        // The string's length running past the record.
        let mut overrun = good.clone();
        overrun[24..28].copy_from_slice(&200u32.to_le_bytes());
        let cases = [
            (compact(999_999), "callsite id 999999 is outside the table"),
            (compact(unsigned), "which has no signature"),
            (compact(bad_level), "whose level is invalid"),
            (long, "does not match its call site's signature"),
            (overrun, "past the record's end"),
        ];
        let calib = Calibration::from_anchors((0, 0), (1, 1));
        let mut maker = BatchLines::new(Format::Both, calib);
        // Warm: the call site's plan exists.
        for _ in 0..2 {
            let text = String::from_utf8(lines_of(&mut maker, &shm, &good).swap_remove(TEXT));
            assert!(text.unwrap().contains("a=1 b=xyz"));
        }
        for (rec, why) in cases {
            let errors = shm.1.header().stats.decode_errors.get();
            let lines = lines_of(&mut maker, &shm, &rec);
            let text = String::from_utf8(lines[TEXT].clone()).unwrap();
            assert!(
                text.contains("skipped a record from pid 42 in lane 0") && text.contains(why),
                "{why}: {text}"
            );
            assert!(!text.contains("a=1"), "{why}: printed: {text}");
            assert_eq!(text.lines().count(), 1, "{text}");
            assert_eq!(
                shm.1.header().stats.decode_errors.get(),
                errors + 1,
                "{why}"
            );
        }
    }

    /// A record whose frame length is not its length (a shared-lane slot
    /// carries its own) is reported by the general path, never planned.
    #[test]
    fn a_record_whose_frame_length_lies_is_not_planned() {
        let shm = region("len");
        let table = shm.1.callsites();
        let id = table
            .register(
                EntryKind::Callsite,
                2,
                1,
                &["n={} x={}", "s", "main.rs", "app"],
            )
            .expect("register the call site");
        let mut rec = Vec::new();
        let hdr = RecordHeader {
            kind: RecordKind::Log as u8,
            level: Level::Info as u8,
            callsite: id,
            ..Default::default()
        };
        let args = [OwnedValue::U64(1), OwnedValue::F64(0.5)];
        encode_record(&mut rec, hdr, &args);
        let calib = Calibration::from_anchors((0, 0), (1, 1));
        let mut maker = BatchLines::new(Format::Both, calib);
        lines_of(&mut maker, &shm, &rec);
        lines_of(&mut maker, &shm, &rec);
        assert_eq!(maker.planned, 1, "the second record takes the plan");
        let mut lying = rec.clone();
        let short = (rec.len() - 8) as u32;
        lying[..4].copy_from_slice(&short.to_le_bytes());
        let text = lines_of(&mut maker, &shm, &lying).swap_remove(TEXT);
        assert_eq!(maker.planned, 1, "a lying frame length took the plan");
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("skipped a record"), "{text}");
    }
}
