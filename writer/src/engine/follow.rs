//! Following the path: moving to a region that replaced ours at its path,
//! and draining the replaced (retiring) regions to their end.

use super::*;

impl Engine {
    /// Follows the region's path: when the file there is unlinked or
    /// replaced, the engine opens (or creates, with `opts`) the region now
    /// at the path, serves it, and drains the old one to its end.
    pub fn follow_path(&mut self, opts: RegionOptions) {
        self.follow = Some(opts);
    }

    /// Number of replaced regions still being drained.
    pub fn retiring(&self) -> usize {
        self.retiring.len()
    }

    /// True if thread `tid` of `pid` has records not yet written in a lane
    /// of a retiring region. Called after loading the head of its lane in
    /// the served region: the thread retired its old lane (Release) after
    /// its last record there and before its first record here, so that
    /// load makes the old lane's records visible.
    pub(super) fn earlier_records_pending(&self, pid: u32, tid: u32) -> bool {
        self.retiring.iter().any(|s| {
            let r = s.region;
            (0..r.geometry().sizes.lanes as usize).any(|i| {
                let slot = r.lane_slot(i);
                let owner = slot.owner().load();
                !owner.is_free() && owner.pid() == pid && slot.tid() == tid && {
                    let c = r.lane_control(i);
                    c.head() != c.files()
                }
            })
        })
    }

    /// Swaps the engine's per-region state with `s`.
    pub(super) fn swap_served(&mut self, s: &mut Served) {
        std::mem::swap(&mut self.region, &mut s.region);
        std::mem::swap(&mut self.lines.names, &mut s.names);
        std::mem::swap(&mut self.lines.calib, &mut s.calib);
        std::mem::swap(&mut self.calib_at, &mut s.calib_at);
        std::mem::swap(&mut self.batch_no, &mut s.batch_no);
        std::mem::swap(&mut self.quarantine, &mut s.quarantine);
        std::mem::swap(&mut self.last_scan, &mut s.last_scan);
        std::mem::swap(&mut self.last_drop_report, &mut s.last_drop_report);
        std::mem::swap(&mut self.table_drop_report, &mut s.table_drop_report);
        std::mem::swap(&mut self.next_lane, &mut s.next_lane);
        std::mem::swap(&mut self.released, &mut s.released);
    }

    /// Opens the region now at the path, takes it, serves it, and keeps
    /// the old one to drain. On failure, says why and keeps serving the old
    /// region (retried at the next check).
    pub(super) fn switch_region(&mut self, opts: RegionOptions) {
        let path = self.region.path().to_owned();
        let new = match Region::open(&path, &opts) {
            Ok(r) => r,
            Err(e) => {
                crate::diag!(
                    "{} was replaced but the new region cannot be opened: {e}; still draining the old one",
                    path.display()
                );
                return;
            }
        };
        if new.path_status() != PathStatus::Same {
            return; // Replaced again meanwhile: next check.
        }
        if let Err(e) = crate::takeover::take(&new) {
            crate::diag!(
                "{} was replaced and {e}; this writer drains the old region only",
                path.display()
            );
            self.follow = None;
            return;
        }
        let old = self.region;
        if new.created() {
            // Carry the run-time settings over to a region we made.
            new.header().control.copy_settings(&old.header().control);
        }
        let new: &'static Region = Box::leak(Box::new(new));
        crate::region_guard::watch(new);
        // Producers still on the old region take their slow path (and find
        // the new one) as soon as a lane passes half full: tell them the
        // writer sleeps, and that no writer serves it.
        old.header().writer.release();
        old.header().wake.mark_asleep();
        // And every log call on the old region sees this flag, so even a
        // thread whose lane never passes half full moves on its next call.
        old.header().control.set_superseded(true);
        let mut s = Served::new(new);
        self.swap_served(&mut s);
        self.retiring.push(s);
        if let Err(e) = self.recover() {
            crate::diag!("recovering the new region's last batch: {e}");
        }
        crate::diag!(
            "{} was {}; serving the new region there, draining the old one to its end",
            path.display(),
            if new.created() {
                "unlinked"
            } else {
                "unlinked and recreated"
            }
        );
    }

    /// One pass over each retiring region. Acknowledges flush requests made
    /// on them once they are drained, and lets a region go once it has been
    /// empty, with every lane free, for [`RETIRE_QUIET`]. Returns true if
    /// it wrote anything.
    pub(super) fn drain_retiring(&mut self) -> bool {
        let mut did = false;
        let mut k = 0;
        while k < self.retiring.len() {
            let mut s = self.retiring.remove(k);
            self.swap_served(&mut s);
            let h = self.region.header();
            h.wake.mark_asleep();
            let wanted = h.flush.wanted();
            // A failed write leaves the records where they are; the served
            // region's pass reports the error and backs off.
            self.in_retiring_pass = true;
            if let Ok(n) = self.pass() {
                did |= n > 0;
            }
            self.in_retiring_pass = false;
            let empty = drained(self.region);
            // A flush waits for the files, not for forwarding receivers.
            if let (true, Some(req)) = (files_drained(self.region), wanted) {
                h.flush.acknowledge(req);
            }
            let lanes = self.region.geometry().sizes.lanes as usize;
            // Every lane and every drop-table entry free: a thread on the
            // old shared lane holds an entry until it moves or exits.
            let free = (0..lanes).all(|i| self.region.lane_slot(i).owner().load().is_free())
                && (0..ul_ring::layout::DROP_SLOTS)
                    .all(|k| self.region.drop_slot(k).owner().load().is_free());
            self.swap_served(&mut s);
            if !(empty && free) {
                s.quiet_since = None;
            } else if s.quiet_since.is_none() {
                s.quiet_since = Some(Instant::now());
            }
            if s.quiet_since.is_some_and(|t| t.elapsed() >= RETIRE_QUIET) {
                crate::region_guard::unwatch(s.region);
                crate::diag!(
                    "drained the replaced region {} to its end",
                    s.region.path().display()
                );
                // The mapping stays (leaked, like every region the engine
                // served): nothing reads it any more.
            } else {
                self.retiring.insert(k, s);
                k += 1;
            }
        }
        did
    }

    /// Checks that the region file still has its full length (one
    /// `fstat`); a truncated region cannot be read any more.
    /// Also follows the path (see [`follow_path`](Self::follow_path)).
    /// Returns true if the engine now serves another region.
    pub(super) fn check_region(&mut self) -> Result<bool, RunError> {
        self.last_region_check = Instant::now();
        self.region.check_len().map_err(RunError::RegionBroken)?;
        if let Some(opts) = &self.follow {
            if self.region.path_status() != PathStatus::Same {
                let before = self.region;
                let opts = opts.clone();
                self.switch_region(opts);
                return Ok(!core::ptr::eq(before, self.region));
            }
        }
        Ok(false)
    }
}
