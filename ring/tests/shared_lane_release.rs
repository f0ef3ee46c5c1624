//! The shared lane's consumer dying between the two stores of
//! `SharedLane::release` (the slot's sequence word, then the tail), and the next
//! consumer repeating that release on restart (as `ul-writer`'s recovery of
//! a WRITTEN batch does). The window is a few instructions wide, so the
//! tests set the states it leaves behind by hand, deterministically.

#![cfg(not(loom))]

use std::sync::atomic::{AtomicU64, Ordering};

use ul_ring::bytes::HeapBytes;
use ul_ring::shared_lane::{
    writing_word, SharedLane, SharedLaneControl, SharedLanePushError, SlotRead, TailState,
    QUARANTINED,
};

const SLOT: usize = 64;
const SLOTS: u64 = 2;

struct Lane {
    ctrl: SharedLaneControl,
    seqs: Vec<AtomicU64>,
    bytes: HeapBytes,
}

impl Lane {
    fn new() -> Self {
        let lane = Self {
            ctrl: SharedLaneControl::new(),
            seqs: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            bytes: HeapBytes::new(SLOTS as usize * SLOT),
        };
        lane.shared_lane().init();
        lane
    }

    fn shared_lane(&self) -> SharedLane<'_, &HeapBytes> {
        SharedLane::new(&self.ctrl, &self.seqs, &self.bytes, SLOT)
    }

    /// Pushes a 16-byte record of `byte`s; returns the position it got.
    fn push(&self, byte: u8) -> Result<u64, SharedLanePushError> {
        let pos = self.ctrl.head();
        self.shared_lane()
            .try_push(7, 8, 16, |enc| enc.put_bytes(&[byte; 16]))?;
        Ok(pos)
    }

    /// The record committed at `pos`, which must be readable.
    fn read(&self, pos: u64) -> Vec<u8> {
        let mut scratch = Vec::new();
        match self.shared_lane().read_slot(pos, &mut scratch) {
            SlotRead::Record { record, .. } => record.to_vec(),
            SlotRead::Bad(why) => panic!("slot at {pos}: {why}"),
        }
    }

    /// What `release(pos)` leaves when its process dies right after its
    /// first store: the slot freed for its next lap, the tail not moved.
    fn release_first_store_only(&self, pos: u64) {
        self.seqs[(pos % SLOTS) as usize].store(pos + SLOTS, Ordering::Release);
    }
}

/// The consumer read positions 0 and 1 (a batch to release up to 2), freed
/// slot 0 and died before moving the tail. With no consumer running, a
/// producer took slot 0's next lap (position 2) and committed. The next
/// consumer repeats the release of 0 and 1: the record at 2 must stay
/// committed and readable, not be rewound to "free" (which the consumer
/// later abandons as a claim that never commits: a lost record).
#[test]
fn a_repeated_release_keeps_the_record_of_the_slots_next_lap() {
    let lane = Lane::new();
    let m = lane.shared_lane();
    assert_eq!(lane.push(0xa0), Ok(0));
    assert_eq!(lane.push(0xa1), Ok(1));
    assert_eq!(m.tail_state(0), TailState::Ready(0));
    lane.release_first_store_only(0);
    assert_eq!(lane.ctrl.tail(), 0);

    assert_eq!(lane.push(0xa2), Ok(2), "slot 0 was free for its next lap");
    assert_eq!(m.tail_state(2), TailState::Ready(2));

    // The restarted consumer's recovery: release [tail, pending tail).
    m.release(0);
    m.release(1);
    assert_eq!(lane.ctrl.tail(), 2);
    assert_eq!(
        m.tail_state(2),
        TailState::Ready(2),
        "the repeated release(0) rewound slot 0, where position 2 was committed"
    );
    assert!(!m.claimed_uncommitted(2));
    assert!(
        !m.abandon(2),
        "the committed record at 2 could be abandoned as a stuck claim"
    );
    assert_eq!(lane.read(2), vec![0xa2; 16]);
    m.release(2);
    assert_eq!(lane.ctrl.tail(), 3);
}

/// The same, with the next lap's producer still inside its claim when the
/// release is repeated: claimed (head moved), or copying its record in
/// (its writing word in the slot). Its claim must be left alone, and the
/// copying one's commit must land.
#[test]
fn a_repeated_release_keeps_a_claim_of_the_slots_next_lap() {
    for copying in [false, true] {
        let lane = Lane::new();
        let m = lane.shared_lane();
        assert_eq!(lane.push(0xb0), Ok(0));
        assert_eq!(lane.push(0xb1), Ok(1));
        lane.release_first_store_only(0);
        // A producer claims 2 (moves head) and stops there, or goes on to
        // announce its copy (the CAS `try_push` does).
        assert_eq!(lane.ctrl.head_raw().fetch_add(1, Ordering::Relaxed), 2);
        let writing = writing_word(2, 7);
        if copying {
            lane.seqs[0]
                .compare_exchange(2, writing, Ordering::Acquire, Ordering::Relaxed)
                .expect("the claimant of 2 announces its copy");
        }
        assert!(m.claimed_uncommitted(2));

        m.release(0);
        m.release(1);
        assert!(
            m.claimed_uncommitted(2),
            "the repeated release(0) changed slot 0 under the claim at 2 (copying: {copying})"
        );
        assert_eq!(m.tail_state(2), TailState::Pending(2));
        if copying {
            assert!(
                m.copying(2),
                "the repeated release(0) took slot 0 from the copy of 2"
            );
            // The claimant's commit (the CAS `try_push` ends with).
            lane.seqs[0]
                .compare_exchange(writing, 3, Ordering::Release, Ordering::Relaxed)
                .expect("the commit of 2 fails: its copy was taken from it");
            assert_eq!(m.tail_state(2), TailState::Ready(2));
        }
    }
}

/// A release repeated once more (a consumer killed in its recovery too)
/// changes nothing, a release of an older position never moves the tail
/// back, and a normal release still frees the slot for its next lap.
#[test]
fn release_is_idempotent_and_never_moves_the_tail_back() {
    let lane = Lane::new();
    let m = lane.shared_lane();
    assert_eq!(lane.push(0xc0), Ok(0));
    m.release(0);
    m.release(0);
    assert_eq!(lane.ctrl.tail(), 1);
    assert_eq!(lane.seqs[0].load(Ordering::Relaxed), SLOTS);
    assert_eq!(lane.push(0xc1), Ok(1));
    assert_eq!(lane.push(0xc2), Ok(2), "slot 0 free for position 2");
    m.release(1);
    assert_eq!(lane.ctrl.tail(), 2);
    // Releasing 0 yet again, with 2 committed in its slot.
    m.release(0);
    assert_eq!(
        lane.ctrl.tail(),
        2,
        "a repeated release moved the tail back"
    );
    assert_eq!(m.tail_state(2), TailState::Ready(2));
    assert_eq!(lane.read(2), vec![0xc2; 16]);
}

/// A consumer taking the lane over moves the tail past a slot its
/// predecessor freed or quarantined without moving the tail (it died in
/// between), whatever producers did with the slot's next lap since; it
/// leaves alone a slot in a state of the tail's own position.
#[test]
fn take_over_finishes_only_a_step_the_predecessor_died_inside() {
    const PID: u32 = 4242;
    // Slot 0's word with the tail at 0 and head past 2, and whether it has
    // left position 0.
    let cases = [
        (0, false, "claimed for 0"),
        (writing_word(0, PID), false, "copying for 0"),
        (1, false, "committed at 0"),
        (
            writing_word(0, PID) | QUARANTINED,
            true,
            "quarantined for 0",
        ),
        (SLOTS, true, "freed for 2"),
        (writing_word(SLOTS, PID), true, "copying for 2"),
        (SLOTS + 1, true, "committed at 2"),
    ];
    for (word, left, what) in cases {
        let lane = Lane::new();
        let m = lane.shared_lane();
        lane.ctrl.head_raw().store(3, Ordering::Relaxed);
        lane.seqs[0].store(word, Ordering::Relaxed);
        lane.seqs[1].store(2, Ordering::Relaxed); // committed at 1
        assert_eq!(m.take_over(), left.then_some(0), "{what}");
        let tail = lane.ctrl.tail();
        assert_eq!(tail, u64::from(left), "{what}: tail");
        assert_eq!(lane.seqs[0].load(Ordering::Relaxed), word, "{what}: slot");
        if left {
            assert_eq!(m.tail_state(1), TailState::Ready(1), "{what}");
            assert_eq!(m.take_over(), None, "{what}: taken over twice");
        }
    }
    // The predecessor's quarantine is found once the tail has passed it.
    let lane = Lane::new();
    let m = lane.shared_lane();
    lane.ctrl.head_raw().store(1, Ordering::Relaxed);
    lane.seqs[0].store(writing_word(0, PID) | QUARANTINED, Ordering::Relaxed);
    assert_eq!(m.quarantined(), vec![]);
    assert_eq!(m.take_over(), Some(0));
    assert_eq!(m.quarantined(), vec![(0, PID)]);
    // A slot an older lap's quarantine holds (position 0, the tail at 2,
    // so the slot cannot serve position 2 yet) is not the tail's to pass.
    let lane = Lane::new();
    let m = lane.shared_lane();
    lane.ctrl.head_raw().store(2, Ordering::Relaxed);
    lane.ctrl.tail_raw().store(2, Ordering::Relaxed);
    lane.seqs[0].store(writing_word(0, PID) | QUARANTINED, Ordering::Relaxed);
    lane.seqs[1].store(1 + SLOTS, Ordering::Relaxed);
    assert_eq!(m.take_over(), None, "an older lap's quarantine");
    assert_eq!(lane.ctrl.tail(), 2);
    assert_eq!(m.tail_state(2), TailState::Empty);
}
