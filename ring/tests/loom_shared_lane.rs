//! Loom model of the shared MPSC lane (`ul_ring::shared_lane`): Vyukov-style slots
//! with a sequence word each, many producers, one consumer, and the
//! consumer's right to abandon a claim that is never committed.
//!
//! The slot bytes are [`LoomBytes`] (one loom cell per word), so loom fails
//! the model if the consumer reads a slot the producer's Release commit did
//! not publish, or a producer overwrites a slot whose previous record the
//! consumer's Release `release` did not hand back. The tests check:
//!
//! * two producers, one record each: both land, each read back exactly
//!   (pid, tid and bytes), whatever the claim order;
//! * three records through two slots, so one slot is reused for its second
//!   lap: the producer has to wait for the consumer to free it; and the
//!   same with two producers racing for the last free slot and the next lap;
//! * claim versus abandon: a consumer that gives up on a pending claim races
//!   the producer's commit. Exactly one side wins: either the commit fails
//!   with [`SharedLanePushError::Abandoned`] and the record is never read, or the
//!   commit succeeds, the abandon fails and the record is read intact.
//!   `read_slot` never returns `Bad` here: the consumer only reads a slot
//!   whose sequence word says "committed at this position", which the
//!   abandon CAS makes impossible for the abandoned claim, and the Acquire
//!   load of that word makes every byte of the committed record visible.
//!   (`Bad` is for slots a *late* writer of an abandoned claim scribbled on
//!   in a later lap.)
//! * a late writer: a stalled claimant is abandoned and wakes up while a
//!   producer of the next lap fills the same slot. Their writes race by
//!   design, so these models use [`RelaxedBytes`] (a relaxed loom atomic per
//!   word: the race is legal to loom, and every interleaving of the two
//!   writers' words is explored). The consumer may get `Bad`, or the new
//!   record; `late_writer_cannot_forge_the_header` checks it never gets a
//!   record under the late writer's header fields.
//!   `late_writer_cannot_tear_the_record` checks the stronger claim of the
//!   module docs, that no torn record is ever accepted (the producer
//!   checksums the record in private memory before copying it into the
//!   slot, so late words are never covered by the checksum).
//! * a repeated release (a consumer that died between the two stores of
//!   `release`, and its successor releasing the same positions again)
//!   racing a producer of the slot's next lap:
//!   `repeated_release_races_the_next_lap` checks the producer's record is
//!   never rewound, whatever the interleaving.
//! * a claimant stalled inside its copy into the slot (after its writing
//!   word is set) is quarantined by the consumer:
//!   `copy_stalled_claim_is_quarantined` checks that the slot's next lap is
//!   refused while the claimant may still write, that the claimant hands the
//!   slot back when it resumes, and — over loom-tracked cells, so any
//!   unordered pair of writes to the slot fails the model — that its late
//!   bytes never meet the next lap's record.
#![cfg(loom)]

/// `loom::model` with room for the extra steps of the claim protocol's
/// spin loops (loom's default branch limit is 1,000).
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut b = loom::model::Builder::new();
    b.max_branches = 100_000;
    b.check(f);
}

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::mpsc::channel;
use loom::sync::Arc;
use loom::thread;

use ul_ring::args::Encoder;
use ul_ring::bytes::{ByteStore, LoomBytes};
use ul_ring::shared_lane::{
    SharedLane, SharedLaneControl, SharedLanePushError, SlotRead, TailState,
};

/// Bytes per slot: a 24-byte slot header and up to 40 bytes of record.
const SLOT_LEN: usize = 64;

/// The MPSC lane's shared state, as the region would hold it.
struct Lane {
    ctrl: SharedLaneControl,
    seqs: Vec<AtomicU64>,
    bytes: LoomBytes,
}

impl Lane {
    /// A fresh, initialised lane of `slots` slots.
    fn new(slots: usize) -> Arc<Self> {
        let lane = Lane {
            ctrl: SharedLaneControl::new(),
            seqs: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            bytes: LoomBytes::new(slots * SLOT_LEN),
        };
        lane.shared_lane().init();
        Arc::new(lane)
    }

    fn shared_lane(&self) -> SharedLane<'_, &LoomBytes> {
        started(&self.ctrl);
        SharedLane::new(&self.ctrl, &self.seqs, &self.bytes, SLOT_LEN)
    }
}

/// Called by every `shared_lane()` view, so every thread's first operation on a
/// lane is a read-modify-write of a location every thread touches. Loom
/// 0.7 does not explore a spawned thread whose first operation is an
/// atomic load (tokio-rs/loom#392: it is marked skipped at its first
/// branch), and `try_push` starts with a load of `head`. Relaxed and adding
/// 0: no ordering or value the protocol does not have.
fn started(ctrl: &SharedLaneControl) {
    ctrl.drop_counter().add(0);
}

/// The 16-byte record number `k` of producer `pid`.
fn record(pid: u32, k: u32) -> Vec<u8> {
    let mut rec = Vec::with_capacity(16);
    rec.extend_from_slice(&(u64::from(pid) * 0x0101_0101_0101_0101).to_le_bytes());
    rec.extend_from_slice(&(u64::from(pid) << 40 | u64::from(k) << 16 | 0xfeed).to_le_bytes());
    rec
}

/// The thread id carried by record `k` of producer `pid`.
fn tid(pid: u32, k: u32) -> u32 {
    pid * 10 + k
}

/// Pushes record `k` of producer `pid` once.
fn push_once(lane: &Lane, pid: u32, k: u32) -> Result<(), SharedLanePushError> {
    let rec = record(pid, k);
    lane.shared_lane()
        .try_push(pid, tid(pid, k), rec.len(), |enc| enc.put_bytes(&rec))
}

/// Spawns producer `pid`, which pushes `count` records, retrying (after a
/// yield) while the lane is full.
fn spawn_producer(lane: &Arc<Lane>, pid: u32, count: u32) -> thread::JoinHandle<()> {
    let lane = lane.clone();
    thread::spawn(move || {
        for k in 0..count {
            loop {
                match push_once(&lane, pid, k) {
                    Ok(()) => break,
                    Err(SharedLanePushError::Full) => thread::yield_now(),
                    Err(e) => panic!("producer {pid}: {e}"),
                }
            }
        }
    })
}

/// Checks that the slot at `pos` holds some producer's record, intact, and
/// returns (pid, record number).
fn check_slot(lane: &Lane, pos: u64, scratch: &mut Vec<u8>) -> (u32, u32) {
    match lane.shared_lane().read_slot(pos, scratch) {
        SlotRead::Record {
            pid,
            tid: t,
            record: rec,
        } => {
            let k = t.wrapping_sub(pid * 10);
            assert_eq!(t, tid(pid, k), "slot {pos}: bad tid {t}");
            assert_eq!(rec, record(pid, k), "slot {pos}: record torn");
            (pid, k)
        }
        SlotRead::Bad(why) => panic!("committed slot {pos} read as bad: {why}"),
    }
}

/// The consumer: reads positions `0..count` in order, waiting (yielding)
/// while a slot is empty or pending, and returns the (pid, record number)
/// pairs it read.
fn consume(lane: &Lane, count: u64) -> Vec<(u32, u32)> {
    let shared_lane = lane.shared_lane();
    let mut scratch = Vec::new();
    let mut pids = Vec::new();
    for tail in 0..count {
        loop {
            match shared_lane.tail_state(tail) {
                TailState::Ready(pos) => {
                    assert_eq!(pos, tail);
                    pids.push(check_slot(lane, pos, &mut scratch));
                    shared_lane.release(pos);
                    break;
                }
                TailState::Pending(_) | TailState::Empty => thread::yield_now(),
            }
        }
    }
    pids
}

/// Pid of the records queued before the producer threads start.
const EARLY: u32 = 3;

/// Queues `queued` records (pid [`EARLY`]) in a two-slot lane, then runs one
/// producer thread per `(pid, count)` entry and checks that the consumer
/// reads every record exactly once, intact, each producer's in the order it
/// pushed them.
fn run(queued: u32, producers: &[(u32, u32)]) {
    const SLOTS: u64 = 2;
    let lane = Lane::new(SLOTS as usize);
    for k in 0..queued {
        push_once(&lane, EARLY, k).expect("queueing into an empty lane");
    }
    let threads: Vec<_> = producers
        .iter()
        .map(|&(pid, count)| spawn_producer(&lane, pid, count))
        .collect();
    let total: u64 = producers
        .iter()
        .map(|&(_, count)| u64::from(count))
        .sum::<u64>()
        + u64::from(queued);
    let got = consume(&lane, total);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        got[..queued as usize],
        (0..queued).map(|k| (EARLY, k)).collect::<Vec<_>>()
    );
    for &(pid, count) in producers {
        let mine: Vec<u32> = got
            .iter()
            .filter(|&&(p, _)| p == pid)
            .map(|&(_, k)| k)
            .collect();
        assert_eq!(
            mine,
            (0..count).collect::<Vec<_>>(),
            "producer {pid}'s records"
        );
    }
    assert_eq!(lane.ctrl.head(), total);
    assert_eq!(lane.ctrl.tail(), total);
    assert_eq!(lane.ctrl.dropped(), 0);
    for (i, seq) in lane.seqs.iter().enumerate() {
        // Every slot consumed: free for the claim of its next lap.
        let next = (i as u64..).step_by(SLOTS as usize).find(|&p| p >= total);
        assert_eq!(Some(seq.load(Ordering::Relaxed)), next, "slot {i}");
    }
}

/// Two producers, two slots, one record each: the claim CASes race, any
/// claim order.
#[test]
fn two_producers_one_record_each() {
    model(|| run(0, &[(1, 1), (2, 1)]));
}

/// Three records through two slots: slot 0 is claimed again (position 2)
/// only after the consumer has read and released its first record, and
/// loom checks the consumer's reads happen before the overwrite.
#[test]
fn slot_reused_for_next_lap() {
    model(|| run(0, &[(1, 3)]));
}

/// Two producers racing for the last free slot and the next lap of a slot
/// still holding an unread record: the loser of the claim race has to wait
/// (`Full`) until the consumer releases slot 0, then claims position 2.
#[test]
fn contended_claim_waits_for_next_lap() {
    model(|| run(1, &[(1, 1), (2, 1)]));
}

/// A producer's commit races the consumer abandoning its claim. Exactly one
/// of them wins, the loser learns it, and the lane goes on working.
#[test]
fn abandon_races_commit() {
    model(|| {
        let lane = Lane::new(2);
        let producer = {
            let lane = lane.clone();
            thread::spawn(move || push_once(&lane, 1, 0))
        };
        let shared_lane = lane.shared_lane();
        let mut scratch = Vec::new();
        let mut read = false;
        let mut abandoned = false;
        // The consumer gives up on a pending claim at once (in production:
        // after the claim timeout), so abandon and commit race.
        loop {
            match shared_lane.tail_state(0) {
                TailState::Empty => thread::yield_now(),
                TailState::Pending(pos) => {
                    if shared_lane.abandon(pos) {
                        abandoned = true;
                        break;
                    }
                    // Committed meanwhile, or being copied into the slot
                    // (which only a forced abandonment takes): look again.
                    thread::yield_now();
                }
                TailState::Ready(pos) => {
                    assert_eq!(check_slot(&lane, pos, &mut scratch), (1, 0));
                    shared_lane.release(pos);
                    read = true;
                    break;
                }
            }
        }
        let pushed = producer.join().unwrap();
        match pushed {
            Ok(()) => assert!(read && !abandoned, "committed record was not read"),
            Err(SharedLanePushError::Abandoned) => {
                assert!(
                    abandoned && !read,
                    "record read although its claim was abandoned"
                )
            }
            Err(e) => panic!("unexpected push error: {e}"),
        }
        let dropped = lane.ctrl.dropped();
        assert_eq!(dropped, u64::from(abandoned), "dropped counter");
        assert_eq!(lane.ctrl.tail(), 1);
        // Either way the lane goes on, and slot 0 is free for its next lap
        // (position 2).
        for (pos, k) in [(1, 0), (2, 1)] {
            push_once(&lane, 2, k).expect("lane stuck after the race");
            assert_eq!(shared_lane.tail_state(pos), TailState::Ready(pos));
            assert_eq!(check_slot(&lane, pos, &mut scratch), (2, k));
            shared_lane.release(pos);
        }
    });
}

/// A consumer died between the two stores of `release(0)` (slot 0 freed
/// for its next lap, the tail still 0), and the next consumer repeats the
/// release of positions 0 and 1 (as `ul-writer` does for a batch its
/// predecessor left WRITTEN) while a producer takes slot 0's next lap,
/// position 2. In every interleaving the producer's record lands and is
/// read intact: the repeated release never rewinds the slot under its
/// claim, its copy or its commit.
#[test]
fn repeated_release_races_the_next_lap() {
    model(|| {
        let lane = Lane::new(2);
        push_once(&lane, EARLY, 0).expect("queueing into an empty lane");
        push_once(&lane, EARLY, 1).expect("queueing into an empty lane");
        // The dead consumer's first store of `release(0)`.
        lane.seqs[0].store(2, Ordering::Release);
        let producer = {
            let lane = lane.clone();
            thread::spawn(move || push_once(&lane, 1, 0))
        };
        let shared_lane = lane.shared_lane();
        shared_lane.release(0);
        shared_lane.release(1);
        assert_eq!(
            producer.join().unwrap(),
            Ok(()),
            "the push into slot 0's next lap failed"
        );
        assert_eq!(lane.ctrl.tail(), 2);
        assert_eq!(
            shared_lane.tail_state(2),
            TailState::Ready(2),
            "the record committed at 2 was rewound"
        );
        let mut scratch = Vec::new();
        assert_eq!(check_slot(&lane, 2, &mut scratch), (1, 0));
        shared_lane.release(2);
        assert_eq!(lane.ctrl.tail(), 3);
        assert_eq!(lane.ctrl.dropped(), 0);
    });
}

/// A consumer that abandons only a claim it has *seen* pending for a while
/// (modelled by a producer stalled inside its write closure until told to
/// go on) always wins, and the stalled producer's commit always fails.
#[test]
fn stalled_claim_is_abandoned() {
    model(|| {
        let lane = Lane::new(2);
        let go = Arc::new(AtomicBool::new(false));
        let producer = {
            let lane = lane.clone();
            let go = go.clone();
            thread::spawn(move || {
                let rec = record(1, 0);
                lane.shared_lane().try_push(1, tid(1, 0), rec.len(), |enc| {
                    while !go.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                    enc.put_bytes(&rec);
                })
            })
        };
        let shared_lane = lane.shared_lane();
        while shared_lane.tail_state(0) != TailState::Pending(0) {
            thread::yield_now();
        }
        assert!(shared_lane.abandon(0), "abandon of a stalled claim failed");
        go.store(true, Ordering::Release);
        assert_eq!(
            producer.join().unwrap(),
            Err(SharedLanePushError::Abandoned)
        );
        // The abandoned slot is never offered to the consumer.
        assert_ne!(shared_lane.tail_state(0), TailState::Ready(0));
        assert_eq!(lane.ctrl.dropped(), 1);
    });
}

/// Slot bytes that racing writers may share: one relaxed loom atomic per
/// 8-byte word. Shared memory between processes behaves like this (word
/// writes do not tear, nothing orders them); loom explores the orders.
struct RelaxedBytes(Vec<AtomicU64>);

impl ByteStore for RelaxedBytes {
    fn capacity(&self) -> usize {
        self.0.len() * 8
    }
    fn read(&self, offset: usize, dst: &mut [u8]) {
        for (i, chunk) in dst.chunks_mut(8).enumerate() {
            let word = self.0[offset / 8 + i].load(Ordering::Relaxed);
            chunk.copy_from_slice(&word.to_le_bytes());
        }
    }
    fn write_with<R>(&self, offset: usize, len: usize, f: impl FnOnce(&mut Encoder<'_>) -> R) -> R {
        let mut tmp = vec![0u8; len];
        let r = f(&mut Encoder::new(&mut tmp));
        for (i, chunk) in tmp.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.0[offset / 8 + i].store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
        r
    }
}

/// A two-slot lane over [`RelaxedBytes`], with slots of 40 bytes (16 of
/// record) to keep the number of racing words small.
struct RacyLane {
    ctrl: SharedLaneControl,
    seqs: Vec<AtomicU64>,
    bytes: RelaxedBytes,
}

impl RacyLane {
    const SLOT_LEN: usize = 40;

    fn new() -> Arc<Self> {
        let lane = RacyLane {
            ctrl: SharedLaneControl::new(),
            seqs: (0..2).map(|_| AtomicU64::new(0)).collect(),
            bytes: RelaxedBytes(
                (0..2 * Self::SLOT_LEN / 8)
                    .map(|_| AtomicU64::new(0))
                    .collect(),
            ),
        };
        lane.shared_lane().init();
        Arc::new(lane)
    }

    fn shared_lane(&self) -> SharedLane<'_, &RelaxedBytes> {
        started(&self.ctrl);
        SharedLane::new(&self.ctrl, &self.seqs, &self.bytes, Self::SLOT_LEN)
    }
}

/// What the consumer read at the slot a late writer raced on.
#[derive(Debug)]
enum LateRead {
    Bad,
    Record { pid: u32, tid: u32, record: Vec<u8> },
}

/// Producer 1 claims position 0 and stalls; the consumer abandons the
/// claim, consumes position 1 (its own record, pid 3), and lets producer 1
/// go on while producer 2 claims position 2 in the same slot. Returns what
/// the consumer reads at position 2. The hand-offs are loom channels, so
/// the stalled thread is blocked rather than spinning: loom then spends its
/// interleavings on the race itself.
fn late_writer_round() -> LateRead {
    let lane = RacyLane::new();
    let (claimed_tx, claimed) = channel::<()>();
    let (go, go_rx) = channel::<()>();
    let late = {
        let lane = lane.clone();
        thread::spawn(move || {
            let rec = record(1, 0);
            lane.shared_lane().try_push(1, tid(1, 0), rec.len(), |enc| {
                claimed_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                enc.put_bytes(&rec);
            })
        })
    };
    let shared_lane = lane.shared_lane();
    claimed.recv().unwrap();
    assert_eq!(shared_lane.tail_state(0), TailState::Pending(0));
    assert!(shared_lane.abandon(0));
    let early = record(EARLY, 0);
    shared_lane
        .try_push(EARLY, tid(EARLY, 0), early.len(), |enc| {
            enc.put_bytes(&early)
        })
        .expect("slot 1 is free");
    let mut scratch = Vec::new();
    assert!(matches!(
        shared_lane.read_slot(1, &mut scratch),
        SlotRead::Record { pid: EARLY, .. }
    ));
    shared_lane.release(1);
    // Producer 1 wakes up while producer 2 writes the slot's next lap.
    go.send(()).unwrap();
    let next = {
        let lane = lane.clone();
        thread::spawn(move || {
            let rec = record(2, 0);
            lane.shared_lane()
                .try_push(2, tid(2, 0), rec.len(), |enc| enc.put_bytes(&rec))
        })
    };
    assert_eq!(next.join().unwrap(), Ok(()));
    // Producer 1 may still be writing while the consumer reads.
    assert_eq!(shared_lane.tail_state(2), TailState::Ready(2));
    let read = match shared_lane.read_slot(2, &mut scratch) {
        SlotRead::Bad(_) => LateRead::Bad,
        SlotRead::Record { pid, tid, record } => LateRead::Record {
            pid,
            tid,
            record: record.to_vec(),
        },
    };
    assert_eq!(late.join().unwrap(), Err(SharedLanePushError::Abandoned));
    read
}

/// Whatever a late writer does to the slot, a record the consumer accepts
/// carries the header of the producer that committed it: the checksum
/// covers pid, tid and length, not just the claim position and the bytes.
#[test]
fn late_writer_cannot_forge_the_header() {
    model(|| {
        if let LateRead::Record {
            pid,
            tid: t,
            record,
        } = late_writer_round()
        {
            assert_eq!(
                (pid, t, record.len()),
                (2, tid(2, 0), 16),
                "late header accepted"
            );
        }
    });
}

/// The module docs' promise: a slot a late writer touched is read as `Bad`
/// or as exactly the record its committer wrote, never torn. (It failed
/// while the producer checksummed the record read back from the slot; the
/// producer now checksums its private copy.)
#[test]
fn late_writer_cannot_tear_the_record() {
    model(|| {
        if let LateRead::Record {
            pid,
            tid: t,
            record: rec,
        } = late_writer_round()
        {
            assert_eq!((pid, t), (2, tid(2, 0)), "late header accepted");
            assert_eq!(rec, record(2, 0), "torn record accepted");
        }
    });
}

/// Slot bytes over loom cells whose first write stalls (a claimant stopped
/// inside its copy) until `go` is set.
struct StallingBytes {
    inner: LoomBytes,
    armed: AtomicBool,
    stalled: AtomicBool,
    go: AtomicBool,
}

impl ByteStore for StallingBytes {
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
    fn read(&self, offset: usize, dst: &mut [u8]) {
        self.inner.read(offset, dst)
    }
    fn write_with<R>(&self, offset: usize, len: usize, f: impl FnOnce(&mut Encoder<'_>) -> R) -> R {
        if self.armed.swap(false, Ordering::AcqRel) {
            self.stalled.store(true, Ordering::Release);
            while !self.go.load(Ordering::Acquire) {
                thread::yield_now();
            }
        }
        self.inner.write_with(offset, len, f)
    }
}

/// A two-slot lane whose first slot write stalls.
struct StallLane {
    ctrl: SharedLaneControl,
    seqs: Vec<AtomicU64>,
    bytes: StallingBytes,
}

impl StallLane {
    fn new() -> Arc<Self> {
        let lane = StallLane {
            ctrl: SharedLaneControl::new(),
            seqs: (0..2).map(|_| AtomicU64::new(0)).collect(),
            bytes: StallingBytes {
                inner: LoomBytes::new(2 * SLOT_LEN),
                armed: AtomicBool::new(true),
                stalled: AtomicBool::new(false),
                go: AtomicBool::new(false),
            },
        };
        lane.shared_lane().init();
        Arc::new(lane)
    }

    fn shared_lane(&self) -> SharedLane<'_, &StallingBytes> {
        started(&self.ctrl);
        SharedLane::new(&self.ctrl, &self.seqs, &self.bytes, SLOT_LEN)
    }

    fn push(&self, pid: u32, k: u32) -> Result<(), SharedLanePushError> {
        let rec = record(pid, k);
        self.shared_lane()
            .try_push(pid, tid(pid, k), rec.len(), |enc| enc.put_bytes(&rec))
    }

    /// Reads committed position `pos`, which must be record `k` of `pid`.
    fn expect(&self, pos: u64, pid: u32, k: u32) {
        let mut scratch = Vec::new();
        assert_eq!(self.shared_lane().tail_state(pos), TailState::Ready(pos));
        match self.shared_lane().read_slot(pos, &mut scratch) {
            SlotRead::Record {
                pid: p,
                tid: t,
                record: rec,
            } => {
                assert_eq!((p, t), (pid, tid(pid, k)), "position {pos}: wrong header");
                assert_eq!(rec, record(pid, k), "position {pos}: torn record");
            }
            SlotRead::Bad(why) => panic!("position {pos} read as bad: {why}"),
        }
        self.shared_lane().release(pos);
    }
}

/// Issue 4: a late commit never lands in space that was reused. Producer 1
/// stalls inside its copy into slot 0; the consumer quarantines the claim
/// (in production: after twice the claim timeout) and goes on with
/// slot 1. Slot 0's next lap (position 2) is refused while producer 1 may still
/// write; when producer 1 resumes, its commit fails, it hands the slot back,
/// and producer 2, retrying meanwhile, gets it. Loom-tracked cells make any
/// write of producer 1 not ordered before producer 2's a failure, and the
/// record read at position 2 is exactly producer 2's.
#[test]
fn copy_stalled_claim_is_quarantined() {
    model(|| {
        let lane = StallLane::new();
        let late = {
            let lane = lane.clone();
            thread::spawn(move || lane.push(1, 0))
        };
        let shared_lane = lane.shared_lane();
        while !lane.bytes.stalled.load(Ordering::Acquire) {
            thread::yield_now();
        }
        assert_eq!(shared_lane.tail_state(0), TailState::Pending(0));
        assert!(shared_lane.copying(0));
        assert_eq!(shared_lane.abandon_copying(0), Some(1), "quarantine");
        assert_eq!(shared_lane.quarantined_pid(0), Some(1));
        lane.push(EARLY, 0).expect("slot 1 is free");
        lane.expect(1, EARLY, 0);
        assert_eq!(
            lane.push(2, 0),
            Err(SharedLanePushError::Full),
            "slot 0 reused while its claimant may still write"
        );
        let next = {
            let lane = lane.clone();
            thread::spawn(move || loop {
                match lane.push(2, 0) {
                    Ok(()) => break,
                    Err(SharedLanePushError::Full) => thread::yield_now(),
                    Err(e) => panic!("producer 2: {e}"),
                }
            })
        };
        lane.bytes.go.store(true, Ordering::Release);
        assert_eq!(late.join().unwrap(), Err(SharedLanePushError::Abandoned));
        next.join().unwrap();
        assert_eq!(shared_lane.quarantined_pid(0), None, "handed back");
        lane.expect(2, 2, 0);
        assert_eq!(lane.ctrl.dropped(), 1);
    });
}
