//! Taking back lanes: from senders that were dropped (retired lanes) and
//! from sender processes that died without dropping theirs.

use std::sync::atomic::Ordering;

use crate::layout::lane_state;
use crate::region::Region;

/// A lane to free once its owner's exit has been reported.
pub(super) struct Reclaim {
    lane: usize,
    /// The owner word seen: the lane is freed only if it still holds it.
    owner: u64,
}

/// Drained lanes whose owner retired them or is dead (pid gone, a zombie,
/// or reused by another process: start time differs), and the distinct
/// dead pids among their owners.
pub(super) fn scan(region: &Region) -> (Vec<Reclaim>, Vec<u32>) {
    let mut free = Vec::new();
    let mut dead: Vec<u32> = Vec::new();
    let mut seen: Vec<(u32, u64, bool)> = Vec::new();
    for i in 0..region.geometry().sizes.lanes as usize {
        let slot = region.lane_slot(i);
        let owner = slot.owner.load(Ordering::Acquire);
        let state = owner & 0xff;
        if state == lane_state::FREE {
            continue;
        }
        let ctrl = region.lane_control(i);
        // Only drained lanes: whatever a dead sender published is still
        // delivered; the lane is freed on a later scan.
        if ctrl.head() != ctrl.consumer.tail.load(Ordering::Relaxed) {
            continue;
        }
        if state != lane_state::RETIRING {
            let pid = (owner >> 8) as u32;
            let start = slot.start_time.load(Ordering::Acquire);
            let alive = match seen.iter().find(|s| s.0 == pid && s.1 == start) {
                Some(s) => s.2,
                None => {
                    let a = crate::procinfo::same_process_alive(pid, start);
                    seen.push((pid, start, a));
                    a
                }
            };
            if alive {
                continue;
            }
            if !dead.contains(&pid) {
                dead.push(pid);
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
        let slot = region.lane_slot(r.lane);
        // Release: our reads of the lane happen before a new owner, whose
        // claim CAS acquires this store, writes into it.
        if slot
            .owner
            .compare_exchange(
                r.owner,
                lane_state::FREE,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            slot.generation.fetch_add(1, Ordering::Relaxed);
            if r.owner & 0xff != lane_state::RETIRING {
                reclaimed += 1;
            }
        }
    }
    region
        .header()
        .stats
        .lanes_reclaimed
        .fetch_add(reclaimed, Ordering::Relaxed);
    reclaimed
}
