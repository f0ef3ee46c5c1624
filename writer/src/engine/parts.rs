//! Lane parts and prefetch: cutting one lane's long run into parts that
//! the format helpers take, and handing them the next batch while the
//! engine writes this one.

use super::*;

impl Engine {
    /// Collects the next `n` parts from the helpers and drops them.
    pub(super) fn discard_parts(&mut self, n: usize) {
        let mut helper = 0;
        for _ in 0..n {
            if let Some(part) = self.helpers.finish(helper) {
                self.helpers.give_back(helper, part.bufs);
                helper += 1;
            }
        }
    }

    /// Hands the helpers the records of lane `i` that follow `from` (its
    /// tail once this batch is on disk), for the next pass, so they format
    /// while this thread writes. This thread's own part of the next pass
    /// comes first and is kept short (`max / (2 x threads - 1)` records;
    /// each helper's is twice that), since this thread also writes. `max`
    /// is cut to what an empty batch has room for, by recent line sizes.
    /// True if parts were handed out.
    pub(super) fn prefetch(&mut self, i: usize, origin: Origin, from: u64, max: usize) -> bool {
        if self.helpers.is_empty() || self.prefetch.is_some() {
            return false;
        }
        let max = max.min(self.batch_bytes / 4 * 3 / self.line_bytes.max(1));
        let head = self.region.lane_control(i).head();
        let threads = self.helpers.len() + 1;
        let own = max / (2 * threads - 1);
        if own < MIN_PART_RECORDS {
            return false;
        }
        let total = own + 2 * own * self.helpers.len();
        let started = self.start_parts(i, origin, (from, head), (own, 2 * own, total));
        if started == 0 {
            return false;
        }
        self.prefetch = Some(Prefetch {
            region: self.region,
            lane: i,
            starts: self.split[1..=started].to_vec(),
            end: self.split[started + 1],
        });
        true
    }

    /// Cuts lane `i`'s `[from, head)` at record boundaries, the first cut
    /// after `first` records and then every `each`, and hands the parts
    /// after the first to the helpers (one each, in order). A part gets at
    /// most `each` records, the last one what is left of `total`; a part
    /// whose walk found fewer than `each` records ends at `head` (or at
    /// bytes that are not records), so that bound does not bind there.
    ///
    /// Leaves `self.split` as `[from, start of each started part..., end
    /// of the last one]` and returns how many parts were started (0: none,
    /// and `self.split` is not meaningful).
    pub(super) fn start_parts(
        &mut self,
        i: usize,
        origin: Origin,
        (from, head): (u64, u64),
        (first, each, total): (usize, usize, usize),
    ) -> usize {
        let region = self.region;
        // SAFETY: as in `read_lane`; this only reads frames below `head`.
        let consumer = unsafe { Consumer::attach(region.lane_control(i), region.lane_bytes(i)) };
        self.split.clear();
        self.split.push(from);
        let mut n = first;
        while self.split.len() <= self.helpers.len() {
            let at = *self.split.last().expect("never empty");
            match consumer.split_after(at, head, n) {
                Some(p) => self.split.push(p),
                None => break,
            }
            n = each;
        }
        let parts = self.split.len() - 1;
        self.split.push(head);
        let calib = self.lines.calib;
        let mut started = 0;
        for k in 1..=parts {
            let part_max = if k == parts {
                total - first - each * (parts - 1)
            } else {
                each
            };
            let range = (self.split[k], self.split[k + 1]);
            if !self
                .helpers
                .start(k - 1, region, i, origin, range, part_max, calib)
            {
                break;
            }
            started += 1;
        }
        self.split.truncate(started + 2);
        started
    }

    /// Reports what reading one part of lane `i` found wrong; true if the
    /// part was read to its `end`, so the next part follows it.
    pub(super) fn lane_part_done(
        &mut self,
        i: usize,
        origin: Origin,
        batch: &Batch,
        end: u64,
    ) -> bool {
        if let Some(c) = &batch.corrupt {
            self.region.header().stats.corrupt_lanes.add(1);
            let msg = format!(
                "lane {i} (pid {}) holds bytes that are not records at position {}: {}; skipped {} bytes",
                origin.pid, c.pos, c.reason, c.skipped
            );
            crate::diag!("{msg}");
            self.lines.writer_line(Level::Error, &msg);
        }
        batch.new_tail == end
    }
}
