//! Who owns a lane, and whether that owner still lives.
//!
//! Each lane's directory entry holds one owner word:
//!
//! ```text
//! bits 63..40  generation (24 bits, wrapping): bumped each time the lane is freed
//! bits 39..8   pid of the owner, as the owner sees itself (its own pid namespace)
//! bits  7..0   state: FREE 0, OWNED 1, RETIRING 2
//! ```
//!
//! ```text
//!            claim (producer: lock, then CAS)        retire (owner thread: CAS, then unlock)
//! Free{g} ---------------------------------> Owned{g,p} ------------------------> Retiring{g,p}
//!    ^                                            |                                    |
//!    |        free (writer: owner's lock found    |   free (writer: lane drained)      |
//!    +------- released, lane drained) ------------+------------------------------------+
//!                       Free{g+1}
//! ```
//!
//! Every transition is one compare-exchange of the whole word, generation
//! included, so a party acting on a stale view fails: the writer frees only
//! the exact word it judged (an owner that retired meanwhile, or a lane freed
//! and claimed again, has another word), and a claimant's CAS succeeds only
//! from the free word it saw.
//!
//! Liveness comes from the kernel, not from a pid: a claimant takes an
//! open-file-description (`F_OFD_SETLK`) write lock on the first byte of the
//! lane's directory entry *before* its claim CAS, on a file description of
//! its own, and drops it only *after* its retire CAS. The kernel releases the
//! lock when the owner's process dies, whatever pid namespace, uid or
//! `/proc` mount either side has. The writer asks (`F_OFD_GETLK`) whether
//! anyone holds the lock: an OWNED lane whose lock nobody holds, and whose
//! word has not changed since, belongs to a dead process (as LMDB checks its
//! readers). A forked child closes the lock descriptors it inherited (a
//! `pthread_atfork` handler), so a parent's lanes do not look alive because
//! of a child.
//!
//! The writer holds a lock of the same kind on the region's first byte
//! ([`WriterLock`]), so producers and tools can ask whether a writer serves
//! the region without trusting its pid.

use crate::sync::{AtomicU64, Ordering};

/// Bits of the generation in an owner word.
pub const GENERATION_BITS: u32 = 24;
const GEN_SHIFT: u32 = 40;
const GEN_MASK: u32 = (1 << GENERATION_BITS) - 1;

/// Raw state bytes of an owner word.
mod state {
    pub(super) const FREE: u64 = 0;
    pub(super) const OWNED: u64 = 1;
    pub(super) const RETIRING: u64 = 2;
}

/// A lane's owner word, decoded.
///
/// ```
/// use ul_ring::ownership::LaneOwner;
/// let o = LaneOwner::Owned { gen: 7, pid: 4242 };
/// assert_eq!(LaneOwner::decode(o.encode()), o);
/// assert_eq!(LaneOwner::decode(0), LaneOwner::Free { gen: 0 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneOwner {
    /// Nobody owns the lane; `gen` counts how often it was freed.
    Free {
        /// Generation (24 bits).
        gen: u32,
    },
    /// A live thread of process `pid` writes into the lane.
    Owned {
        /// Generation (24 bits).
        gen: u32,
        /// The owner's pid, in its own pid namespace.
        pid: u32,
    },
    /// The owning thread exited; the writer frees the lane once drained.
    Retiring {
        /// Generation (24 bits).
        gen: u32,
        /// The former owner's pid, in its own pid namespace.
        pid: u32,
    },
    /// A state byte no party writes (the region is untrusted input).
    Corrupt {
        /// The whole word as read.
        word: u64,
    },
}

impl LaneOwner {
    /// Decodes an owner word; any word decodes to something.
    pub fn decode(word: u64) -> Self {
        let gen = (word >> GEN_SHIFT) as u32 & GEN_MASK;
        let pid = (word >> 8) as u32;
        match word & 0xff {
            state::FREE if pid == 0 => LaneOwner::Free { gen },
            state::OWNED => LaneOwner::Owned { gen, pid },
            state::RETIRING => LaneOwner::Retiring { gen, pid },
            _ => LaneOwner::Corrupt { word },
        }
    }

    /// The word that stands for this owner.
    pub fn encode(self) -> u64 {
        let g = |gen: u32| u64::from(gen & GEN_MASK) << GEN_SHIFT;
        match self {
            LaneOwner::Free { gen } => g(gen) | state::FREE,
            LaneOwner::Owned { gen, pid } => g(gen) | u64::from(pid) << 8 | state::OWNED,
            LaneOwner::Retiring { gen, pid } => g(gen) | u64::from(pid) << 8 | state::RETIRING,
            LaneOwner::Corrupt { word } => word,
        }
    }

    /// The owner's pid (0 for a free or corrupt word).
    pub fn pid(self) -> u32 {
        match self {
            LaneOwner::Owned { pid, .. } | LaneOwner::Retiring { pid, .. } => pid,
            _ => 0,
        }
    }

    /// True for [`LaneOwner::Free`].
    pub fn is_free(self) -> bool {
        matches!(self, LaneOwner::Free { .. })
    }

    /// The generation the word carries (a corrupt word's bits as they are).
    pub fn generation(self) -> u32 {
        match self {
            LaneOwner::Free { gen }
            | LaneOwner::Owned { gen, .. }
            | LaneOwner::Retiring { gen, .. } => gen,
            LaneOwner::Corrupt { word } => (word >> GEN_SHIFT) as u32 & GEN_MASK,
        }
    }

    /// A short name: `free`, `owned`, `retiring`, `corrupt`.
    pub fn name(self) -> &'static str {
        match self {
            LaneOwner::Free { .. } => "free",
            LaneOwner::Owned { .. } => "owned",
            LaneOwner::Retiring { .. } => "retiring",
            LaneOwner::Corrupt { .. } => "corrupt",
        }
    }
}

/// What the writer concluded about a lane's owner (see [`OwnerWord::judge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nobody owns the lane.
    Free,
    /// The owner lives (its lock is held), or it cannot be told.
    Live,
    /// The owning thread retired the lane: free it once drained.
    Retired(LaneOwner),
    /// The owner's process is gone (nobody holds its lock, and the word did
    /// not change while we looked): free it once drained. No record can be
    /// added to the lane any more.
    Dead(LaneOwner),
    /// A state no party writes, and nobody holds the lane's lock: free it
    /// once drained.
    Corrupt(LaneOwner),
}

/// A lane's owner word, with the protocol's transitions as methods.
///
/// ```
/// use ul_ring::ownership::{LaneOwner, OwnerWord};
/// let word = std::sync::atomic::AtomicU64::new(0);
/// let w = OwnerWord::new(&word);
/// let free = w.load();
/// let owned = w.claim(free, 42).unwrap();
/// assert_eq!(owned, LaneOwner::Owned { gen: 0, pid: 42 });
/// let retiring = w.retire(owned).unwrap();
/// assert!(w.free(retiring));
/// assert_eq!(w.load(), LaneOwner::Free { gen: 1 });
/// assert!(w.claim(free, 43).is_err(), "a stale free word is refused");
/// ```
#[derive(Clone, Copy)]
pub struct OwnerWord<'a>(&'a AtomicU64);

impl<'a> OwnerWord<'a> {
    /// Wraps a directory entry's owner word.
    pub fn new(word: &'a AtomicU64) -> Self {
        Self(word)
    }

    /// The owner now. Acquire: a lane seen retired or freed is seen with
    /// everything its last owner (or the writer) did before that store.
    pub fn load(self) -> LaneOwner {
        LaneOwner::decode(self.0.load(Ordering::Acquire))
    }

    /// Claims the lane from the free word `seen` for process `pid`.
    /// The caller holds the lane's lock already (see [`LaneLock`]).
    ///
    /// AcqRel: Acquire so the writer's drain of the lane (before its free
    /// store, Release) happens before our first write into it; Release so
    /// the lock taken before is ordered before the claim for a writer that
    /// Acquire-loads the word (a kernel lock is taken by a system call that
    /// returned before this instruction ran).
    pub fn claim(self, seen: LaneOwner, pid: u32) -> Result<LaneOwner, LaneOwner> {
        let LaneOwner::Free { gen } = seen else {
            return Err(seen);
        };
        let owned = LaneOwner::Owned { gen, pid };
        self.cas(seen, owned, Ordering::AcqRel).map(|()| owned)
    }

    /// The owner thread hands the lane back: `Owned` to `Retiring`, same
    /// generation. Release: its records happen before the writer sees the
    /// lane retired (and so before the writer frees it).
    pub fn retire(self, owned: LaneOwner) -> Result<LaneOwner, LaneOwner> {
        let LaneOwner::Owned { gen, pid } = owned else {
            return Err(owned);
        };
        let retiring = LaneOwner::Retiring { gen, pid };
        self.cas(owned, retiring, Ordering::Release)
            .map(|()| retiring)
    }

    /// The writer frees the lane it judged (`Retired`, `Dead` or `Corrupt`,
    /// and drained since): only if the word is still exactly `seen`. The
    /// generation goes up by one. AcqRel: our reads of the lane happen
    /// before a new owner (which acquires this store) writes into it.
    pub fn free(self, seen: LaneOwner) -> bool {
        if seen.is_free() {
            return false;
        }
        let next = LaneOwner::Free {
            gen: seen.generation().wrapping_add(1) & GEN_MASK,
        };
        self.cas(seen, next, Ordering::AcqRel).is_ok()
    }

    /// Judges the owner: `held` asks the kernel whether anyone holds the
    /// lane's lock (an error there counts as alive: the writer never frees
    /// a lane it cannot judge). An owned word counts as dead only if the
    /// lock is free *and* the word is unchanged after the question: a
    /// thread that retired meanwhile dropped its lock after its retire CAS.
    pub fn judge(self, held: impl FnOnce() -> std::io::Result<bool>) -> Verdict {
        let seen = self.load();
        match seen {
            LaneOwner::Free { .. } => Verdict::Free,
            LaneOwner::Retiring { .. } => Verdict::Retired(seen),
            LaneOwner::Owned { .. } | LaneOwner::Corrupt { .. } => match held() {
                Ok(false) if self.load() == seen => {
                    if matches!(seen, LaneOwner::Owned { .. }) {
                        Verdict::Dead(seen)
                    } else {
                        Verdict::Corrupt(seen)
                    }
                }
                _ => Verdict::Live,
            },
        }
    }

    /// The whole claim procedure, in the order the protocol needs: the
    /// word must be seen free, then `lock` must succeed (it takes the
    /// lane's kernel lock; `None`: someone holds it), then the claim CAS
    /// from exactly the free word seen. On a lost CAS the lock is dropped.
    /// Returns the owned word and the lock, which the owner keeps until
    /// [`retire_and_unlock`](Self::retire_and_unlock).
    pub fn claim_locked<L>(
        self,
        pid: u32,
        lock: impl FnOnce() -> Option<L>,
    ) -> Option<(LaneOwner, L)> {
        let seen = self.load();
        if !seen.is_free() {
            return None;
        }
        let held = lock()?;
        match self.claim(seen, pid) {
            Ok(owned) => Some((owned, held)),
            Err(_) => None,
        }
    }

    /// The owner lets go: the retire CAS first, then the lock is dropped,
    /// so a writer never sees the lane owned and unlocked while its owner
    /// lives.
    pub fn retire_and_unlock<L>(self, owned: LaneOwner, lock: L) {
        let _ = self.retire(owned);
        drop(lock);
    }

    fn cas(self, from: LaneOwner, to: LaneOwner, order: Ordering) -> Result<(), LaneOwner> {
        self.0
            .compare_exchange(from.encode(), to.encode(), order, Ordering::Relaxed)
            .map(|_| ())
            .map_err(LaneOwner::decode)
    }
}

#[cfg(not(loom))]
mod kernel;
#[cfg(not(loom))]
pub use kernel::{
    claim_drop_slot, claim_lane, drop_lock_held, drop_lock_offset, lane_lock_held,
    lane_lock_offset, writer_lock_held, ClaimedLane, LaneLock, WriterLock,
};
