//! Taking back lanes: of owners that retired them or died (judged by the
//! kernel lock, see [`ul_ring::ownership`]), once drained and announced.

use super::*;

impl Engine {
    /// Finds lanes whose owners exited (drained) and lanes retired by
    /// exiting threads (drained), queues them in `to_free`, and adds a
    /// marker line per dead process to the batch. An owner is dead when
    /// nobody holds its lane's kernel lock ([`ul_ring::ownership`]): true
    /// whatever pid namespace, uid or `/proc` mount either side has.
    pub(super) fn reclaim(&mut self) {
        let geo = *self.region.geometry();
        let mut dead: Vec<(u32, usize)> = Vec::new();
        for i in 0..geo.sizes.lanes as usize {
            let word = OwnerWord::new(&self.region.lane_slot(i).owner);
            let file = self.region.file();
            // Judged before the drain check: an owner known to be gone (or
            // retired) adds nothing more, so a drained lane stays drained
            // until it is freed.
            let mut failed = None;
            let verdict = word.judge(|| {
                let held = ul_ring::ownership::lane_lock_held(file, &geo, i);
                if let Err(e) = &held {
                    failed = Some(e.to_string());
                }
                held
            });
            if let (Some(e), false) = (failed, self.lock_query_failed) {
                self.lock_query_failed = true;
                crate::diag!(
                    "cannot ask the kernel whether lane {i}'s owner lives \
                     (F_OFD_GETLK on {}: {e}); lanes of dead producers will not be \
                     reclaimed while this lasts",
                    self.region.path().display()
                );
            }
            let owner = match verdict {
                Verdict::Free | Verdict::Live => continue,
                Verdict::Retired(o) | Verdict::Dead(o) | Verdict::Corrupt(o) => o,
            };
            let ctrl = self.region.lane_control(i);
            let drained = ctrl.head() == ctrl.consumer.tail.load(Ordering::Relaxed)
                && ctrl.producer.total_dropped()
                    == ctrl.consumer.dropped_reported.load(Ordering::Relaxed);
            if !drained {
                continue;
            }
            if let Verdict::Dead(o) = verdict {
                match dead.iter_mut().find(|d| d.0 == o.pid()) {
                    Some(d) => d.1 += 1,
                    None => dead.push((o.pid(), 1)),
                }
            }
            self.to_free.push((i, owner));
        }
        // Drop-table entries: freed on the same rule, without a line (the
        // process's lanes, if it had any, announce it).
        for k in 0..ul_ring::layout::DROP_SLOTS {
            let slot = self.region.drop_slot(k);
            let file = self.region.file();
            let verdict = OwnerWord::new(&slot.owner)
                .judge(|| ul_ring::ownership::drop_lock_held(file, &geo, k));
            let owner = match verdict {
                Verdict::Free | Verdict::Live => continue,
                Verdict::Retired(o) | Verdict::Dead(o) | Verdict::Corrupt(o) => o,
            };
            if slot.dropped.load(Ordering::Relaxed) == slot.dropped_reported.load(Ordering::Relaxed)
            {
                self.to_free_drops.push((k, owner));
            }
        }
        for (pid, n) in dead {
            let s = if n == 1 { "" } else { "s" };
            self.lines.writer_line(
                Level::Warn,
                &format!("process {pid} exited; reclaimed {n} lane{s}"),
            );
        }
    }

    /// Frees the lanes `reclaim` queued, now that their lines are on disk.
    /// A lane whose owner word changed meanwhile is left alone.
    pub(super) fn free_lanes(&mut self) {
        for &(i, owner) in &self.to_free {
            let word = OwnerWord::new(&self.region.lane_slot(i).owner);
            if word.free(owner) && !matches!(owner, LaneOwner::Retiring { .. }) {
                self.region
                    .header()
                    .stats
                    .lanes_reclaimed
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        self.to_free.clear();
        for &(k, owner) in &self.to_free_drops {
            OwnerWord::new(&self.region.drop_slot(k).owner).free(owner);
        }
        self.to_free_drops.clear();
    }
}
