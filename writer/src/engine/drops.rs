//! The drop table: records that threads on the shared lane dropped,
//! reported with their pid and thread (see [`ul_ring::layout::DropSlot`]),
//! under the batch's write-ahead intent like a lane's drops.

use ul_ring::layout::DROP_SLOTS;

use super::*;

impl Engine {
    /// Adds a line for each drop-table entry with drops not yet reported,
    /// and queues the count that line reports (made the reported count
    /// once the batch is on disk).
    pub(super) fn report_table_drops(&mut self) {
        for k in 0..DROP_SLOTS {
            let slot = self.region.drop_slot(k);
            let dropped = slot.dropped();
            let reported = slot.dropped_reported();
            if dropped == reported {
                continue;
            }
            let pid = slot.owner().load().pid();
            let tid = slot.tid();
            let since = since_text(&mut self.lines.ts, self.table_drop_report[k]);
            self.lines.writer_line(
                Level::Warn,
                &format!(
                    "{} dropped in the shared lane by pid {pid} (thread {tid}) since {since}",
                    Records(dropped.wrapping_sub(reported))
                ),
            );
            self.table_drop_report[k] = ul_ring::clock::wall_ns();
            self.table_drops.push((k, dropped));
        }
    }

    /// Before the intent: the counts this batch reports, for recovery.
    pub(super) fn record_table_drops(&self, batch: u64) {
        for &(k, dropped) in &self.table_drops {
            self.region.drop_slot(k).stage(batch, dropped);
        }
    }

    /// Once the batch is on disk: its counts are reported.
    pub(super) fn commit_table_drops(&self) {
        let stats = &self.region.header().stats;
        for &(k, dropped) in &self.table_drops {
            let before = self.region.drop_slot(k).report_dropped(dropped);
            stats.drops_reported.add(dropped.wrapping_sub(before));
        }
    }
}

/// After a writer died with batch `batch` written: the counts it reported.
pub(super) fn recover_table_drops(region: &Region, batch: u64) {
    for k in 0..DROP_SLOTS {
        let slot = region.drop_slot(k);
        if let Some(dropped) = slot.staged(batch) {
            let before = slot.report_dropped(dropped);
            // The batch reported them in the log: count them.
            region
                .header()
                .stats
                .drops_reported
                .add(dropped.wrapping_sub(before));
        }
    }
}

/// A count of records in a message: `1 record`, `2 records`.
pub(super) struct Records(pub(super) u64);

impl std::fmt::Display for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            1 => f.write_str("1 record"),
            n => write!(f, "{n} records"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Records;

    #[test]
    fn one_record_is_singular() {
        assert_eq!(Records(1).to_string(), "1 record");
        assert_eq!(Records(0).to_string(), "0 records");
        assert_eq!(Records(7).to_string(), "7 records");
    }
}
