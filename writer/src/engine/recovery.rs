//! Intent and recovery: finishing or rolling back what a writer that died
//! left in flight (the batch named by the write-ahead intent, a shared-lane
//! step between slot and tail).

use super::*;

impl Engine {
    /// Completes or rolls back a batch a dead writer left in flight.
    pub(super) fn recover(&mut self) -> Result<(), OutputError> {
        let w = &self.region.header().writer;
        let (batch, state) = w.intent();
        match state {
            IntentState::Writing => {
                // The outputs may hold part of the batch; the cursors did not
                // move. Cut the files the batch went to back (found by
                // identity, wherever they were renamed in the directory);
                // the batch is read again.
                for i in 0..COUNT {
                    let f = self.region.header().intent_file(i);
                    // A file that cannot be cut (read-only, immutable, gone
                    // meanwhile) is reported and left; refusing to start
                    // would keep the intent, and the writer, stuck for ever.
                    match crate::intent::roll_back(&mut self.out, i, f) {
                        Ok(crate::intent::RollBack::Nothing) => {}
                        Ok(done) => crate::diag!(
                            "rolling back batch {batch} that a previous writer left half written: {done}"
                        ),
                        Err(e) => crate::diag!(
                            "rolling back batch {batch} that a previous writer left half written: {e}; that file keeps the partial batch"
                        ),
                    }
                }
            }
            IntentState::Written => {
                // The batch is on disk; finish moving the cursors.
                let lanes = self.region.geometry().sizes.lanes as usize;
                let stats = &self.region.header().stats;
                for i in 0..lanes {
                    // Its tail moves only within `[tail, head]`: the
                    // region is untrusted.
                    let ctrl = self.region.lane_control(i);
                    let before = ctrl.dropped_reported();
                    if ctrl.complete_staged(batch) {
                        // The batch reported these drops in the log: count
                        // them, as the dead writer would have.
                        stats
                            .drops_reported
                            .add(ctrl.dropped_reported().wrapping_sub(before));
                    }
                }
                let shared_lane = self.region.shared_lane();
                let to = w.staged_shared_release();
                let from = shared_lane.control().tail();
                let head = shared_lane.control().head();
                if to > from
                    && to <= head
                    && to - from <= u64::from(self.region.geometry().sizes.shared_lane_slots)
                {
                    // `release` is repeatable: the dead writer may have
                    // freed the slot at `from` already (it died between
                    // the slot and the tail), and a producer may have
                    // taken the slot's next lap since; that slot is left
                    // as it is (see `ul_ring::shared_lane`).
                    for pos in from..to {
                        shared_lane.release(pos);
                    }
                }
                if let Some(d) = w.staged_shared_drops(batch) {
                    let before = shared_lane.control().report_dropped(d);
                    stats.drops_reported.add(d.wrapping_sub(before));
                }
                drops::recover_table_drops(self.region, batch);
                crate::diag!("completed batch {batch} that a previous writer had written");
            }
            _ => {}
        }
        w.batch_done();
        Ok(())
    }
}

/// Finishes a shared-lane step (release, abandon, quarantine) a previous
/// writer of `region` died inside, before the quarantine list is read (see
/// [`ul_ring::shared_lane::SharedLane::take_over`]); without it the shared lane would
/// wait for ever on a slot that has left the tail's position.
pub(super) fn take_over_shared_lane(region: &Region) {
    if let Some(pos) = region.shared_lane().take_over() {
        crate::diag!(
            "moved the shared tail past position {pos}, which a previous writer had freed or given up on before it died"
        );
    }
}
