//! The shared multi-producer lane: the fallback when every SPSC lane is taken.
//!
//! It is a bounded queue of fixed-size slots in the manner of Dmitry Vyukov's
//! bounded MPMC queue, with one consumer. Slot `i` carries a sequence word
//! `seq[i]`:
//!
//! * `seq == pos`: free for the claim at position `pos`;
//! * `seq == pos + 1`: claimed at `pos` and committed (readable);
//! * `seq == pos + slots`: consumed, free for the next lap;
//! * `seq == WRITING | pid << 32 | pos mod 2^32`: the claimant `pid` of `pos`
//!   is copying its record in (see [`writing_word`]);
//! * the same with [`QUARANTINED`]: the consumer gave up on that copy; the
//!   slot is out of use until its claimant finishes or dies.
//!
//! A producer claims by a CAS of `head` from `pos` to `pos + 1` after seeing
//! `seq == pos`, encodes its record into private memory and checksums it,
//! marks the slot with its writing word (CAS), copies the record in, and
//! commits with a CAS from the writing word to `pos + 1` (Release). The
//! consumer reads slot `tail` once `seq == tail + 1` (Acquire), frees it by
//! a CAS from `tail + 1` to `tail + slots` (Release), then moves `tail` on.
//!
//! # A consumer that dies inside a release
//!
//! Between the two stores of [`SharedLane::release`] the slot is free for its
//! next lap while `tail` still names it. If the consumer dies there, a
//! producer can claim and even commit the slot's next lap (`pos + slots`)
//! before a new consumer starts. `ul-writer` then repeats the release of
//! the batch it finds on disk (its write-ahead intent), so a release must
//! be repeatable: it frees the slot only by a CAS from the committed word
//! `pos + 1`, which fails once the slot moved on, and it moves `tail` only
//! forward. A plain store would rewind the next lap's committed record to
//! "free", and the consumer would later abandon it as a claim that never
//! commits.
//!
//! A consumer that died between the slot and the tail of a release it does
//! not replay (the daemon template has no intent), or of an
//! [`abandon`](SharedLane::abandon) or [`abandon_copying`](SharedLane::abandon_copying),
//! leaves the tail on a slot that has left its position: `tail_state` says
//! `Pending` for ever and `abandon` cannot take it. A consumer taking the
//! lane over therefore calls [`SharedLane::take_over`] first, which moves the tail
//! past such a slot.
//!
//! # Dead and stalled claimants
//!
//! A producer that dies (or is stopped) between claim and commit leaves
//! `head > pos` with the slot uncommitted. After the claim timeout the
//! consumer *abandons* the claim: it CASes `seq` from `pos` to `pos + slots`
//! and moves on, so one dead producer never stalls the others. A claimant
//! that wakes up later finds its `WRITING` CAS failing and drops its record
//! without having written a byte into the slot, so the slot's next lap is
//! safe. Only a claimant stopped inside the copy itself (a memcpy of at most
//! one slot) holds `WRITING`; the consumer waits twice the timeout for it,
//! then *quarantines* it: it sets [`QUARANTINED`] in the writing word and
//! moves its tail on, but the slot is not freed. Producers reaching the slot
//! in the next lap find it taken (`Full`), so nothing is written there while
//! the late claimant may still write. When the claimant resumes, its commit
//! CAS fails, and it hands the slot back itself (CAS from the quarantined
//! word to `pos + slots`, Release, after its last byte). If it died, the
//! consumer frees the slot once the pid (recorded in the word) is gone. A
//! late commit so never lands in space that was reused. As a second line,
//! every slot carries its claim position and a checksum (over pid, tid,
//! length and the record, computed from the producer's private copy), so a
//! slot whose bytes are not what its committer wrote is dropped, not printed.

use crate::padded::Padded;

use crate::args::Encoder;
use crate::bytes::ByteStore;
use crate::counter::Counter;
use crate::sync::{AtomicU64, Ordering};

/// Sequence-word bit set while a claimant copies its record into the slot.
pub const WRITING: u64 = 1 << 63;

/// Sequence-word bit the consumer adds to a writing word when it gives up
/// on a copy stalled past twice the timeout: the slot stays out of use until
/// the claimant hands it back or dies.
pub const QUARANTINED: u64 = 1 << 62;

/// Bits of a writing word that hold the claimant's pid (Linux pids fit).
const PID_MASK: u64 = (1 << 30) - 1;

/// A writing word's claimant field with this bit names a drop-table entry
/// (the low bits are its index), not a pid: a log thread on the shared lane
/// names its own entry, whose kernel lock says whether it lives (see
/// [`crate::quarantine`]). Linux pids stay below 2^22, so no pid has it.
pub const CLAIMANT_ENTRY: u32 = 1 << 29;

/// The sequence word of a slot whose claimant `pid` copies its record for
/// position `pos`: [`WRITING`], the pid, and the position's low 32 bits.
/// The low bits tell laps apart (a slot is at most one lap behind the
/// positions producers claim, and a lane has fewer than 2^32 slots); the
/// pid lets the consumer free the slot of a claimant that died mid-copy.
///
/// ```
/// use ul_ring::shared_lane::{writing_word, WRITING};
/// let w = writing_word(5, 4242);
/// assert_eq!(w & WRITING, WRITING);
/// assert_eq!(w & 0xffff_ffff, 5);
/// ```
pub fn writing_word(pos: u64, pid: u32) -> u64 {
    WRITING | (u64::from(pid) & PID_MASK) << 32 | (pos & 0xffff_ffff)
}

/// True if `word` is a writing word (quarantined or not) of position `pos`.
fn writing_for(word: u64, pos: u64) -> bool {
    word & WRITING != 0 && word & 0xffff_ffff == pos & 0xffff_ffff
}

/// The claimant pid in a writing word.
fn writer_pid(word: u64) -> u32 {
    ((word >> 32) & PID_MASK) as u32
}

/// Bytes at the start of each slot before the record:
/// `claim_pos u64 | pid u32 | tid u32 | checksum u32 | record_len u32`.
pub const SLOT_HEADER_LEN: usize = 24;

/// The shared cursors of the MPSC lane, each on its own cache line. The
/// fields are reached through methods only (claims, commits and releases
/// are [`SharedLane`]'s), each of which says why its ordering suffices.
#[repr(C)]
pub struct SharedLaneControl {
    /// Next position to claim (producers CAS it).
    pub(crate) head: Padded<AtomicU64>,
    /// Next position to consume (consumer only).
    pub(crate) tail: Padded<AtomicU64>,
    /// Records dropped: lane full, record too large, or claim abandoned
    /// (by a producer with no drop-table entry of its own).
    pub(crate) dropped: Padded<Counter>,
    /// Value of `dropped` already reported in the log (consumer only).
    pub(crate) dropped_reported: Padded<AtomicU64>,
}

impl SharedLaneControl {
    /// Cursors at zero (heap-backed lanes, tests, loom).
    pub fn new() -> Self {
        Self {
            head: Padded::new(AtomicU64::new(0)),
            tail: Padded::new(AtomicU64::new(0)),
            dropped: Padded::new(Counter::new(0)),
            dropped_reported: Padded::new(AtomicU64::new(0)),
        }
    }

    /// The next position to claim: every position below it has been
    /// claimed, not necessarily committed (only a slot's word says that).
    /// Acquire, as every reader outside the claim loop has loaded it; a
    /// claim CAS is Relaxed, so nothing of the claimant's is published
    /// with the head.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// The next position to consume. Acquire: pairs with the consumer's
    /// Release store when it moves the tail, so an observer that sees a
    /// position consumed sees the slot's release before it.
    pub fn tail(&self) -> u64 {
        self.tail.load(Ordering::Acquire)
    }

    /// Records dropped by threads with no drop-table entry (Relaxed: a
    /// count).
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Producer: where a thread with no drop-table entry counts a record it
    /// drops (see [`SharedLane::count_drop`], [`SharedLane::try_push_counted`]).
    pub fn drop_counter(&self) -> &Counter {
        &self.dropped
    }

    /// The part of [`dropped`](Self::dropped) already reported in the log.
    /// Relaxed: only the consumer stores it, and nothing is published with
    /// it.
    pub fn dropped_reported(&self) -> u64 {
        self.dropped_reported.load(Ordering::Relaxed)
    }

    /// Consumer, once the batch that reports them is on disk (or when
    /// completing a batch a dead writer left written): the drops up to
    /// `dropped` are reported. Returns the count reported before. Relaxed:
    /// see [`dropped_reported`](Self::dropped_reported).
    pub fn report_dropped(&self, dropped: u64) -> u64 {
        self.dropped_reported.swap(dropped, Ordering::Relaxed)
    }

    /// The head itself, for tests that forge what a claimant (or a hostile
    /// process) leaves there, such as a claim that never commits. Not part
    /// of the protocol.
    #[doc(hidden)]
    pub fn head_raw(&self) -> &AtomicU64 {
        &self.head
    }

    /// The tail itself, for tests that forge what a consumer that died (or
    /// a hostile process) leaves there. Not part of the protocol.
    #[doc(hidden)]
    pub fn tail_raw(&self) -> &AtomicU64 {
        &self.tail
    }
}

impl Default for SharedLaneControl {
    fn default() -> Self {
        Self::new()
    }
}

/// Why an MPSC push did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SharedLanePushError {
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

/// A 32-bit checksum of a slot's record, tying it to its claim and to the
/// producer (pid, tid) and length in the slot's header, so a late writer's
/// header words mixed into a later lap's header fail the check.
///
/// It is an integrity check against torn slots (a late claimant's bytes
/// mixed into a later lap's record), not a defence against a hostile
/// process (which can compute it as well as a producer can): anything that
/// passes is still decoded as untrusted input.
///
/// Word at a time: the claim position, `pid | tid << 32`, the length, then
/// the record in little-endian 8-byte words (a last partial word padded
/// with zeros, which only a forged length can ask for; the length is mixed
/// in, so padding cannot make two records alike). Each word goes in by
/// `h = s((h ^ w) * K)`, with `K` odd and `s(x) = x ^ x >> 32`: for a fixed
/// word that step is a bijection of the 64-bit state, and for a fixed state
/// a bijection of the word, so two inputs of the same length that differ
/// in any one word always end in different 64-bit states. The state goes
/// through the `fmix64` finaliser of MurmurHash3 (full avalanche, also a
/// bijection) and its high 32 bits are the checksum, so the fold to 32
/// bits is where differences can meet: any difference, in one word or many
/// (as a torn record has), passes with a chance of about 2^-32. The
/// byte-at-a-time FNV-1a of layout versions up to 4 caught every
/// single-byte difference, but cost a dependent multiply per byte (19% of
/// the writer's time at 64 producer threads).
pub fn slot_checksum(claim_pos: u64, pid: u32, tid: u32, record: &[u8]) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    #[inline(always)]
    fn step(h: u64, w: u64) -> u64 {
        let x = (h ^ w).wrapping_mul(K);
        x ^ (x >> 32)
    }
    let mut h = 0x243f_6a88_85a3_08d3u64;
    h = step(h, claim_pos);
    h = step(h, u64::from(pid) | u64::from(tid) << 32);
    h = step(h, record.len() as u64);
    let mut words = record.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = step(h, u64::from_le_bytes(b));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(b));
    }
    // fmix64 (MurmurHash3).
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h >> 32) as u32
}

/// A view of the MPSC lane: its cursors, its slot sequence words, and its
/// slot bytes (`seqs.len()` slots of `slot_len` bytes each).
pub struct SharedLane<'a, B: ByteStore> {
    ctrl: &'a SharedLaneControl,
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

impl<'a, B: ByteStore> SharedLane<'a, B> {
    /// Wraps the lane's parts.
    ///
    /// `bytes.capacity()` must be at least `seqs.len() * slot_len`, and
    /// `slot_len` a multiple of 8 larger than [`SLOT_HEADER_LEN`]. A fresh
    /// lane's `seqs[i]` must hold `i` (see [`SharedLane::init`]). The lane needs at
    /// least two slots (with one, a committed slot would read as free for the
    /// next claim); with fewer, [`try_push`](Self::try_push) reports `Full`.
    pub fn new(
        ctrl: &'a SharedLaneControl,
        seqs: &'a [AtomicU64],
        bytes: B,
        slot_len: usize,
    ) -> Self {
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
        self.ctrl.dropped.add(1);
    }

    /// The lane's cursors.
    pub fn control(&self) -> &'a SharedLaneControl {
        self.ctrl
    }

    /// Claims a slot, lets `write` fill `len` bytes of record, and commits.
    ///
    /// `len` must be a multiple of 8. The checksum is computed from what
    /// `write` wrote, read back from the slot. A record that is too large
    /// or whose claim was abandoned is counted in the lane's `dropped`.
    pub fn try_push(
        &self,
        pid: u32,
        tid: u32,
        len: usize,
        write: impl FnOnce(&mut Encoder<'_>),
    ) -> Result<(), SharedLanePushError> {
        self.try_push_counted(pid, tid, len, write, &self.ctrl.dropped, pid)
    }

    /// [`try_push`](Self::try_push), counting a dropped record (too large,
    /// or its claim abandoned) in `drops` instead of the lane's anonymous
    /// `dropped`: a log thread's entry in the drop table, so the drop is
    /// reported with its pid and thread. `claimant` is what the slot's
    /// writing word names while the record is copied in: the pid, or
    /// [`CLAIMANT_ENTRY`] | the thread's drop-table entry.
    pub fn try_push_counted(
        &self,
        pid: u32,
        tid: u32,
        len: usize,
        write: impl FnOnce(&mut Encoder<'_>),
        drops: &Counter,
        claimant: u32,
    ) -> Result<(), SharedLanePushError> {
        let max = self.max_record_len();
        if len > max || len % 8 != 0 {
            drops.add(1);
            return Err(SharedLanePushError::TooLarge { len, max });
        }
        let n = self.slot_count();
        // One slot cannot work: "committed at pos" (`pos + 1`) and "free
        // for pos + 1" (`pos + slots`) would be the same word value.
        if n < 2 {
            return Err(SharedLanePushError::Full);
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
            } else if (s & WRITING != 0 && !writing_for(s, pos)) || (s & WRITING == 0 && s < pos) {
                // The slot still holds the previous lap's record (or its
                // claimant's copy, maybe quarantined). Not counted as a drop
                // here: the caller may wait and retry.
                return Err(SharedLanePushError::Full);
            } else {
                // Another claimant took `pos`. Re-read `head` with a
                // read-modify-write, which sees the latest value (a plain
                // load may return a stale one again and again).
                let now = self.ctrl.head.fetch_add(0, Ordering::Relaxed);
                if now == pos {
                    // The slot is ahead of `head`: a corrupt lane.
                    return Err(SharedLanePushError::Full);
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
        let writing = writing_word(pos, claimant);
        // Announce the copy into the slot. If the consumer abandoned the
        // claim while we encoded (we were stopped past the timeout), this
        // fails and we have written nothing into a slot that may have been
        // reused: the late record is dropped, no one else's is harmed.
        // Acquire: the copy below must not move before this CAS (a write
        // into a slot we no longer own).
        if seq
            .compare_exchange(pos, writing, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            drops.add(1);
            return Err(SharedLanePushError::Abandoned);
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
        // that sees `pos + 1`. A CAS, not a store: if the consumer
        // quarantined a copy stalled past twice the timeout, the commit must
        // fail rather than resurrect it.
        match seq.compare_exchange(
            writing,
            pos.wrapping_add(1),
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => Ok(()),
            Err(_) => {
                // Quarantined: our bytes are all written now, so the slot
                // can go to its next lap. Release: our writes into it happen
                // before the next claimant's (Acquire) writes. Fails only if
                // the consumer freed it already, believing us dead.
                let _ = seq.compare_exchange(
                    writing | QUARANTINED,
                    pos.wrapping_add(n),
                    Ordering::Release,
                    Ordering::Relaxed,
                );
                drops.add(1);
                Err(SharedLanePushError::Abandoned)
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

    /// True if position `pos` is claimed and not committed: `head` has
    /// passed it and its slot's sequence word still says "claimed for
    /// `pos`" (the free word `pos`, or a writing word of `pos` not yet
    /// quarantined).
    ///
    /// Unlike [`tail_state`](Self::tail_state), this stays exact for an
    /// observer other than the consumer (a test, a monitor) while the
    /// consumer is between the two stores of [`release`](Self::release)
    /// or [`abandon`](Self::abandon): the slot's word is already
    /// `pos + slots` there while `tail` still reads `pos`, which
    /// `tail_state` reports as `Pending`.
    ///
    /// ```
    /// use ul_ring::bytes::HeapBytes;
    /// use ul_ring::shared_lane::{SharedLane, SharedLaneControl};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// let ctrl = SharedLaneControl::new();
    /// let seqs: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
    /// let m = SharedLane::new(&ctrl, &seqs, HeapBytes::new(4 * 64), 64);
    /// m.init();
    /// assert!(!m.claimed_uncommitted(0));
    /// // A claimant that moved `head` and then stopped.
    /// ctrl.head_raw().fetch_add(1, Ordering::Relaxed);
    /// assert!(m.claimed_uncommitted(0));
    /// assert!(m.abandon(0));
    /// assert!(!m.claimed_uncommitted(0));
    /// ```
    pub fn claimed_uncommitted(&self, pos: u64) -> bool {
        let n = self.slot_count();
        if n == 0 {
            return false;
        }
        let s = self.seqs[(pos % n) as usize].load(Ordering::Acquire);
        let claimed_word = s == pos || (writing_for(s, pos) && s & QUARANTINED == 0);
        claimed_word && self.ctrl.head.load(Ordering::Acquire) > pos
    }

    /// Copies the committed slot at `pos` into `scratch` and checks it.
    ///
    /// Only the header and the record it claims are copied (rounded up to
    /// whole words), not the whole slot: a three-number record is 40 bytes
    /// of a 512-byte slot. Every byte checked is in `scratch` first, so a
    /// late writer scribbling on the slot meanwhile cannot change what is
    /// checked and then decoded; bytes the store could not supply read as
    /// zeros (a slot outside a short store fails the claim-position check).
    pub fn read_slot<'s>(&self, pos: u64, scratch: &'s mut Vec<u8>) -> SlotRead<'s> {
        let n = self.slot_count().max(1);
        let base = (pos % n) as usize * self.slot_len;
        scratch.clear();
        scratch.resize(SLOT_HEADER_LEN, 0);
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
        // Whole words (the loom store reads no less), inside the slot.
        let copied = len.next_multiple_of(8).min(self.max_record_len());
        scratch.resize(SLOT_HEADER_LEN + copied, 0);
        self.bytes
            .read(base + SLOT_HEADER_LEN, &mut scratch[SLOT_HEADER_LEN..]);
        let record = &scratch[SLOT_HEADER_LEN..SLOT_HEADER_LEN + len];
        if slot_checksum(pos, pid, tid, record) != sum {
            return SlotRead::Bad(format!(
                "shared-lane slot at position {pos} fails its checksum (torn by a late writer?)"
            ));
        }
        SlotRead::Record { pid, tid, record }
    }

    /// Frees the slot at `pos` for the next lap and moves the tail past it.
    ///
    /// Safe to repeat, as a restarted consumer does for a batch whose
    /// release its predecessor died in (see the module docs): the slot is
    /// freed only if it still holds the record committed at `pos`, and the
    /// tail only ever moves forward.
    pub fn release(&self, pos: u64) {
        let n = self.slot_count();
        if n == 0 {
            return;
        }
        // A CAS from "committed at `pos`", not a store of the free word: if
        // this release was done before (by a consumer that died before
        // moving the tail), a producer may have taken the slot's next lap
        // since (claimed `pos + n`, copying it, or committed it), and a
        // store would rewind the slot under it: its record would then be
        // abandoned as a claim that never commits. The slot's word is
        // `pos + 1` only until the first release (`n >= 2`, so no word of
        // the next lap equals it); on failure there is nothing to do.
        // Release: our reads of the slot happen before a producer that sees
        // the new sequence (Acquire) overwrites it.
        let _ = self.seqs[(pos % n) as usize].compare_exchange(
            pos.wrapping_add(1),
            pos.wrapping_add(n),
            Ordering::Release,
            Ordering::Relaxed,
        );
        self.advance_tail(pos.wrapping_add(1));
    }

    /// Moves the tail to `to` unless it is there or further already (a
    /// repeated release of an older position). Consumer only.
    fn advance_tail(&self, to: u64) {
        let tail = self.ctrl.tail.load(Ordering::Relaxed);
        let ahead = to.wrapping_sub(tail);
        if ahead != 0 && ahead < 1 << 62 {
            self.ctrl.tail.store(to, Ordering::Release);
        }
    }

    /// For a consumer taking the lane over from one that may have died:
    /// finishes the [`release`](Self::release), [`abandon`](Self::abandon)
    /// or [`abandon_copying`](Self::abandon_copying) of the tail's slot that
    /// its predecessor died inside, between the slot's word and the tail.
    ///
    /// Such a slot has left the tail's position already (freed for its next
    /// lap, and maybe claimed or committed there since, or quarantined for
    /// the tail's position) while `tail` still names it, so
    /// [`tail_state`](Self::tail_state) reports it `Pending` for ever and
    /// `abandon` cannot take it: the lane would be stuck. This moves the
    /// tail past it and returns its position; `None` if the tail's slot is
    /// in a state of the tail's own position (free, claimed, copying,
    /// committed) or held by an older lap's quarantine. Only one slot can be
    /// in that state (each step stores the slot before the tail).
    ///
    /// Call it while no other consumer runs, before
    /// [`Quarantine::of_lane`](crate::quarantine::Quarantine::of_lane),
    /// which then finds a slot the predecessor quarantined there.
    ///
    /// ```
    /// use ul_ring::bytes::HeapBytes;
    /// use ul_ring::shared_lane::{SharedLane, SharedLaneControl, TailState};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// let ctrl = SharedLaneControl::new();
    /// let seqs: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
    /// let m = SharedLane::new(&ctrl, &seqs, HeapBytes::new(4 * 64), 64);
    /// m.init();
    /// m.try_push(1, 1, 8, |enc| enc.put_u64(7)).unwrap();
    /// assert_eq!(m.take_over(), None, "committed at the tail: read it");
    /// // A consumer freed the slot and died before moving the tail.
    /// m.release(0);
    /// ctrl.tail_raw().store(0, Ordering::Relaxed);
    /// assert_eq!(m.tail_state(0), TailState::Pending(0));
    /// assert_eq!(m.take_over(), Some(0));
    /// assert_eq!(m.tail_state(1), TailState::Empty);
    /// ```
    pub fn take_over(&self) -> Option<u64> {
        let n = self.slot_count();
        if n < 2 {
            return None;
        }
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        let s = self.seqs[(tail % n) as usize].load(Ordering::Acquire);
        let next = tail.wrapping_add(n);
        // Freed for the next lap, or that lap's claimant copying or
        // committed; or quarantined for `tail` by `abandon_copying`. (The
        // low 32 bits of a writing word tell `tail` and `next` apart.)
        let left = s == next
            || s == next.wrapping_add(1)
            || writing_for(s, next)
            || (writing_for(s, tail) && s & QUARANTINED != 0);
        if !left {
            return None;
        }
        self.advance_tail(tail.wrapping_add(1));
        Some(tail)
    }

    /// Gives up on the uncommitted claim at `pos`: frees its slot so the
    /// lane moves on. Returns false if it was committed meanwhile (then read
    /// it instead).
    pub fn abandon(&self, pos: u64) -> bool {
        let n = self.slot_count();
        if n == 0 {
            return false;
        }
        let ok = self.seqs[(pos % n) as usize]
            .compare_exchange(
                pos,
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

    /// True if the claimant at `pos` has finished encoding and is copying
    /// its record into the slot (a window of a memcpy).
    pub fn copying(&self, pos: u64) -> bool {
        let n = self.slot_count();
        if n == 0 {
            return false;
        }
        let s = self.seqs[(pos % n) as usize].load(Ordering::Relaxed);
        writing_for(s, pos) && s & QUARANTINED == 0
    }

    /// Gives up on a claim stalled in the middle of its copy (see
    /// [`copying`](Self::copying)) and moves the tail past it, but keeps the
    /// slot out of use (quarantined) until its claimant hands it back or
    /// [`release_quarantined`](Self::release_quarantined) frees it. Returns
    /// the claimant's pid, or None if the claim is no longer copying (then
    /// look at it again). Use only long after [`abandon`](Self::abandon)
    /// would have been used.
    pub fn abandon_copying(&self, pos: u64) -> Option<u32> {
        let n = self.slot_count();
        if n == 0 {
            return None;
        }
        let seq = &self.seqs[(pos % n) as usize];
        let s = seq.load(Ordering::Relaxed);
        if !writing_for(s, pos) || s & QUARANTINED != 0 {
            return None;
        }
        seq.compare_exchange(s, s | QUARANTINED, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        self.ctrl.tail.store(pos.wrapping_add(1), Ordering::Release);
        Some(writer_pid(s))
    }

    /// The pid of the claimant whose copy at `pos` is quarantined, or None
    /// if the slot is no longer held for `pos` (the claimant handed it back).
    pub fn quarantined_pid(&self, pos: u64) -> Option<u32> {
        let n = self.slot_count();
        if n == 0 {
            return None;
        }
        let s = self.seqs[(pos % n) as usize].load(Ordering::Acquire);
        (writing_for(s, pos) && s & QUARANTINED != 0).then(|| writer_pid(s))
    }

    /// Frees the quarantined slot of position `pos` for its next lap. Only
    /// once its claimant is dead (a live one hands it back itself). Returns
    /// false if it was not quarantined for `pos` any more.
    pub fn release_quarantined(&self, pos: u64) -> bool {
        let n = self.slot_count();
        if n == 0 {
            return false;
        }
        let seq = &self.seqs[(pos % n) as usize];
        let s = seq.load(Ordering::Relaxed);
        if !writing_for(s, pos) || s & QUARANTINED == 0 {
            return false;
        }
        seq.compare_exchange(s, pos.wrapping_add(n), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// The claimant field of every slot whose word is a writing word,
    /// quarantined or not (a pid, or [`CLAIMANT_ENTRY`] | a drop-table
    /// entry): the claimants whose copies are pending or held. A consumer
    /// keeps a drop-table entry named here from being handed to another
    /// thread, so that the slot is judged by the claimant that wrote it
    /// (see [`crate::drain_core::scan_drop_slots`]). Relaxed: asked about
    /// entries whose owners were judged dead or retired before the call,
    /// which write no more words; a word naming such an entry changes only
    /// by the consumer's own hand.
    pub fn writing_claimants(&self) -> impl Iterator<Item = u32> + '_ {
        self.seqs.iter().filter_map(|s| {
            let s = s.load(Ordering::Relaxed);
            (s & WRITING != 0).then(|| writer_pid(s))
        })
    }

    /// Every quarantined slot, as (position, claimant pid): for a consumer
    /// that starts on a lane another consumer left (the positions are the
    /// ones in the lap behind `tail`).
    pub fn quarantined(&self) -> Vec<(u64, u32)> {
        let n = self.slot_count();
        let tail = self.ctrl.tail.load(Ordering::Acquire);
        let mut v = Vec::new();
        if n == 0 || tail == 0 {
            return v;
        }
        let first = tail.saturating_sub(n);
        for pos in first..tail {
            if let Some(pid) = self.quarantined_pid(pos) {
                v.push((pos, pid));
            }
        }
        v
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::bytes::HeapBytes;

    const SLOT: usize = 64;

    fn push(m: &SharedLane<'_, &HeapBytes>, pid: u32, byte: u8) -> Result<(), SharedLanePushError> {
        m.try_push(pid, 7, 16, |enc| enc.put_bytes(&[byte; 16]))
    }

    /// A claimant that died inside its copy: the consumer quarantines its
    /// slot (the next lap is `Full`), finds it after a restart, and frees
    /// it only on purpose, after which the lane goes on.
    #[test]
    fn a_quarantined_slot_is_held_until_released() {
        let ctrl = SharedLaneControl::new();
        let seqs: Vec<AtomicU64> = (0..2).map(|_| AtomicU64::new(0)).collect();
        let bytes = HeapBytes::new(2 * SLOT);
        let m = SharedLane::new(&ctrl, &seqs, &bytes, SLOT);
        m.init();
        // Position 0 claimed by pid 99, which died after announcing its copy.
        ctrl.head.store(1, Ordering::Relaxed);
        seqs[0].store(writing_word(0, 99), Ordering::Relaxed);
        assert_eq!(m.tail_state(0), TailState::Pending(0));
        assert!(m.copying(0));
        assert_eq!(m.abandon_copying(0), Some(99));
        assert!(!m.copying(0), "a quarantined copy is not copying any more");
        assert_eq!(m.abandon_copying(0), None, "quarantined once");
        assert_eq!(ctrl.tail.load(Ordering::Relaxed), 1);
        assert_eq!(m.quarantined_pid(0), Some(99));
        // Position 1 (the other slot) works.
        push(&m, 1, 0xaa).expect("slot 1 is free");
        assert_eq!(m.tail_state(1), TailState::Ready(1));
        m.release(1);
        // Position 2 is slot 0's next lap: held.
        assert_eq!(push(&m, 2, 0xbb), Err(SharedLanePushError::Full));
        assert_eq!(m.tail_state(2), TailState::Empty);
        assert_eq!(m.quarantined(), vec![(0, 99)]);
        assert!(m.release_quarantined(0));
        assert!(!m.release_quarantined(0), "released once");
        assert_eq!(m.quarantined(), vec![]);
        push(&m, 2, 0xbb).expect("slot 0 free again");
        let mut scratch = Vec::new();
        match m.read_slot(2, &mut scratch) {
            SlotRead::Record { pid, record, .. } => {
                assert_eq!((pid, record), (2, &[0xbb; 16][..]));
            }
            SlotRead::Bad(why) => panic!("{why}"),
        }
    }

    /// Every single-bit change of a record, of its claim position, pid,
    /// tid or length changes its checksum; a partial last word (a forged
    /// length) counts its bytes.
    #[test]
    fn checksum_sees_every_bit() {
        let record: Vec<u8> = (0..48u8).map(|b| b.wrapping_mul(37)).collect();
        let sum = slot_checksum(9, 100, 200, &record);
        for bit in 0..record.len() * 8 {
            let mut r = record.clone();
            r[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(slot_checksum(9, 100, 200, &r), sum, "record bit {bit}");
        }
        for bit in 0..64 {
            assert_ne!(slot_checksum(9 ^ 1 << bit, 100, 200, &record), sum);
        }
        for bit in 0..32 {
            assert_ne!(slot_checksum(9, 100 ^ 1 << bit, 200, &record), sum);
            assert_ne!(slot_checksum(9, 100, 200 ^ 1 << bit, &record), sum);
        }
        assert_ne!(slot_checksum(9, 100, 200, &record[..40]), sum);
        let short = slot_checksum(9, 100, 200, &record[..43]);
        assert_ne!(slot_checksum(9, 100, 200, &record[..44]), short);
        let mut padded = record[..43].to_vec();
        padded.push(0);
        assert_ne!(
            slot_checksum(9, 100, 200, &padded),
            short,
            "the length counts"
        );
        assert_ne!(
            slot_checksum(9, 200, 100, &record),
            sum,
            "pid and tid apart"
        );
    }

    /// `read_slot` copies the header and the record it claims, whatever
    /// `scratch` held before: a forged length that is not a whole number
    /// of words reads exactly its bytes, and a wrong checksum is `Bad`.
    #[test]
    fn read_slot_copies_what_the_header_claims() {
        let ctrl = SharedLaneControl::new();
        let seqs: Vec<AtomicU64> = (0..2).map(|_| AtomicU64::new(0)).collect();
        let bytes = HeapBytes::new(2 * SLOT);
        let m = SharedLane::new(&ctrl, &seqs, &bytes, SLOT);
        m.init();
        let mut scratch = vec![0xee; 4 * SLOT];
        push(&m, 3, 0x11).unwrap();
        match m.read_slot(0, &mut scratch) {
            SlotRead::Record { pid, tid, record } => {
                assert_eq!((pid, tid, record), (3, 7, &[0x11; 16][..]));
            }
            SlotRead::Bad(why) => panic!("{why}"),
        }
        // A forged slot 1: a 13-byte record with its right checksum.
        let forge = |sum: u32| {
            bytes.write_with(SLOT, SLOT, |enc| {
                enc.put_u64(1);
                enc.put_u32(4);
                enc.put_u32(5);
                enc.put_u32(sum);
                enc.put_u32(13);
                enc.put_bytes(&[0x22; 40]);
            })
        };
        forge(slot_checksum(1, 4, 5, &[0x22; 13]));
        match m.read_slot(1, &mut scratch) {
            SlotRead::Record { record, .. } => assert_eq!(record, &[0x22; 13][..]),
            SlotRead::Bad(why) => panic!("{why}"),
        }
        forge(slot_checksum(1, 4, 5, &[0x22; 14]));
        assert!(matches!(m.read_slot(1, &mut scratch), SlotRead::Bad(_)));
    }

    /// Writing words of neighbouring laps of one slot never look alike.
    #[test]
    fn writing_words_tell_laps_apart() {
        let w = writing_word(2, 5);
        assert!(writing_for(w, 2));
        assert!(!writing_for(w, 0));
        assert!(!writing_for(w, 4));
        assert_eq!(writer_pid(w | QUARANTINED), 5);
        assert!(writing_for(writing_word(1 << 40 | 3, 1), 3));
    }
}
