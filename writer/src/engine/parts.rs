//! Lane parts and prefetch: cutting one lane's long run into parts that
//! the format helpers take, and handing them the next batch while the
//! engine writes this one.

use super::*;
use crate::format_threads::{Part, Run};

impl Engine {
    /// Appends a helper's finished part to the batch if the batch has room
    /// for it (its lines, and with the binary log the call sites it
    /// names). False if not: the batch is then full, and the part, counted
    /// in [`Totals::parts_refused`], is read again next pass.
    pub(super) fn append_helper_part(&mut self, table: &CallsiteTable<'_>, part: &Part) -> bool {
        let appended = self.lines.room_for(&part.bufs)
            && self.lines.append_part(
                self.region,
                table,
                &part.bufs,
                part.records,
                &part.defs,
                part.calib,
            );
        self.totals.parts_refused += u64::from(!appended);
        appended
    }

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
            // The sinks skip exactly these bytes (they may read further
            // than this pass's head and would judge a longer stretch).
            self.sinks
                .note_skipped(self.region, i, c.pos, c.pos.wrapping_add(c.skipped));
        }
        batch.new_tail == end
    }
}

/// A run of the pass planned for the format threads (see
/// [`Engine::cross_lanes`]).
pub(super) struct Planned {
    run: Run,
    /// The lane's head when the plan looked at it.
    lane_head: u64,
    /// The lane's `dropped` (reported once the batch is on disk).
    dropped: u64,
    /// The lane's first run in the pass (its drop report goes before it).
    first: bool,
}

/// How a planned pass ended (see [`Engine::cross_lanes`]).
pub(super) enum PlanEnd {
    /// The plan covered this many lanes of the pass's order (the shared
    /// lane's place counted); the pass goes on with the rest.
    Covered(usize),
    /// The batch is as full as planned (or full): the pass ends, and the
    /// next starts at `next_lane`.
    Stopped,
}

impl Engine {
    /// Many lanes, short runs: plans the pass's runs in its lane order
    /// (from `start`, the shared lane's place passed over only while it is
    /// empty), up to `batch_size` records per lane and about what the
    /// batch has room for in all, and cuts them into consecutive groups
    /// of about equal records, one per format thread (a lane's run may be
    /// cut between two). The helpers format the later groups while this
    /// thread formats the first; their parts are appended in order, so the
    /// files are what one thread writes. A part that stopped short (or
    /// held bytes that are not records), or whose helper died, is
    /// formatted by this thread instead; one the batch has no room for
    /// ends the pass there.
    ///
    /// Sets `busiest` to the planned lane with the most left over (the one
    /// the pass stopped in, if any), for a prefetch.
    ///
    /// `None` (nothing done) unless at least two lanes hold records and
    /// every format thread's group would hold [`MIN_PART_RECORDS`]: then
    /// the pass reads lane by lane, and a long run alone is split by
    /// [`read_lane`](Self::read_lane).
    pub(super) fn cross_lanes(
        &mut self,
        table: &CallsiteTable<'_>,
        start: usize,
        batch_size: usize,
        busiest: &mut Option<(u64, usize, Origin, u64)>,
    ) -> Option<PlanEnd> {
        if self.helpers.is_empty() || self.prefetch.is_some() || !self.retiring.is_empty() {
            return None;
        }
        let region = self.region;
        let lanes = region.geometry().sizes.lanes as usize;
        // What the batch has room for, by recent line sizes: the parts'
        // lines are appended whole (room is shared out among the outputs'
        // buffers, `make_room`), so count on 7/8 of it.
        let left = self.batch_bytes.saturating_sub(self.lines.len());
        let cap = (left / 8 * 7 / self.line_bytes.max(1)).max(1);
        self.plan.clear();
        let mut total = 0;
        let mut covered = 0;
        let mut with_records = 0;
        // Where the next pass starts if the plan fills the batch.
        let mut resume = None;
        for i in (start..=lanes).chain(0..start) {
            if i == lanes {
                let shared = region.shared_lane();
                let c = shared.control();
                if c.dropped() != c.dropped_reported()
                    || !matches!(shared.tail_state(c.tail()), TailState::Empty)
                {
                    break;
                }
                covered += 1;
                continue;
            }
            let ctrl = region.lane_control(i);
            let head = ctrl.head();
            let tail = ctrl.files();
            let dropped = ctrl.dropped();
            let reported = ctrl.dropped_reported();
            if head == tail && dropped == reported {
                covered += 1;
                continue;
            }
            let limit = batch_size.min(cap - total);
            // SAFETY: as in `read_lane`; this only reads frames below `head`.
            let consumer = unsafe { Consumer::attach(ctrl, region.lane_bytes(i)) };
            let Some((to, n)) = consumer.count_records(tail, head, limit) else {
                // Bytes that are not records: the pass reads this lane
                // itself, and reports them.
                break;
            };
            let slot = region.lane_slot(i);
            let origin = Origin {
                lane: Some(i),
                pid: slot.owner().load().pid(),
                tid: slot.tid(),
            };
            let note = (dropped != reported).then(|| {
                let since = since_text(&mut self.lines.ts, self.last_drop_report[i]);
                format!(
                    "{} dropped by pid {} (lane {i}, thread {}) since {since}",
                    drops::Records(dropped.wrapping_sub(reported)),
                    origin.pid,
                    origin.tid
                )
            });
            self.plan.push(Planned {
                run: Run {
                    lane: i,
                    origin,
                    from: tail,
                    to,
                    max_records: n,
                    note,
                },
                lane_head: head,
                dropped,
                first: true,
            });
            total += n;
            covered += 1;
            with_records += usize::from(n > 0);
            if total == cap {
                resume = Some(if to == head { i + 1 } else { i });
                break;
            }
        }
        let groups = (self.helpers.len() + 1).min(total / MIN_PART_RECORDS);
        if with_records < 2 || groups < 2 {
            self.plan.clear();
            return None;
        }
        // Cut into `groups` of about `total / groups` records.
        let per = total / groups;
        let mut starts = vec![0usize];
        let mut k = 0;
        let mut taken = 0;
        while k < self.plan.len() && starts.len() < groups {
            let n = self.plan[k].run.max_records;
            if taken + n < per {
                taken += n;
                k += 1;
                continue;
            }
            let need = per - taken;
            let p = &self.plan[k].run;
            // SAFETY: as above.
            let consumer =
                unsafe { Consumer::attach(region.lane_control(p.lane), region.lane_bytes(p.lane)) };
            let cut = (need < n)
                .then(|| consumer.split_after(p.from, p.to, need))
                .flatten();
            if let Some(at) = cut {
                // The run's first `need` records end this group; the rest
                // start the next.
                let mut rest = self.plan[k].run.clone();
                rest.from = at;
                rest.max_records = n - need;
                rest.note = None;
                let p = &mut self.plan[k];
                p.run.to = at;
                p.run.max_records = need;
                let later = Planned {
                    run: rest,
                    lane_head: p.lane_head,
                    dropped: p.dropped,
                    first: false,
                };
                self.plan.insert(k + 1, later);
            }
            k += 1;
            starts.push(k);
            taken = 0;
        }
        starts.push(self.plan.len());
        starts.dedup();
        // Hand the later groups to the helpers, in order.
        let calib = self.lines.calib;
        let mut assigned = Vec::with_capacity(starts.len());
        let mut helper = 0;
        for g in 1..starts.len() - 1 {
            let runs: Vec<Run> = self.plan[starts[g]..starts[g + 1]]
                .iter()
                .map(|p| p.run.clone())
                .collect();
            let ok =
                helper < self.helpers.len() && self.helpers.start_runs(helper, region, runs, calib);
            if ok {
                helper += 1;
            }
            assigned.push(ok);
        }
        // The first group here, then each part in order.
        let mut stopped = None;
        for k in starts[0]..starts[1] {
            if let Err(lane) = self.take_planned(table, k) {
                stopped = Some(lane);
                break;
            }
        }
        let mut helper = 0;
        for (g, ok) in assigned.into_iter().enumerate() {
            let group = starts[g + 1]..starts[g + 2];
            let part = if ok {
                match self.helpers.finish(helper) {
                    Some(part) => {
                        helper += 1;
                        Some(part)
                    }
                    // The helper died (and was removed).
                    None => None,
                }
            } else {
                None
            };
            if stopped.is_some() {
                if let Some(part) = part {
                    self.helpers.give_back(helper - 1, part.bufs);
                }
                continue;
            }
            let mut here = true;
            if let Some(part) = part {
                if self.lines.alloc_failed.is_none() {
                    self.lines.alloc_failed = part.alloc_failed;
                }
                if part.whole {
                    here = false;
                    if self.append_helper_part(table, &part) {
                        self.totals.helper_parts += 1;
                        for k in group.clone() {
                            let to = self.plan[k].run.to;
                            let n = self.plan[k].run.max_records;
                            let done = Batch {
                                new_tail: to,
                                records: n,
                                corrupt: None,
                            };
                            self.commit_planned(k, &done);
                        }
                    } else {
                        // No room (`full` is set): the part is read again
                        // next pass.
                        stopped = Some(self.plan[group.start].run.lane);
                    }
                }
                self.helpers.give_back(helper - 1, part.bufs);
            }
            if here {
                // Stopped short, or no helper: formatted here.
                for k in group {
                    if let Err(lane) = self.take_planned(table, k) {
                        stopped = Some(lane);
                        break;
                    }
                }
            }
        }
        let end = stopped.or(resume);
        // The planned lanes' pending tails (the plan came first in the
        // pass, so they are all of them).
        for p in &self.pending {
            let Some(k) = self.plan.iter().position(|q| q.run.lane == p.lane) else {
                continue;
            };
            let left = self.plan[k].lane_head.wrapping_sub(p.new_tail);
            let first = busiest.is_none_or(|(b, ..)| left > b);
            if left > 0 && (end == Some(p.lane) || (first && end.is_none())) {
                *busiest = Some((left, p.lane, self.plan[k].run.origin, p.new_tail));
            }
        }
        if let Some(lane) = end {
            self.next_lane = lane;
            return Some(PlanEnd::Stopped);
        }
        Some(PlanEnd::Covered(covered))
    }

    /// Formats planned run `k` on this thread; `Err(lane)` if the batch
    /// filled before its end (the next pass starts at that lane).
    fn take_planned(&mut self, table: &CallsiteTable<'_>, k: usize) -> Result<(), usize> {
        let region = self.region;
        let p = &self.plan[k];
        let (lane, origin, from, to, max) = (
            p.run.lane,
            p.run.origin,
            p.run.from,
            p.run.to,
            p.run.max_records,
        );
        if self.lines.full {
            return Err(lane);
        }
        if let Some(note) = &self.plan[k].run.note {
            self.lines.writer_line(Level::Warn, note);
        }
        // SAFETY: as in `read_lane`: we are the lane's only consumer, and
        // `[from, to)` lies below the head observed.
        let consumer =
            unsafe { Consumer::attach(region.lane_control(lane), region.lane_bytes(lane)) };
        let mut scratch = std::mem::take(&mut self.scratch);
        let lines = &mut self.lines;
        let batch = read_part(&consumer, (from, to), max, &mut scratch, |pos, rec| {
            lines.record(region, table, origin, pos, rec)
        });
        self.scratch = scratch;
        if self.commit_planned(k, &batch) && !self.lines.full {
            Ok(())
        } else {
            Err(lane)
        }
    }

    /// Counts planned run `k` into the batch, read as `batch` says: its
    /// lane's tail moves to `batch.new_tail` once the batch is on disk,
    /// and its drop report (if any) is done. True if it was read whole.
    fn commit_planned(&mut self, k: usize, batch: &Batch) -> bool {
        let p = &self.plan[k];
        let (lane, origin, to, dropped, first) =
            (p.run.lane, p.run.origin, p.run.to, p.dropped, p.first);
        if first && p.run.note.is_some() {
            self.last_drop_report[lane] = ul_ring::clock::wall_ns();
        }
        let whole = self.lane_part_done(lane, origin, batch, to);
        match self.pending.last_mut() {
            Some(last) if !first && last.lane == lane => last.new_tail = batch.new_tail,
            _ => self.pending.push(PendingLane {
                lane,
                new_tail: batch.new_tail,
                dropped,
            }),
        }
        whole
    }
}
