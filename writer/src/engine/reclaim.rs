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
        let region = self.region;
        // Drained: its records written and its drops reported.
        let drained = |i: usize| region.lane_control(i).is_drained();
        let mut failed = None;
        let lanes = ul_ring::drain_core::scan_lanes(region, drained, |i, e| {
            failed.get_or_insert((i, e.to_string()));
        });
        if let (Some((i, e)), false) = (failed, self.lock_query_failed) {
            self.lock_query_failed = true;
            crate::diag!(
                "cannot ask the kernel whether lane {i}'s owner lives \
                 (F_OFD_GETLK on {}: {e}); lanes of dead producers will not be \
                 reclaimed while this lasts",
                region.path().display()
            );
        }
        let mut dead: Vec<(u32, usize)> = Vec::new();
        for r in lanes.iter().filter(|r| r.dead) {
            match dead.iter_mut().find(|d| d.0 == r.owner.pid()) {
                Some(d) => d.1 += 1,
                None => dead.push((r.owner.pid(), 1)),
            }
        }
        self.to_free.extend(lanes);
        // Drop-table entries: freed on the same rule once their drops are
        // reported, without a line (the process's lanes, if it had any,
        // announce it).
        let reported = |k: usize| {
            let e = region.drop_slot(k);
            e.dropped() == e.dropped_reported()
        };
        let entries = ul_ring::drain_core::scan_drop_slots(region, reported, |_, _| {});
        self.to_free_drops.extend(entries);
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
        ul_ring::drain_core::free_lanes(self.region, &self.to_free);
        self.to_free.clear();
        ul_ring::drain_core::free_drop_slots(self.region, &self.to_free_drops);
        self.to_free_drops.clear();
    }
}
