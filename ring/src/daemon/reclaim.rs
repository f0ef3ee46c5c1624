//! Taking back lanes: from senders that were dropped (retired lanes) and
//! from sender processes that died without dropping theirs.

use std::sync::atomic::Ordering;

use crate::ownership::{LaneOwner, OwnerWord, Verdict};
use crate::region::Region;

/// A lane to free once its owner's exit has been reported.
pub(super) struct Reclaim {
    lane: usize,
    /// The owner word judged: the lane is freed only if it still holds it.
    owner: LaneOwner,
}

/// Drained lanes whose owner retired them or is dead (nobody holds the
/// lane's kernel lock: see [`crate::ownership`]), and the distinct dead
/// pids among their owners (as those processes saw themselves).
pub(super) fn scan(region: &Region) -> (Vec<Reclaim>, Vec<u32>) {
    let mut free = Vec::new();
    let mut dead: Vec<u32> = Vec::new();
    let geo = *region.geometry();
    for i in 0..geo.sizes.lanes as usize {
        let word = OwnerWord::new(&region.lane_slot(i).owner);
        // Judged before the drain check: once the owner is known to be
        // gone (or retired), nothing more is added, so a drained lane stays
        // drained until we free it.
        let verdict = word.judge(|| crate::ownership::lane_lock_held(region.file(), &geo, i));
        let owner = match verdict {
            Verdict::Free | Verdict::Live => continue,
            Verdict::Retired(o) | Verdict::Corrupt(o) => o,
            Verdict::Dead(o) => o,
        };
        let ctrl = region.lane_control(i);
        // Only drained lanes: whatever a dead sender published is still
        // delivered; the lane is freed on a later scan.
        if ctrl.head() != ctrl.consumer.tail.load(Ordering::Relaxed) {
            continue;
        }
        if let Verdict::Dead(o) = verdict {
            if !dead.contains(&o.pid()) {
                dead.push(o.pid());
            }
        }
        free.push(Reclaim { lane: i, owner });
    }
    (free, dead)
}

/// Frees the lanes (a lane whose owner word changed meanwhile is left
/// alone). Returns how many dead owners' lanes were freed.
pub(super) fn free(region: &Region, lanes: &[Reclaim]) -> u64 {
    let mut reclaimed = 0;
    for r in lanes {
        let word = OwnerWord::new(&region.lane_slot(r.lane).owner);
        if word.free(r.owner) && !matches!(r.owner, LaneOwner::Retiring { .. }) {
            reclaimed += 1;
        }
    }
    region
        .header()
        .stats
        .lanes_reclaimed
        .fetch_add(reclaimed, Ordering::Relaxed);
    reclaimed
}
