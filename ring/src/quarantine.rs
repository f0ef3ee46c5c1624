//! The consumer's list of quarantined shared-lane slots.
//!
//! A claimant stalled inside its copy past twice the process timeout is
//! given up on with [`Mpsc::abandon_copying`], which moves the tail past
//! its slot but keeps the slot out of use (quarantined) so its late bytes
//! can never land in a reused slot. The consumer remembers each such slot
//! with its claimant's pid and start time, and [`Quarantine::sweep`] frees
//! the slots of claimants that died; a live claimant hands its slot back
//! itself when it resumes. Both the log writer and the daemon template use
//! this.
//!
//! ```no_run
//! # use ul_ring::region::{Region, RegionOptions};
//! use ul_ring::quarantine::Quarantine;
//! # let region = Region::open("/dev/shm/ul", &RegionOptions::default()).unwrap();
//! let mpsc = region.mpsc();
//! // A consumer taking over a lane watches what its predecessor left.
//! let mut q = Quarantine::of_lane(&mpsc);
//! for (pos, pid) in q.sweep(&mpsc) {
//!     println!("freed slot of position {pos}: pid {pid} died inside its copy");
//! }
//! ```

use crate::bytes::ByteStore;
use crate::mpsc::Mpsc;
use crate::procinfo;

/// Quarantined slots: (position, claimant pid, its start time when
/// quarantined; 0 if it could not be read).
#[derive(Debug, Default, Clone)]
pub struct Quarantine {
    slots: Vec<(u64, u32, u64)>,
}

impl Quarantine {
    /// The slots a previous consumer of `mpsc` left quarantined, with each
    /// claimant's start time as of now (a pid reused since then only keeps a
    /// slot quarantined longer, never frees it early).
    pub fn of_lane<B: ByteStore>(mpsc: &Mpsc<'_, B>) -> Self {
        Self {
            slots: mpsc
                .quarantined()
                .into_iter()
                .map(|(pos, pid)| (pos, pid, procinfo::start_time(pid).unwrap_or(0)))
                .collect(),
        }
    }

    /// True if no slot is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Gives up on the claim at `pos`, stalled inside its copy, keeping its
    /// slot quarantined (see [`Mpsc::abandon_copying`]). Returns false if
    /// the claim is no longer copying (look at it again).
    pub fn abandon_copying<B: ByteStore>(&mut self, mpsc: &Mpsc<'_, B>, pos: u64) -> bool {
        let Some(pid) = mpsc.abandon_copying(pos) else {
            return false;
        };
        let start = procinfo::start_time(pid).unwrap_or(0);
        self.slots.push((pos, pid, start));
        true
    }

    /// Frees the slots whose claimants died and forgets those handed back.
    /// Returns the freed slots as (position, claimant pid).
    pub fn sweep<B: ByteStore>(&mut self, mpsc: &Mpsc<'_, B>) -> Vec<(u64, u32)> {
        let mut freed = Vec::new();
        self.slots.retain(|&(pos, pid, start)| {
            if mpsc.quarantined_pid(pos) != Some(pid) {
                return false; // handed back by its claimant
            }
            if procinfo::same_process_alive(pid, start) {
                return true;
            }
            if mpsc.release_quarantined(pos) {
                freed.push((pos, pid));
            }
            false
        });
        freed
    }
}
