//! What every consumer of a region does the same way, whatever it does
//! with the records: `ul-writer`'s engine and the daemon template
//! ([`crate::daemon`]) both use these, so the two cannot drift apart.
//!
//! - [`Heads`]: where every lane's and the shared lane's head stood at one
//!   instant, and whether the tails reached them (a flush, a stop);
//! - [`pending_claim`]: what to do about an uncommitted shared-lane claim
//!   at the tail (wait, abandon it after the claim timeout, or quarantine
//!   it after twice that), timed from when any consumer first saw it;
//! - [`scan_lanes`] and [`free_lanes`] (and the same for the drop table):
//!   which lanes to take back (retired, or their owner dead by the kernel
//!   lock) once drained, and taking them.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::ownership::{LaneOwner, OwnerWord, Verdict};
use crate::quarantine::Quarantine;
use crate::region::Region;

/// Every lane's head and the shared lane's head of one region, as seen at
/// one instant.
///
/// ```no_run
/// # use ul_ring::region::{Region, RegionOptions};
/// use ul_ring::drain_core::Heads;
/// # let region = Region::open("/dev/shm/ul", &RegionOptions::default()).unwrap();
/// let target = Heads::of(&region);
/// // ... drain ...
/// let done = target.reached_in(&region);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heads {
    lanes: Vec<u64>,
    shared: u64,
}

impl Heads {
    /// Snapshot of `region`'s heads (Acquire: what was published before
    /// is what the tails must pass).
    pub fn of(region: &Region) -> Self {
        let lanes = region.geometry().sizes.lanes as usize;
        Heads {
            lanes: (0..lanes).map(|i| region.lane_control(i).head()).collect(),
            shared: region.shared_lane().control().head(),
        }
    }

    /// True once every lane's files position ([`LaneControl::files`]:
    /// what is in the writer's files, whatever forwarding sinks still
    /// hold) and the shared lane's tail reached (or, for a corrupt lane
    /// skipped to its head, passed) these heads. Cursors count bytes and
    /// positions for ever and may wrap: compared by wrapping distance.
    ///
    /// [`LaneControl::files`]: crate::lane::LaneControl::files
    pub fn reached_in(&self, region: &Region) -> bool {
        let passed = |tail: u64, head: u64| tail.wrapping_sub(head) < (1 << 62);
        self.lanes
            .iter()
            .enumerate()
            .all(|(i, &head)| passed(region.lane_control(i).files(), head))
            && passed(region.shared_lane().control().tail(), self.shared)
    }
}

/// What became of an uncommitted shared-lane claim at the tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingClaim {
    /// Not yet past the timeout (or not first in line): wait.
    Waiting,
    /// Given up on (its claimant died before copying, or stalled): the
    /// tail moved past it; nothing of it was written.
    Abandoned,
    /// Its claimant stalled inside its copy past twice the timeout: the
    /// tail moved past it and the slot stays out of use (see
    /// [`Quarantine`]) until the claimant hands it back or dies.
    Quarantined,
}

/// Decides about the uncommitted claim at shared-lane position `pos`.
///
/// The timeout runs from when any consumer of `region` first saw this
/// claim pending (the header's claim watch), so a consumer restarted more
/// often than the timeout still gets there. Only when `first` (nothing
/// read before it waits for release: abandoning moves the tail) is the
/// claim given up on: after `timeout` if its claimant never started
/// copying, after twice that (quarantined) if it is stalled inside its
/// copy. A watch time in the future counts as now.
pub fn pending_claim(
    region: &Region,
    pos: u64,
    first: bool,
    timeout: Duration,
    quarantine: &mut Quarantine,
) -> PendingClaim {
    let watch = &region.header().claim_watch;
    let now = crate::clock::monotonic_ns();
    let since = if watch.pos_plus_one.load(Ordering::Relaxed) == pos.wrapping_add(1) {
        watch.since_ns.load(Ordering::Relaxed).min(now)
    } else {
        watch.since_ns.store(now, Ordering::Relaxed);
        watch
            .pos_plus_one
            .store(pos.wrapping_add(1), Ordering::Relaxed);
        now
    };
    let waited = Duration::from_nanos(now - since);
    if !first || waited < timeout {
        return PendingClaim::Waiting;
    }
    let shared_lane = region.shared_lane();
    let outcome = if shared_lane.abandon(pos) {
        PendingClaim::Abandoned
    } else if shared_lane.copying(pos)
        && waited >= 2 * timeout
        && quarantine.abandon_copying(region, pos)
    {
        PendingClaim::Quarantined
    } else {
        return PendingClaim::Waiting;
    };
    region.header().stats.claims_abandoned.add(1);
    watch.pos_plus_one.store(0, Ordering::Relaxed);
    outcome
}

/// True while an uncommitted shared-lane claim is being timed (a consumer
/// then wakes up regularly to time it out rather than sleep until woken).
pub fn claim_pending(region: &Region) -> bool {
    let watched = region
        .header()
        .claim_watch
        .pos_plus_one
        .load(Ordering::Relaxed);
    let shared_lane = region.shared_lane();
    let tail = shared_lane.control().tail();
    // The watch is cleared only when a claim is given up on; one that
    // committed leaves it naming a position the tail has passed.
    watched != 0
        && watched == tail.wrapping_add(1)
        && matches!(
            shared_lane.tail_state(tail),
            crate::shared_lane::TailState::Pending(_)
        )
}

/// A lane (or drop-table entry) to take back once the lines that announce
/// it (if any) are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reclaimable {
    /// The lane (or the drop-table entry).
    pub lane: usize,
    /// The owner word judged: it is freed only if it still holds it.
    pub owner: LaneOwner,
    /// True if its owner's process died (false: the thread retired it).
    pub dead: bool,
}

/// The lanes of `region` to take back: retired by their thread, or owned
/// by a process that is gone (nobody holds the lane's kernel lock: see
/// [`crate::ownership`]), and `drained(lane)`. Each lane is judged before
/// its drain is checked: an owner known gone adds nothing more, so a
/// drained lane stays drained until it is freed. `lock_error` is told of
/// each failure to ask the kernel (such a lane counts as alive).
pub fn scan_lanes(
    region: &Region,
    drained: impl FnMut(usize) -> bool,
    lock_error: impl FnMut(usize, &std::io::Error),
) -> Vec<Reclaimable> {
    let geo = *region.geometry();
    scan(
        geo.sizes.lanes as usize,
        |i| region.lane_slot(i).owner(),
        |i| crate::ownership::lane_lock_held(region.file(), &geo, i),
        drained,
        lock_error,
    )
}

/// The drop-table entries of `region` to take back, by the rule of
/// [`scan_lanes`]; `reported(k)` says entry `k`'s drops are all reported.
///
/// An entry that a shared-lane slot's writing word names (a claimant that
/// died or was stopped inside its copy, quarantined or not yet) is kept:
/// the slot is judged by that entry ([`Quarantine`]), and an entry taken
/// back could be claimed by a live thread meanwhile, which the slot would
/// then be judged by: held for as long as that unrelated thread lives (the
/// shared lane stuck a lap later), and reported as freed in its name. Only
/// the entry's owner writes words naming it, and a dead or retired owner
/// writes no more, so the entry is taken back once the slot is freed.
pub fn scan_drop_slots(
    region: &Region,
    reported: impl FnMut(usize) -> bool,
    lock_error: impl FnMut(usize, &std::io::Error),
) -> Vec<Reclaimable> {
    use crate::layout::DROP_SLOTS;
    use crate::shared_lane::CLAIMANT_ENTRY;
    let geo = *region.geometry();
    let mut out = scan(
        DROP_SLOTS,
        |k| region.drop_slot(k).owner(),
        |k| crate::ownership::drop_lock_held(region.file(), &geo, k),
        reported,
        lock_error,
    );
    if out.is_empty() {
        return out;
    }
    // After every verdict: an owner judged dead or retired has written its
    // last word by then (looked at before, a word it wrote after the look
    // and before it died would be missed).
    let mut named = [false; DROP_SLOTS];
    for c in region.shared_lane().writing_claimants() {
        let k = (c & !CLAIMANT_ENTRY) as usize;
        if c & CLAIMANT_ENTRY != 0 && k < DROP_SLOTS {
            named[k] = true;
        }
    }
    out.retain(|r| !named[r.lane]);
    out
}

fn scan<'r>(
    n: usize,
    word: impl Fn(usize) -> OwnerWord<'r>,
    held: impl Fn(usize) -> std::io::Result<bool>,
    mut drained: impl FnMut(usize) -> bool,
    mut lock_error: impl FnMut(usize, &std::io::Error),
) -> Vec<Reclaimable> {
    let mut out = Vec::new();
    for i in 0..n {
        let verdict = word(i).judge(|| {
            let h = held(i);
            if let Err(e) = &h {
                lock_error(i, e);
            }
            h
        });
        let (owner, dead) = match verdict {
            Verdict::Free | Verdict::Live => continue,
            Verdict::Retired(o) | Verdict::Corrupt(o) => (o, false),
            Verdict::Dead(o) => (o, true),
        };
        if drained(i) {
            out.push(Reclaimable {
                lane: i,
                owner,
                dead,
            });
        }
    }
    out
}

/// Frees `lanes` (each only if its owner word is still the one judged; the
/// generation moves on) and counts those of dead owners in the region's
/// stats. Returns how many dead owners' lanes were freed.
pub fn free_lanes(region: &Region, lanes: &[Reclaimable]) -> u64 {
    let mut reclaimed = 0;
    for r in lanes {
        if region.lane_slot(r.lane).owner().free(r.owner)
            && !matches!(r.owner, LaneOwner::Retiring { .. })
        {
            reclaimed += 1;
        }
    }
    region.header().stats.lanes_reclaimed.add(reclaimed);
    reclaimed
}

/// Frees drop-table entries found by [`scan_drop_slots`] (each only if
/// its owner word is still the one judged).
pub fn free_drop_slots(region: &Region, entries: &[Reclaimable]) {
    for r in entries {
        region.drop_slot(r.lane).owner().free(r.owner);
    }
}
