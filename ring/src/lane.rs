//! A single-producer single-consumer byte ring of variable-length records.
//!
//! Each producer thread owns one lane; the writer is its only consumer. The
//! ring holds 8-byte-aligned records whose first 8 bytes are a frame
//! (`len u32 | kind u8 | ...`, see [`crate::record`]). Positions are `u64`
//! byte counts that only grow; a position's offset in the buffer is
//! `pos & (capacity - 1)`.
//!
//! ```text
//!            tail (consumer line)          head (producer line)
//!              v                             v
//! [ ...free... | rec | rec | pad | rec | rec | ...free... ]
//! ```
//!
//! # Memory orderings
//!
//! * The producer writes a record's bytes, then `head.store(new, Release)`.
//!   The consumer's `head.load(Acquire)` synchronises with that store, so
//!   every byte below the `head` it observed is visible to it. A producer
//!   that dies half way through a record never moved `head`: the consumer
//!   never sees a torn record.
//! * The consumer copies records out, then `tail.store(new, Release)`. The
//!   producer's `tail.load(Acquire)` synchronises with it, so the consumer's
//!   reads of the freed bytes happen before the producer overwrites them.
//! * The producer keeps a private copy of `tail` (`cached_tail`) and reloads
//!   it only when that copy says the ring is full, so a push normally touches
//!   no cache line that the consumer writes (the `rtrb` technique).
//!
//! A record never straddles the end of the buffer: when it would, the
//! producer first fills the rest of the buffer with a padding record.

use crate::padded::Padded;

use crate::args::Encoder;
use crate::bytes::ByteStore;
use crate::counter::Counter;
use crate::record::{
    check_frame, read_frame, RecordKind, MAX_RECORD_LEN, MIN_FRAME_LEN, RECORD_ALIGN,
};
use crate::sync::{AtomicU64, Ordering};

/// The producer's cache line of a lane.
#[repr(C)]
pub(crate) struct ProducerLine {
    /// Bytes ever published into the lane (records and padding).
    pub(crate) head: AtomicU64,
    /// Records the owner dropped because the lane was full.
    pub(crate) dropped: AtomicU64,
    /// Records dropped because a signal handler logged while the owner
    /// thread was inside a log call (the producer's nesting guard). Apart
    /// from `dropped` because the handler may interrupt the owner between
    /// the load and the store of `dropped`; the handler adds here with one
    /// atomic instruction.
    pub(crate) nested_dropped: Counter,
}

/// The consumer's cache line of a lane.
#[repr(C)]
pub(crate) struct ConsumerLine {
    /// Bytes ever consumed from the lane.
    pub(crate) tail: AtomicU64,
    /// Value of the lane's drop count ([`LaneControl::dropped`]) already
    /// reported in the log.
    pub(crate) dropped_reported: AtomicU64,
    /// Write-ahead intent: the writer batch that will move `tail` ...
    pub(crate) pending_batch: AtomicU64,
    /// ... to this position once the batch is on disk ...
    pub(crate) pending_tail: AtomicU64,
    /// ... and `dropped_reported` to this value.
    pub(crate) pending_dropped: AtomicU64,
    /// Bytes whose records are in the writer's files: at or past `tail`.
    /// The bytes in between stay in the lane for forwarding sinks that
    /// have not had them acknowledged yet (see [`LaneControl::files`]).
    pub(crate) files: AtomicU64,
}

/// The shared cursors of one lane, each side on its own cache line: the
/// producer's (head, drop counts) and the consumer's (tail, reported drops,
/// and the tail and report staged for the batch being written).
///
/// The fields are reached through methods only, each of which says who may
/// call it and why its ordering suffices; the push and the drain themselves
/// are [`Producer`] and [`Consumer`].
#[repr(C)]
pub struct LaneControl {
    /// Written by the producer only.
    pub(crate) producer: Padded<ProducerLine>,
    /// Written by the consumer only.
    pub(crate) consumer: Padded<ConsumerLine>,
}

/// What the writer staged in a lane for a batch (see
/// [`LaneControl::stage`]): the files position and the reported drop count
/// the lane moves to once the batch is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staged {
    /// The files position to commit ([`LaneControl::files`]).
    pub files: u64,
    /// The drop count the batch reports.
    pub dropped: u64,
}

impl LaneControl {
    /// A lane with both cursors at zero (heap-backed lanes, tests, loom).
    ///
    /// ```
    /// let ctrl = ul_ring::lane::LaneControl::new();
    /// assert_eq!(ctrl.head(), 0);
    /// ```
    pub fn new() -> Self {
        Self::starting_at(0)
    }

    /// An empty lane whose cursors both stand at `pos`, as if `pos` bytes
    /// had gone through it (tests of the wrap at the ring's end and of
    /// cursors near `u64::MAX`).
    ///
    /// ```
    /// let ctrl = ul_ring::lane::LaneControl::starting_at(4000);
    /// assert_eq!((ctrl.head(), ctrl.tail()), (4000, 4000));
    /// ```
    pub fn starting_at(pos: u64) -> Self {
        Self {
            producer: Padded::new(ProducerLine {
                head: AtomicU64::new(pos),
                dropped: AtomicU64::new(0),
                nested_dropped: Counter::new(0),
            }),
            consumer: Padded::new(ConsumerLine {
                tail: AtomicU64::new(pos),
                dropped_reported: AtomicU64::new(0),
                pending_batch: AtomicU64::new(0),
                pending_tail: AtomicU64::new(0),
                pending_dropped: AtomicU64::new(0),
                files: AtomicU64::new(pos),
            }),
        }
    }

    /// The published head. Acquire: pairs with the producer's Release
    /// store in [`Producer::try_push`], so the bytes below it are visible.
    pub fn head(&self) -> u64 {
        self.producer.head.load(Ordering::Acquire)
    }

    /// The consumed tail. Acquire: pairs with the consumer's Release store
    /// in [`Consumer::commit`], so its reads of the bytes below it are
    /// done (what a producer needs; the consumer, which stored it, gets
    /// its own value either way, and pays nothing more on x86).
    pub fn tail(&self) -> u64 {
        self.consumer.tail.load(Ordering::Acquire)
    }

    /// Where the writer's files stand in the lane: the records below are in
    /// its files, and the next batch for the files is read from here. At
    /// or past the [`tail`](Self::tail), which stays behind while a
    /// forwarding sink has not had the records in between acknowledged.
    /// Consumer only (the value is the consumer's own; the region is
    /// untrusted, so one not within `[tail, head]`, as in a region a
    /// writer without sinks last served, or one forged, reads as the
    /// tail).
    ///
    /// ```
    /// let ctrl = ul_ring::lane::LaneControl::starting_at(64);
    /// assert_eq!(ctrl.files(), 64);
    /// ctrl.commit_files(1 << 40); // past the head: not believed
    /// assert_eq!(ctrl.files(), 64);
    /// ```
    pub fn files(&self) -> u64 {
        let tail = self.tail();
        let head = self.head();
        // Relaxed: only the consumer stores it, and it publishes nothing
        // (the bytes below it are the producer's, seen through `head`).
        let files = self.consumer.files.load(Ordering::Relaxed);
        if files.wrapping_sub(tail) <= head.wrapping_sub(tail) {
            files
        } else {
            tail
        }
    }

    /// Consumer, once a batch is in the files: they stand at `pos` (at or
    /// below the head it read to). The tail moves separately
    /// ([`Consumer::commit`]), once no sink needs the bytes. Relaxed: see
    /// [`files`](Self::files).
    pub fn commit_files(&self, pos: u64) {
        self.consumer.files.store(pos, Ordering::Relaxed);
    }

    /// Every drop to report: what the owner counted (lane full) plus what
    /// its signal handlers counted ([`nested_drops`](Self::nested_drops)).
    /// Relaxed: counts, ordered with nothing.
    ///
    /// ```
    /// let ctrl = ul_ring::lane::LaneControl::new();
    /// ctrl.nested_drops().add(2);
    /// assert_eq!(ctrl.dropped(), 2);
    /// ```
    pub fn dropped(&self) -> u64 {
        self.owner_dropped()
            .wrapping_add(self.producer.nested_dropped.get())
    }

    /// The drops the owner thread counted itself
    /// ([`Producer::count_drop`]), without its signal handlers' (Relaxed).
    pub fn owner_dropped(&self) -> u64 {
        self.producer.dropped.load(Ordering::Relaxed)
    }

    /// Producer: where the owner thread's signal handlers count a record
    /// they drop (a log call inside a log call).
    pub fn nested_drops(&self) -> &Counter {
        &self.producer.nested_dropped
    }

    /// The part of [`dropped`](Self::dropped) already reported in the log.
    /// Relaxed: only the consumer stores it, and nothing is published
    /// with it.
    pub fn dropped_reported(&self) -> u64 {
        self.consumer.dropped_reported.load(Ordering::Relaxed)
    }

    /// True if every published byte is consumed (in the files and past
    /// every sink) and every drop reported: the lane has nothing for the
    /// writer.
    pub fn is_drained(&self) -> bool {
        self.head() == self.tail() && self.dropped() == self.dropped_reported()
    }

    /// Consumer, once the batch that reports them is on disk: the drops up
    /// to `dropped` are reported. Returns the count reported before, so the
    /// caller can add the difference to its statistics. Relaxed: see
    /// [`dropped_reported`](Self::dropped_reported).
    pub fn report_dropped(&self, dropped: u64) -> u64 {
        self.consumer
            .dropped_reported
            .swap(dropped, Ordering::Relaxed)
    }

    /// Consumer, before it writes batch `batch` (the write-ahead intent):
    /// once the batch is on disk the lane's files position moves to `files`
    /// (and the tail with it, unless a forwarding sink still needs the
    /// bytes) and its reported drops to `dropped`. A consumer that dies
    /// after the batch is written finds them with [`staged`](Self::staged).
    ///
    /// The position and the count are stored first (Relaxed), then the batch
    /// number (Release): a reader that sees the number (Acquire, in
    /// `staged`) sees the values staged with it, never an older batch's.
    ///
    /// ```
    /// use ul_ring::lane::{LaneControl, Staged};
    /// let ctrl = LaneControl::new();
    /// ctrl.stage(7, 64, 1);
    /// assert_eq!(ctrl.staged(7), Some(Staged { files: 64, dropped: 1 }));
    /// assert_eq!(ctrl.staged(8), None);
    /// ```
    pub fn stage(&self, batch: u64, files: u64, dropped: u64) {
        let c = &self.consumer;
        c.pending_tail.store(files, Ordering::Relaxed);
        c.pending_dropped.store(dropped, Ordering::Relaxed);
        c.pending_batch.store(batch, Ordering::Release);
    }

    /// What [`stage`](Self::stage) staged for `batch`, if the lane's last
    /// staging was for `batch`. Untrusted input (the region may have been
    /// written by anyone): see [`complete_staged`](Self::complete_staged).
    pub fn staged(&self, batch: u64) -> Option<Staged> {
        let c = &self.consumer;
        // Acquire: pairs with the Release store of the batch number, so the
        // values loaded after it are the ones staged with it.
        (c.pending_batch.load(Ordering::Acquire) == batch).then(|| Staged {
            files: c.pending_tail.load(Ordering::Relaxed),
            dropped: c.pending_dropped.load(Ordering::Relaxed),
        })
    }

    /// Consumer taking over from one that died after batch `batch` was on
    /// disk: finishes what the batch staged in this lane. The files
    /// position moves to the staged one only if that lies in
    /// `[files, head]` (a forged value elsewhere would skip or replay
    /// bytes); the reported drops are set. The tail is left where it is:
    /// the new consumer moves it up to the files once it knows which
    /// sinks still need the bytes in between. Returns false if the lane
    /// staged nothing for `batch`. Repeatable.
    ///
    /// ```
    /// let ctrl = ul_ring::lane::LaneControl::new();
    /// ctrl.stage(3, 0, 2);
    /// assert!(ctrl.complete_staged(3));
    /// assert_eq!(ctrl.dropped_reported(), 2);
    /// assert!(!ctrl.complete_staged(4));
    /// ```
    pub fn complete_staged(&self, batch: u64) -> bool {
        let Some(s) = self.staged(batch) else {
            return false;
        };
        let head = self.head();
        let files = self.files();
        if s.files.wrapping_sub(files) <= head.wrapping_sub(files) {
            self.commit_files(s.files);
        }
        self.consumer
            .dropped_reported
            .store(s.dropped, Ordering::Relaxed);
        true
    }

    /// The head itself, for tests that forge what a producer (or a hostile
    /// process) writes there. Not part of the protocol.
    #[doc(hidden)]
    pub fn head_raw(&self) -> &AtomicU64 {
        &self.producer.head
    }

    /// The tail itself, for tests that forge what a consumer (or a hostile
    /// process) writes there. Not part of the protocol.
    #[doc(hidden)]
    pub fn tail_raw(&self) -> &AtomicU64 {
        &self.consumer.tail
    }
}

impl Default for LaneControl {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a push did not happen. The record was not written; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The lane has no room until the consumer catches up.
    #[error("lane is full")]
    Full,
    /// The record can never fit this lane (or is not a multiple of 8 bytes).
    #[error("record of {len} bytes does not fit a lane (at most {max} bytes, a multiple of 8)")]
    TooLarge {
        /// The length asked for.
        len: usize,
        /// The largest record this lane takes.
        max: usize,
    },
}

/// How far ahead of `head` a push prefetches for writing.
const PREFETCH_AHEAD: u64 = 128;

/// Largest record a lane of `capacity` bytes accepts.
///
/// A record plus the padding before it must fit even when the ring is empty,
/// so the bound is half the capacity (and never above [`MAX_RECORD_LEN`]).
pub const fn max_record_len(capacity: usize) -> usize {
    let half = capacity / 2;
    if half < MAX_RECORD_LEN {
        half
    } else {
        MAX_RECORD_LEN
    }
}

/// The writing end of a lane.
///
/// # Example
///
/// ```
/// use ul_ring::bytes::HeapBytes;
/// use ul_ring::lane::{Consumer, LaneControl, Producer};
/// let ctrl = LaneControl::new();
/// let bytes = HeapBytes::new(256);
/// // SAFETY: one producer and one consumer for this lane.
/// let mut p = unsafe { Producer::attach(&ctrl, &bytes) };
/// p.try_push(16, |enc| { enc.put_u32(16); enc.put_u8(1); }).unwrap();
/// let c = unsafe { Consumer::attach(&ctrl, &bytes) };
/// let mut seen = vec![];
/// let batch = c.read_batch(c.tail(), c.head(), 100, &mut Vec::new(), |_, rec| seen.push(rec.len()));
/// assert_eq!(seen, vec![16]);
/// c.commit(batch.new_tail);
/// ```
pub struct Producer<'a, B: ByteStore> {
    ctrl: &'a LaneControl,
    bytes: B,
    mask: u64,
    capacity: u64,
    head: u64,
    cached_tail: u64,
    /// Position up to which `head` may advance with no wrap and no look at
    /// the consumer's tail: `head` plus the least of the room `cached_tail`
    /// leaves and the bytes to the end of the buffer (`head` itself when
    /// the lane is too small for the fast path). Kept by [`Self::set_limit`]
    /// whenever `head` or `cached_tail` moves.
    limit: u64,
}

/// Room for one record at a lane's head, made by [`Producer::reserve`]:
/// [`commit`](Self::commit) writes and publishes it; dropped, nothing is
/// published.
#[must_use = "a reservation publishes nothing until it is committed"]
pub struct Reservation<'p, 'a, B: ByteStore> {
    producer: &'p mut Producer<'a, B>,
    at: usize,
    len: usize,
    /// Made by the slow path: `limit` is recomputed after the commit.
    relimit: bool,
}

impl<B: ByteStore> Reservation<'_, '_, B> {
    /// Writes the record with `write` (an encoder over exactly its `len`
    /// bytes) and publishes it.
    #[inline(always)]
    pub fn commit<R>(self, write: impl FnOnce(&mut Encoder<'_>) -> R) -> R {
        let p = self.producer;
        // SAFETY: `reserve` or `reserve_fast` (the same fast-path check)
        // made this reservation for `p`'s head as it is now (the
        // reservation holds `p` mutably borrowed, so nothing moved it
        // since) and checked that `[at, at + len)` lies inside the store
        // (fast path: `limit` is at most `to_end` past `head`; slow path:
        // `len <= to_end` after any padding) and is free space that the
        // consumer does not read (room under the cached tail); we are the
        // lane's only producer.
        let out = unsafe { p.bytes.write_in_bounds(self.at, self.len, write) };
        p.publish(self.len as u64);
        if self.relimit {
            p.set_limit();
        }
        out
    }
}

/// Records up to this long take the fast path of [`Producer::try_push`]
/// (one compare against [`Producer::limit`]), on lanes whose
/// [`max_record_len`] is at least this.
const FAST_MAX_LEN: usize = 1024;

impl<'a, B: ByteStore> Producer<'a, B> {
    /// Starts producing into a lane whose cursors are `ctrl`, continuing at
    /// its current head.
    ///
    /// # Safety
    ///
    /// The caller must be the lane's only producer until this value is
    /// dropped (in production: it holds the lane's directory entry), and
    /// `bytes.capacity()` must be a power of two of at least 16 bytes.
    pub unsafe fn attach(ctrl: &'a LaneControl, bytes: B) -> Self {
        let capacity = bytes.capacity() as u64;
        // Acquire: a previous owner's bytes and the consumer's release of the
        // lane happen before we continue from here.
        let head = ctrl.producer.head.load(Ordering::Acquire);
        let cached_tail = ctrl.consumer.tail.load(Ordering::Acquire);
        let mut p = Self {
            ctrl,
            bytes,
            mask: capacity.wrapping_sub(1),
            capacity,
            head,
            cached_tail,
            limit: head,
        };
        p.set_limit();
        p
    }

    /// Recomputes [`Self::limit`] from `head` and `cached_tail`. A consumer
    /// that lies (tail beyond head) makes `used` larger than the capacity:
    /// no room, never a licence to overwrite.
    #[inline]
    fn set_limit(&mut self) {
        if max_record_len(self.capacity as usize) < FAST_MAX_LEN {
            self.limit = self.head;
            return;
        }
        let used = self.head.wrapping_sub(self.cached_tail);
        let room = self.capacity.saturating_sub(used);
        let to_end = self.capacity - (self.head & self.mask);
        self.limit = self.head.wrapping_add(room.min(to_end));
    }

    /// Bytes this producer has published into the lane (its own copy of
    /// the head: no load of the shared cursor).
    #[inline]
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The consumer's tail as this producer last loaded it (it moves only
    /// when the ring looks full, or by [`refresh_tail`](Self::refresh_tail)).
    #[inline]
    pub fn cached_tail(&self) -> u64 {
        self.cached_tail
    }

    /// Bytes published but (as far as this producer last saw) not consumed.
    #[inline]
    pub fn used(&self) -> u64 {
        self.head.wrapping_sub(self.cached_tail)
    }

    /// Reloads the consumer's tail (Acquire), so [`used`](Self::used) is
    /// current rather than as of the last full ring.
    #[inline]
    pub fn refresh_tail(&mut self) {
        self.cached_tail = self.ctrl.consumer.tail.load(Ordering::Acquire);
        self.set_limit();
    }

    /// The lane's capacity in bytes.
    #[inline]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The lane's cursors.
    #[inline]
    pub fn control(&self) -> &'a LaneControl {
        self.ctrl
    }

    /// Reserves `len` bytes (a multiple of 8), lets `write` fill them, and
    /// publishes them: [`reserve`](Self::reserve) then
    /// [`commit`](Reservation::commit).
    ///
    /// `write` receives an encoder over exactly `len` bytes. It must write
    /// the record's frame (its first 8 bytes) itself.
    #[inline(always)]
    pub fn try_push<R>(
        &mut self,
        len: usize,
        write: impl FnOnce(&mut Encoder<'_>) -> R,
    ) -> Result<R, PushError> {
        Ok(self.reserve(len)?.commit(write))
    }

    /// Reserves room for a record of `len` bytes (a multiple of 8) at the
    /// head, writing a padding record first if it would cross the end of
    /// the buffer. Nothing is published until [`Reservation::commit`]; the
    /// reservation borrows the producer, so nothing else is pushed before.
    ///
    /// A small record that fits before the producer's cached limit takes the fast
    /// path, inlined: with a constant `len`, one compare. The rest (a
    /// wrap, a look at the consumer's tail, a large record) is out of line
    /// and takes no closure, so a caller's record-writing closure is only
    /// ever inlined, never passed by reference (which would put what it
    /// captures in memory on the hot path).
    #[inline(always)]
    pub fn reserve(&mut self, len: usize) -> Result<Reservation<'_, 'a, B>, PushError> {
        let (at, relimit) = if self.fits_fast(len) {
            ((self.head & self.mask) as usize, false)
        } else {
            (self.reserve_slow(len)?, true)
        };
        Ok(Reservation {
            producer: self,
            at,
            len,
            relimit,
        })
    }

    /// The fast path of [`Self::reserve`] alone: room for a small record
    /// before the cached limit, else `None` (nothing changed; the caller
    /// takes [`Self::reserve`], out of its hot path). A caller that
    /// inlines only this pays one compare for a constant `len`, and no
    /// check after the commit of whether `limit` must be recomputed.
    #[inline(always)]
    pub fn reserve_fast(&mut self, len: usize) -> Option<Reservation<'_, 'a, B>> {
        if self.fits_fast(len) {
            Some(Reservation {
                at: (self.head & self.mask) as usize,
                producer: self,
                len,
                relimit: false,
            })
        } else {
            None
        }
    }

    /// True if a record of `len` bytes takes the fast path: small, a
    /// multiple of 8, and within `limit` (no wrap, room under the cached
    /// tail).
    #[inline(always)]
    fn fits_fast(&self, len: usize) -> bool {
        (MIN_FRAME_LEN..=FAST_MAX_LEN).contains(&len)
            && len % RECORD_ALIGN == 0
            && self.limit.wrapping_sub(self.head) >= len as u64
    }

    /// Moves `head` by `need` bytes just written and publishes it.
    #[inline(always)]
    fn publish(&mut self, need: u64) {
        self.head = self.head.wrapping_add(need);
        // Release: the record's bytes (and the padding) happen before any
        // consumer that observes this head.
        self.ctrl.producer.head.store(self.head, Ordering::Release);
        // Own the cache line two lines ahead before a later record needs it:
        // after the consumer has read a line, writing it again costs a
        // cross-core ownership request, and this hides it off the hot path.
        self.bytes
            .prefetch_write((self.head.wrapping_add(PREFETCH_AHEAD) & self.mask) as usize);
    }

    /// [`Self::reserve`] past the fast path: the offset to write at.
    #[inline(never)]
    fn reserve_slow(&mut self, len: usize) -> Result<usize, PushError> {
        let max = max_record_len(self.capacity as usize);
        if len > max || len < MIN_FRAME_LEN || len % RECORD_ALIGN != 0 {
            return Err(PushError::TooLarge { len, max });
        }
        let len64 = len as u64;
        let offset = self.head & self.mask;
        let to_end = self.capacity - offset;
        let pad = if len64 > to_end { to_end } else { 0 };
        let need = pad + len64;
        if self.head.wrapping_sub(self.cached_tail).wrapping_add(need) > self.capacity {
            // Acquire: pairs with the consumer's Release store of `tail`, so
            // its reads of the space we are about to reuse are finished.
            self.cached_tail = self.ctrl.consumer.tail.load(Ordering::Acquire);
            // A consumer that lies (tail beyond head) makes `used` huge: the
            // lane then reads as full, never as a licence to overwrite.
            if self.head.wrapping_sub(self.cached_tail).wrapping_add(need) > self.capacity {
                self.set_limit();
                return Err(PushError::Full);
            }
        }
        let mut at = offset as usize;
        if pad != 0 {
            self.bytes.write_with(at, pad as usize, |enc| {
                enc.put_u32(pad as u32);
                enc.put_u8(RecordKind::Padding as u8);
            });
            // Published alone: a padding record is a whole record to the
            // consumer, and the record itself follows at offset 0.
            self.publish(pad);
            at = 0;
        }
        // `limit` must match `head` and `cached_tail` whether or not the
        // reservation is committed: one dropped after the padding moved
        // `head` (a full-lane wait that only looks for room) would
        // otherwise leave `limit` behind `head`, which the fast path reads
        // as room to the end of the address space.
        self.set_limit();
        Ok(at)
    }

    /// Counts one record dropped because the lane was full.
    #[inline]
    pub fn count_drop(&self) {
        let d = &self.ctrl.producer.dropped;
        // Only this producer writes `dropped`: a load and a store suffice,
        // with no locked instruction.
        d.store(d.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

/// What a lane's consumer found it could not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneCorruption {
    /// Lane position of the first byte that could not be framed.
    pub pos: u64,
    /// Bytes skipped to get past it (up to the head observed).
    pub skipped: u64,
    /// What was wrong.
    pub reason: String,
}

/// Outcome of one [`Consumer::read_batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The tail to [`commit`](Consumer::commit) once the records are safe.
    pub new_tail: u64,
    /// Records handed to the callback (padding not counted).
    pub records: usize,
    /// Set when the lane held bytes that cannot be framed; `new_tail` then
    /// skips past everything that was published.
    pub corrupt: Option<LaneCorruption>,
}

/// Bytes copied out of a lane per contiguous piece at most; large enough
/// for any record, so every call makes progress.
pub const COPY_CHUNK: usize = 256 * 1024;

/// A read of at most `n` records copies about `n * COPY_PER_RECORD` bytes
/// (at least [`COPY_MIN`]) at first, not a whole [`COPY_CHUNK`]: a small
/// batch copies about what it takes. Records larger on average take more
/// chunks; a record longer than the chunk is read again whole.
const COPY_PER_RECORD: usize = 64;
/// The least a chunk copies (unless the lane holds less).
const COPY_MIN: usize = 4096;

/// The reading end of a lane. It treats the lane's bytes and cursors as
/// untrusted input: whatever they hold, it never reads outside the lane,
/// never loops without progress, and never panics.
pub struct Consumer<'a, B: ByteStore> {
    ctrl: &'a LaneControl,
    bytes: B,
    mask: u64,
    capacity: u64,
}

impl<'a, B: ByteStore> Consumer<'a, B> {
    /// Starts consuming a lane.
    ///
    /// # Safety
    ///
    /// The caller must be the lane's only consumer while this value lives,
    /// or, if several values are attached at once (the writer's engine and
    /// its format helpers or forwarding sinks, each on its own thread),
    /// only one of them may [`commit`](Self::commit) (or otherwise move
    /// the lane's consumer cursors), and the others only read ranges
    /// below a head that one observed and at or above the tail, which it
    /// does not move past while they read. `bytes.capacity()` must be a
    /// power of two of at least 16 bytes.
    pub unsafe fn attach(ctrl: &'a LaneControl, bytes: B) -> Self {
        let capacity = bytes.capacity() as u64;
        Self {
            ctrl,
            bytes,
            mask: capacity.wrapping_sub(1),
            capacity,
        }
    }

    /// The lane's cursors.
    pub fn control(&self) -> &'a LaneControl {
        self.ctrl
    }

    /// The consumed position.
    pub fn tail(&self) -> u64 {
        self.ctrl.consumer.tail.load(Ordering::Relaxed)
    }

    /// The published position. Acquire: bytes below it are visible.
    pub fn head(&self) -> u64 {
        self.ctrl.producer.head.load(Ordering::Acquire)
    }

    /// Copies the records in `[tail, head)` out of the lane, at most
    /// `max_records` of them, and calls `on_record(pos, bytes)` for each, in
    /// order, with the record's own bytes (frame included) in private memory.
    ///
    /// Nothing is consumed until [`commit`](Self::commit) is called with
    /// the returned `new_tail`.
    pub fn read_batch(
        &self,
        tail: u64,
        head: u64,
        max_records: usize,
        scratch: &mut Vec<u8>,
        mut on_record: impl FnMut(u64, &[u8]),
    ) -> Batch {
        self.read_spans(tail, head, max_records, scratch, |pos, span, _| {
            let mut at = 0;
            // Every frame of a span was checked by `read_spans`.
            while let Some(word) = span.get(at..at + 4) {
                let len = u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize;
                let Some(record) = span.get(at..at + len) else {
                    break;
                };
                on_record(pos.wrapping_add(at as u64), record);
                at += len;
            }
        })
    }

    /// [`read_batch`](Self::read_batch) handing out *spans*: runs of
    /// consecutive records (no padding between them), as
    /// `on_span(pos, bytes, records)`: the first record's position, the
    /// records' bytes back to back, and how many there are. Every frame in
    /// a span has been checked ([`read_frame`]): its length is at least 8,
    /// a multiple of 8 and within the span. The same records as
    /// `read_batch` gives, in the same order, with the same [`Batch`]; a
    /// reader that copies records (the binary log) takes a span in one go.
    pub fn read_spans(
        &self,
        tail: u64,
        head: u64,
        max_records: usize,
        scratch: &mut Vec<u8>,
        mut on_span: impl FnMut(u64, &[u8], usize),
    ) -> Batch {
        let avail = head.wrapping_sub(tail);
        let corrupt_all = |reason: String| Batch {
            new_tail: head,
            records: 0,
            corrupt: Some(LaneCorruption {
                pos: tail,
                skipped: avail,
                reason,
            }),
        };
        if avail > self.capacity {
            return corrupt_all(format!(
                "head {head} and tail {tail} are {avail} bytes apart, more than the lane's {} bytes",
                self.capacity
            ));
        }
        if avail % RECORD_ALIGN as u64 != 0 || tail % RECORD_ALIGN as u64 != 0 {
            return corrupt_all(format!("head {head} or tail {tail} is not 8-byte aligned"));
        }
        // Wrapping arithmetic from here on: `head - tail` is at most the
        // capacity (checked above), but untrusted cursors may straddle
        // `u64::MAX`, which must not panic in a debug build.
        let mut pos = tail;
        let mut records = 0;
        // The last chunk's first frame did not fit it: the bytes to copy
        // for it (as many as its length word says, else a whole chunk).
        let mut widen_to: Option<usize> = None;
        while pos != head && records < max_records {
            let offset = pos & self.mask;
            let to_end = self.capacity - offset;
            let remaining = head.wrapping_sub(pos);
            let segment = to_end.min(remaining);
            let whole = segment.min(COPY_CHUNK as u64) as usize;
            let widened = widen_to.take();
            let copy = match widened {
                Some(n) => n.min(whole),
                None => {
                    let wanted = (max_records - records)
                        .saturating_mul(COPY_PER_RECORD)
                        .max(COPY_MIN);
                    whole.min(wanted)
                }
            };
            // Grown once and then only overwritten: zeroing it for every
            // chunk cost as much as the copy itself.
            if scratch.len() < copy {
                scratch.resize(copy, 0);
            }
            let scratch = &mut scratch[..copy];
            self.bytes.read(offset as usize, scratch);
            let mut at = 0usize;
            // The span being gathered: `[span_at, at)`, `span_n` records
            // from position `span_pos`.
            let (mut span_at, mut span_pos, mut span_n) = (0usize, pos, 0usize);
            macro_rules! flush {
                () => {
                    if span_n > 0 {
                        on_span(span_pos, &scratch[span_at..at], span_n);
                        span_n = 0;
                    }
                };
            }
            while at < copy && records < max_records {
                let frame = match read_frame(&scratch[at..]) {
                    Ok(frame) => frame,
                    Err(err) => {
                        flush!();
                        // A frame cut off by our copy size is read whole
                        // with the next chunk, which starts at it (a whole
                        // chunk if it starts this one); one cut off by the
                        // segment's end is a lie.
                        if (copy as u64) < segment && at > 0 {
                            break;
                        }
                        if widened.is_none() && copy < whole {
                            let said = scratch
                                .get(..4)
                                .and_then(|w| w.try_into().ok())
                                .map_or(0, u32::from_le_bytes)
                                as usize;
                            let said = said.checked_next_multiple_of(RECORD_ALIGN);
                            widen_to = Some(said.filter(|&n| n > copy).unwrap_or(whole));
                            break;
                        }
                        return Batch {
                            new_tail: head,
                            records,
                            corrupt: Some(LaneCorruption {
                                pos,
                                skipped: head.wrapping_sub(pos),
                                reason: err.to_string(),
                            }),
                        };
                    }
                };
                if frame.kind == RecordKind::Padding as u8 {
                    flush!();
                } else {
                    if span_n == 0 {
                        span_at = at;
                        span_pos = pos;
                    }
                    span_n += 1;
                    records += 1;
                }
                at += frame.len;
                pos = pos.wrapping_add(frame.len as u64);
            }
            if span_n > 0 {
                on_span(span_pos, &scratch[span_at..at], span_n);
            }
        }
        Batch {
            new_tail: pos,
            records,
            corrupt: None,
        }
    }

    /// Where a second reader can take over: the position just past the
    /// first `n` records (padding not counted) of `[tail, head)`, if that is
    /// before `head`. `None` if the lane holds `n` records or fewer there,
    /// or bytes that cannot be framed (then one reader takes it all, and
    /// [`read_batch`](Self::read_batch) reports them).
    ///
    /// Reads only the 8-byte frames, so it is cheap. The lane is untrusted:
    /// a producer may rewrite its bytes after this walk, so each reader
    /// still validates what it reads; splitting `[tail, head)` at the
    /// returned position only decides who reads which bytes.
    ///
    /// ```
    /// use ul_ring::bytes::HeapBytes;
    /// use ul_ring::lane::{Consumer, LaneControl, Producer};
    ///
    /// let (ctrl, bytes) = (LaneControl::new(), HeapBytes::new(1024));
    /// // SAFETY: one producer and one consumer; 1024 is a power of two.
    /// let mut p = unsafe { Producer::attach(&ctrl, &bytes) };
    /// let c = unsafe { Consumer::attach(&ctrl, &bytes) };
    /// for _ in 0..3 {
    ///     p.try_push(16, |enc| {
    ///         enc.put_u32(16);
    ///         enc.put_u8(1); // a log record
    ///         enc.finish();
    ///     })
    ///     .unwrap();
    /// }
    /// assert_eq!(c.split_after(c.tail(), c.head(), 2), Some(32));
    /// assert_eq!(c.split_after(c.tail(), c.head(), 3), None);
    /// ```
    pub fn split_after(&self, tail: u64, head: u64, n: usize) -> Option<u64> {
        match self.count_records(tail, head, n) {
            Some((pos, records)) if records == n && pos != head => Some(pos),
            _ => None,
        }
    }

    /// Walks `[tail, head)` frame by frame (8 bytes each, no record is
    /// read) and returns the position after at most `max` records and how
    /// many it passed: `(head, k)` if the run holds `k <= max` records.
    /// `None` if the walk meets bytes that are not a frame. The format
    /// threads size their parts with it.
    ///
    /// ```
    /// use ul_ring::bytes::HeapBytes;
    /// use ul_ring::lane::{Consumer, LaneControl, Producer};
    ///
    /// let (ctrl, bytes) = (LaneControl::new(), HeapBytes::new(1024));
    /// // SAFETY: one producer and one consumer; 1024 is a power of two.
    /// let mut p = unsafe { Producer::attach(&ctrl, &bytes) };
    /// let c = unsafe { Consumer::attach(&ctrl, &bytes) };
    /// for _ in 0..3 {
    ///     p.try_push(16, |enc| {
    ///         enc.put_u32(16);
    ///         enc.put_u8(1); // a log record
    ///         enc.finish();
    ///     })
    ///     .unwrap();
    /// }
    /// assert_eq!(c.count_records(c.tail(), c.head(), 2), Some((32, 2)));
    /// assert_eq!(c.count_records(c.tail(), c.head(), 9), Some((48, 3)));
    /// ```
    pub fn count_records(&self, tail: u64, head: u64, max: usize) -> Option<(u64, usize)> {
        let avail = head.wrapping_sub(tail);
        if avail > self.capacity || avail % RECORD_ALIGN as u64 != 0 {
            return None;
        }
        let mut pos = tail;
        let mut records = 0;
        while pos != head && records < max {
            let offset = pos & self.mask;
            // Records never wrap (padding fills a lane's end), so a frame
            // lies within the segment up to the lane's end or the head.
            let segment = (self.capacity - offset).min(head.wrapping_sub(pos));
            if segment < MIN_FRAME_LEN as u64 {
                return None;
            }
            let mut head8 = [0u8; MIN_FRAME_LEN];
            self.bytes.read(offset as usize, &mut head8);
            // The checks `read_frame` makes, against the segment (at most
            // the lane's capacity, so it fits a usize).
            let Ok(frame) = check_frame(&head8, segment as usize) else {
                return None;
            };
            if frame.kind != RecordKind::Padding as u8 {
                records += 1;
            }
            pos = pos.wrapping_add(frame.len as u64);
        }
        Some((pos, records))
    }

    /// Appends to `out` the records from `from` on whose first 8 bytes
    /// (the frame: length, kind, and what the kind puts after it) are
    /// `word`, so all of one length, `word`'s low 32 bits; returns the
    /// position reached and the records appended. It stops before the
    /// first record that differs (or bytes that are not one), at `to`, at
    /// the lane's end (a record never wraps), after `max_records`, and
    /// before `out` would pass `max_bytes`. A `word` whose length is not a
    /// frame length ([`check_frame`]), or whose kind is padding, takes
    /// nothing.
    ///
    /// The bytes are copied once, straight into `out`, and compared there,
    /// in private memory: a producer that rewrites the lane meanwhile
    /// cannot change what was checked. The copy goes a chunk at a time,
    /// the chunk doubling while every record matches, so bytes copied past
    /// a record that differs (and taken back) are at most about those kept.
    /// For a reader that copies records as they are (the binary log) once
    /// it knows their frame word is valid whatever the values hold.
    ///
    /// ```
    /// use ul_ring::bytes::HeapBytes;
    /// use ul_ring::lane::{Consumer, LaneControl, Producer};
    ///
    /// let (ctrl, bytes) = (LaneControl::new(), HeapBytes::new(1024));
    /// // SAFETY: one producer and one consumer; 1024 is a power of two.
    /// let mut p = unsafe { Producer::attach(&ctrl, &bytes) };
    /// let c = unsafe { Consumer::attach(&ctrl, &bytes) };
    /// for kind in [1, 1, 2, 1] {
    ///     p.try_push(16, |enc| {
    ///         enc.put_u32(16);
    ///         enc.put_u8(kind);
    ///         enc.finish();
    ///     })
    ///     .unwrap();
    /// }
    /// let word = 16 | 1 << 32;
    /// let mut out = Vec::new();
    /// assert_eq!(c.copy_matching(0, c.head(), 10, word, &mut out, 1 << 20), (32, 2));
    /// assert_eq!(out.len(), 32);
    /// ```
    pub fn copy_matching(
        &self,
        from: u64,
        to: u64,
        max_records: usize,
        word: u64,
        out: &mut Vec<u8>,
        max_bytes: usize,
    ) -> (u64, usize) {
        let avail = to.wrapping_sub(from);
        let len = (word & 0xffff_ffff) as usize;
        let frame = word.to_le_bytes();
        let head8 = frame.first_chunk::<MIN_FRAME_LEN>().unwrap_or(&[0; 8]);
        if avail > self.capacity
            || avail % RECORD_ALIGN as u64 != 0
            || from % RECORD_ALIGN as u64 != 0
            || check_frame(head8, len).is_err()
            || frame[4] == RecordKind::Padding as u8
        {
            return (from, 0);
        }
        let mut pos = from;
        let mut records = 0;
        // The first chunk is small: the records may soon differ.
        let mut chunk = (4096 / len).max(1);
        while records < max_records {
            let offset = pos & self.mask;
            let segment = (self.capacity - offset).min(to.wrapping_sub(pos));
            let room = max_bytes.saturating_sub(out.len());
            let n = (segment as usize / len)
                .min(room / len)
                .min(max_records - records)
                .min(chunk);
            if n == 0 {
                break;
            }
            let at = out.len();
            self.bytes.read_append(offset as usize, n * len, out);
            let Some(got) = out.get(at..) else {
                break;
            };
            let same = got
                .chunks_exact(len)
                .take_while(|r| r.first_chunk::<8>() == Some(&frame))
                .count();
            out.truncate(at + same * len);
            records += same;
            pos = pos.wrapping_add((same * len) as u64);
            if same < n {
                break;
            }
            chunk = (chunk * 2).min((COPY_CHUNK / len).max(1));
        }
        (pos, records)
    }

    /// Marks everything below `new_tail` consumed.
    ///
    /// Release: our reads of those bytes happen before the producer, after
    /// its Acquire load of `tail`, overwrites them.
    pub fn commit(&self, new_tail: u64) {
        self.ctrl.consumer.tail.store(new_tail, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::bytes::HeapBytes;

    /// Pushes, reservations dropped uncommitted (a full-lane wait that
    /// only looks for room, whose slow path may already have written the
    /// padding), and drains, in a random order: the consumer reads exactly
    /// the committed records, in order, intact, and the lane is never
    /// corrupt. (A dropped reservation after padding once left `limit`
    /// behind `head`, and the fast path then wrote past the buffer's end.)
    #[test]
    fn dropped_reservations_keep_the_fast_path_in_bounds() {
        let ctrl = LaneControl::new();
        let bytes = HeapBytes::new(4096);
        // SAFETY: this thread is the lane's only producer and only
        // consumer; `bytes` is 4096 bytes, a power of two.
        let mut p = unsafe { Producer::attach(&ctrl, &bytes) };
        // SAFETY: as above.
        let c = unsafe { Consumer::attach(&ctrl, &bytes) };
        let mut rng = ul_test_support::Rng::from_state(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next_u64();
        let (mut sent, mut seen) = (0u64, 0u64);
        let mut scratch = Vec::new();
        for _ in 0..20_000 {
            let len = 16 + 8 * (next() % 200) as usize;
            match next() % 4 {
                0 => drop(p.reserve(len)),
                1 => {
                    let b = c.read_batch(c.tail(), c.head(), 1000, &mut scratch, |_, rec| {
                        let n = u64::from_le_bytes(rec[8..16].try_into().unwrap());
                        assert_eq!(n, seen, "records lost, repeated or out of order");
                        assert_eq!(rec[16..], vec![n as u8; rec.len() - 16][..]);
                        seen += 1;
                    });
                    assert!(b.corrupt.is_none(), "{:?}", b.corrupt);
                    c.commit(b.new_tail);
                }
                _ => {
                    let r = p.try_push(len, |enc| {
                        enc.put_u32(len as u32);
                        enc.put_u8(RecordKind::Log as u8);
                        enc.put_bytes(&[0; 3]);
                        enc.put_u64(sent);
                        enc.put_bytes(&vec![sent as u8; len - 16]);
                        assert!(!enc.overflowed(), "a record written out of bounds");
                    });
                    match r {
                        Ok(()) => sent += 1,
                        Err(PushError::Full) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                }
            }
        }
        assert!(seen > 1000 && sent - seen < 4096 / 16, "{seen} of {sent}");
    }

    /// `read_spans` hands out what `read_batch` does, grouped: the spans,
    /// taken apart, are the records in order at their positions, with
    /// the same `Batch`; no span holds padding or straddles the lane's
    /// end, and the wrap (padding) and the batch limit end spans.
    #[test]
    fn spans_are_the_records_back_to_back() {
        let ctrl = LaneControl::new();
        let bytes = HeapBytes::new(1024);
        // SAFETY: this thread is the lane's only producer and only
        // consumer; `bytes` is 1024 bytes, a power of two.
        let mut p = unsafe { Producer::attach(&ctrl, &bytes) };
        // SAFETY: as above.
        let c = unsafe { Consumer::attach(&ctrl, &bytes) };
        let mut scratch = Vec::new();
        let (mut sent, mut spans_seen) = (0u64, 0usize);
        for round in 0..400u64 {
            for _ in 0..(round % 7 + 1) {
                let len = 16 + 8 * ((sent * 7 + round) % 9) as usize;
                let r = p.try_push(len, |enc| {
                    enc.put_u32(len as u32);
                    enc.put_u8(RecordKind::Log as u8);
                    enc.put_bytes(&[0; 3]);
                    enc.put_u64(sent);
                    enc.put_bytes(&vec![sent as u8; len - 16]);
                });
                if r.is_ok() {
                    sent += 1;
                }
            }
            let max = (round % 5 + 1) as usize;
            let mut records = Vec::new();
            let a = c.read_batch(c.tail(), c.head(), max, &mut scratch, |pos, rec| {
                records.push((pos, rec.to_vec()));
            });
            let mut from_spans = Vec::new();
            let b = c.read_spans(c.tail(), c.head(), max, &mut scratch, |pos, span, n| {
                spans_seen += 1;
                let (mut at, mut k) = (0, 0);
                while at < span.len() {
                    let len = u32::from_le_bytes(span[at..at + 4].try_into().unwrap()) as usize;
                    assert_ne!(span[at + 4], RecordKind::Padding as u8, "padding in a span");
                    from_spans.push((pos + at as u64, span[at..at + len].to_vec()));
                    at += len;
                    k += 1;
                }
                assert_eq!(k, n, "the span's count");
                let off = (pos % 1024) as usize;
                assert!(off + span.len() <= 1024, "a span straddles the lane's end");
            });
            assert_eq!(records, from_spans);
            assert_eq!((a.new_tail, a.records), (b.new_tail, b.records));
            assert!(a.corrupt.is_none() && b.corrupt.is_none());
            c.commit(b.new_tail);
        }
        assert!(sent > 500 && spans_seen > 300, "{sent} {spans_seen}");
    }
}
