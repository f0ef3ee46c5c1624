//! The drain loop: take records from every lane in batches, format them,
//! write them with one write per file per batch, then move the cursors.
//!
//! Cursors live in shared memory and move only after a batch is on disk,
//! under a write-ahead intent (see [`ul_ring::layout::intent_state`]), so a
//! writer killed at any instant restarts where it stopped, and writes
//! nothing twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ul_ring::callsite::CallsiteTable;
use ul_ring::clock::Calibration;
use ul_ring::lane::{Batch, Consumer};
use ul_ring::layout::intent_state;
use ul_ring::mpsc::{SlotRead, TailState};
use ul_ring::ownership::{LaneOwner, OwnerWord, Verdict};
use ul_ring::quarantine::Quarantine;
use ul_ring::record::Level;
use ul_ring::region::{PathStatus, Region, RegionError, RegionOptions};

use crate::format::TimestampFormatter;
use crate::helpers::{Helpers, MIN_PART_RECORDS};
use crate::limits::Throttle;
use crate::lines::{LineMaker, Origin};
use crate::names::Names;
use crate::outputs::{Format, OutputError, Outputs, COUNT};
use crate::rotate::{Rotation, Rotator};

/// Longest wait between retries of a failing write.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often lanes of dead owners are looked for (and the region file's
/// size and identity checked).
const RECLAIM_SCAN: Duration = Duration::from_millis(200);

/// How long a replaced region must stay empty, with every lane free, before
/// the writer stops draining it.
const RETIRE_QUIET: Duration = Duration::from_secs(1);

/// Per-region state of a region that was replaced at its path and is being
/// drained to its end. The served region's state lives in the engine's own
/// fields; a retiring region's is swapped in for its pass.
struct Served {
    region: &'static Region,
    names: Names,
    calib: Calibration,
    calib_at: Instant,
    batch_no: u64,
    stuck_claim: Option<(u64, Instant)>,
    quarantine: Quarantine,
    last_scan: Instant,
    last_drop_report: Vec<u64>,
    /// Since when the region has been empty with every lane free.
    quiet_since: Option<Instant>,
}

impl Served {
    fn new(region: &'static Region) -> Self {
        let lanes = region.geometry().sizes.lanes as usize;
        take_over_shared_lane(region);
        Served {
            region,
            names: Names::default(),
            calib: calibrate(region),
            calib_at: Instant::now(),
            batch_no: region.header().writer.intent.load(Ordering::Acquire),
            stuck_claim: None,
            quarantine: Quarantine::of_lane(&region.mpsc()),
            last_scan: Instant::now() - Duration::from_secs(3600),
            last_drop_report: vec![0; lanes + 1],
            quiet_since: None,
        }
    }
}

/// Finishes a shared-lane step (release, abandon, quarantine) a previous
/// writer of `region` died inside, before the quarantine list is read (see
/// [`ul_ring::mpsc::Mpsc::take_over`]); without it the shared lane would
/// wait for ever on a slot that has left the tail's position.
fn take_over_shared_lane(region: &Region) {
    if let Some(pos) = region.mpsc().take_over() {
        eprintln!(
            "ul-writer: moved the shared tail past position {pos}, which a previous writer had freed or given up on before it died"
        );
    }
}

/// What a flush request waits for: the served region's heads, and each
/// retiring region's heads, when the request was seen.
type FlushTarget = (u64, Heads, Vec<(&'static Region, Heads)>);

/// Every lane's head and the shared lane's head of one region.
type Heads = (Vec<u64>, u64);

/// Parts of a lane handed to the helpers one pass ahead (see
/// [`Engine::prefetch`]): helper `k` formats `[starts[k], starts[k + 1])`,
/// the last one up to `end`.
struct Prefetch {
    region: &'static Region,
    lane: usize,
    starts: Vec<u64>,
    end: u64,
}

/// A lane whose tail moves when the current batch is on disk.
struct PendingLane {
    lane: usize,
    new_tail: u64,
    dropped: u64,
}

/// Why [`Engine::run`] stopped before a clean shutdown.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Writing failed while shutting down (the records stay in the region).
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The region file was truncated (or can no longer be checked): its
    /// pages cannot be read. Batches written before are on disk.
    #[error(
        "region broken: {0}; batches already written are on disk, the rest of the region is lost"
    )]
    RegionBroken(RegionError),
}

/// Signals the loop reacts to.
#[derive(Clone, Default)]
pub struct Signals {
    /// SIGTERM or SIGINT: drain everything, then exit.
    pub terminate: Arc<AtomicBool>,
    /// SIGHUP: reopen the output files.
    pub reopen: Arc<AtomicBool>,
}

/// Counters for the closing summary and the tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    /// Records written.
    pub records: u64,
    /// Batches written.
    pub batches: u64,
    /// Times the loop slept on the futex.
    pub sleeps: u64,
    /// Lane parts formatted by helper threads, appended to a batch.
    pub helper_parts: u64,
    /// Of those, parts handed out a pass ahead.
    pub prefetched_parts: u64,
    /// Helper threads that died (their parts were formatted again by the
    /// engine).
    pub helpers_lost: u64,
}

/// The writer: one region, one set of outputs.
pub struct Engine {
    region: &'static Region,
    out: Outputs,
    format: Format,
    process_timeout: Duration,
    /// The batch's lines, and the state that formats them.
    lines: LineMaker,
    /// Threads that format parts of long runs (see [`crate::helpers`]).
    helpers: Helpers,
    /// Where the current lane's run is split among the format threads.
    split: Vec<u64>,
    /// Helper parts handed out for the next pass.
    prefetch: Option<Prefetch>,
    calib_at: Instant,
    scratch: Vec<u8>,
    pending: Vec<PendingLane>,
    mpsc_release: Option<(u64, u64)>,
    mpsc_dropped: Option<u64>,
    batch_no: u64,
    stuck_claim: Option<(u64, Instant)>,
    /// Quarantined shared-lane slots.
    quarantine: Quarantine,
    last_scan: Instant,
    /// Lanes to free once the current batch (with their marker lines) is on
    /// disk: (lane, owner word seen when it was found free-able).
    to_free: Vec<(usize, LaneOwner)>,
    last_drop_report: Vec<u64>,
    write_failing: Option<(Instant, Duration, String)>,
    last_region_check: Instant,
    /// Options to open the region at its path again when it is replaced
    /// (None: do not follow).
    follow: Option<RegionOptions>,
    /// Replaced regions still being drained.
    retiring: Vec<Served>,
    rotation: Option<Rotator>,
    throttle: Option<Throttle>,
    /// Running totals.
    pub totals: Totals,
}

impl Engine {
    /// Takes over `region` (the caller holds its writer lock) and finishes
    /// whatever batch a previous writer left in flight.
    pub fn new(
        region: Region,
        out: Outputs,
        format: Format,
        process_timeout: Duration,
    ) -> Result<Self, OutputError> {
        // The engine serves one region for the life of the process; a
        // 'static borrow lets the drain loop hold views of it while it
        // updates its own state.
        let region: &'static Region = Box::leak(Box::new(region));
        crate::region_guard::watch(region);
        let lanes = region.geometry().sizes.lanes as usize;
        let h = region.header();
        let batch_no = h.writer.intent.load(Ordering::Acquire);
        let calib = calibrate(region);
        take_over_shared_lane(region);
        let mut e = Engine {
            region,
            out,
            format,
            process_timeout,
            lines: LineMaker::new(format, calib),
            helpers: Helpers::default(),
            split: Vec::new(),
            prefetch: None,
            calib_at: Instant::now(),
            scratch: Vec::with_capacity(ul_ring::lane::COPY_CHUNK),
            pending: Vec::with_capacity(lanes),
            mpsc_release: None,
            mpsc_dropped: None,
            batch_no,
            stuck_claim: None,
            quarantine: Quarantine::of_lane(&region.mpsc()),
            last_scan: Instant::now() - Duration::from_secs(3600),
            to_free: Vec::with_capacity(lanes),
            last_drop_report: vec![0; lanes + 1],
            write_failing: None,
            last_region_check: Instant::now(),
            follow: None,
            retiring: Vec::new(),
            rotation: None,
            throttle: None,
            totals: Totals::default(),
        };
        e.recover()?;
        Ok(e)
    }

    /// Formats long runs of records on `threads` threads: this one and
    /// `threads - 1` helpers (see [`crate::helpers`]). 1 (the default)
    /// starts none; a second call replaces the helpers.
    pub fn set_format_threads(&mut self, threads: usize) -> std::io::Result<()> {
        self.prefetch = None;
        self.helpers = Helpers::default();
        self.helpers = Helpers::spawn(self.format, threads)?;
        Ok(())
    }

    /// Format threads running, the engine's own included.
    pub fn format_threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// A test hook: helper `k` panics on the next part it is handed (see
    /// [`Helpers::fail_next_part`]).
    #[doc(hidden)]
    pub fn fail_helper_part(&mut self, k: usize) {
        self.helpers.fail_next_part(k);
    }

    /// Rotates the outputs by size (see [`crate::rotate`]).
    pub fn set_rotation(&mut self, rotation: Option<Rotation>) {
        self.rotation = rotation.map(Rotator::new);
    }

    /// Paces the loop to a CPU share after every batch (see
    /// [`crate::limits::Throttle`]).
    pub fn set_throttle(&mut self, throttle: Option<Throttle>) {
        self.throttle = throttle;
    }

    /// The region served.
    pub fn region(&self) -> &'static Region {
        self.region
    }

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
    fn earlier_records_pending(&self, pid: u32, tid: u32) -> bool {
        self.retiring.iter().any(|s| {
            let r = s.region;
            (0..r.geometry().sizes.lanes as usize).any(|i| {
                let slot = r.lane_slot(i);
                let owner = OwnerWord::new(&slot.owner).load();
                !owner.is_free()
                    && owner.pid() == pid
                    && slot.tid.load(Ordering::Relaxed) == tid
                    && {
                        let c = r.lane_control(i);
                        c.head() != c.consumer.tail.load(Ordering::Relaxed)
                    }
            })
        })
    }

    /// Swaps the engine's per-region state with `s`.
    fn swap_served(&mut self, s: &mut Served) {
        std::mem::swap(&mut self.region, &mut s.region);
        std::mem::swap(&mut self.lines.names, &mut s.names);
        std::mem::swap(&mut self.lines.calib, &mut s.calib);
        std::mem::swap(&mut self.calib_at, &mut s.calib_at);
        std::mem::swap(&mut self.batch_no, &mut s.batch_no);
        std::mem::swap(&mut self.stuck_claim, &mut s.stuck_claim);
        std::mem::swap(&mut self.quarantine, &mut s.quarantine);
        std::mem::swap(&mut self.last_scan, &mut s.last_scan);
        std::mem::swap(&mut self.last_drop_report, &mut s.last_drop_report);
    }

    /// Completes or rolls back a batch a dead writer left in flight.
    fn recover(&mut self) -> Result<(), OutputError> {
        let w = &self.region.header().writer;
        let state = w.intent_state.load(Ordering::Acquire);
        let batch = w.intent.load(Ordering::Acquire);
        match state {
            intent_state::WRITING => {
                // The outputs may hold part of the batch; the cursors did not
                // move. Cut the files the batch went to back (found by
                // identity, wherever they were renamed in the directory);
                // the batch is read again.
                let files = &self.region.header().intent_files;
                for i in 0..COUNT {
                    let f = crate::intent::FileIntent::read(w, files, i);
                    // A file that cannot be cut (read-only, immutable, gone
                    // meanwhile) is reported and left; refusing to start
                    // would keep the intent, and the writer, stuck for ever.
                    match crate::intent::roll_back(&mut self.out, i, f) {
                        Ok(crate::intent::RollBack::Nothing) => {}
                        Ok(done) => eprintln!(
                            "ul-writer: rolling back batch {batch} that a previous writer left half written: {done}"
                        ),
                        Err(e) => eprintln!(
                            "ul-writer: rolling back batch {batch} that a previous writer left half written: {e}; that file keeps the partial batch"
                        ),
                    }
                }
            }
            intent_state::WRITTEN => {
                // The batch is on disk; finish moving the cursors.
                let lanes = self.region.geometry().sizes.lanes as usize;
                for i in 0..lanes {
                    let c = &self.region.lane_control(i).consumer;
                    if c.pending_batch.load(Ordering::Acquire) == batch {
                        let head = self.region.lane_control(i).head();
                        let t = c.pending_tail.load(Ordering::Relaxed);
                        let tail = c.tail.load(Ordering::Relaxed);
                        if t.wrapping_sub(tail) <= head.wrapping_sub(tail) {
                            c.tail.store(t, Ordering::Release);
                        }
                        c.dropped_reported
                            .store(c.pending_dropped.load(Ordering::Relaxed), Ordering::Relaxed);
                    }
                }
                let mpsc = self.region.mpsc();
                let to = w.mpsc_pending_tail.load(Ordering::Relaxed);
                let from = mpsc.control().tail.load(Ordering::Relaxed);
                let head = mpsc.control().head.load(Ordering::Acquire);
                if to > from
                    && to <= head
                    && to - from <= u64::from(self.region.geometry().sizes.mpsc_slots)
                {
                    // `release` is repeatable: the dead writer may have
                    // freed the slot at `from` already (it died between
                    // the slot and the tail), and a producer may have
                    // taken the slot's next lap since; that slot is left
                    // as it is (see `ul_ring::mpsc`).
                    for pos in from..to {
                        mpsc.release(pos);
                    }
                }
                if w.mpsc_pending_batch.load(Ordering::Acquire) == batch {
                    mpsc.control().dropped_reported.store(
                        w.mpsc_pending_dropped.load(Ordering::Relaxed),
                        Ordering::Relaxed,
                    );
                }
                eprintln!("ul-writer: completed batch {batch} that a previous writer had written");
            }
            _ => {}
        }
        w.intent_state.store(intent_state::IDLE, Ordering::Release);
        Ok(())
    }

    /// One pass over every lane. Returns the number of records and lines
    /// formatted (0: nothing to do).
    pub fn pass(&mut self) -> Result<usize, OutputError> {
        let region = self.region;
        let h = region.header();
        let batch_size = h
            .control
            .batch_size
            .load(Ordering::Relaxed)
            .clamp(1, 1 << 20) as usize;
        let lanes = self.region.geometry().sizes.lanes as usize;
        self.lines.clear();
        self.pending.clear();
        self.to_free.clear();
        self.mpsc_release = None;
        self.mpsc_dropped = None;
        // Lanes of dead owners: their marker lines go into this batch, and
        // the lanes are freed only once it is on disk, so a writer killed in
        // between announces them again rather than never.
        if self.last_scan.elapsed() >= RECLAIM_SCAN {
            self.last_scan = Instant::now();
            self.reclaim();
            if !self.quarantine.is_empty() {
                self.check_quarantine();
            }
        }
        let table = region.callsites();
        let mut busiest: Option<(u64, usize, Origin, u64)> = None;
        for i in 0..lanes {
            let ctrl = self.region.lane_control(i);
            let head = ctrl.head();
            let tail = ctrl.consumer.tail.load(Ordering::Relaxed);
            let dropped = ctrl.producer.total_dropped();
            let reported = ctrl.consumer.dropped_reported.load(Ordering::Relaxed);
            if head == tail && dropped == reported {
                continue;
            }
            let slot = self.region.lane_slot(i);
            let origin = Origin {
                lane: Some(i),
                pid: OwnerWord::new(&slot.owner).load().pid(),
                tid: slot.tid.load(Ordering::Relaxed),
            };
            if head != tail
                && !self.retiring.is_empty()
                && self.earlier_records_pending(origin.pid, origin.tid)
            {
                // The thread moved here from a replaced region whose lane
                // still holds its earlier records: those go first.
                continue;
            }
            if dropped != reported {
                let n = dropped.wrapping_sub(reported);
                let since = since_text(&mut self.lines.ts, self.last_drop_report[i]);
                self.lines.writer_line(
                    Level::Warn,
                    &format!(
                        "{n} records dropped by pid {} (lane {i}) since {since}",
                        origin.pid
                    ),
                );
                self.last_drop_report[i] = ul_ring::clock::wall_ns();
            }
            let new_tail = self.read_lane(&table, i, origin, (tail, head), batch_size);
            // The lane with the most left over gets the helpers next pass.
            let left = head.wrapping_sub(new_tail);
            if new_tail.wrapping_sub(tail) <= head.wrapping_sub(tail)
                && left > 0
                && busiest.is_none_or(|(b, ..)| left > b)
            {
                busiest = Some((left, i, origin, new_tail));
            }
            self.pending.push(PendingLane {
                lane: i,
                new_tail,
                dropped,
            });
        }
        self.drain_mpsc(&table, batch_size);
        let lost = self.helpers.lost();
        if lost > self.totals.helpers_lost {
            // Their parts were left unread and are read again next pass.
            self.lines.writer_line(
                Level::Warn,
                &format!(
                    "{} format helper thread(s) stopped; {} format thread(s) left",
                    lost - self.totals.helpers_lost,
                    self.helpers.len() + 1
                ),
            );
            self.totals.helpers_lost = lost;
        }
        if let Some((_, i, origin, from)) = busiest {
            self.prefetch(i, origin, from, batch_size);
        }
        if self.lines.records == 0
            && self.to_free.is_empty()
            && self.lines.is_empty()
            && self.pending.iter().all(|p| {
                let c = &self.region.lane_control(p.lane).consumer;
                p.new_tail == c.tail.load(Ordering::Relaxed)
                    && p.dropped == c.dropped_reported.load(Ordering::Relaxed)
            })
            && self.mpsc_release.is_none()
        {
            return Ok(0);
        }
        self.write_batch()?;
        Ok(self.lines.records.max(1) as usize)
    }

    /// Formats up to `max` records of lane `i` in `[tail, head)` into the
    /// batch; returns the tail to commit once the batch is on disk.
    ///
    /// With format helpers (see [`crate::helpers`]) the run is cut into
    /// parts at record boundaries: this thread reads the first, each helper
    /// a later one, and the parts are appended in lane order. The parts of
    /// a lane prefetched in the previous pass ([`Engine::prefetch`]) are
    /// used when they start inside `[tail, head]`: this thread then reads
    /// everything up to the first of them. The lane's new tail is the end
    /// of the last part read whole, so a part that stopped early (or a
    /// helper that died) never leaves a gap: what follows is read again.
    fn read_lane(
        &mut self,
        table: &CallsiteTable<'_>,
        i: usize,
        origin: Origin,
        (tail, head): (u64, u64),
        max: usize,
    ) -> u64 {
        let region = self.region;
        // SAFETY: we hold the writer lock, so we are the lane's only
        // consumer (helpers only read parts we hand them, and we commit
        // past a part only after it is handed back); lane capacities are
        // validated powers of two.
        let consumer = unsafe { Consumer::attach(region.lane_control(i), region.lane_bytes(i)) };
        let mut started = 0;
        let mut first_max = max;
        // The started parts were handed out a pass ahead.
        let mut prefetched = false;
        let threads = self.helpers.len() + 1;
        let per = max / threads;
        if let Some(p) = self
            .prefetch
            .take_if(|p| p.lane == i && core::ptr::eq(p.region, region))
        {
            if p.starts[0].wrapping_sub(tail) <= head.wrapping_sub(tail) {
                self.split.clear();
                self.split.push(tail);
                self.split.extend_from_slice(&p.starts);
                self.split.push(p.end);
                started = p.starts.len();
                first_max = usize::MAX;
                prefetched = true;
            } else {
                // The tail moved past it (bytes skipped as corrupt).
                self.discard_parts(p.starts.len());
            }
        }
        if started == 0 && self.prefetch.is_none() && threads > 1 && per >= MIN_PART_RECORDS {
            // No prefetch: split now, the helpers format while we do.
            started = self.start_parts(i, origin, (tail, head), (per, per, max));
            if started > 0 {
                first_max = per;
            }
        }
        if started == 0 {
            self.split.clear();
            self.split.extend_from_slice(&[tail, head]);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let lines = &mut self.lines;
        let batch =
            consumer.read_batch(tail, self.split[1], first_max, &mut scratch, |pos, rec| {
                lines.record(region, table, origin, pos, rec)
            });
        self.scratch = scratch;
        let mut whole = self.lane_part_done(i, origin, &batch, self.split[1]);
        let mut new_tail = batch.new_tail;
        // Collect every started part (even after a short one: the helpers
        // must hand their buffers back before their next part).
        let mut k = 1;
        let mut helper = 0;
        while helper < started {
            let end = self.split[k + 1];
            match self.helpers.finish(helper) {
                Some(part) => {
                    if whole {
                        self.totals.helper_parts += 1;
                        self.totals.prefetched_parts += u64::from(prefetched);
                        self.lines.append(&part.bufs, part.records);
                        whole = self.lane_part_done(i, origin, &part.batch, end);
                        new_tail = part.batch.new_tail;
                    }
                    self.helpers.give_back(helper, part.bufs);
                    helper += 1;
                }
                None => {
                    // The helper died (and was removed): its part and the
                    // ones after it are read again in a later pass.
                    started -= 1;
                    whole = false;
                }
            }
            k += 1;
        }
        new_tail
    }

    /// Collects the next `n` parts from the helpers and drops them.
    fn discard_parts(&mut self, n: usize) {
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
    /// each helper's is twice that), since this thread also writes.
    fn prefetch(&mut self, i: usize, origin: Origin, from: u64, max: usize) {
        if self.helpers.is_empty() || self.prefetch.is_some() {
            return;
        }
        let head = self.region.lane_control(i).head();
        let threads = self.helpers.len() + 1;
        let own = max / (2 * threads - 1);
        if own < MIN_PART_RECORDS {
            return;
        }
        let total = own + 2 * own * self.helpers.len();
        let started = self.start_parts(i, origin, (from, head), (own, 2 * own, total));
        if started == 0 {
            return;
        }
        self.prefetch = Some(Prefetch {
            region: self.region,
            lane: i,
            starts: self.split[1..=started].to_vec(),
            end: self.split[started + 1],
        });
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
    fn start_parts(
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
    fn lane_part_done(&mut self, i: usize, origin: Origin, batch: &Batch, end: u64) -> bool {
        if let Some(c) = &batch.corrupt {
            self.region
                .header()
                .stats
                .corrupt_lanes
                .fetch_add(1, Ordering::Relaxed);
            let msg = format!(
                "lane {i} (pid {}) holds bytes that are not records at position {}: {}; skipped {} bytes",
                origin.pid, c.pos, c.reason, c.skipped
            );
            eprintln!("ul-writer: {msg}");
            self.lines.writer_line(Level::Error, &msg);
        }
        batch.new_tail == end
    }

    fn drain_mpsc(&mut self, table: &CallsiteTable<'_>, batch_size: usize) {
        let mpsc = self.region.mpsc();
        let region = self.region;
        let dropped = mpsc.control().dropped.load(Ordering::Relaxed);
        let reported = mpsc.control().dropped_reported.load(Ordering::Relaxed);
        if dropped != reported {
            let lanes = region.geometry().sizes.lanes as usize;
            let since = since_text(&mut self.lines.ts, self.last_drop_report[lanes]);
            self.lines.writer_line(
                Level::Warn,
                &format!(
                    "{} records dropped in the shared lane since {since}",
                    dropped.wrapping_sub(reported)
                ),
            );
            self.last_drop_report[lanes] = ul_ring::clock::wall_ns();
            self.mpsc_dropped = Some(dropped);
        }
        let start = mpsc.control().tail.load(Ordering::Relaxed);
        let mut pos = start;
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut n = 0;
        while n < batch_size {
            match mpsc.tail_state(pos) {
                TailState::Empty => break,
                TailState::Ready(_) => {
                    self.stuck_claim = None;
                    match mpsc.read_slot(pos, &mut scratch) {
                        SlotRead::Record { pid, tid, record } => {
                            let origin = Origin {
                                lane: None,
                                pid,
                                tid,
                            };
                            let rec = record.to_vec();
                            self.lines.record(region, table, origin, pos, &rec);
                        }
                        SlotRead::Bad(why) => {
                            region
                                .header()
                                .stats
                                .decode_errors
                                .fetch_add(1, Ordering::Relaxed);
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
                    let now = Instant::now();
                    match self.stuck_claim {
                        Some((p, since)) if p == pos => {
                            if now.duration_since(since) >= self.process_timeout {
                                // Release everything read so far first: the
                                // abandon moves the shared tail.
                                if pos > start {
                                    break;
                                }
                                // A claimant stopped inside its copy gets
                                // twice the timeout: abandoning it lets its
                                // late bytes reach the slot's next lap.
                                let waited = now.duration_since(since);
                                let abandoned = mpsc.abandon(pos)
                                    || (mpsc.copying(pos)
                                        && waited >= 2 * self.process_timeout
                                        && self.quarantine_copy(pos));
                                if abandoned {
                                    self.region
                                        .header()
                                        .stats
                                        .claims_abandoned
                                        .fetch_add(1, Ordering::Relaxed);
                                    self.lines.writer_line(
                                        Level::Warn,
                                        &format!(
                                            "abandoned a shared-lane claim at position {pos} not committed within {:?} (its producer died or stalled)",
                                            self.process_timeout
                                        ),
                                    );
                                    self.stuck_claim = None;
                                }
                            }
                        }
                        _ => self.stuck_claim = Some((pos, now)),
                    }
                    break;
                }
            }
        }
        self.scratch = scratch;
        if pos != start {
            self.mpsc_release = Some((start, pos));
        }
    }

    /// Gives up on the shared-lane claim at `pos`, stalled inside its copy,
    /// keeping its slot quarantined (see [`ul_ring::quarantine`]) until its
    /// claimant hands it back or dies.
    fn quarantine_copy(&mut self, pos: u64) -> bool {
        self.quarantine.abandon_copying(&self.region.mpsc(), pos)
    }

    /// Frees quarantined shared-lane slots whose claimants died; forgets
    /// those the claimants handed back.
    fn check_quarantine(&mut self) {
        for (pos, pid) in self.quarantine.sweep(&self.region.mpsc()) {
            self.lines.writer_line(
                Level::Warn,
                &format!(
                    "freed the shared-lane slot of position {pos}: its claimant, pid {pid}, died inside its copy"
                ),
            );
        }
    }

    /// Writes the batch under the write-ahead intent, then moves the cursors.
    fn write_batch(&mut self) -> Result<(), OutputError> {
        if self.out.moved() {
            eprintln!(
                "ul-writer: {} or a file in it was removed or replaced; writing to new files there",
                self.out.dir().display()
            );
            self.out.reopen_all()?;
        }
        // Rotate between batches, before the intent records the lengths:
        // a batch is never split across files and recovery truncates only
        // the file the batch went to.
        if let Some(r) = &mut self.rotation {
            r.before_batch(&mut self.out, &self.lines.bufs);
        }
        let h = self.region.header();
        let w = &h.writer;
        self.batch_no += 1;
        let b = self.batch_no;
        for p in &self.pending {
            let c = &self.region.lane_control(p.lane).consumer;
            c.pending_tail.store(p.new_tail, Ordering::Relaxed);
            c.pending_dropped.store(p.dropped, Ordering::Relaxed);
            c.pending_batch.store(b, Ordering::Release);
        }
        if let Some((_, to)) = self.mpsc_release {
            w.mpsc_pending_tail.store(to, Ordering::Relaxed);
        }
        if let Some(d) = self.mpsc_dropped {
            w.mpsc_pending_dropped.store(d, Ordering::Relaxed);
            w.mpsc_pending_batch.store(b, Ordering::Release);
        }
        let lens = crate::intent::record(w, &h.intent_files, &mut self.out, &self.lines.bufs)?;
        w.intent.store(b, Ordering::Release);
        w.intent_state
            .store(intent_state::WRITING, Ordering::Release);
        for i in 0..COUNT {
            if let Err(e) = self.out.append(i, &self.lines.bufs[i]) {
                // Take back what this batch already wrote; the cursors stay
                // where they are and the batch is read again on retry.
                for (j, l) in lens.iter().enumerate().take(i) {
                    let _ = self.out.truncate(j, *l);
                }
                w.intent_state.store(intent_state::IDLE, Ordering::Release);
                return Err(e);
            }
        }
        w.intent_state
            .store(intent_state::WRITTEN, Ordering::Release);
        for p in &self.pending {
            let ctrl = self.region.lane_control(p.lane);
            // SAFETY: as in `pass`: we are the only consumer.
            let consumer = unsafe { Consumer::attach(ctrl, self.region.lane_bytes(p.lane)) };
            consumer.commit(p.new_tail);
            let before = ctrl
                .consumer
                .dropped_reported
                .swap(p.dropped, Ordering::Relaxed);
            h.stats
                .drops_reported
                .fetch_add(p.dropped.wrapping_sub(before), Ordering::Relaxed);
        }
        if let Some((from, to)) = self.mpsc_release {
            let mpsc = self.region.mpsc();
            for pos in from..to {
                mpsc.release(pos);
            }
        }
        if let Some(d) = self.mpsc_dropped {
            let before = self
                .region
                .mpsc()
                .control()
                .dropped_reported
                .swap(d, Ordering::Relaxed);
            h.stats
                .drops_reported
                .fetch_add(d.wrapping_sub(before), Ordering::Relaxed);
        }
        self.free_lanes();
        w.intent_state.store(intent_state::IDLE, Ordering::Release);
        h.stats
            .records_written
            .fetch_add(self.lines.records, Ordering::Relaxed);
        let bytes: usize = self.lines.bufs.iter().map(Vec::len).sum();
        h.stats
            .bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.totals.records += self.lines.records;
        self.totals.batches += 1;
        Ok(())
    }

    /// True if some lane has records, drops to report, or a flush waits.
    pub fn has_work(&self) -> bool {
        let h = self.region.header();
        if h.flush.request.load(Ordering::Acquire) > h.flush.ack.load(Ordering::Acquire) {
            return true;
        }
        let lanes = self.region.geometry().sizes.lanes as usize;
        for i in 0..lanes {
            let c = self.region.lane_control(i);
            if c.head() != c.consumer.tail.load(Ordering::Relaxed)
                || c.producer.total_dropped() != c.consumer.dropped_reported.load(Ordering::Relaxed)
            {
                return true;
            }
        }
        // A claim not yet committed (`Pending`) is not work: its producer
        // commits and wakes us, or it died and the claim is abandoned by a
        // pass after the timeout, which the sleep's timeout (the flush
        // interval) brings round. Counting it would spin the loop.
        let mpsc = self.region.mpsc();
        mpsc.control().dropped.load(Ordering::Relaxed)
            != mpsc.control().dropped_reported.load(Ordering::Relaxed)
            || matches!(
                mpsc.tail_state(mpsc.control().tail.load(Ordering::Relaxed)),
                TailState::Ready(_)
            )
    }

    /// True if every lane (of every region served) is drained (shutdown).
    fn drained(&self) -> bool {
        drained(self.region) && self.retiring.iter().all(|s| drained(s.region))
    }

    /// Snapshot of what a flush request must wait for, in the served region
    /// and in each retiring one.
    fn flush_target(&self, req: u64) -> FlushTarget {
        (
            req,
            heads(self.region),
            self.retiring
                .iter()
                .map(|s| (s.region, heads(s.region)))
                .collect(),
        )
    }

    /// True once every region reached its heads of `t` (a retiring region
    /// that is gone was drained before it went).
    fn reached(&self, t: &FlushTarget) -> bool {
        reached(self.region, &t.1)
            && t.2.iter().all(|(r, hd)| {
                !self.retiring.iter().any(|s| core::ptr::eq(s.region, *r)) || reached(r, hd)
            })
    }

    /// Opens the region now at the path, takes it, serves it, and keeps
    /// the old one to drain. On failure, says why and keeps serving the old
    /// region (retried at the next check).
    fn switch_region(&mut self, opts: RegionOptions) {
        let path = self.region.path().to_owned();
        let new = match Region::open(&path, &opts) {
            Ok(r) => r,
            Err(e) => {
                eprintln!(
                    "ul-writer: {} was replaced but the new region cannot be opened: {e}; still draining the old one",
                    path.display()
                );
                return;
            }
        };
        if new.path_status() != PathStatus::Same {
            return; // Replaced again meanwhile: next check.
        }
        if let Err(e) = crate::takeover::take(&new) {
            eprintln!(
                "ul-writer: {} was replaced and {e}; this writer drains the old region only",
                path.display()
            );
            self.follow = None;
            return;
        }
        let old = self.region;
        if new.created() {
            // Carry the run-time settings over to a region we made.
            let (o, n) = (&old.header().control, &new.header().control);
            for (a, b) in [
                (&o.min_level, &n.min_level),
                (&o.batch_size, &n.batch_size),
                (&o.flush_interval_ms, &n.flush_interval_ms),
            ] {
                b.store(a.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        let new: &'static Region = Box::leak(Box::new(new));
        crate::region_guard::watch(new);
        // Producers still on the old region take their slow path (and find
        // the new one) as soon as a lane passes half full: tell them the
        // writer sleeps, and that no writer serves it.
        old.header().writer.pid.store(0, Ordering::Release);
        old.header().wake.sleeping.store(1, Ordering::SeqCst);
        // And every log call on the old region sees this flag, so even a
        // thread whose lane never passes half full moves on its next call.
        old.header().control.superseded.store(1, Ordering::Release);
        let mut s = Served::new(new);
        self.swap_served(&mut s);
        self.retiring.push(s);
        if let Err(e) = self.recover() {
            eprintln!("ul-writer: recovering the new region's last batch: {e}");
        }
        eprintln!(
            "ul-writer: {} was {}; serving the new region there, draining the old one to its end",
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
    fn drain_retiring(&mut self) -> bool {
        let mut did = false;
        let mut k = 0;
        while k < self.retiring.len() {
            let mut s = self.retiring.remove(k);
            self.swap_served(&mut s);
            let h = self.region.header();
            h.wake.sleeping.store(1, Ordering::SeqCst);
            let req = h.flush.request.load(Ordering::Acquire);
            // A failed write leaves the records where they are; the served
            // region's pass reports the error and backs off.
            if let Ok(n) = self.pass() {
                did |= n > 0;
            }
            let empty = drained(self.region);
            if empty && req > h.flush.ack.load(Ordering::Acquire) {
                h.flush.ack.fetch_max(req, Ordering::AcqRel);
                h.flush.ack_futex.fetch_add(1, Ordering::Release);
                ul_ring::futex::wake(&h.flush.ack_futex, i32::MAX);
            }
            let lanes = self.region.geometry().sizes.lanes as usize;
            let free = (0..lanes).all(|i| {
                OwnerWord::new(&self.region.lane_slot(i).owner)
                    .load()
                    .is_free()
            });
            self.swap_served(&mut s);
            if !(empty && free) {
                s.quiet_since = None;
            } else if s.quiet_since.is_none() {
                s.quiet_since = Some(Instant::now());
            }
            if s.quiet_since.is_some_and(|t| t.elapsed() >= RETIRE_QUIET) {
                crate::region_guard::unwatch(s.region);
                eprintln!(
                    "ul-writer: drained the replaced region {} to its end",
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

    /// Finds lanes whose owners exited (drained) and lanes retired by
    /// exiting threads (drained), queues them in `to_free`, and adds a
    /// marker line per dead process to the batch. An owner is dead when
    /// nobody holds its lane's kernel lock ([`ul_ring::ownership`]): true
    /// whatever pid namespace, uid or `/proc` mount either side has.
    fn reclaim(&mut self) {
        let geo = *self.region.geometry();
        let mut dead: Vec<(u32, usize)> = Vec::new();
        for i in 0..geo.sizes.lanes as usize {
            let word = OwnerWord::new(&self.region.lane_slot(i).owner);
            let file = self.region.file();
            // Judged before the drain check: an owner known to be gone (or
            // retired) adds nothing more, so a drained lane stays drained
            // until it is freed.
            let verdict = word.judge(|| ul_ring::ownership::lane_lock_held(file, &geo, i));
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
    fn free_lanes(&mut self) {
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
    }

    /// Checks that the region file still has its full length (one
    /// `fstat`); a truncated region cannot be read any more.
    /// Also follows the path (see [`follow_path`](Self::follow_path)).
    /// Returns true if the engine now serves another region.
    fn check_region(&mut self) -> Result<bool, RunError> {
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

    /// Runs until `signals.terminate`, then drains everything and returns.
    /// Stops early with [`RunError::RegionBroken`] if the region file is
    /// truncated under it.
    pub fn run(&mut self, signals: &Signals) -> Result<(), RunError> {
        let mut flush_target: Option<FlushTarget> = None;
        loop {
            if self.last_region_check.elapsed() >= RECLAIM_SCAN && self.check_region()? {
                // A pending flush was asked of the old region, which now
                // acknowledges its own requests once drained.
                flush_target = None;
            }
            let h = self.region.header();
            let now_mono = ul_ring::clock::monotonic_ns();
            h.writer.heartbeat_ns.store(now_mono, Ordering::Relaxed);
            if signals.reopen.swap(false, Ordering::Relaxed) {
                if let Err(e) = self.out.reopen_all() {
                    eprintln!("ul-writer: reopening outputs: {e}");
                }
            }
            let terminating = signals.terminate.load(Ordering::Relaxed);
            if self.calib_at.elapsed() > Duration::from_secs(10) {
                self.lines.calib = calibrate(self.region);
                self.calib_at = Instant::now();
            }
            let req = h.flush.request.load(Ordering::Acquire);
            if req > h.flush.ack.load(Ordering::Acquire)
                && flush_target.as_ref().is_none_or(|t| t.0 < req)
            {
                flush_target = Some(self.flush_target(req));
            }
            if let Some((until, _, _)) = &self.write_failing {
                if Instant::now() < *until && !terminating {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
            let mut did = match self.pass() {
                Ok(n) => {
                    if let Some((_, _, what)) = self.write_failing.take() {
                        eprintln!("ul-writer: writing works again ({what} cleared)");
                    }
                    n
                }
                Err(e) => {
                    // Once per kind of failure: a new error (another file,
                    // another errno) is reported, a repeat is not.
                    let what = e.to_string();
                    let backoff = match &self.write_failing {
                        Some((_, b, prev)) => {
                            if *prev != what {
                                eprintln!(
                                    "ul-writer: {what}; records stay in shared memory, retrying"
                                );
                            }
                            (*b * 2).min(MAX_BACKOFF)
                        }
                        None => {
                            eprintln!("ul-writer: {what}; records stay in shared memory, retrying");
                            Duration::from_millis(50)
                        }
                    };
                    self.write_failing = Some((Instant::now() + backoff, backoff, what));
                    let _ = self.out.reopen_all();
                    if terminating {
                        return Err(e.into());
                    }
                    continue;
                }
            };
            if !self.retiring.is_empty() && self.drain_retiring() {
                did = did.max(1);
            }
            if let (true, Some(t)) = (did > 0, &mut self.throttle) {
                t.pace();
            }
            if let Some(t) = &flush_target {
                if self.reached(t) {
                    h.flush.ack.fetch_max(t.0, Ordering::AcqRel);
                    h.flush.ack_futex.fetch_add(1, Ordering::Release);
                    ul_ring::futex::wake(&h.flush.ack_futex, i32::MAX);
                    flush_target = None;
                    continue;
                }
            }
            if did > 0 {
                continue;
            }
            if terminating {
                if self.drained() {
                    return Ok(());
                }
                // Only an uncommitted claim is left: it commits soon or is
                // abandoned after the timeout; poll it without spinning.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            // Idle: announce sleep, re-check, sleep until woken or the
            // flush interval passes.
            let seq = h.wake.prepare_sleep();
            if self.has_work() || signals.terminate.load(Ordering::Relaxed) {
                h.wake.cancel_sleep();
                continue;
            }
            let mut interval = h
                .control
                .flush_interval_ms
                .load(Ordering::Relaxed)
                .clamp(1, 60_000);
            if !self.retiring.is_empty() {
                // Producers of a retiring region wake its futex, not ours.
                interval = interval.min(10);
            }
            self.totals.sleeps += 1;
            ul_ring::futex::wait(
                &h.wake.futex,
                seq,
                Some(Duration::from_millis(u64::from(interval))),
            );
            // Woken or timed out: a cheap moment to see that the region
            // file is still whole (and still the one at the path). A region
            // left behind gets `sleeping = 1` again from `drain_retiring`.
            let switched = self.check_region()?;
            h.wake.cancel_sleep();
            if switched {
                flush_target = None;
            }
        }
    }
}

fn since_text(ts: &mut TimestampFormatter, since: u64) -> String {
    if since == 0 {
        return "the writer started".to_string();
    }
    let mut v = Vec::new();
    ts.write(&mut v, since);
    String::from_utf8_lossy(&v).into_owned()
}

/// Tick-to-ns conversion anchored at the region's creation: over a long
/// baseline the rate is precise; a young region gets a short measurement.
fn calibrate(region: &Region) -> Calibration {
    let id = &region.header().id;
    let base = (
        id.anchor_tsc.load(Ordering::Relaxed),
        id.anchor_ns.load(Ordering::Relaxed),
    );
    let now = ul_ring::clock::anchor();
    let c = if now.1.saturating_sub(base.1) >= 1_000_000_000 {
        Calibration::from_anchors(base, now)
    } else {
        let m = Calibration::measure(Duration::from_millis(50));
        Calibration {
            tsc_base: base.0,
            ns_base: base.1,
            ticks_per_ns: m.ticks_per_ns,
        }
    };
    id.tsc_hz
        .store((c.ticks_per_ns * 1e9) as u64, Ordering::Relaxed);
    c
}

/// True if every lane of `region` and its shared lane are drained.
fn drained(region: &Region) -> bool {
    let lanes = region.geometry().sizes.lanes as usize;
    (0..lanes).all(|i| {
        let c = region.lane_control(i);
        c.head() == c.consumer.tail.load(Ordering::Relaxed)
    }) && matches!(
        region
            .mpsc()
            .tail_state(region.mpsc().control().tail.load(Ordering::Relaxed)),
        TailState::Empty
    )
}

/// Snapshot of what a flush request must wait for in `region`: each lane's
/// head and the shared lane's head.
fn heads(region: &Region) -> Heads {
    let lanes = region.geometry().sizes.lanes as usize;
    let v = (0..lanes).map(|i| region.lane_control(i).head()).collect();
    (v, region.mpsc().control().head.load(Ordering::Acquire))
}

/// True once `region`'s tails reached `heads`.
fn reached(region: &Region, heads: &Heads) -> bool {
    heads.0.iter().enumerate().all(|(i, &hd)| {
        let tail = region.lane_control(i).consumer.tail.load(Ordering::Relaxed);
        // Reached, or the tail jumped past it (a corrupt lane skipped).
        tail.wrapping_sub(hd) < (1 << 62)
    }) && region.mpsc().control().tail.load(Ordering::Relaxed) >= heads.1
}
