//! The shared lane: reading committed slots in order, abandoning claims
//! that never commit, and quarantining claims stalled inside their copy.

use super::*;

impl Engine {
    pub(super) fn drain_shared_lane(&mut self, table: &CallsiteTable<'_>, batch_size: usize) {
        let shared_lane = self.region.shared_lane();
        let region = self.region;
        let dropped = shared_lane.control().dropped();
        let reported = shared_lane.control().dropped_reported();
        if dropped != reported {
            let lanes = region.geometry().sizes.lanes as usize;
            let since = since_text(&mut self.lines.ts, self.last_drop_report[lanes]);
            self.lines.writer_line(
                Level::Warn,
                &format!(
                    "{} dropped in the shared lane since {since}",
                    drops::Records(dropped.wrapping_sub(reported))
                ),
            );
            self.last_drop_report[lanes] = ul_ring::clock::wall_ns();
            self.shared_lane_dropped = Some(dropped);
        }
        let start = shared_lane.control().tail();
        let mut pos = start;
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut n = 0;
        while n < batch_size {
            match shared_lane.tail_state(pos) {
                TailState::Empty => break,
                TailState::Ready(_) => {
                    match shared_lane.read_slot(pos, &mut scratch) {
                        SlotRead::Record { pid, tid, record } => {
                            let origin = Origin {
                                lane: None,
                                pid,
                                tid,
                            };
                            if !self.lines.record(region, table, origin, pos, record) {
                                // The batch is full: this slot goes first
                                // next time.
                                break;
                            }
                        }
                        SlotRead::Bad(why) => {
                            region.header().stats.decode_errors.add(1);
                            self.lines.writer_line(
                                Level::Error,
                                &format!("skipped a shared-lane record: {why}"),
                            );
                        }
                    }
                    pos += 1;
                    n += 1;
                }
                TailState::Pending(_) => {
                    use ul_ring::drain_core::{pending_claim, PendingClaim};
                    // Timed from when any writer first saw it (kept in the
                    // region); only first in line, as abandoning moves the
                    // shared tail.
                    match pending_claim(
                        region,
                        pos,
                        pos == start,
                        self.claim_timeout,
                        &mut self.quarantine,
                    ) {
                        PendingClaim::Waiting => {}
                        PendingClaim::Abandoned | PendingClaim::Quarantined => {
                            self.lines.writer_line(
                                Level::Warn,
                                &format!(
                                    "abandoned a shared-lane claim at position {pos} not committed within {:?} (its producer died or stalled)",
                                    self.claim_timeout
                                ),
                            );
                        }
                    }
                    break;
                }
            }
        }
        self.scratch = scratch;
        if pos != start {
            self.shared_lane_release = Some((start, pos));
        }
    }

    /// Frees quarantined shared-lane slots whose claimants died; forgets
    /// those the claimants handed back.
    pub(super) fn check_quarantine(&mut self) {
        for (pos, pid) in self.quarantine.sweep(self.region) {
            self.lines.writer_line(
                Level::Warn,
                &format!(
                    "freed the shared-lane slot of position {pos}: its claimant, pid {pid}, died inside its copy"
                ),
            );
        }
    }
}
