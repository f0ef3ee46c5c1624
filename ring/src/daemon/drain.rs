//! One drain pass of a channel: copy messages out of every lane and the
//! shared lane, hand them over, and only then move the tails.

use std::marker::PhantomData;
use std::time::Duration;

use crate::channel::{padded_len, record_len, MESSAGE_FRAME_LEN};
use crate::lane::Consumer;
use crate::quarantine::Quarantine;
use crate::record::RecordKind;
use crate::region::Region;
use crate::shared_lane::{SlotRead, TailState};

/// Where every lane's head was at some instant: what a stopping daemon
/// drains to.
pub(super) type Targets = crate::drain_core::Heads;

/// The drain state of one daemon over one channel.
pub(super) struct Drainer<'r, T> {
    region: &'r Region,
    batch_size: usize,
    claim_timeout: Duration,
    scratch: Vec<u8>,
    slot: Vec<u8>,
    /// Lanes whose tails move once the batch is processed: (lane, new tail).
    commits: Vec<(usize, u64)>,
    /// Shared-lane positions read in this pass: [from, to).
    shared: Option<(u64, u64)>,
    /// Shared-lane slots held out of use because their claimants stalled
    /// inside their copy.
    quarantine: Quarantine,
    /// Problems found in the last pass, for the daemon's `on_bad_input`.
    pub(super) problems: Vec<String>,
    _message: PhantomData<fn() -> T>,
}

impl<'r, T: bytemuck::Pod> Drainer<'r, T> {
    pub(super) fn new(region: &'r Region, batch_size: usize, claim_timeout: Duration) -> Self {
        let lanes = region.geometry().sizes.lanes as usize;
        // A previous daemon may have died between a shared-lane slot and
        // the tail (inside a release or an abandon): finish that step, or
        // the lane waits for ever on a slot that has left the tail's
        // position. Before the quarantine list is read, which then includes
        // a slot it quarantined there.
        region.shared_lane().take_over();
        Self {
            region,
            batch_size: batch_size.max(1),
            claim_timeout,
            scratch: Vec::with_capacity(crate::lane::COPY_CHUNK),
            slot: Vec::new(),
            commits: Vec::with_capacity(lanes),
            shared: None,
            // Slots a previous daemon quarantined are ours to watch now.
            quarantine: Quarantine::of_lane(region),
            problems: Vec::new(),
            _message: PhantomData,
        }
    }

    fn lanes(&self) -> usize {
        self.region.geometry().sizes.lanes as usize
    }

    /// Copies up to `batch_size` messages from each lane, then from the
    /// shared lane, into `batch` (cleared first). Returns true if some tail
    /// must move (messages taken, or bad bytes skipped); then call
    /// [`commit`](Self::commit) once the messages are processed.
    pub(super) fn collect(&mut self, batch: &mut Vec<T>) -> bool {
        batch.clear();
        self.commits.clear();
        self.problems.clear();
        self.shared = None;
        let size = core::mem::size_of::<T>();
        let want_len = record_len(size);
        let stats = &self.region.header().stats;
        for i in 0..self.lanes() {
            let ctrl = self.region.lane_control(i);
            let head = ctrl.head();
            let tail = ctrl.tail();
            if head == tail {
                continue;
            }
            // SAFETY: the daemon holds the channel's flock, so this is the
            // lane's only consumer; lane capacities are validated powers of
            // two of at least 4 KiB.
            let consumer = unsafe { Consumer::attach(ctrl, self.region.lane_bytes(i)) };
            let (mut bad, mut first_bad) = (0u64, None);
            let taken = consumer.read_batch(
                tail,
                head,
                self.batch_size,
                &mut self.scratch,
                |pos, rec| {
                    if rec.len() == want_len && rec[4] == RecordKind::Message as u8 {
                        let body = &rec[MESSAGE_FRAME_LEN..MESSAGE_FRAME_LEN + size];
                        batch.push(bytemuck::pod_read_unaligned(body));
                    } else {
                        bad += 1;
                        first_bad.get_or_insert((pos, rec.len(), rec[4]));
                    }
                },
            );
            let pid = self.region.lane_slot(i).owner().load().pid();
            if let Some((pos, len, kind)) = first_bad {
                stats.decode_errors.add(bad);
                self.problems.push(format!(
                    "lane {i} (pid {pid}): skipped {bad} record(s) that are not {want_len}-byte messages, the first at position {pos} ({len} bytes, kind {kind})"
                ));
            }
            if let Some(c) = &taken.corrupt {
                stats.corrupt_lanes.add(1);
                self.problems.push(format!(
                    "lane {i} (pid {pid}) holds bytes that are not records at position {}: {}; skipped {} bytes",
                    c.pos, c.reason, c.skipped
                ));
            }
            if taken.new_tail != tail {
                self.commits.push((i, taken.new_tail));
            }
        }
        self.collect_shared(batch);
        !self.commits.is_empty() || self.shared.is_some()
    }

    /// Frees quarantined shared-lane slots whose claimants died; forgets
    /// those the claimants handed back.
    fn check_quarantine(&mut self) {
        for (pos, pid) in self.quarantine.sweep(self.region) {
            self.problems.push(format!(
                "freed the shared-lane slot of position {pos}: its sender, pid {pid}, died inside its copy"
            ));
        }
    }

    fn collect_shared(&mut self, batch: &mut Vec<T>) {
        if !self.quarantine.is_empty() {
            self.check_quarantine();
        }
        let shared_lane = self.region.shared_lane();
        let size = core::mem::size_of::<T>();
        let stats = &self.region.header().stats;
        let start = shared_lane.control().tail();
        let mut pos = start;
        while pos.wrapping_sub(start) < self.batch_size as u64 {
            match shared_lane.tail_state(pos) {
                TailState::Empty => break,
                TailState::Ready(_) => {
                    match shared_lane.read_slot(pos, &mut self.slot) {
                        SlotRead::Record { record, .. } if record.len() == padded_len(size) => {
                            batch.push(bytemuck::pod_read_unaligned(&record[..size]));
                        }
                        SlotRead::Record { pid, record, .. } => {
                            stats.decode_errors.add(1);
                            self.problems.push(format!(
                                "shared lane: skipped a {}-byte record from pid {pid} at position {pos}; messages are {} bytes",
                                record.len(),
                                padded_len(size)
                            ));
                        }
                        SlotRead::Bad(why) => {
                            stats.decode_errors.add(1);
                            self.problems
                                .push(format!("skipped a shared-lane record: {why}"));
                        }
                    }
                    pos = pos.wrapping_add(1);
                }
                TailState::Pending(_) => {
                    self.check_stuck_claim(pos, pos == start);
                    break;
                }
            }
        }
        if pos != start {
            self.shared = Some((start, pos));
        }
    }

    /// A claim at `pos` is not committed: after the claim timeout its
    /// sender is taken for dead and the claim abandoned (twice the timeout
    /// if it is inside its copy), so one dead sender never stalls the lane
    /// (see [`crate::drain_core::pending_claim`]). Only when nothing before
    /// it is pending release (`first`): abandoning moves the shared tail.
    fn check_stuck_claim(&mut self, pos: u64, first: bool) {
        use crate::drain_core::{pending_claim, PendingClaim};
        match pending_claim(
            self.region,
            pos,
            first,
            self.claim_timeout,
            &mut self.quarantine,
        ) {
            PendingClaim::Waiting => {}
            PendingClaim::Abandoned | PendingClaim::Quarantined => {
                self.problems.push(format!(
                    "abandoned a shared-lane claim at position {pos} not committed within {:?} (its sender died or stalled)",
                    self.claim_timeout
                ))
            }
        }
    }

    /// Moves the tails past everything the last [`collect`](Self::collect)
    /// took: the messages are processed, the space is the senders' again.
    pub(super) fn commit(&mut self) {
        for &(i, new_tail) in &self.commits {
            // SAFETY: as in `collect`: we are the lane's only consumer.
            let consumer =
                unsafe { Consumer::attach(self.region.lane_control(i), self.region.lane_bytes(i)) };
            consumer.commit(new_tail);
        }
        if let Some((from, to)) = self.shared.take() {
            let shared_lane = self.region.shared_lane();
            let mut pos = from;
            while pos != to {
                shared_lane.release(pos);
                pos = pos.wrapping_add(1);
            }
        }
        self.commits.clear();
    }

    /// True if some lane holds unread records or a shared-lane message is
    /// committed. A claim still being written is not work: its sender wakes
    /// the daemon when it commits.
    pub(super) fn has_work(&self) -> bool {
        (0..self.lanes()).any(|i| {
            let c = self.region.lane_control(i);
            c.head() != c.tail()
        }) || {
            let shared_lane = self.region.shared_lane();
            matches!(
                shared_lane.tail_state(shared_lane.control().tail()),
                TailState::Ready(_)
            )
        }
    }

    /// True while a shared-lane claim is pending (the loop then wakes up
    /// regularly to time it out).
    pub(super) fn claim_pending(&self) -> bool {
        crate::drain_core::claim_pending(self.region)
    }

    /// Every lane's head now.
    pub(super) fn targets(&self) -> Targets {
        Targets::of(self.region)
    }

    /// True once every tail reached (or, for a skipped corrupt lane,
    /// passed) the heads in `t`.
    pub(super) fn reached(&self, t: &Targets) -> bool {
        t.reached_in(self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Sizes;
    use crate::region::RegionOptions;

    /// A region of its own in /dev/shm with a two-slot shared lane,
    /// removed on drop.
    struct Shm(std::path::PathBuf, Region);

    impl Drop for Shm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn region(tag: &str) -> Shm {
        let path = std::path::PathBuf::from(format!(
            "/dev/shm/ul-drain-test-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let opts = RegionOptions {
            sizes: Sizes {
                lanes: 1,
                lane_capacity: 4096,
                shared_lane_slots: 2,
                shared_lane_slot_len: 64,
                callsite_len: 4096,
            },
            ..RegionOptions::default()
        };
        let r = Region::open(&path, &opts).expect("open a test region");
        Shm(path, r)
    }

    /// Sends the u64 message `v` through the shared lane as a sender does.
    fn send(region: &Region, v: u64) {
        region
            .shared_lane()
            .try_push(std::process::id(), 1, 8, |enc| enc.put_u64(v))
            .expect("room in the shared lane");
    }

    /// The previous daemon died between the two stores of a release, or of
    /// an abandon, of shared-lane position 0: slot 0 free for its next lap,
    /// the tail still 0. Senders went on (position 2 is slot 0's next lap).
    /// The next daemon must take the lane over and deliver 11 and 12, not
    /// wait for ever on position 0 as a claim that never commits.
    #[test]
    fn a_daemon_takes_over_a_step_its_predecessor_died_inside() {
        for abandoned in [false, true] {
            let shm = region(if abandoned { "abandon" } else { "release" });
            let r = &shm.1;
            let shared_lane = r.shared_lane();
            if abandoned {
                // A sender claimed 0 and died; the daemon abandoned it.
                shared_lane
                    .control()
                    .head_raw()
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                assert!(shared_lane.abandon(0));
            } else {
                // The daemon processed 10 and released it.
                send(r, 10);
                shared_lane.release(0);
            }
            shared_lane
                .control()
                .tail_raw()
                .store(0, std::sync::atomic::Ordering::Relaxed);
            send(r, 11);
            send(r, 12);

            let mut d = Drainer::<u64>::new(r, 16, Duration::from_secs(30));
            let mut batch = Vec::new();
            let took = d.collect(&mut batch);
            assert_eq!(
                batch,
                [11, 12],
                "after a daemon died inside {}",
                if abandoned { "an abandon" } else { "a release" }
            );
            assert!(took);
            d.commit();
            assert_eq!(shared_lane.control().tail(), 3);
            assert!(!d.collect(&mut batch));
            assert!(batch.is_empty());
        }
    }
}
