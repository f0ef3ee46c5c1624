//! Loom model of the SPSC lane (`ul_ring::lane`): one producer thread
//! pushing records through [`Producer::try_push`] while the consumer (the
//! model's main thread) drains them with [`Consumer::read_batch`] and
//! [`Consumer::commit`].
//!
//! The lane's bytes are [`LoomBytes`], one loom cell per 8-byte word, so loom
//! fails the model if the consumer ever reads a word the producer's `head`
//! store did not publish to it, or the producer overwrites a word the
//! consumer's `tail` store did not hand back. On top of that every test
//! checks what the consumer got: every record, in order, byte for byte (each
//! record's words encode its sequence number), with no corruption reported.
//!
//! The lane is 64 bytes (records of at most 32), so filling it, wrapping
//! around and writing a padding frame all happen within two or three pushes.
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ul-ring
//! --release --test loom_lane`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

use ul_ring::bytes::LoomBytes;
use ul_ring::lane::{Consumer, LaneControl, Producer, PushError};
use ul_ring::record::RecordKind;

/// Capacity of every lane in this model.
const CAP: usize = 64;

/// One lane's shared state, as the region would hold it.
struct Lane {
    ctrl: LaneControl,
    bytes: LoomBytes,
    /// Touched first by every thread (see [`Lane::start`]).
    started: AtomicU64,
}

impl Lane {
    /// Every thread's first operation. Loom 0.7 does not explore a spawned
    /// thread whose first operation is an atomic load (tokio-rs/loom#392:
    /// it is marked skipped at its first branch), and `Producer::attach`
    /// starts with loads; a read-modify-write of a location both threads
    /// touch first restores the exploration (this model ran 104 iterations
    /// without it, 184 with it, at two preemptions). Relaxed: it adds no
    /// ordering the protocol does not have.
    fn start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// An empty lane whose cursors both stand at `start` (so the first push
    /// lands at offset `start % CAP`).
    fn at(start: u64) -> Arc<Self> {
        let lane = Lane {
            ctrl: LaneControl::starting_at(start),
            bytes: LoomBytes::new(CAP),
            started: AtomicU64::new(0),
        };
        Arc::new(lane)
    }
}

/// The bytes of record number `seq`, `len` bytes long: a log frame, then
/// one word per 8 bytes that names both the record and the word.
fn record(seq: u64, len: usize) -> Vec<u8> {
    let mut rec = Vec::with_capacity(len);
    rec.extend_from_slice(&(len as u32).to_le_bytes());
    rec.push(RecordKind::Log as u8);
    rec.extend_from_slice(&[0xa0, 0xb0, seq as u8]);
    for word in 1..len / 8 {
        rec.extend_from_slice(&((seq << 32) | word as u64).to_le_bytes());
    }
    rec
}

/// Pushes record `seq` once; `Err(Full)` if the lane has no room.
fn push_once(p: &mut Producer<'_, &LoomBytes>, seq: u64, len: usize) -> Result<(), PushError> {
    let rec = record(seq, len);
    let overflowed = p.try_push(len, |enc| {
        enc.put_bytes(&rec);
        enc.overflowed()
    })?;
    assert!(!overflowed, "encoder was shorter than the record");
    // A successful push never claims more than the lane holds.
    assert!(p.used() <= p.capacity(), "used {} > capacity", p.used());
    Ok(())
}

/// Pushes record `seq`, yielding to the consumer while the lane is full.
fn push(p: &mut Producer<'_, &LoomBytes>, seq: u64, len: usize) {
    loop {
        match push_once(p, seq, len) {
            Ok(()) => return,
            Err(PushError::Full) => thread::yield_now(),
            Err(e) => panic!("push of record {seq} ({len} bytes): {e}"),
        }
    }
}

/// Spawns a producer that pushes one record per entry of `lens` (record
/// `i` is `lens[i]` bytes).
fn spawn_producer(lane: &Arc<Lane>, lens: &'static [usize]) -> thread::JoinHandle<()> {
    let lane = lane.clone();
    thread::spawn(move || {
        lane.start();
        // SAFETY: this thread is the lane's only producer.
        let mut p = unsafe { Producer::attach(&lane.ctrl, &lane.bytes) };
        for (seq, &len) in lens.iter().enumerate() {
            push(&mut p, seq as u64, len);
        }
    })
}

/// The consumer's side of the model: drains records until it has
/// `lens.len()`, reading at most `per_batch` per [`Consumer::read_batch`],
/// and checks each against what the producer pushed. `after_commit` runs
/// after every commit with the number of records consumed so far.
fn drain(lane: &Lane, lens: &[usize], per_batch: usize, mut after_commit: impl FnMut(usize)) {
    lane.start();
    // SAFETY: the model's main thread is the lane's only consumer.
    let c = unsafe { Consumer::attach(&lane.ctrl, &lane.bytes) };
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut scratch = Vec::new();
    while got.len() < lens.len() {
        let (tail, head) = (c.tail(), c.head());
        if tail == head {
            thread::yield_now();
            continue;
        }
        let batch = c.read_batch(tail, head, per_batch, &mut scratch, |_, rec| {
            got.push(rec.to_vec())
        });
        assert_eq!(batch.corrupt, None, "consumer saw a corrupt lane");
        assert!(batch.new_tail != tail, "read_batch made no progress");
        assert!(batch.new_tail.wrapping_sub(tail) <= head.wrapping_sub(tail));
        c.commit(batch.new_tail);
        after_commit(got.len());
    }
    for (seq, (rec, &len)) in got.iter().zip(lens).enumerate() {
        assert_eq!(*rec, record(seq as u64, len), "record {seq} differs");
    }
    assert_eq!(got.len(), lens.len(), "more records than were pushed");
}

/// Runs the producer and consumer over a lane starting at `start`, then
/// checks that the lane ends empty with the expected number of bytes
/// (records and padding) through it.
fn run(start: u64, lens: &'static [usize], per_batch: usize, bytes_through: u64) {
    let lane = Lane::at(start);
    let producer = spawn_producer(&lane, lens);
    drain(&lane, lens, per_batch, |_| {});
    producer.join().unwrap();
    assert_eq!(lane.ctrl.head(), start + bytes_through);
    assert_eq!(lane.ctrl.tail(), lane.ctrl.head(), "lane not drained");
}

/// (a) Records pushed on one thread arrive on the other complete and in
/// order, without wrapping: the `head` Release / Acquire pair publishes
/// every byte.
#[test]
fn push_and_drain_across_threads() {
    loom::model(|| run(0, &[16, 24, 16], usize::MAX, 56));
}

/// (b) A push that does not fit before the end of the buffer first writes a
/// padding frame there (16 bytes at offset 48) and then the record at offset
/// 0; the consumer skips the padding and sees both records.
#[test]
fn wrap_writes_padding_frame() {
    // 48..64 padding, 0..24 record 0, 24..40 record 1.
    loom::model(|| run(48, &[24, 16], usize::MAX, 16 + 24 + 16));
}

/// (b) Wrap-around into space the consumer has just freed: the third record
/// needs 16 bytes of padding (48..64) and offset 0..24, which record 0
/// occupied. The producer has to wait for the consumer (which commits one
/// record at a time) and loom checks the consumer's reads of record 0 happen
/// before the producer overwrites it.
#[test]
fn wrap_reuses_consumed_space() {
    loom::model(|| run(0, &[24, 24, 24], 1, 24 + 24 + 16 + 24));
}

/// (c) The producer fills the lane, so its cached tail says "full". Once the
/// consumer has committed the first record (and said so through `freed`),
/// the next push must succeed at once: `try_push` must reload the tail
/// rather than trust its stale copy. A push before that may fail, and then
/// must change nothing.
#[test]
fn cached_tail_is_refreshed_when_full() {
    loom::model(|| {
        let lane = Lane::at(0);
        let freed = Arc::new(AtomicBool::new(false));
        let producer = {
            let lane = lane.clone();
            let freed = freed.clone();
            thread::spawn(move || {
                lane.start();
                // SAFETY: this thread is the lane's only producer.
                let mut p = unsafe { Producer::attach(&lane.ctrl, &lane.bytes) };
                push_once(&mut p, 0, 32).expect("empty lane refused record 0");
                push_once(&mut p, 1, 32).expect("half-full lane refused record 1");
                assert_eq!(p.used(), CAP as u64);
                // Possibly before the consumer freed anything.
                match push_once(&mut p, 2, 16) {
                    Ok(()) => {}
                    Err(PushError::Full) => {
                        assert_eq!(lane.ctrl.head(), 64, "a refused push moved head");
                        while !freed.load(Ordering::Acquire) {
                            thread::yield_now();
                        }
                        // The consumer's commit of tail = 32 happens before
                        // this push: a refresh must see it.
                        push_once(&mut p, 2, 16).expect("push after the consumer freed space");
                    }
                    Err(e) => panic!("{e}"),
                }
            })
        };
        drain(&lane, &[32, 32, 16], 1, |consumed| {
            if consumed == 1 {
                freed.store(true, Ordering::Release);
            }
        });
        producer.join().unwrap();
        assert_eq!(lane.ctrl.head(), 80);
        assert_eq!(lane.ctrl.tail(), 80);
    });
}
