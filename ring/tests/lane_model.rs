//! Model-based property tests of the SPSC lane (`ul_ring::lane`) over
//! [`HeapBytes`], single-threaded (the concurrency is the loom models' job).
//!
//! * `lane_matches_model`: random sequences of pushes and drains against a
//!   `VecDeque` of records plus an independent account of the lane's byte
//!   positions, padding included. A push must succeed exactly when the model
//!   says the record (and the padding frame that a wrap needs) fits, and
//!   must otherwise report `Full` (or `TooLarge` for an impossible length)
//!   and change nothing. A drain of `k` records must hand over exactly the
//!   model's first `k` records, byte for byte and at the model's positions,
//!   and return the model's new tail.
//! * `garbage_never_panics_or_spins`: arbitrary bytes in the buffer (random
//!   words mixed with plausible frames) and arbitrary `head`/`tail` values.
//!   Draining must never panic, every `read_batch` must return, move forward
//!   within `[tail, head]`, and skip to `head` when it reports corruption,
//!   and the lane must be empty after a bounded number of calls.
#![cfg(not(loom))]

use std::collections::VecDeque;

use proptest::prelude::*;
use ul_ring::bytes::HeapBytes;
use ul_ring::lane::{max_record_len, Consumer, LaneControl, Producer, PushError};
use ul_ring::record::{read_frame, RecordKind};

/// One step of a test run.
#[derive(Clone, Debug)]
enum Op {
    /// Push a record of this many bytes (a multiple of 8 the lane accepts).
    Push(usize),
    /// Push a record of a length the lane never accepts.
    PushBad(usize),
    /// Read (and commit) at most this many records.
    Drain(usize),
    /// Reload the producer's cached tail and check its account of `used`.
    Refresh,
}

/// The bytes of record number `seq`: a log frame, then bytes derived from
/// `seq` and their offset, so records differ everywhere.
fn record(seq: u64, len: usize) -> Vec<u8> {
    let mut rec = vec![0u8; len];
    rec[..4].copy_from_slice(&(len as u32).to_le_bytes());
    rec[4] = RecordKind::Log as u8;
    for (i, b) in rec.iter_mut().enumerate().skip(5) {
        *b = (seq as u8).wrapping_mul(31).wrapping_add(i as u8) ^ (seq >> 8) as u8;
    }
    rec
}

/// The model: what the lane must hold, and where.
struct Model {
    capacity: u64,
    /// Position after the last byte pushed (padding included).
    head: u64,
    /// Position the consumer committed.
    tail: u64,
    /// Unconsumed records: (position of the record itself, after any
    /// padding before it; its bytes).
    records: VecDeque<(u64, Vec<u8>)>,
}

impl Model {
    /// Where a record of `len` bytes would go, and the head after it, if it
    /// fits: a record that would cross the end of the buffer is preceded by
    /// padding up to that end, and record plus padding must fit in the free
    /// space.
    fn place(&self, len: u64) -> Option<(u64, u64)> {
        let offset = self.head % self.capacity;
        let to_end = self.capacity - offset;
        let pad = if len > to_end { to_end } else { 0 };
        let used = self.head - self.tail;
        (used + pad + len <= self.capacity).then_some((self.head + pad, self.head + pad + len))
    }
}

/// Pushes record `seq` of `len` bytes.
fn push(p: &mut Producer<'_, &HeapBytes>, seq: u64, len: usize) -> Result<(), PushError> {
    let rec = record(seq, len);
    let overflowed = p.try_push(len, |enc| {
        enc.put_bytes(&rec);
        enc.overflowed()
    })?;
    assert!(!overflowed, "encoder shorter than the record");
    Ok(())
}

/// Runs `ops` against a lane of `capacity` bytes whose cursors start at
/// `start`, checking every step against the model.
fn check_against_model(capacity: usize, start: u64, ops: &[Op]) {
    let ctrl = LaneControl::starting_at(start);
    let bytes = HeapBytes::new(capacity);
    // SAFETY: this test is the lane's only producer and only consumer.
    let mut p = unsafe { Producer::attach(&ctrl, &bytes) };
    // SAFETY: as above.
    let c = unsafe { Consumer::attach(&ctrl, &bytes) };
    let mut model = Model {
        capacity: capacity as u64,
        head: start,
        tail: start,
        records: VecDeque::new(),
    };
    let mut seq = 0u64;
    let mut scratch = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Push(len) => {
                let got = push(&mut p, seq, len);
                match model.place(len as u64) {
                    Some((at, new_head)) => {
                        assert_eq!(got, Ok(()), "step {step}: push of {len} bytes must fit");
                        model.records.push_back((at, record(seq, len)));
                        model.head = new_head;
                        seq += 1;
                    }
                    None => assert_eq!(got, Err(PushError::Full), "step {step}: push of {len}"),
                }
            }
            Op::PushBad(len) => {
                let got = p.try_push(len, |_| ());
                let max = max_record_len(capacity);
                assert_eq!(got, Err(PushError::TooLarge { len, max }), "step {step}");
            }
            Op::Drain(k) => {
                let (tail, head) = (c.tail(), c.head());
                assert_eq!(
                    (tail, head),
                    (model.tail, model.head),
                    "step {step}: cursors"
                );
                let mut seen = Vec::new();
                let batch = c.read_batch(tail, head, k, &mut scratch, |pos, rec| {
                    seen.push((pos, rec.to_vec()))
                });
                assert_eq!(batch.corrupt, None, "step {step}");
                let n = k.min(model.records.len());
                let want: Vec<_> = model.records.drain(..n).collect();
                assert_eq!(batch.records, n, "step {step}: records read");
                assert_eq!(seen, want, "step {step}: records differ from the model");
                if let Some((at, rec)) = want.last() {
                    model.tail = at + rec.len() as u64;
                }
                if model.records.is_empty() {
                    // Nothing left but (at most) padding before the head.
                    assert!(n == 0 || model.tail == model.head, "step {step}");
                }
                assert_eq!(batch.new_tail, model.tail, "step {step}: new tail");
                c.commit(batch.new_tail);
            }
            Op::Refresh => {
                p.refresh_tail();
                assert_eq!(p.used(), model.head - model.tail, "step {step}: used");
            }
        }
        assert_eq!(ctrl.head(), model.head, "step {step}: published head");
        assert!(
            p.used() <= capacity as u64,
            "step {step}: used beyond capacity"
        );
        assert!(
            p.used() >= model.head - model.tail,
            "step {step}: cached tail ahead"
        );
    }
    // Whatever is left drains completely, in order.
    let mut seen = Vec::new();
    let batch = c.read_batch(c.tail(), c.head(), usize::MAX, &mut scratch, |pos, rec| {
        seen.push((pos, rec.to_vec()))
    });
    assert_eq!(batch.corrupt, None);
    assert_eq!(seen, Vec::from(model.records));
    assert_eq!(batch.new_tail, model.head);
}

/// A lane capacity, where its cursors start, and a run of operations.
fn scenario() -> impl Strategy<Value = (usize, u64, Vec<Op>)> {
    prop::sample::select(vec![64usize, 128, 256, 4096]).prop_flat_map(|cap| {
        let words = (cap / 2 / 8) as u64;
        let len = (1..=words).prop_map(|w| w as usize * 8);
        // Mostly small records in the big lane too, so it fills and wraps.
        let small = (1..=words.min(6)).prop_map(|w| w as usize * 8);
        let bad = prop_oneof![
            (1..cap / 2).prop_filter("not a multiple of 8", |l| l % 8 != 0),
            (cap / 2 + 1..=cap * 2),
            Just(0usize),
        ];
        let op = prop_oneof![
            4 => len.prop_map(Op::Push),
            4 => small.prop_map(Op::Push),
            1 => bad.prop_map(Op::PushBad),
            3 => prop_oneof![0..=3usize, Just(usize::MAX)].prop_map(Op::Drain),
            1 => Just(Op::Refresh),
        ];
        // Start anywhere in the first laps, at any aligned offset.
        let start = (0..cap as u64 * 3).prop_map(|s| s & !7);
        (Just(cap), start, prop::collection::vec(op, 1..120))
    })
}

/// The lane's bytes: random words mixed with frames that look plausible
/// (lengths around the lane's size, any kind) and frames that are valid
/// (short, kind log or padding), so the consumer often gets past the first
/// frames and meets bad ones further in.
fn garbage(cap: usize) -> impl Strategy<Value = Vec<u8>> {
    let frame = |len: u32, kind: u8| u64::from(len) | u64::from(kind) << 32;
    let word = prop_oneof![
        1 => any::<u64>(),
        1 => (0u32..=cap as u32 + 24, 0u8..4).prop_map(move |(len, kind)| frame(len, kind)),
        2 => (1u32..=(cap as u32 / 8 + 2), 1u8..=2).prop_map(move |(w, kind)| frame(w * 8, kind)),
        6 => (1u32..=3, 1u8..=2).prop_map(move |(w, kind)| frame(w * 8, kind)),
    ];
    prop::collection::vec(word, cap / 8)
        .prop_map(|words| words.iter().flat_map(|w| w.to_le_bytes()).collect())
}

/// Arbitrary cursors: anywhere, or `head` a plausible distance from `tail`
/// (also straddling `u64::MAX`).
fn cursors(cap: usize) -> impl Strategy<Value = (u64, u64)> {
    let cap = cap as u64;
    prop_oneof![
        1 => (any::<u64>(), any::<u64>()),
        1 => (any::<u64>(), 0..=cap + 16).prop_map(|(t, d)| (t, t.wrapping_add(d))),
        4 => (any::<u64>(), 0..=cap / 8 + 1)
            .prop_map(|(t, d)| (t & !7, (t & !7).wrapping_add(d * 8))),
        2 => (u64::MAX - 3 * cap..=u64::MAX, 0..=cap / 8)
            .prop_map(|(t, d)| (t & !7, (t & !7).wrapping_add(d * 8))),
    ]
}

/// Drains a lane holding `buf` between cursors `tail` and `head`, checking
/// that the consumer stays within its contract.
fn check_garbage(cap: usize, buf: &[u8], tail: u64, head: u64, max_records: usize) {
    let ctrl = LaneControl::new();
    let mut bytes = HeapBytes::new(cap);
    bytes.fill(0, buf);
    // SAFETY: this test is the lane's only consumer.
    let c = unsafe { Consumer::attach(&ctrl, &bytes) };
    let mut scratch = Vec::new();
    let mut pos = tail;
    // Every call that does not end the lane reads at least one record of at
    // least 8 bytes, so a lane of `cap` bytes is empty after `cap / 8 + 1`.
    for _ in 0..=cap / 8 + 1 {
        if pos == head {
            return;
        }
        let before = head.wrapping_sub(pos);
        let mut delivered = 0;
        let batch = c.read_batch(pos, head, max_records, &mut scratch, |_, rec| {
            let frame = read_frame(rec).expect("delivered record has no frame");
            assert_eq!(
                frame.len,
                rec.len(),
                "delivered record is not its frame's length"
            );
            assert_ne!(frame.kind, RecordKind::Padding as u8, "padding delivered");
            delivered += 1;
        });
        assert_eq!(batch.records, delivered);
        assert!(batch.records <= max_records);
        let moved = batch.new_tail.wrapping_sub(pos);
        assert!(
            moved <= before,
            "new tail {} beyond head {head}",
            batch.new_tail
        );
        if batch.corrupt.is_some() {
            assert_eq!(batch.new_tail, head, "corrupt lane not skipped to head");
        } else {
            assert!(
                moved > 0,
                "read_batch made no progress at {pos} (head {head})"
            );
        }
        pos = batch.new_tail;
    }
    assert_eq!(pos, head, "lane not drained after {} calls", cap / 8 + 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn lane_matches_model((cap, start, ops) in scenario()) {
        check_against_model(cap, start, &ops);
    }

    #[test]
    fn garbage_never_panics_or_spins(
        (cap, buf, (tail, head), max_records) in
            prop::sample::select(vec![64usize, 128, 256, 4096]).prop_flat_map(|cap| (
                Just(cap),
                garbage(cap),
                cursors(cap),
                prop_oneof![1..=4usize, Just(usize::MAX)],
            ))
    ) {
        check_garbage(cap, &buf, tail, head, max_records);
    }
}

/// The wrap rule on a worked example: a 24-byte record at offset 48 of a
/// 64-byte lane takes 16 bytes of padding and lands at offset 0; the same
/// record does not fit while the consumer holds the first 24 bytes.
#[test]
fn padding_example() {
    let ops = [
        Op::Push(24), // 0..24
        Op::Push(24), // 24..48
        Op::Push(24), // needs 48..64 padding + 0..24: record 0 not consumed
        Op::Drain(1), // frees 0..24
        Op::Push(24), // padding 48..64, record at 64 (offset 0)
        Op::Push(8),  // 88..96
        Op::Drain(usize::MAX),
    ];
    check_against_model(64, 0, &ops);
}

/// A [`HeapBytes`] that counts the bytes the consumer copies out.
struct CountingBytes {
    inner: HeapBytes,
    read: std::cell::Cell<usize>,
}

impl ul_ring::bytes::ByteStore for CountingBytes {
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
    fn read(&self, offset: usize, dst: &mut [u8]) {
        self.read.set(self.read.get() + dst.len());
        self.inner.read(offset, dst)
    }
    fn write_with<R>(
        &self,
        offset: usize,
        len: usize,
        f: impl FnOnce(&mut ul_ring::args::Encoder<'_>) -> R,
    ) -> R {
        self.inner.write_with(offset, len, f)
    }
}

/// A drain of a few records copies about those records, not the whole
/// backlog: with `ul::configure`'s `batch_size` at 64 the writer used to
/// copy up to 256 KiB of lane per pass to take 64 records of 40 bytes
/// (about 100x the bytes it formatted). Large records still come whole.
#[test]
fn a_small_drain_copies_about_what_it_takes() {
    let store = CountingBytes {
        inner: HeapBytes::new(1 << 18),
        read: std::cell::Cell::new(0),
    };
    let ctrl = LaneControl::new();
    // SAFETY: this test is the lane's only producer and only consumer;
    // 256 KiB is a power of two.
    let mut p = unsafe { Producer::attach(&ctrl, &store) };
    // SAFETY: as above.
    let c = unsafe { Consumer::attach(&ctrl, &store) };
    let big = max_record_len(1 << 18);
    let lens: Vec<usize> = (0..4000).map(|i| if i == 300 { big } else { 40 }).collect();
    for (seq, &len) in lens.iter().enumerate() {
        let rec = record(seq as u64, len);
        p.try_push(len, |enc| enc.put_bytes(&rec)).expect("room");
    }
    let mut scratch = Vec::new();
    let mut seen = 0usize;
    while c.tail() != c.head() {
        store.read.set(0);
        let batch = c.read_batch(c.tail(), c.head(), 64, &mut scratch, |_, rec| {
            assert_eq!(rec.len(), lens[seen], "record {seen}");
            assert_eq!(rec, record(seen as u64, lens[seen]), "record {seen}");
            seen += 1;
        });
        assert!(batch.corrupt.is_none(), "{:?}", batch.corrupt);
        let took = batch.new_tail - c.tail();
        // At most what was taken plus one estimate's worth (4 KiB and 64
        // bytes a record), and the large record read whole once it is next.
        let bound = took as usize + 8192 + big;
        assert!(
            store.read.get() <= bound,
            "copied {} bytes to take {} records ({took} bytes)",
            store.read.get(),
            batch.records
        );
        c.commit(batch.new_tail);
    }
    assert_eq!(seen, lens.len());
}
