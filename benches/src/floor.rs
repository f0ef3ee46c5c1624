//! The floor: the least a logger's hot path can cost on this machine, with
//! nothing of a logger around it; and two reference rings beside it.
//!
//! - **The floor** ([`MinFloor`], row [`MIN_FLOOR`]): issue 15's minimum. A
//!   40-byte record (an 8-byte header word, an 8-byte `rdtsc` timestamp,
//!   then the u64, u32 and f64 arguments in 24 bytes) written with five
//!   plain stores into a pre-faulted ring, published with one Release
//!   store of the head; no call and no check in between (the slot index is
//!   masked, so it wraps without a branch). One ring per producer thread,
//!   nobody consumes. The latency harness times it in the logger's own
//!   process, its bursts interleaved with the logger's ([`WithFloor`]).
//!
//! - **Reference rings** ([`Floor`], rows named `ring: ...`): the 56-byte
//!   record ul writes for `("Logging int: {}, int: {}, double: {}", u64,
//!   u32, f64)` with a fresh `rdtsc` timestamp, in pre-faulted heap memory,
//!   through
//!   - **ul lane**: ul's own lane code ([`ul_ring::lane::Producer`] over
//!     [`ul_ring::bytes::HeapBytes`]) and its encoder: ul's ring without the
//!     logger (no thread-local lookup, level check, callsite id, nesting
//!     guard or wake check);
//!   - **hand ring**: a hand-written ring of fixed 56-byte records: a room
//!     check against the consumer's tail, seven word copies, a wrap check
//!     and one Release store of `head`. It was called "the floor" until
//!     issue 15; it pays about twice [`MIN_FLOOR`].
//!
//!   Each kind twice: once with no consumer (ul's lane size, 1 MiB, reset
//!   between bursts when a burst might not fit, untimed), once drained by a
//!   thread that consumes as fast as it can. The latency harness times them
//!   in a process of their own, one producer thread: the two rings with no
//!   consumer first, with no drain thread running, then the two drained
//!   rings with it; within each phase, bursts are dealt round-robin over
//!   the two rings.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ul_ring::args::{tag, Arg};
use ul_ring::bytes::{HeapBytes, RawBytes};
use ul_ring::lane::{Consumer, LaneControl, Producer};
use ul_ring::record::{Level, RecordHeader, RecordKind, FLAG_TSC};

use crate::subject::{Subject, BURST};

/// Bytes of the record pushed (ul's record for the int/int/double message).
pub const RECORD_LEN: usize = 56;
/// Words of the record.
const REC_WORDS: usize = RECORD_LEN / 8;
/// Bytes in ul's lane ring (ul's default lane size).
pub const LANE_BYTES: usize = 1 << 20;
/// Words in the hand ring: a whole number of records, about 0.9 MiB.
const HAND_WORDS: usize = REC_WORDS << 14;

/// The floor "messages" below this index are the rings with no consumer
/// (the harness times them while no drain thread runs).
pub const FLOOR_IDLE_RINGS: usize = 2;

/// Names of the reference rings' rows ("messages" of [`Floor`]): one per
/// ring. None of them is the floor: see [`MIN_FLOOR`].
pub const FLOOR_MESSAGES: [&str; 4] = [
    "ring: ul lane + encoder, 56-byte record, no consumer",
    "ring: hand ring, 56-byte record, room check, no consumer",
    "ring: ul lane + encoder, 56-byte record, drained",
    "ring: hand ring, 56-byte record, room check, drained",
];

/// A hand-written SPSC ring of fixed 56-byte records.
pub struct HandRing {
    words: Box<[UnsafeCell<u64>]>,
    head: Padded<AtomicU64>,
    tail: Padded<AtomicU64>,
}

// SAFETY: the words are reached only through raw pointers, by one producer
// (writing slots it reserved) and one consumer (reading slots published to
// it by the Release store of `head`), as in any SPSC ring.
unsafe impl Sync for HandRing {}

/// Pads and aligns a value to 128 bytes (two cache lines, as adjacent-line
/// prefetchers pair them), so producer and consumer never share a line.
#[repr(align(128))]
struct Padded<T>(T);

impl Default for HandRing {
    fn default() -> Self {
        Self::new()
    }
}

impl HandRing {
    /// Allocates and pre-faults the ring.
    pub fn new() -> Self {
        let words: Box<[UnsafeCell<u64>]> = (0..HAND_WORDS).map(|_| UnsafeCell::new(0)).collect();
        // Touch every page so no push pays a page fault (a zeroed
        // allocation may come from untouched pages).
        for k in (0..HAND_WORDS).step_by(512) {
            // SAFETY: in bounds; no other reference to the cell exists yet.
            unsafe { core::ptr::write_volatile(words[k].get(), 1) };
            // SAFETY: as above.
            unsafe { core::ptr::write_volatile(words[k].get(), 0) };
        }
        Self {
            words,
            head: Padded(AtomicU64::new(0)),
            tail: Padded(AtomicU64::new(0)),
        }
    }

    fn base(&self) -> *mut u64 {
        // UnsafeCell<u64> has the layout of u64.
        self.words.as_ptr() as *mut u64
    }
}

/// The producing end of a [`HandRing`].
pub struct HandProducer<'a> {
    ring: &'a HandRing,
    head: u64,
    cached_tail: u64,
    off: usize,
}

impl<'a> HandProducer<'a> {
    /// The producer of `ring`; there must be only one at a time.
    pub fn new(ring: &'a HandRing) -> Self {
        let head = ring.head.0.load(Ordering::Relaxed);
        Self {
            ring,
            head,
            cached_tail: ring.tail.0.load(Ordering::Acquire),
            off: (head % HAND_WORDS as u64) as usize,
        }
    }

    /// Pushes one record; false if the ring is full.
    #[inline(always)]
    pub fn push(&mut self, rec: &[u64; REC_WORDS]) -> bool {
        let need = REC_WORDS as u64;
        if self.head + need - self.cached_tail > HAND_WORDS as u64 {
            self.cached_tail = self.ring.tail.0.load(Ordering::Acquire);
            if self.head + need - self.cached_tail > HAND_WORDS as u64 {
                return false;
            }
        }
        // SAFETY: `off + 7 <= HAND_WORDS` (the ring holds whole records and
        // `off` advances by records); the slot is free (checked against the
        // consumer's tail) and we are the only producer.
        unsafe {
            core::ptr::copy_nonoverlapping(rec.as_ptr(), self.ring.base().add(self.off), REC_WORDS)
        };
        self.off += REC_WORDS;
        if self.off == HAND_WORDS {
            self.off = 0;
        }
        self.head += need;
        self.ring.head.0.store(self.head, Ordering::Release);
        true
    }

    /// Words of room left as far as this producer knows.
    pub fn room(&self) -> u64 {
        HAND_WORDS as u64 - (self.head - self.cached_tail)
    }

    /// Discards everything published (the no-consumer reset).
    pub fn reset(&mut self) {
        self.ring.tail.0.store(self.head, Ordering::Release);
        self.cached_tail = self.head;
    }
}

/// Builds the 56-byte record in ul's wire layout: header, then tags
/// u64/u32/f64, then the values packed, then one byte of padding.
#[inline(always)]
fn hand_record(ts: u64, seq: u32, i: u64, j: u32, x: f64) -> [u64; REC_WORDS] {
    let xb = x.to_bits();
    let tags = u64::from(tag::U64) | u64::from(tag::U32) << 8 | u64::from(tag::F64) << 16;
    [
        RECORD_LEN as u64
            | (RecordKind::Log as u64) << 32
            | (Level::Info as u64) << 40
            | u64::from(FLAG_TSC) << 48,
        ts,
        1 | u64::from(seq) << 32,
        3u64 << 32,
        tags | i << 24,
        i >> 40 | u64::from(j) << 24 | xb << 56,
        xb >> 8,
    ]
}

/// Keeps a lane's heap memory alive; never read or written through.
struct KeepAlive(#[allow(dead_code)] HeapBytes);

// SAFETY: nothing reaches the bytes through this field (it only owns
// them), so sharing it between threads shares no access; the threads use
// the `RawBytes` view under the lane protocol.
unsafe impl Sync for KeepAlive {}

/// One ring of each kind, in pre-faulted heap memory.
struct Rings {
    lane_ctrl: LaneControl,
    /// Owns the lane's memory; `lane` views it from both threads.
    _lane_bytes: KeepAlive,
    lane: RawBytes,
    hand: HandRing,
}

impl Rings {
    fn new() -> Self {
        let mut lane_bytes = HeapBytes::new(LANE_BYTES);
        // Touch every page (a zeroed allocation may be untouched pages).
        for off in (0..LANE_BYTES).step_by(4096) {
            lane_bytes.fill(off, &[1u8; 8]);
            lane_bytes.fill(off, &[0u8; 8]);
        }
        // SAFETY: the view lives in the same `Rings` as the memory it
        // views (dropped together, never used after), and its users follow
        // the lane protocol: one producer thread, one drain thread.
        let lane = unsafe { lane_bytes.shared() };
        Self {
            lane_ctrl: LaneControl::new(),
            _lane_bytes: KeepAlive(lane_bytes),
            lane,
            hand: HandRing::new(),
        }
    }

    fn producers(&self) -> (Producer<'_, &RawBytes>, HandProducer<'_>) {
        (
            // SAFETY: one producer per ring: `Floor::thread` is called for
            // thread 0 only (asserted there); HeapBytes of a power-of-two
            // size.
            unsafe { Producer::attach(&self.lane_ctrl, &self.lane) },
            HandProducer::new(&self.hand),
        )
    }

    fn is_drained(&self) -> bool {
        self.lane_ctrl.tail() == self.lane_ctrl.head()
            && self.hand.tail.0.load(Ordering::Acquire) == self.hand.head.0.load(Ordering::Acquire)
    }
}

/// The reference rings as a latency [`Subject`] (one producer thread): a ul
/// lane and a hand ring that nobody consumes (reset between bursts when a
/// burst might not fit), and a ul lane and a hand ring that a thread
/// running [`Floor::drain`] consumes.
pub struct Floor {
    idle: Rings,
    drained: Rings,
    /// Pushes refused because a ring was full (should stay 0).
    pub refused: AtomicU64,
}

/// Per-thread state of a [`Floor`] run.
pub struct FloorThread<'a> {
    lanes: [Producer<'a, &'a RawBytes>; 2],
    hands: [HandProducer<'a>; 2],
    seq: u32,
    i: u64,
    j: u32,
    x: f64,
}

impl Default for Floor {
    fn default() -> Self {
        Self::new()
    }
}

impl Floor {
    /// The four rings, pre-faulted.
    pub fn new() -> Self {
        Self {
            idle: Rings::new(),
            drained: Rings::new(),
            refused: AtomicU64::new(0),
        }
    }

    /// Drains the two "drained" rings until `stop` is set: copies each
    /// record out (the ul lane through ul's own consumer), touches it, moves
    /// the tails. Returns a checksum.
    pub fn drain(&self, stop: &AtomicBool) -> u64 {
        let r = &self.drained;
        // SAFETY: this is the ring's only consumer (the harness runs one
        // drain thread, and resets only the other rings); HeapBytes
        // capacity is a power of two.
        let lane = unsafe { Consumer::attach(&r.lane_ctrl, &r.lane) };
        let mut scratch = Vec::with_capacity(ul_ring::lane::COPY_CHUNK);
        let mut sum = 0u64;
        let mut hand_tail = r.hand.tail.0.load(Ordering::Relaxed);
        let mut hand_off = (hand_tail % HAND_WORDS as u64) as usize;
        while !stop.load(Ordering::Relaxed) {
            let (tail, head) = (lane.tail(), lane.head());
            if tail != head {
                let b = lane.read_batch(tail, head, usize::MAX, &mut scratch, |_, rec| {
                    sum = sum.wrapping_add(u64::from(rec[8]));
                });
                lane.commit(b.new_tail);
            }
            let head = r.hand.head.0.load(Ordering::Acquire);
            while hand_tail != head {
                let mut rec = [0u64; REC_WORDS];
                // SAFETY: `[hand_off, hand_off + 7)` is in bounds and was
                // published by the producer's Release store of `head`, which
                // our Acquire load observed; it will not overwrite it before
                // our Release store of `tail`.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        r.hand.base().add(hand_off),
                        rec.as_mut_ptr(),
                        REC_WORDS,
                    )
                };
                sum = sum.wrapping_add(rec[1]);
                hand_off += REC_WORDS;
                if hand_off == HAND_WORDS {
                    hand_off = 0;
                }
                hand_tail += REC_WORDS as u64;
            }
            r.hand.tail.0.store(hand_tail, Ordering::Release);
            std::hint::spin_loop();
        }
        sum
    }

    /// True once the drain thread has consumed everything pushed.
    pub fn drained_empty(&self) -> bool {
        self.drained.is_drained()
    }
}

impl Subject for Floor {
    type Thread<'a>
        = FloorThread<'a>
    where
        Self: 'a;

    fn messages(&self) -> &'static [&'static str] {
        &FLOOR_MESSAGES
    }

    fn thread(&self, index: usize) -> FloorThread<'_> {
        assert_eq!(index, 0, "the reference rings are single-producer");
        let (l0, h0) = self.idle.producers();
        let (l1, h1) = self.drained.producers();
        FloorThread {
            lanes: [l0, l1],
            hands: [h0, h1],
            seq: 0,
            i: 0,
            j: 7,
            x: 0.5,
        }
    }

    #[inline(always)]
    fn call<const M: usize>(&self, t: &mut FloorThread<'_>) {
        let (ts, _) = ul_ring::clock::now();
        let (i, j, x, seq) = (t.i, t.j, t.x, t.seq);
        // Messages 0 and 2 are ul lanes, 1 and 3 hand rings; 0 and 1 idle.
        let ok = if M % 2 == 0 {
            let header = RecordHeader {
                len: RECORD_LEN as u32,
                kind: RecordKind::Log as u8,
                level: Level::Info as u8,
                flags: FLAG_TSC,
                timestamp: ts,
                callsite: 1,
                seq,
                context: 0,
                nargs: 3,
                _reserved: [0; 3],
            };
            t.lanes[M / 2]
                .try_push(RECORD_LEN, |enc| {
                    enc.put_header(&header);
                    enc.put_u8(tag::U64);
                    enc.put_u8(tag::U32);
                    enc.put_u8(tag::F64);
                    i.put(enc, 0);
                    j.put(enc, 0);
                    x.put(enc, 0);
                    enc.finish();
                })
                .is_ok()
        } else {
            t.hands[M / 2].push(&hand_record(ts, seq, i, j, x))
        };
        if !ok {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        t.seq = t.seq.wrapping_add(1);
        t.i = t.i.wrapping_add(1);
        t.x += 0.25;
    }

    #[inline(always)]
    fn before_burst(&self, t: &mut FloorThread<'_>) {
        // Only the idle rings: room for a burst plus one padding record at
        // the lane's end, else everything published is discarded.
        let lane = &mut t.lanes[0];
        if lane.capacity() - lane.used() < (2 * BURST * RECORD_LEN) as u64 {
            let ctrl = &self.idle.lane_ctrl;
            // SAFETY: nothing else consumes the idle lane, so this is its
            // only consumer while it lives.
            let c = unsafe { Consumer::attach(ctrl, &self.idle.lane) };
            c.commit(ctrl.head());
            lane.refresh_tail();
        }
        if t.hands[0].room() < (BURST * REC_WORDS) as u64 {
            t.hands[0].reset();
        }
    }
}

// ------------------------------------------------------------ the floor

/// Name of the floor's row: issue 15's minimal push.
pub const MIN_FLOOR: &str = "floor: 40-byte plain-store push, no consumer";
/// Bytes of the floor's record.
pub const MIN_RECORD_LEN: usize = 40;
/// Words of the floor's record: header, timestamp, u64, u32 (zero-extended:
/// the u32 and 4 bytes of padding), f64.
const MIN_WORDS: usize = MIN_RECORD_LEN / 8;
/// Records in a floor ring: 2^15 of 40 bytes, 1.25 MiB, about ul's lane
/// (1 MiB), so a burst writes lines as cold as ul's do.
pub const MIN_RING_RECORDS: usize = 1 << 15;
/// The floor record's header word: its length in the low 32 bits, a
/// callsite id above (a constant, as a call site's would be).
pub const MIN_HEADER: u64 = MIN_RECORD_LEN as u64 | 1 << 32;

/// One cache line of a floor ring.
#[repr(C, align(64))]
struct Line([UnsafeCell<u64>; 8]);

/// Lines in a floor ring.
const MIN_LINES: usize = MIN_RING_RECORDS * MIN_WORDS / 8;

/// A floor ring: [`MIN_RING_RECORDS`] slots of 40 bytes, pre-faulted,
/// written by at most one [`MinProducer`] at a time, read by nobody while
/// one exists.
pub struct MinRing {
    lines: Box<[Line]>,
    /// Records published (the head, stored with Release after each record).
    head: Padded<AtomicU64>,
    /// True while a [`MinProducer`] exists.
    claimed: AtomicBool,
}

// SAFETY: the words are written only through a `MinProducer`, of which the
// `claimed` flag admits one at a time (one thread), and read only through
// `&mut MinRing` (`record`), which no producer can coexist with.
unsafe impl Sync for MinRing {}

impl Default for MinRing {
    fn default() -> Self {
        Self::new()
    }
}

impl MinRing {
    /// Allocates the ring and touches every page of it.
    pub fn new() -> Self {
        let lines: Box<[Line]> = (0..MIN_LINES)
            .map(|_| Line(std::array::from_fn(|_| UnsafeCell::new(0))))
            .collect();
        // A zeroed allocation may be untouched pages (malloc + memset can
        // become calloc): write one word of every 4 KiB page.
        for line in lines.iter().step_by(4096 / 64) {
            // SAFETY: the cell is in bounds and no other reference to it
            // exists yet (the ring is not shared before `new` returns).
            unsafe { core::ptr::write_volatile(line.0[0].get(), 1) };
            // SAFETY: as above.
            unsafe { core::ptr::write_volatile(line.0[0].get(), 0) };
        }
        Self {
            lines,
            head: Padded(AtomicU64::new(0)),
            claimed: AtomicBool::new(false),
        }
    }

    /// The ring's producer. Panics if one exists already.
    pub fn producer(&self) -> MinProducer<'_> {
        let was = self.claimed.swap(true, Ordering::Acquire);
        assert!(!was, "a floor ring has one producer at a time");
        MinProducer {
            ring: self,
            // `UnsafeCell<u64>` has the layout of `u64`, and `Line` is
            // `repr(C)` of 8 of them: the ring is one array of words.
            base: self.lines.as_ptr() as *mut u64,
            next: self.head.0.load(Ordering::Relaxed),
        }
    }

    /// Records published so far.
    pub fn head(&self) -> u64 {
        self.head.0.load(Ordering::Acquire)
    }

    /// The five words of record number `n` (published or not), read
    /// through `&mut self`, so no producer is writing.
    pub fn record(&mut self, n: u64) -> [u64; MIN_WORDS] {
        let first = (n as usize & (MIN_RING_RECORDS - 1)) * MIN_WORDS;
        std::array::from_fn(|k| {
            let w = first + k;
            *self.lines[w / 8].0[w % 8].get_mut()
        })
    }
}

/// The producing end of a [`MinRing`]: [`push`](Self::push) is the floor.
pub struct MinProducer<'a> {
    ring: &'a MinRing,
    /// The ring's first word.
    base: *mut u64,
    /// Records pushed (the next slot, before masking).
    next: u64,
}

impl Drop for MinProducer<'_> {
    fn drop(&mut self) {
        self.ring.claimed.store(false, Ordering::Release);
    }
}

impl MinProducer<'_> {
    /// Writes one 40-byte record with five plain stores into the next slot
    /// and publishes it with one Release store of the head. No call, no
    /// branch: the slot index is masked, and with nobody consuming there
    /// is no room to check (a full lap overwrites the oldest records).
    #[inline(always)]
    pub fn push(&mut self, ts: u64, i: u64, j: u32, x: f64) {
        let slot = self.next as usize & (MIN_RING_RECORDS - 1);
        // SAFETY: `slot < MIN_RING_RECORDS`, so words `slot * 5 .. slot * 5
        // + 5` lie inside the ring's `MIN_RING_RECORDS * 5` words, all in
        // one allocation that `self.ring` keeps alive. This producer is the
        // ring's only writer (the `claimed` flag) and nobody reads the
        // words while it exists (`record` needs `&mut MinRing`), so the
        // plain stores race with nothing. The cells are `UnsafeCell`s, so
        // writing through a pointer derived from `&MinRing` is allowed.
        unsafe {
            let p = self.base.add(slot * MIN_WORDS);
            p.write(MIN_HEADER);
            p.add(1).write(ts);
            p.add(2).write(i);
            p.add(3).write(u64::from(j));
            p.add(4).write(x.to_bits());
        }
        self.next += 1;
        self.ring.head.0.store(self.next, Ordering::Release);
    }
}

/// The floor as a latency [`Subject`]: one message ([`MIN_FLOOR`]), one
/// ring per producer thread.
pub struct MinFloor {
    rings: Box<[MinRing]>,
}

/// Per-thread state of a [`MinFloor`] run: the thread's ring producer and
/// the arguments, which advance as the loggers' do (`loggers::Args`).
pub struct MinFloorThread<'a> {
    producer: MinProducer<'a>,
    i: u64,
    j: u32,
    x: f64,
}

impl MinFloor {
    /// One pre-faulted ring for each of `threads` producer threads.
    pub fn new(threads: usize) -> Self {
        Self {
            rings: (0..threads.max(1)).map(|_| MinRing::new()).collect(),
        }
    }

    /// The ring of thread `index`.
    pub fn ring(&self, index: usize) -> &MinRing {
        &self.rings[index]
    }

    /// One floor call: read the TSC, push the record, advance the
    /// arguments (as `loggers::Args::log` does after a log call).
    #[inline(always)]
    pub fn push(t: &mut MinFloorThread<'_>) {
        let (ts, _) = ul_ring::clock::now();
        t.producer.push(ts, t.i, t.j, t.x);
        t.i = t.i.wrapping_add(1);
        t.x += 0.25;
    }
}

impl Subject for MinFloor {
    type Thread<'a>
        = MinFloorThread<'a>
    where
        Self: 'a;

    fn messages(&self) -> &'static [&'static str] {
        &[MIN_FLOOR]
    }

    fn thread(&self, index: usize) -> MinFloorThread<'_> {
        // The loggers' arguments for thread `index` (`loggers::Args::new`).
        MinFloorThread {
            producer: self.rings[index].producer(),
            i: index as u64 * 1_000_000_000,
            j: 7 + index as u32,
            x: 0.5,
        }
    }

    #[inline(always)]
    fn call<const M: usize>(&self, t: &mut MinFloorThread<'_>) {
        Self::push(t);
    }
}

/// The message index under which [`WithFloor`] times the floor.
pub const WITH_FLOOR_MESSAGE: usize = 3;

/// A subject (a logger) with the floor beside it, in the same process and
/// the same run: messages 0-2 are the subject's, message
/// [`WITH_FLOOR_MESSAGE`] is [`MinFloor`]'s push, on each producer thread
/// into that thread's own ring. The run deals bursts round-robin over the
/// cases, so the logger's bursts and the floor's alternate.
pub struct WithFloor<S> {
    inner: S,
    floor: MinFloor,
    messages: &'static [&'static str],
}

impl<S: Subject> WithFloor<S> {
    /// `inner` (at most 3 messages) with a floor ring for each of
    /// `threads` producer threads.
    pub fn new(inner: S, threads: usize) -> Self {
        let own = inner.messages();
        assert!(
            own.len() <= WITH_FLOOR_MESSAGE,
            "no message index left for the floor"
        );
        let mut messages = own.to_vec();
        messages.resize(WITH_FLOOR_MESSAGE, "(none)");
        messages.push(MIN_FLOOR);
        Self {
            inner,
            floor: MinFloor::new(threads),
            // Once per run: a few bytes, kept for the process's life.
            messages: Box::leak(messages.into_boxed_slice()),
        }
    }

    /// The floor rings.
    pub fn floor(&self) -> &MinFloor {
        &self.floor
    }
}

impl<S: Subject> Subject for WithFloor<S> {
    type Thread<'a>
        = (S::Thread<'a>, MinFloorThread<'a>)
    where
        Self: 'a;

    fn messages(&self) -> &'static [&'static str] {
        self.messages
    }

    fn thread(&self, index: usize) -> Self::Thread<'_> {
        (self.inner.thread(index), self.floor.thread(index))
    }

    #[inline(always)]
    fn call<const M: usize>(&self, t: &mut Self::Thread<'_>) {
        if M == WITH_FLOOR_MESSAGE {
            MinFloor::push(&mut t.1);
        } else {
            self.inner.call::<M>(&mut t.0);
        }
    }

    #[inline(always)]
    fn before_burst(&self, t: &mut Self::Thread<'_>) {
        self.inner.before_burst(&mut t.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_record_matches_ul_encoding() {
        let mut buf = Vec::new();
        ul_ring::args::encode_record(
            &mut buf,
            RecordHeader {
                level: Level::Info as u8,
                flags: FLAG_TSC,
                timestamp: 123,
                callsite: 1,
                seq: 9,
                ..Default::default()
            },
            &[
                ul_ring::args::OwnedValue::U64(0x0102_0304_0506_0708),
                ul_ring::args::OwnedValue::U32(0x0a0b_0c0d),
                ul_ring::args::OwnedValue::F64(2.75),
            ],
        );
        let words = hand_record(123, 9, 0x0102_0304_0506_0708, 0x0a0b_0c0d, 2.75);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(buf, bytes);
    }

    #[test]
    fn floor_pushes_and_drains() {
        let floor = Floor::new();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let d = s.spawn(|| floor.drain(&stop));
            let mut t = floor.thread(0);
            for _ in 0..100_000 {
                floor.before_burst(&mut t);
                floor.call::<0>(&mut t);
                floor.call::<1>(&mut t);
                floor.call::<2>(&mut t);
                floor.call::<3>(&mut t);
            }
            while !floor.drained_empty() {
                std::hint::spin_loop();
            }
            stop.store(true, Ordering::Relaxed);
            d.join().unwrap();
        });
        // The idle rings never refuse (they reset); the drained ones may
        // if the consumer lags, which this test does not count.
        let undrained = Floor::new();
        let mut t = undrained.thread(0);
        for _ in 0..100_000 {
            undrained.before_burst(&mut t);
            undrained.call::<0>(&mut t);
            undrained.call::<1>(&mut t);
        }
        assert_eq!(undrained.refused.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn min_floor_writes_the_40_byte_record_and_publishes_it() {
        let mut floor = MinFloor::new(1);
        {
            let mut t = floor.thread(0);
            for _ in 0..3 {
                floor.call::<0>(&mut t);
            }
        }
        let ring = &mut floor.rings[0];
        assert_eq!(ring.head(), 3);
        for n in 0..3u64 {
            let r = ring.record(n);
            assert_eq!(r[0], MIN_HEADER);
            assert_eq!(r[0] & 0xffff_ffff, MIN_RECORD_LEN as u64);
            assert_eq!(r[2], n, "the u64 argument");
            assert_eq!(r[3], 7, "the u32 argument, zero-extended");
            assert_eq!(f64::from_bits(r[4]), 0.5 + 0.25 * n as f64);
        }
        assert!(
            ring.record(1)[1] >= ring.record(0)[1],
            "timestamps in order"
        );
        assert_eq!(ring.record(3), [0; MIN_WORDS], "nothing past the head");
    }

    #[test]
    fn min_floor_wraps_without_a_check() {
        let mut ring = MinRing::new();
        {
            let mut p = ring.producer();
            for n in 0..MIN_RING_RECORDS as u64 + 2 {
                p.push(n, n, 1, 0.0);
            }
        }
        assert_eq!(ring.head(), MIN_RING_RECORDS as u64 + 2);
        // The lap overwrote slots 0 and 1.
        assert_eq!(ring.record(0)[2], MIN_RING_RECORDS as u64);
        assert_eq!(ring.record(1)[2], MIN_RING_RECORDS as u64 + 1);
        assert_eq!(ring.record(2)[2], 2);
        // A new producer continues at the head.
        ring.producer().push(9, 9, 9, 9.0);
        assert_eq!(ring.head(), MIN_RING_RECORDS as u64 + 3);
        assert_eq!(ring.record(2)[2], 9);
    }

    #[test]
    #[should_panic(expected = "one producer at a time")]
    fn min_ring_has_one_producer() {
        let ring = MinRing::new();
        let _a = ring.producer();
        let _b = ring.producer();
    }

    /// A subject with three messages that counts its calls.
    struct Counting(AtomicU64);

    impl Subject for Counting {
        type Thread<'a>
            = [u64; 3]
        where
            Self: 'a;
        fn messages(&self) -> &'static [&'static str] {
            &["a", "b", "c"]
        }
        fn thread(&self, _index: usize) -> [u64; 3] {
            [0; 3]
        }
        fn call<const M: usize>(&self, t: &mut [u64; 3]) {
            t[M] += 1;
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn with_floor_times_the_floor_as_message_3_one_ring_per_thread() {
        let s = WithFloor::new(Counting(AtomicU64::new(0)), 2);
        assert_eq!(s.messages(), &["a", "b", "c", MIN_FLOOR]);
        std::thread::scope(|scope| {
            for k in 0..2 {
                let s = &s;
                scope.spawn(move || {
                    let mut t = s.thread(k);
                    for _ in 0..10 * (k + 1) {
                        s.call::<0>(&mut t);
                        s.call::<2>(&mut t);
                        s.call::<WITH_FLOOR_MESSAGE>(&mut t);
                    }
                    assert_eq!(t.0, [10 * (k as u64 + 1), 0, 10 * (k as u64 + 1)]);
                });
            }
        });
        assert_eq!(s.inner.0.load(Ordering::Relaxed), 60);
        assert_eq!(s.floor().ring(0).head(), 10);
        assert_eq!(s.floor().ring(1).head(), 20);
    }

    #[test]
    fn run_measures_ul_and_floor_cases_interleaved() {
        use crate::subject::{run, Case, Mode, RunConfig};
        let s = WithFloor::new(Counting(AtomicU64::new(0)), 2);
        let cases = vec![
            Case {
                mode: Mode::Burst,
                message: 0,
            },
            Case {
                mode: Mode::Burst,
                message: WITH_FLOOR_MESSAGE,
            },
        ];
        let cfg = RunConfig {
            threads: 2,
            bursts: 3,
            cases,
            tpn: 1.0,
            overhead_ticks: 0,
            warmup: 1,
            pin: false,
        };
        // Pauses of 2 ms at 1 tick per ns: this takes a few ms per burst.
        let h = run(&s, &cfg);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].len(), 6);
        assert_eq!(h[1].len(), 6);
        // Per thread: warm-up 1 + 3 bursts of 20.
        assert_eq!(s.floor().ring(0).head(), 61);
        assert_eq!(s.floor().ring(1).head(), 61);
    }
}
