//! The shared multi-producer lane: the fallback when every SPSC lane is taken.
//!
//! It is a bounded queue of fixed-size slots in the manner of Dmitry Vyukov's
//! bounded MPMC queue, with one consumer. Slot `i` carries a sequence word
//! `seq[i]`:
//!
//! * `seq == pos`: free for the claim at position `pos`;
//! * `seq == pos + 1`: claimed at `pos` and committed (readable);
//! * `seq == pos + slots`: consumed, free for the next lap.
//!
//! A producer claims by a CAS of `head` from `pos` to `pos + 1` after seeing
//! `seq == pos`, encodes its record into private memory and checksums it,
//! marks the slot `pos | WRITING` (CAS), copies the record in, and commits
//! with a CAS from `pos | WRITING` to `pos + 1` (Release). The consumer reads
//! slot `tail` once `seq == tail + 1` (Acquire), and frees it by storing
//! `tail + slots` (Release).
//!
//! # Dead and stalled claimants
//!
//! A producer that dies (or is stopped) between claim and commit leaves
//! `head > pos` with the slot uncommitted. After the process timeout the
//! consumer *abandons* the claim: it CASes `seq` from `pos` to `pos + slots`
//! and moves on, so one dead producer never stalls the others. A claimant
//! that wakes up later finds its `WRITING` CAS failing and drops its record
//! without having written a byte into the slot, so the slot's next lap is
//! safe. Only a claimant stopped inside the copy itself (a memcpy of at most
//! one slot) holds `WRITING`; the consumer waits twice the timeout for it,
//! then abandons it too. Its late bytes may then land in the next lap; every
//! slot carries its claim position and a checksum (over pid, tid, length and
//! the record, computed from the producer's private copy), so the consumer
//! drops such a slot instead of writing a torn line.

use crossbeam_utils::CachePadded;

use crate::args::Encoder;
use crate::bytes::ByteStore;
use crate::sync::{AtomicU64, Ordering};

/// Sequence-word bit set while a claimant copies its record into the slot.
pub const WRITING: u64 = 1 << 63;

/// Bytes at the start of each slot before the record:
/// `claim_pos u64 | pid u32 | tid u32 | checksum u32 | record_len u32`.
pub const SLOT_HEADER_LEN: usize = 24;

/// The shared cursors of the MPSC lane.
#[repr(C)]
pub struct MpscControl {
    /// Next position to claim (producers CAS it).
    pub head: CachePadded<AtomicU64>,
    /// Next position to consume (consumer only).
    pub tail: CachePadded<AtomicU64>,
    /// Records dropped: lane full, record too large, or claim abandoned.
    pub dropped: CachePadded<AtomicU64>,
    /// Value of `dropped` already reported in the log (consumer only).
    pub dropped_reported: CachePadded<AtomicU64>,
}

impl MpscControl {
    /// Cursors at zero (heap-backed lanes, tests, loom).
    pub fn new() -> Self {
        Self {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            dropped: CachePadded::new(AtomicU64::new(0)),
            dropped_reported: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

impl Default for MpscControl {
    fn default() -> Self {
        Self::new()
    }
}

/// Why an MPSC push did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MpscPushError {
    /// Every slot is in use.
    #[error("shared lane is full")]
    Full,
    /// The record is longer than a slot's payload.
    #[error("record of {len} bytes does not fit a shared-lane slot ({max} bytes)")]
    TooLarge {
        /// Length asked for.
        len: usize,
        /// Largest record a slot holds.
        max: usize,
    },
    /// The consumer abandoned the claim before it was committed.
    #[error("claim abandoned by the writer before commit")]
    Abandoned,
}

/// A 32-bit FNV-1a checksum of a slot's record, tying it to its claim and
/// to the producer (pid, tid) and length in the slot's header, so a late
/// writer's header words mixed into a later lap's header fail the check.
pub fn slot_checksum(claim_pos: u64, pid: u32, tid: u32, record: &[u8]) -> u32 {
    let mut sum = Checksum::new(claim_pos, pid, tid, record.len());
    sum.update(record);
    sum.finish()
}

/// Incremental form of [`slot_checksum`].
struct Checksum(u32);

impl Checksum {
    fn new(claim_pos: u64, pid: u32, tid: u32, len: usize) -> Self {
        let mut c = Checksum(0x811c_9dc5);
        c.update(&claim_pos.to_le_bytes());
        c.update(&pid.to_le_bytes());
        c.update(&tid.to_le_bytes());
        c.update(&(len as u32).to_le_bytes());
        c
    }
    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u32::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
    fn finish(self) -> u32 {
        self.0
    }
}

/// A view of the MPSC lane: its cursors, its slot sequence words, and its
/// slot bytes (`seqs.len()` slots of `slot_len` bytes each).
pub struct Mpsc<'a, B: ByteStore> {
    ctrl: &'a MpscControl,
    seqs: &'a [AtomicU64],
    bytes: B,
    slot_len: usize,
}

/// One committed slot, copied out and checked.
#[derive(Debug, PartialEq, Eq)]
pub enum SlotRead<'s> {
    /// A record whose claim position and checksum are right.
    Record {
        /// Producer's process id.
        pid: u32,
        /// Producer's thread id.
        tid: u32,
        /// The record's bytes.
        record: &'s [u8],
    },
    /// The slot's contents are not what its producer committed.
    Bad(String),
}

/// What the consumer found at the tail.
#[derive(Debug, PartialEq, Eq)]
pub enum TailState {
    /// Nothing claimed.
    Empty,
    /// Claimed at `pos` but not committed yet.
    Pending(u64),
    /// Committed and readable at `pos`.
    Ready(u64),
}

impl<'a, B: ByteStore> Mpsc<'a, B> {
    /// Wraps the lane's parts.
    ///
    /// `bytes.capacity()` must be at least `seqs.len() * slot_len`, and
    /// `slot_len` a multiple of 8 larger than [`SLOT_HEADER_LEN`]. A fresh
    /// lane's `seqs[i]` must hold `i` (see [`Mpsc::init`]). The lane needs at
    /// least two slots (with one, a committed slot would read as free for the
    /// next claim); with fewer, [`try_push`](Self::try_push) reports `Full`.
    pub fn new(ctrl: &'a MpscControl, seqs: &'a [AtomicU64], bytes: B, slot_len: usize) -> Self {
        Self {
            ctrl,
            seqs,
            bytes,
            slot_len,
        }
    }

    /// Sets every slot free for its first lap. Only on a lane nobody uses.
    pub fn init(&self) {
        for (i, s) in self.seqs.iter().enumerate() {
            s.store(i as u64, Ordering::Relaxed);
        }
        self.ctrl.head.store(0, Ordering::Relaxed);
        self.ctrl.tail.store(0, Ordering::Relaxed);
    }

    /// Largest record a slot holds.
    pub fn max_record_len(&self) -> usize {
        self.slot_len.saturating_sub(SLOT_HEADER_LEN)
    }

    fn slot_count(&self) -> u64 {
        self.seqs.len() as u64
    }

    /// Slots claimed but not yet consumed.
    pub fn used(&self) -> u64 {
        let head = self.ctrl.head.load(Ordering::Relaxed);
        head.saturating_sub(self.ctrl.tail.load(Ordering::Relaxed))
    }

    /// Number of slots.
    pub fn slots(&self) -> u64 {
        self.slot_count()
    }

    /// Counts one record dropped (the caller gave up on a full lane).
    pub fn count_drop(&self) {
        self.ctrl.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The lane's cursors.
    pub fn control(&self) -> &'a MpscControl {
        self.ctrl
    }

    /// Claims a slot, lets `write` fill `len` bytes of record, and commits.
    ///
    /// `len` must be a multiple of 8. The checksum is computed from what
    /// `write` wrote, read back from the slot.
    pub fn try_push(
        &self,
        pid: u32,
        tid: u32,
        len: usize,
        write: impl FnOnce(&mut Encoder<'_>),
    ) -> Result<(), MpscPushError> {
        let max = self.max_record_len();
        if len > max || len % 8 != 0 {
            self.ctrl.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(MpscPushError::TooLarge { len, max });
        }
        let n = self.slot_count();
        // One slot cannot work: "committed at pos" (`pos + 1`) and "free
        // for pos + 1" (`pos + slots`) would be the same word value.
        if n < 2 {
            return Err(MpscPushError::Full);
        }
        let mut pos = self.ctrl.head.load(Ordering::Relaxed);
        loop {
            let seq = &self.seqs[(pos % n) as usize];
            // Acquire: pairs with the consumer's Release when it freed the
            // slot, so its reads of the old record are done.
            let s = seq.load(Ordering::Acquire);
            if s == pos {
                match self.ctrl.head.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => pos = now,
                }
            } else if s & !WRITING < pos {
                // The slot still holds the previous lap's record. Not counted
                // as a drop here: the caller may wait and retry.
                return Err(MpscPushError::Full);
            } else {
                // Another claimant took `pos`. Re-read `head` with a
                // read-modify-write, which sees the latest value (a plain
                // load may return a stale one again and again).
                let now = self.ctrl.head.fetch_add(0, Ordering::Relaxed);
                if now == pos {
                    // The slot is ahead of `head`: a corrupt lane.
                    return Err(MpscPushError::Full);
                }
                pos = now;
            }
        }
        let base = (pos % n) as usize * self.slot_len;
        // Encode into private memory, checksum that, then copy it into the
        // slot: a late writer from an abandoned claim can scribble on the
        // slot meanwhile, but not on what the checksum was computed from, so
        // a torn record never passes the consumer's check. (Cold path: the
        // shared lane is the fallback. Records up to 1 KiB stay on the stack.)
        let mut stack = [0u8; 1024];
        let mut heap = Vec::new();
        let record: &mut [u8] = if len <= stack.len() {
            &mut stack[..len]
        } else {
            heap.resize(len, 0);
            &mut heap[..]
        };
        write(&mut Encoder::new(record));
        let sum = slot_checksum(pos, pid, tid, record);
        let seq = &self.seqs[(pos % n) as usize];
        // Announce the copy into the slot. If the consumer abandoned the
        // claim while we encoded (we were stopped past the timeout), this
        // fails and we have written nothing into a slot that may have been
        // reused: the late record is dropped, no one else's is harmed.
        // Acquire: the copy below must not move before this CAS (a write
        // into a slot we no longer own).
        if seq
            .compare_exchange(pos, pos | WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.ctrl.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(MpscPushError::Abandoned);
        }
        self.bytes
            .write_with(base + SLOT_HEADER_LEN, len, |enc| enc.put_bytes(record));
        self.bytes.write_with(base, SLOT_HEADER_LEN, |enc| {
            enc.put_u64(pos);
            enc.put_u32(pid);
            enc.put_u32(tid);
            enc.put_u32(sum);
            enc.put_u32(len as u32);
        });
        // Release: the slot's bytes happen before the consumer's Acquire load
        // that sees `pos + 1`. A CAS, not a store: if the consumer forced an
        // abandon of a copy stalled past twice the timeout, the commit must
        // fail rather than resurrect it.
        match seq.compare_exchange(
            pos | WRITING,
            pos.wrapping_add(1),
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => Ok(()),
            Err(_) => {
                self.ctrl.dropped.fetch_add(1, Ordering::Relaxed);
                Err(MpscPushError::Abandoned)
            }
        }
    }

    /// What the slot at `tail` holds.
    pub fn tail_state(&self, tail: u64) -> TailState {
        let n = self.slot_count();
        if n == 0 {
            return TailState::Empty;
        }
        let s = self.seqs[(tail % n) as usize].load(Ordering::Acquire);
        if s == tail.wrapping_add(1) {
            TailState::Ready(tail)
        } else if self.ctrl.head.load(Ordering::Acquire) > tail {
            TailState::Pending(tail)
        } else {
            TailState::Empty
        }
    }

    /// Copies the committed slot at `pos` into `scratch` and checks it.
    pub fn read_slot<'s>(&self, pos: u64, scratch: &'s mut Vec<u8>) -> SlotRead<'s> {
        let n = self.slot_count().max(1);
        let base = (pos % n) as usize * self.slot_len;
        scratch.clear();
        scratch.resize(self.slot_len, 0);
        self.bytes.read(base, scratch);
        let word = |at: usize| -> u32 {
            let mut b = [0u8; 4];
            b.copy_from_slice(&scratch[at..at + 4]);
            u32::from_le_bytes(b)
        };
        let mut claim = [0u8; 8];
        claim.copy_from_slice(&scratch[0..8]);
        let claim = u64::from_le_bytes(claim);
        let (pid, tid, sum, len) = (word(8), word(12), word(16), word(20) as usize);
        if claim != pos {
            return SlotRead::Bad(format!(
                "shared-lane slot at position {pos} carries claim position {claim}"
            ));
        }
        if len > self.max_record_len() {
            return SlotRead::Bad(format!(
                "shared-lane slot at position {pos} claims a {len}-byte record; slots hold {}",
                self.max_record_len()
            ));
        }
        let record = &scratch[SLOT_HEADER_LEN..SLOT_HEADER_LEN + len];
        if slot_checksum(pos, pid, tid, record) != sum {
            return SlotRead::Bad(format!(
                "shared-lane slot at position {pos} fails its checksum (torn by a late writer?)"
            ));
        }
        SlotRead::Record { pid, tid, record }
    }

    /// Frees the slot at `pos` for the next lap and moves the tail past it.
    pub fn release(&self, pos: u64) {
        let n = self.slot_count();
        if n == 0 {
            return;
        }
        // Release: our reads of the slot happen before a producer that sees
        // the new sequence (Acquire) overwrites it.
        self.seqs[(pos % n) as usize].store(pos.wrapping_add(n), Ordering::Release);
        self.ctrl.tail.store(pos.wrapping_add(1), Ordering::Release);
    }

    /// Gives up on the uncommitted claim at `pos`: frees its slot so the
    /// lane moves on. Returns false if it was committed meanwhile (then read
    /// it instead).
    pub fn abandon(&self, pos: u64) -> bool {
        self.abandon_from(pos, pos)
    }

    /// True if the claimant at `pos` has finished encoding and is copying
    /// its record into the slot (a window of a memcpy).
    pub fn copying(&self, pos: u64) -> bool {
        let n = self.slot_count();
        n != 0 && self.seqs[(pos % n) as usize].load(Ordering::Relaxed) == pos | WRITING
    }

    /// Gives up on a claim stalled in the middle of its copy (see
    /// [`copying`](Self::copying)): its late bytes may land in the slot's
    /// next lap, where the checksum catches them. Use only long after
    /// [`abandon`](Self::abandon) would have been used.
    pub fn abandon_copying(&self, pos: u64) -> bool {
        self.abandon_from(pos, pos | WRITING)
    }

    fn abandon_from(&self, pos: u64, expected: u64) -> bool {
        let n = self.slot_count();
        if n == 0 {
            return false;
        }
        let ok = self.seqs[(pos % n) as usize]
            .compare_exchange(
                expected,
                pos.wrapping_add(n),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok();
        if ok {
            self.ctrl.tail.store(pos.wrapping_add(1), Ordering::Release);
        }
        ok
    }
}
