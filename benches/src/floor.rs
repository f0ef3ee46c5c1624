//! The floor: what a bare in-process SPSC push of a ul-sized record costs on
//! this machine, with nothing of a logger around it.
//!
//! Two kinds of ring, in pre-faulted heap memory, both pushing the 56-byte
//! record ul writes for `("Logging int: {}, int: {}, double: {}", u64, u32,
//! f64)` with a fresh `rdtsc` timestamp:
//!
//! - **ul lane**: ul's own lane code ([`ul_ring::lane::Producer`] over
//!   [`ul_ring::bytes::HeapBytes`]) and its encoder: ul's ring without the
//!   logger (no thread-local lookup, level check, callsite id, nesting
//!   guard or wake check).
//! - **hand ring**: a minimal hand-written ring of fixed 56-byte records:
//!   seven word stores and one Release store of `head`. The machine floor.
//!
//! Each kind twice: once with no consumer (ul's lane size, 1 MiB, reset
//! between bursts when a burst might not fit, untimed), once drained by a
//! thread that consumes as fast as it can. The latency harness times the
//! two rings with no consumer first, with no drain thread running, then
//! the two drained rings with it; within each phase, bursts are dealt
//! round-robin over the two rings.

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

/// Names of the floor "messages": one per ring.
pub const FLOOR_MESSAGES: [&str; 4] = [
    "ul lane push, no consumer",
    "hand ring push, no consumer",
    "ul lane push, drained",
    "hand ring push, drained",
];

/// A minimal SPSC ring of fixed 56-byte records.
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

/// The floor rings as a latency [`Subject`] (one producer thread): a ul
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
        assert_eq!(index, 0, "the floor rings are single-producer");
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
}
