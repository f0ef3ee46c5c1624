//! The consumer's list of quarantined shared-lane slots.
//!
//! A claimant stalled inside its copy past twice the claim timeout is
//! given up on with [`SharedLane::abandon_copying`](crate::shared_lane::SharedLane::abandon_copying), which moves the tail past
//! its slot but keeps the slot out of use (quarantined) so its late bytes
//! can never land in a reused slot. The consumer remembers each such slot
//! with how to tell whether its claimant's process lives, and
//! [`Quarantine::sweep`] frees the slots of claimants that died; a live
//! claimant hands its slot back itself when it resumes. Both the log
//! writer and the daemon template use this.
//!
//! Liveness, as for lanes, is the kernel's word where it can be: a log
//! thread on the shared lane holds a drop-table entry (its lock, see
//! [`crate::ownership`]), so the claimant's process lives while some entry
//! that named its pid when the slot was quarantined still has that owner
//! word and its lock held. Only where no entry names the pid (a channel's
//! sender, or a full drop table) is the pid looked up in this process's
//! `/proc` with its start time, which is wrong for a claimant in another
//! pid namespace.
//!
//! A log thread with an entry names that entry in the slot's writing word
//! ([`CLAIMANT_ENTRY`] and its index), so its slot is judged by its own
//! entry alone. The entry of a claimant that died is not taken back while
//! a writing word names it
//! ([`scan_drop_slots`](crate::drain_core::scan_drop_slots)), so it is
//! still the dead claimant's when the copy is quarantined, not a live
//! thread's that claimed it since. A claimant that names a pid (a channel's sender, or a log
//! thread that got no entry: more than 256 threads on the shared lane, or
//! no descriptor for its lock) is judged by the entries that name that pid
//! number, else by its start time in `/proc`; entries of another thread
//! with the same number (of its process, or of another pid namespace) can
//! then free its slot while it still copies, and its late bytes fail the
//! next record's checksum in that slot (skipped and reported, not
//! printed).
//!
//! ```no_run
//! # use ul_ring::region::{Region, RegionOptions};
//! use ul_ring::quarantine::Quarantine;
//! # let region = Region::open("/dev/shm/ul", &RegionOptions::default()).unwrap();
//! // A consumer taking over a lane watches what its predecessor left.
//! let mut q = Quarantine::of_lane(&region);
//! for (pos, pid) in q.sweep(&region) {
//!     println!("freed slot of position {pos}: pid {pid} died inside its copy");
//! }
//! ```

use std::sync::atomic::Ordering;

use crate::layout::DROP_SLOTS;
use crate::ownership::LaneOwner;
use crate::procinfo;
use crate::region::Region;
use crate::shared_lane::CLAIMANT_ENTRY;

/// How a quarantined slot's claimant is known to live.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Watch {
    /// Drop-table entries (index, owner word) that named the claimant's
    /// pid: it lives while one of them keeps that word and its lock.
    Entries(Vec<(usize, u64)>),
    /// No entry named the pid: its start time (0: unknown).
    StartTime(u64),
}

impl Watch {
    /// How to watch the claimant a writing word names (`claimant`: its
    /// drop-table entry, or a pid), and the pid to report it by.
    fn of(region: &Region, claimant: u32) -> (Watch, u32) {
        let entry = CLAIMANT_ENTRY;
        if claimant & entry != 0 {
            let k = (claimant & !entry) as usize;
            if k >= DROP_SLOTS {
                // Hostile bytes: no entry to ask; keep the slot.
                return (Watch::StartTime(0), 0);
            }
            let word = region.drop_slot(k).owner.load(Ordering::Acquire);
            return match LaneOwner::decode(word) {
                // The claimant thread's own entry: it lives while the
                // entry keeps this word and its lock.
                LaneOwner::Owned { pid, .. } => (Watch::Entries(vec![(k, word)]), pid),
                // Retired or freed: the thread is gone.
                o => (Watch::Entries(Vec::new()), o.pid()),
            };
        }
        (Watch::by_pid(region, claimant), claimant)
    }

    fn by_pid(region: &Region, pid: u32) -> Watch {
        let entries: Vec<(usize, u64)> = (0..DROP_SLOTS)
            .filter_map(|k| {
                let word = region.drop_slot(k).owner.load(Ordering::Acquire);
                match LaneOwner::decode(word) {
                    LaneOwner::Owned { pid: p, .. } if p == pid => Some((k, word)),
                    _ => None,
                }
            })
            .collect();
        if entries.is_empty() {
            Watch::StartTime(procinfo::start_time(pid).unwrap_or(0))
        } else {
            Watch::Entries(entries)
        }
    }

    fn alive(&self, region: &Region, pid: u32) -> bool {
        match self {
            Watch::Entries(v) => v.iter().any(|&(k, word)| {
                region.drop_slot(k).owner.load(Ordering::Acquire) == word
                    // A lock that cannot be asked about counts as held.
                    && crate::ownership::drop_lock_held(region.file(), region.geometry(), k)
                        .unwrap_or(true)
            }),
            // No pid (hostile bytes): keep.
            Watch::StartTime(_) if pid == 0 => true,
            Watch::StartTime(start) => procinfo::same_process_alive(pid, *start),
        }
    }
}

/// Quarantined slots: (position, the claimant its writing word names, the
/// claimant's pid, how to tell it lives).
#[derive(Debug, Default, Clone)]
pub struct Quarantine {
    slots: Vec<(u64, u32, u32, Watch)>,
}

impl Quarantine {
    /// The slots a previous consumer of `region`'s shared lane left
    /// quarantined, each watched as of now (a pid reused since then only
    /// keeps a slot quarantined longer, never frees it early).
    pub fn of_lane(region: &Region) -> Self {
        Self {
            slots: region
                .shared_lane()
                .quarantined()
                .into_iter()
                .map(|(pos, claimant)| {
                    let (watch, pid) = Watch::of(region, claimant);
                    (pos, claimant, pid, watch)
                })
                .collect(),
        }
    }

    /// True if no slot is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Gives up on the claim at `pos`, stalled inside its copy, keeping its
    /// slot quarantined (see [`SharedLane::abandon_copying`](crate::shared_lane::SharedLane::abandon_copying)).
    /// Returns false if the claim is no longer copying (look at it again).
    pub fn abandon_copying(&mut self, region: &Region, pos: u64) -> bool {
        let Some(claimant) = region.shared_lane().abandon_copying(pos) else {
            return false;
        };
        let (watch, pid) = Watch::of(region, claimant);
        self.slots.push((pos, claimant, pid, watch));
        true
    }

    /// Frees the slots whose claimants died and forgets those handed back.
    /// Returns the freed slots as (position, claimant pid).
    pub fn sweep(&mut self, region: &Region) -> Vec<(u64, u32)> {
        let shared_lane = region.shared_lane();
        let mut freed = Vec::new();
        self.slots.retain(|(pos, claimant, pid, watch)| {
            if shared_lane.quarantined_pid(*pos) != Some(*claimant) {
                return false; // handed back by its claimant
            }
            if watch.alive(region, *pid) {
                return true;
            }
            if shared_lane.release_quarantined(*pos) {
                freed.push((*pos, *pid));
            }
            false
        });
        freed
    }
}
