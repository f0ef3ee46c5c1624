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
use ul_ring::layout::IntentState;
use ul_ring::quarantine::Quarantine;
use ul_ring::record::Level;
use ul_ring::region::{PathStatus, Region, RegionError, RegionOptions};
use ul_ring::shared_lane::{SlotRead, TailState};

use crate::batch_lines::{BatchLines, Origin};
use crate::callsite_cache::CallsiteCache;
use crate::format::TimestampFormatter;
use crate::format_threads::{FormatThreads, MIN_PART_RECORDS};
use crate::forward::sink::{SinkReport, Sinks, Transport};
use crate::outputs::{Format, OutputError, Outputs, BINARY, COUNT};
use crate::rotate::{Rotation, Rotator};
use ul_ring::limits::Throttle;

mod drops;
mod flush;
mod follow;
mod parts;
mod reclaim;
mod recovery;
mod shared_lane;

use flush::{drained, files_drained, FlushTarget};
use parts::PlanEnd;
use recovery::take_over_shared_lane;

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
    names: CallsiteCache,
    calib: Calibration,
    calib_at: Instant,
    batch_no: u64,
    quarantine: Quarantine,
    last_scan: Instant,
    last_drop_report: Vec<u64>,
    table_drop_report: Vec<u64>,
    /// Since when the region has been empty with every lane free.
    quiet_since: Option<Instant>,
    next_lane: usize,
    released: Vec<u64>,
}

impl Served {
    fn new(region: &'static Region) -> Self {
        let lanes = region.geometry().sizes.lanes as usize;
        take_over_shared_lane(region);
        Served {
            region,
            names: CallsiteCache::default(),
            calib: calibrate(region, true),
            calib_at: Instant::now(),
            batch_no: region.header().writer.intent().0,
            quarantine: Quarantine::of_lane(region),
            last_scan: Instant::now() - Duration::from_secs(3600),
            last_drop_report: vec![0; lanes + 1],
            table_drop_report: vec![0; ul_ring::layout::DROP_SLOTS],
            quiet_since: None,
            next_lane: 0,
            released: vec![0; lanes],
        }
    }
}

/// A write that failed: when to retry, the backoff so far, and what failed
/// (a new kind of failure is reported, a repeat is not).
struct WriteFailing {
    retry_at: Instant,
    backoff: Duration,
    what: String,
}

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
    /// Helper parts the batch had no room for (read again next pass).
    pub parts_refused: u64,
    /// Helper threads that died (their parts were formatted again by the
    /// engine).
    pub helpers_lost: u64,
}

/// The writer: one region, one set of outputs.
pub struct Engine {
    region: &'static Region,
    out: Outputs,
    format: Format,
    claim_timeout: Duration,
    /// The batch's lines, and the state that formats them.
    lines: BatchLines,
    /// Threads that format parts of long runs (see [`crate::format_threads`]).
    helpers: FormatThreads,
    /// Where the current lane's run is split among the format threads.
    split: Vec<u64>,
    /// Helper parts handed out for the next pass.
    prefetch: Option<Prefetch>,
    /// The pass's runs of many lanes, shared among the format threads
    /// (see [`Engine::cross_lanes`]).
    plan: Vec<parts::Planned>,
    calib_at: Instant,
    scratch: Vec<u8>,
    pending: Vec<PendingLane>,
    shared_lane_release: Option<(u64, u64)>,
    shared_lane_dropped: Option<u64>,
    batch_no: u64,
    /// Quarantined shared-lane slots.
    quarantine: Quarantine,
    last_scan: Instant,
    /// Lanes to free once the current batch (with their marker lines) is on
    /// disk: (lane, owner word seen when it was found free-able).
    to_free: Vec<ul_ring::drain_core::Reclaimable>,
    /// Drop-table entries to free with the lanes (same rule).
    to_free_drops: Vec<ul_ring::drain_core::Reclaimable>,
    /// Drop-table entries this batch reports: (entry, its `dropped`).
    table_drops: Vec<(usize, u64)>,
    /// Per drop-table entry: wall-clock ns of its last report.
    table_drop_report: Vec<u64>,
    last_drop_report: Vec<u64>,
    write_failing: Option<WriteFailing>,
    last_region_check: Instant,
    /// Options to open the region at its path again when it is replaced
    /// (None: do not follow).
    follow: Option<RegionOptions>,
    /// Replaced regions still being drained.
    retiring: Vec<Served>,
    rotation: Option<Rotator>,
    throttle: Option<Throttle>,
    /// Set once the kernel refused to say whether a lane's owner lives
    /// (reported once: such lanes are never reclaimed).
    lock_query_failed: bool,
    /// The lane a pass starts at (`lanes`: the shared lane): where the
    /// last batch filled up, so every lane gets its turn.
    next_lane: usize,
    /// Per lane: the position below which its pages were released from
    /// this process (see [`Engine::release_read_pages`]).
    released: Vec<u64>,
    /// Bytes of lines a batch may hold (see [`Engine::set_batch_bytes`]).
    batch_bytes: usize,
    /// Bytes of lines per record in recent batches (sizes helper parts).
    line_bytes: usize,
    /// An allocation was refused and the batch budget lowered (reported
    /// once).
    alloc_reported: bool,
    /// Forwarding sinks (`--forward`; see [`crate::forward::sink`]).
    sinks: Sinks,
    /// When a terminating run found only sinks left to wait for.
    sinks_wait_since: Option<Instant>,
    /// A pass of a replaced region (`drain_retiring`) is running.
    in_retiring_pass: bool,
    /// When the sinks' state was last published for `ul-stat`.
    sinks_published: Instant,
    /// Running totals.
    pub totals: Totals,
}

/// How long a writer told to stop waits for its forwarding sinks once
/// everything is in the files.
pub const FORWARD_DRAIN: Duration = Duration::from_secs(5);

/// Bytes of lines a batch holds by default (see
/// [`Engine::set_batch_bytes`]).
pub const DEFAULT_BATCH_BYTES: usize = 1 << 20;

/// Smallest batch budget: a few hundred records.
pub const MIN_BATCH_BYTES: usize = 64 << 10;

/// Lane bytes the writer may have read since their last release, all
/// lanes together, before it releases them (see
/// [`Engine::release_read_pages`]): a region whose lanes in use hold less
/// (one producer thread, or eight, with the default sizes) is never
/// released, so its pages are not faulted in again every lap.
const RELEASE_BUDGET: u64 = 12 << 20;

/// A lane with fewer bytes read since its last release is left as it is
/// when the others are released.
const RELEASE_MIN: u64 = 64 << 10;

/// The kernel maps up to this much around a page a read faults in
/// ("fault-around"): pages just behind a tail released before can be
/// mapped again by a later read, so a release starts this far back.
const FAULT_AROUND: u64 = 64 << 10;

impl Engine {
    /// Takes over `region` (the caller holds its writer lock) and finishes
    /// whatever batch a previous writer left in flight.
    pub fn new(
        region: Region,
        out: Outputs,
        format: Format,
        claim_timeout: Duration,
    ) -> Result<Self, OutputError> {
        // The engine serves one region for the life of the process; a
        // 'static borrow lets the drain loop hold views of it while it
        // updates its own state.
        let region: &'static Region = Box::leak(Box::new(region));
        crate::region_guard::watch(region);
        let lanes = region.geometry().sizes.lanes as usize;
        let h = region.header();
        let batch_no = h.writer.intent().0;
        let calib = calibrate(region, true);
        take_over_shared_lane(region);
        let mut e = Engine {
            region,
            out,
            format,
            claim_timeout,
            lines: BatchLines::new(format, calib),
            helpers: FormatThreads::default(),
            split: Vec::new(),
            prefetch: None,
            plan: Vec::new(),
            calib_at: Instant::now(),
            scratch: Vec::with_capacity(ul_ring::lane::COPY_CHUNK),
            pending: Vec::with_capacity(lanes),
            shared_lane_release: None,
            shared_lane_dropped: None,
            batch_no,
            quarantine: Quarantine::of_lane(region),
            last_scan: Instant::now() - Duration::from_secs(3600),
            to_free: Vec::with_capacity(lanes),
            to_free_drops: Vec::new(),
            table_drops: Vec::new(),
            table_drop_report: vec![0; ul_ring::layout::DROP_SLOTS],
            last_drop_report: vec![0; lanes + 1],
            write_failing: None,
            last_region_check: Instant::now(),
            follow: None,
            retiring: Vec::new(),
            rotation: None,
            throttle: None,
            lock_query_failed: false,
            next_lane: 0,
            released: vec![0; lanes],
            batch_bytes: DEFAULT_BATCH_BYTES,
            line_bytes: 256,
            alloc_reported: false,
            sinks: Sinks::default(),
            sinks_wait_since: None,
            in_retiring_pass: false,
            sinks_published: Instant::now() - Duration::from_secs(3600),
            totals: Totals::default(),
        };
        e.lines.set_limit(DEFAULT_BATCH_BYTES);
        // No sinks yet: a previous writer's are not this one's.
        for slot in &h.forward.sinks {
            slot.publish(None);
        }
        e.recover()?;
        Ok(e)
    }

    /// Bounds each batch to about `bytes` bytes of formatted lines (all
    /// outputs together; at least [`MIN_BATCH_BYTES`]): the batch buffers'
    /// capacity never exceeds it, and each format helper's buffers are
    /// bounded the same way. A pass stops taking records when the next
    /// one's line might not fit, and the next pass starts at that lane.
    /// So the writer's memory is this budget times the format threads,
    /// whatever the number of lanes, threads or records waiting.
    /// [`DEFAULT_BATCH_BYTES`] by default: batches that stay in the CPU's
    /// caches on their way to the kernel.
    pub fn set_batch_bytes(&mut self, bytes: usize) {
        self.batch_bytes = bytes.max(MIN_BATCH_BYTES);
        self.lines.set_limit(self.batch_bytes);
        self.helpers.set_limit(self.batch_bytes);
    }

    /// The batch budget (see [`set_batch_bytes`](Self::set_batch_bytes)).
    pub fn batch_bytes(&self) -> usize {
        self.batch_bytes
    }

    /// Formats long runs of records on `threads` threads: this one and
    /// `threads - 1` helpers (see [`crate::format_threads`]). 1 (the default)
    /// starts none; a second call replaces the helpers.
    ///
    /// With `--format all` a helper's part carries its binary records too,
    /// in runs of their own; the engine writes the entries they name (and
    /// a clock block, if need be) before it appends them
    /// ([`BatchLines::append_part`]). With the binary log alone (`--format
    /// binary`) the engine copies records alone: that needs no help.
    pub fn set_format_threads(&mut self, threads: usize) -> std::io::Result<()> {
        let threads = if self.format == Format::Binary {
            1
        } else {
            threads
        };
        self.prefetch = None;
        self.helpers = FormatThreads::default();
        self.helpers = FormatThreads::spawn(self.format, threads)?;
        self.helpers.text_location = self.lines.text_location();
        self.helpers.set_limit(self.batch_bytes);
        Ok(())
    }

    /// Shows each record's file and line in text lines, before the message
    /// (`ul-writer --text-location`): `... INFO: src/main.rs:12: message`.
    /// Records whose call site has no file (`ul::log_dynamic`, the C API)
    /// show none. JSON lines carry `"file"` and `"line"` either way.
    pub fn set_text_location(&mut self, on: bool) {
        self.lines.set_text_location(on);
        self.helpers.text_location = on;
    }

    /// Format threads running, the engine's own included.
    pub fn format_threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// A test hook (feature `test-hooks`): helper `k` panics on the next
    /// part it is handed (see `FormatThreads::fail_next_part`).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn fail_format_thread_part(&mut self, k: usize) {
        self.helpers.fail_next_part(k);
    }

    /// Rotates the outputs by size (see [`crate::rotate`]).
    pub fn set_rotation(&mut self, rotation: Option<Rotation>) {
        self.rotation = rotation.map(Rotator::new);
    }

    /// Paces the loop to a CPU share after every batch (see
    /// [`ul_ring::limits::Throttle`]).
    pub fn set_throttle(&mut self, throttle: Option<Throttle>) {
        self.throttle = throttle;
    }

    /// Also sends every record (of the lanes; not the shared lane's, nor
    /// the writer's own lines) to `transport`, on a thread of its own; the
    /// lanes' tails then move only as far as it has had them acknowledged
    /// (see [`crate::forward::sink`]). Call before the first pass.
    pub fn forward(&mut self, url: &str, transport: Box<dyn Transport>) -> std::io::Result<()> {
        self.sinks.add(url, transport)
    }

    /// Each forwarding sink's counters.
    pub fn sinks(&self) -> Vec<SinkReport> {
        self.sinks.report()
    }

    /// The region served.
    pub fn region(&self) -> &'static Region {
        self.region
    }

    /// One pass over every lane. Returns the number of records and lines
    /// formatted (0: nothing to do).
    pub fn pass(&mut self) -> Result<usize, OutputError> {
        let region = self.region;
        let h = region.header();
        let batch_size = h.control.batch_size().clamp(1, 1 << 20) as usize;
        let lanes = self.region.geometry().sizes.lanes as usize;
        if self.may_forward() {
            self.sinks.pump(region, self.lines.calib);
        }
        self.advance_tails();
        self.lines.clear();
        self.pending.clear();
        self.to_free.clear();
        self.to_free_drops.clear();
        self.table_drops.clear();
        self.shared_lane_release = None;
        self.shared_lane_dropped = None;
        self.report_table_drops();
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
        // Lanes in turn from where the last batch filled up, the shared
        // lane (`lanes`) among them, until this batch is full.
        let start = self.next_lane.min(lanes);
        // Many lanes with short runs: shared among the format threads.
        let mut busiest: Option<(u64, usize, Origin, u64)> = None;
        let planned = self.cross_lanes(&table, start, batch_size, &mut busiest);
        let skip = match planned {
            Some(PlanEnd::Covered(n)) => n,
            Some(PlanEnd::Stopped) => lanes + 1,
            None => 0,
        };
        for i in (start..=lanes).chain(0..start).skip(skip) {
            if self.lines.full {
                self.next_lane = i;
                break;
            }
            if i == lanes {
                self.drain_shared_lane(&table, batch_size);
                if self.lines.full {
                    self.next_lane = lanes;
                    break;
                }
                continue;
            }
            let ctrl = self.region.lane_control(i);
            let head = ctrl.head();
            // The files read on from their own position: bytes between the
            // tail and it wait for the sinks (see `crate::forward`).
            let tail = ctrl.files();
            let dropped = ctrl.dropped();
            let reported = ctrl.dropped_reported();
            if head == tail && dropped == reported {
                continue;
            }
            let slot = self.region.lane_slot(i);
            let origin = Origin {
                lane: Some(i),
                pid: slot.owner().load().pid(),
                tid: slot.tid(),
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
                        "{} dropped by pid {} (lane {i}, thread {}) since {since}",
                        drops::Records(n),
                        origin.pid,
                        origin.tid
                    ),
                );
                self.last_drop_report[i] = ul_ring::clock::wall_ns();
            }
            let new_tail = self.read_lane(&table, i, origin, (tail, head), batch_size);
            // The lane with the most left over gets the helpers next pass
            // (the one the batch filled up in, if any: the next pass
            // starts there).
            let left = head.wrapping_sub(new_tail);
            if new_tail.wrapping_sub(tail) <= head.wrapping_sub(tail)
                && left > 0
                && (self.lines.full || busiest.is_none_or(|(b, ..)| left > b))
            {
                busiest = Some((left, i, origin, new_tail));
            }
            self.pending.push(PendingLane {
                lane: i,
                new_tail,
                dropped,
            });
            if self.lines.full {
                // Resume in this lane.
                self.next_lane = i;
                break;
            }
        }
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
            if self.prefetch(i, origin, from, batch_size) {
                // Its parts are read first next pass.
                self.next_lane = i;
            }
        }
        self.note_alloc_failure();
        if self.lines.records == 0
            && self.to_free.is_empty()
            && self.to_free_drops.is_empty()
            && self.lines.is_empty()
            && self.pending.iter().all(|p| {
                let c = self.region.lane_control(p.lane);
                p.new_tail == c.files() && p.dropped == c.dropped_reported()
            })
            && self.shared_lane_release.is_none()
        {
            return Ok(0);
        }
        self.write_batch()?;
        Ok(self.lines.records.max(1) as usize)
    }

    /// Formats up to `max` records of lane `i` in `[tail, head)` into the
    /// batch; returns the tail to commit once the batch is on disk.
    ///
    /// With format helpers (see [`crate::format_threads`]) the run is cut into
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
        // As many records as the batch has room for, by recent line sizes
        // (the room check per record is what bounds the batch; this only
        // keeps helpers from formatting parts that would not fit).
        let max = max.min(self.records_that_fit());
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
        // The binary log alone takes the records a span at a time, so
        // that runs of records it copies are copied in one go.
        let batch = if self.format == Format::Binary {
            // Records with the fast frame word go straight from the lane
            // into the batch; the rest (from the first that differs) a
            // span at a time.
            let end = self.split[1];
            let (pos, n) = lines.direct(&consumer, region, origin, (tail, end), first_max);
            if pos == end || n == first_max || lines.full {
                Batch {
                    new_tail: pos,
                    records: n,
                    corrupt: None,
                }
            } else {
                let b = read_spans_part(
                    &consumer,
                    (pos, end),
                    first_max - n,
                    &mut scratch,
                    |pos, span| lines.span(region, table, origin, pos, span),
                );
                Batch {
                    records: b.records + n,
                    ..b
                }
            }
        } else {
            read_part(
                &consumer,
                (tail, self.split[1]),
                first_max,
                &mut scratch,
                |pos, rec| lines.record(region, table, origin, pos, rec),
            )
        };
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
                    // A part cut short by a refused allocation counts as
                    // the batch's own (reported, the budget lowered).
                    if self.lines.alloc_failed.is_none() {
                        self.lines.alloc_failed = part.alloc_failed;
                    }
                    // A part the batch has no room for is read again
                    // next pass, as one that stopped short.
                    whole = whole && self.append_helper_part(table, &part);
                    if whole {
                        self.totals.helper_parts += 1;
                        self.totals.prefetched_parts += u64::from(prefetched);
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

    /// About how many more records the batch has room for, by the line
    /// bytes per record of recent batches.
    fn records_that_fit(&self) -> usize {
        let left = self.batch_bytes.saturating_sub(self.lines.len());
        // Each output's buffer grows by doubling within the budget: count
        // on three quarters of what is left.
        (left / 4 * 3 / self.line_bytes.max(1)).max(1)
    }

    /// Reports (once) that the allocator refused a batch buffer, and
    /// lowers the batch budget to what the buffers hold, so later batches
    /// stay within memory the process could get.
    fn note_alloc_failure(&mut self) {
        let Some(wanted) = self.lines.alloc_failed else {
            return;
        };
        let have = self.lines.capacity().max(MIN_BATCH_BYTES);
        if !self.alloc_reported {
            self.alloc_reported = true;
            crate::diag!(
                "memory for a batch buffer was refused ({wanted} bytes); batches are cut to {} KiB of lines from now on",
                have >> 10
            );
        }
        if have < self.batch_bytes {
            self.set_batch_bytes(have);
        }
    }

    /// True if the sinks may be given this region's records now: always
    /// for a replaced region being drained, and for the region served only
    /// once the sinks have sent every replaced region's records (a thread
    /// that moved to it logged those first).
    fn may_forward(&self) -> bool {
        !self.sinks.is_empty()
            && (self.in_retiring_pass
                || self.retiring.iter().all(|s| self.sinks.caught_up(s.region)))
    }

    /// Moves every lane's tail up to its files position, and no further
    /// than any forwarding sink has had acknowledged
    /// ([`Sinks::held`]): the producers get the room back once the files
    /// and every sink are done with the bytes.
    fn advance_tails(&mut self) {
        let lanes = self.region.geometry().sizes.lanes as usize;
        for i in 0..lanes {
            let ctrl = self.region.lane_control(i);
            let (tail, files) = (ctrl.tail(), ctrl.files());
            let to = self.sinks.held(self.region, i, tail, files);
            if tail != to {
                // SAFETY: we hold the writer lock, so we are the lane's only
                // consumer that commits; `to` lies in `[tail, files]`
                // (`Sinks::held`), bytes the files and the sinks are done
                // with.
                let consumer = unsafe { Consumer::attach(ctrl, self.region.lane_bytes(i)) };
                consumer.commit(to);
            }
        }
    }

    /// Releases lane pages behind the tails (their records are on disk)
    /// from this process once the bytes read since their last release
    /// pass [`RELEASE_BUDGET`], all lanes together: every lane with at
    /// least [`RELEASE_MIN`] of them. `madvise(MADV_DONTNEED)` on the
    /// writer's shared mapping drops its page-table entries only (the
    /// bytes stay in the region file; a later read maps them in again), so
    /// the writer's resident memory holds about that budget of lane bytes
    /// (and the pages of the batch in flight), not every lane it ever read
    /// (32 MiB of them with the default region, at 32 producer threads or
    /// more).
    fn release_read_pages(&mut self) {
        let cap = self.region.geometry().sizes.lane_capacity as u64;
        let read = |e: &Self, i: usize| {
            // More than a lap, or cursors that moved back (a reused lane):
            // the whole ring.
            let tail = e.region.lane_control(i).tail();
            (tail, tail.wrapping_sub(e.released[i]).min(cap))
        };
        let total: u64 = (0..self.released.len()).map(|i| read(self, i).1).sum();
        if total <= RELEASE_BUDGET {
            return;
        }
        for i in 0..self.released.len() {
            let (tail, dist) = read(self, i);
            if dist >= RELEASE_MIN.min(cap) {
                self.release_lane(i, tail);
            }
        }
    }

    /// Releases lane `i`'s pages below `tail` read since its last release
    /// (see [`release_read_pages`](Self::release_read_pages)), whole pages
    /// only.
    fn release_lane(&mut self, i: usize, tail: u64) {
        let region = self.region;
        let cap = region.geometry().sizes.lane_capacity as u64;
        let done = self.released[i];
        let dist = tail.wrapping_sub(done);
        // From a little before the last release (see FAULT_AROUND); more
        // than a lap (or cursors that moved back: a reused lane): the
        // whole ring.
        let from = if dist.saturating_add(FAULT_AROUND) >= cap {
            tail.wrapping_sub(cap)
        } else {
            done.wrapping_sub(FAULT_AROUND)
        };
        self.released[i] = tail;
        // The ring follows its control block; `lane_bytes` gives no
        // address, so take it from there.
        let ring = region.lane_control(i) as *const _ as usize + ul_ring::layout::LANE_CONTROL_LEN;
        let mask = cap - 1;
        let (a, b) = (from & mask, tail & mask);
        let spans = if tail.wrapping_sub(from) >= cap {
            [(0, cap), (0, 0)]
        } else if a < b {
            [(a, b), (0, 0)]
        } else {
            [(a, cap), (0, b)]
        };
        let page = page_size();
        for (x, y) in spans {
            let start = (ring + x as usize).next_multiple_of(page);
            let end = (ring + y as usize) / page * page;
            if end > start {
                // SAFETY: `[start, end)` lies inside lane `i`'s ring, in the
                // region's shared mapping, which lives as long as the
                // engine (leaked); MADV_DONTNEED on a shared file mapping
                // only unmaps the pages from this process (their contents
                // stay in the file and are mapped in again when read), and
                // no reference into those bytes is held: lanes are only
                // ever copied out with raw reads.
                unsafe {
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
                }
            }
        }
    }

    /// Writes the batch under the write-ahead intent, then moves the cursors.
    fn write_batch(&mut self) -> Result<(), OutputError> {
        if self.out.moved() {
            crate::diag!(
                "{} or a file in it was removed or replaced; writing to new files there",
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
            self.region
                .lane_control(p.lane)
                .stage(b, p.new_tail, p.dropped);
        }
        if let Some((_, to)) = self.shared_lane_release {
            w.stage_shared_release(to);
        }
        if let Some(d) = self.shared_lane_dropped {
            w.stage_shared_drops(b, d);
        }
        self.record_table_drops(b);
        let lens = crate::intent::record(h, &mut self.out, &self.lines.bufs)?;
        // A binary log this process has not written to yet (new, rotated,
        // reopened, or its last batch taken back) starts with a session
        // and the entries so far; it is part of the batch (after the
        // length the intent recorded).
        let prefix = if !self.lines.bufs[BINARY].is_empty() && self.out.fresh(BINARY) {
            self.lines.binary_prefix()
        } else {
            None
        };
        w.begin_batch(b);
        for i in 0..COUNT {
            let done = match &prefix {
                Some(p) if i == BINARY => self
                    .out
                    .append(i, p)
                    .and_then(|()| self.out.append(i, &self.lines.bufs[i])),
                _ => self.out.append(i, &self.lines.bufs[i]),
            };
            if let Err(e) = done {
                // Take back what this batch already wrote (this file's
                // prefix included); the cursors stay where they are and
                // the batch is read again on retry.
                for (j, l) in lens.iter().enumerate().take(i + 1) {
                    let _ = self.out.truncate(j, *l);
                }
                w.batch_done();
                return Err(e);
            }
        }
        w.batch_written();
        for p in &self.pending {
            let ctrl = self.region.lane_control(p.lane);
            ctrl.commit_files(p.new_tail);
            let before = ctrl.report_dropped(p.dropped);
            h.stats.drops_reported.add(p.dropped.wrapping_sub(before));
        }
        if self.may_forward() {
            // The batch is in the files: the sinks may send it.
            self.sinks.pump(self.region, self.lines.calib);
        }
        self.advance_tails();
        if !self.pending.is_empty() {
            self.release_read_pages();
        }
        if let Some((from, to)) = self.shared_lane_release {
            let shared_lane = self.region.shared_lane();
            for pos in from..to {
                shared_lane.release(pos);
            }
        }
        if let Some(d) = self.shared_lane_dropped {
            let before = self.region.shared_lane().control().report_dropped(d);
            h.stats.drops_reported.add(d.wrapping_sub(before));
        }
        self.commit_table_drops();
        self.free_lanes();
        w.batch_done();
        h.stats.records_written.add(self.lines.records);
        let bytes: usize = self.lines.bufs.iter().map(Vec::len).sum();
        h.stats.bytes_written.add(bytes as u64);
        if self.lines.records > 0 {
            // Line bytes per record, averaged over recent batches.
            let now = bytes / self.lines.records as usize;
            self.line_bytes = (3 * self.line_bytes + now).div_ceil(4).max(1);
        }
        self.totals.records += self.lines.records;
        self.totals.batches += 1;
        Ok(())
    }

    /// True if every record of the served and the retiring regions is in
    /// the files and every drop reported, and only forwarding sinks hold
    /// lanes' tails back.
    fn only_sinks_hold(&self) -> bool {
        !self.sinks.is_empty()
            && files_drained(self.region)
            && self.retiring.iter().all(|s| files_drained(s.region))
    }

    /// True if some lane has records, drops to report, or a flush waits.
    pub fn has_work(&self) -> bool {
        let h = self.region.header();
        if h.flush.wanted().is_some() {
            return true;
        }
        // Drops counted in the drop table wait for a report too.
        if (0..ul_ring::layout::DROP_SLOTS).any(|k| {
            let e = self.region.drop_slot(k);
            e.dropped() != e.dropped_reported()
        }) {
            return true;
        }
        let lanes = self.region.geometry().sizes.lanes as usize;
        for i in 0..lanes {
            let c = self.region.lane_control(i);
            let (tail, files) = (c.tail(), c.files());
            // Records not yet in the files, drops not yet reported, or a
            // tail the sinks let move (one they hold back is not work).
            if c.head() != files
                || c.dropped() != c.dropped_reported()
                || tail != self.sinks.held(self.region, i, tail, files)
            {
                return true;
            }
        }
        // A claim not yet committed (`Pending`) is not work: its producer
        // commits and wakes us, or it died and the claim is abandoned by a
        // pass after the timeout, which the sleep's timeout (the flush
        // interval) brings round. Counting it would spin the loop.
        if self.may_forward() && self.sinks.has_work(self.region) {
            return true;
        }
        let shared_lane = self.region.shared_lane();
        shared_lane.control().dropped() != shared_lane.control().dropped_reported()
            || matches!(
                shared_lane.tail_state(shared_lane.control().tail()),
                TailState::Ready(_)
            )
    }

    /// Runs until `signals.terminate`, then drains everything and returns.
    /// Stops early with [`RunError::RegionBroken`] if the region file is
    /// truncated under it.
    pub fn run(&mut self, signals: &Signals) -> Result<(), RunError> {
        let mut flush: Option<FlushTarget> = None;
        loop {
            if self.last_region_check.elapsed() >= RECLAIM_SCAN && self.check_region()? {
                // A pending flush was asked of the old region, which now
                // acknowledges its own requests once drained.
                flush = None;
            }
            self.heartbeat(signals);
            let terminating = signals.terminate.load(Ordering::Relaxed);
            self.track_flush_request(&mut flush);
            if self.backing_off(terminating) {
                continue;
            }
            let Some(mut did) = self.pass_or_back_off(terminating)? else {
                continue;
            };
            if !self.retiring.is_empty() && self.drain_retiring() {
                did = did.max(1);
            }
            if let (true, Some(t)) = (did > 0, &mut self.throttle) {
                t.pace();
            }
            if self.acknowledge_flush(&mut flush) || did > 0 {
                continue;
            }
            if terminating {
                if self.drained() {
                    return Ok(());
                }
                if self.only_sinks_hold() {
                    let since = *self.sinks_wait_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= FORWARD_DRAIN {
                        crate::diag!(
                            "exiting with records in the files that not every --forward receiver \
                             acknowledged within {FORWARD_DRAIN:?}; they stay in the region and \
                             the next writer sends them"
                        );
                        return Ok(());
                    }
                }
                // Only an uncommitted claim is left: it commits soon or is
                // abandoned after the timeout; poll it without spinning.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            if self.sleep_until_work(signals)? {
                flush = None;
            }
        }
    }

    /// The heartbeat, a reopen of the files on SIGHUP, and the clock's rate
    /// re-derived every 10 s.
    fn heartbeat(&mut self, signals: &Signals) {
        let h = self.region.header();
        h.writer.beat(ul_ring::clock::monotonic_ns());
        if signals.reopen.swap(false, Ordering::Relaxed) {
            if let Err(e) = self.out.reopen_all() {
                crate::diag!("reopening outputs: {e}");
            }
        }
        self.publish_sinks();
        // Not while a forwarding sink has records the files hold: it
        // formats them as the files did, with the clock they were written
        // with (see `calibrate`).
        if self.calib_at.elapsed() > Duration::from_secs(10) && self.sinks.caught_up(self.region) {
            self.lines.calib = calibrate(self.region, false);
            self.calib_at = Instant::now();
        }
    }

    /// Publishes the sinks' state for `ul-stat`, about once a second.
    fn publish_sinks(&mut self) {
        if self.sinks.is_empty() || self.sinks_published.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.sinks_published = Instant::now();
        let region = self.region;
        self.sinks.publish(region, |i, from, to| {
            // SAFETY: we are the lane's only consumer that commits (the
            // sinks only read); this only reads frames in `[from, to)`,
            // at or above the tail and below the files position.
            let consumer =
                unsafe { Consumer::attach(region.lane_control(i), region.lane_bytes(i)) };
            consumer
                .count_records(from, to, usize::MAX)
                .map_or(0, |(_, n)| n as u64)
        });
    }

    /// Takes the heads a new flush request waits for.
    fn track_flush_request(&self, flush: &mut Option<FlushTarget>) {
        let h = self.region.header();
        if let Some(req) = h.flush.wanted() {
            if flush.as_ref().is_none_or(|t| t.request < req) {
                *flush = Some(self.flush_target(req));
            }
        }
    }

    /// True (after a short sleep) while a failing write waits for its
    /// retry; never while terminating.
    fn backing_off(&self, terminating: bool) -> bool {
        match &self.write_failing {
            Some(f) if Instant::now() < f.retry_at && !terminating => {
                std::thread::sleep(Duration::from_millis(10));
                true
            }
            _ => false,
        }
    }

    /// One pass. `Some(records)`, or `None` after a failed write: reported
    /// once per kind of failure, retried with backoff; the records stay in
    /// shared memory. A failure while terminating ends the run.
    fn pass_or_back_off(&mut self, terminating: bool) -> Result<Option<usize>, RunError> {
        match self.pass() {
            Ok(n) => {
                if let Some(f) = self.write_failing.take() {
                    crate::diag!("writing works again ({} cleared)", f.what);
                }
                Ok(Some(n))
            }
            Err(e) => {
                // Once per kind of failure: a new error (another file,
                // another errno) is reported, a repeat is not.
                let what = e.to_string();
                let backoff = match &self.write_failing {
                    Some(f) => {
                        if f.what != what {
                            crate::diag!("{what}; records stay in shared memory, retrying");
                        }
                        (f.backoff * 2).min(MAX_BACKOFF)
                    }
                    None => {
                        crate::diag!("{what}; records stay in shared memory, retrying");
                        Duration::from_millis(50)
                    }
                };
                self.write_failing = Some(WriteFailing {
                    retry_at: Instant::now() + backoff,
                    backoff,
                    what,
                });
                let _ = self.out.reopen_all();
                if terminating {
                    return Err(e.into());
                }
                Ok(None)
            }
        }
    }

    /// Acknowledges the pending flush if its target is reached (and wakes
    /// the producers waiting for it). True if it did.
    fn acknowledge_flush(&self, flush: &mut Option<FlushTarget>) -> bool {
        let Some(t) = flush.as_ref() else {
            return false;
        };
        if !self.reached(t) {
            return false;
        }
        let h = self.region.header();
        h.flush.acknowledge(t.request);
        *flush = None;
        true
    }

    /// Idle: announces sleep, re-checks every lane, sleeps on the futex
    /// until woken or the flush interval passes, then looks at the region
    /// file. True if the engine now serves another region.
    fn sleep_until_work(&mut self, signals: &Signals) -> Result<bool, RunError> {
        let h = self.region.header();
        let seq = h.wake.prepare_sleep();
        if self.has_work() || signals.terminate.load(Ordering::Relaxed) {
            h.wake.cancel_sleep();
            return Ok(false);
        }
        let mut interval = h.control.flush_interval_ms().clamp(1, 60_000);
        if !self.retiring.is_empty() {
            // Producers of a retiring region wake its futex, not ours.
            interval = interval.min(10);
        }
        self.totals.sleeps += 1;
        h.wake
            .sleep(seq, Duration::from_millis(u64::from(interval)));
        // Woken or timed out: a cheap moment to see that the region file is
        // still whole (and still the one at the path). A region left behind
        // gets `sleeping = 1` again from `drain_retiring`.
        let switched = self.check_region()?;
        h.wake.cancel_sleep();
        Ok(switched)
    }
}

/// [`Consumer::read_batch`] of `[from, to)`, at most `max` records, for
/// a `format` that returns false when the batch has no room for a record:
/// the part then ends before that record (its `new_tail`), and what
/// follows is read again in a later pass. Bytes that are not records
/// after that point are not reported now (they will be, when reached).
pub(crate) fn read_part<B: ul_ring::bytes::ByteStore>(
    consumer: &Consumer<'_, B>,
    (from, to): (u64, u64),
    max: usize,
    scratch: &mut Vec<u8>,
    mut format: impl FnMut(u64, &[u8]) -> bool,
) -> Batch {
    let mut cut = None;
    let mut formatted = 0;
    let batch = consumer.read_batch(from, to, max, scratch, |pos, rec| {
        if cut.is_none() {
            if format(pos, rec) {
                formatted += 1;
            } else {
                cut = Some(pos);
            }
        }
    });
    stopped_at(cut, formatted, batch)
}

/// [`read_part`] by spans ([`Consumer::read_spans`]): `format` takes a
/// span and returns the records it formatted and, if the batch filled, the
/// position of the first record left.
pub(crate) fn read_spans_part<B: ul_ring::bytes::ByteStore>(
    consumer: &Consumer<'_, B>,
    (from, to): (u64, u64),
    max: usize,
    scratch: &mut Vec<u8>,
    mut format: impl FnMut(u64, &[u8]) -> (usize, Option<u64>),
) -> Batch {
    let mut cut = None;
    let mut formatted = 0;
    let batch = consumer.read_spans(from, to, max, scratch, |pos, span, _| {
        if cut.is_none() {
            let (n, c) = format(pos, span);
            formatted += n;
            cut = c;
        }
    });
    stopped_at(cut, formatted, batch)
}

/// What a part read: up to `cut`, the first record `format` left for the
/// next batch, with the `formatted` records before it; else all of `batch`.
fn stopped_at(cut: Option<u64>, formatted: usize, batch: Batch) -> Batch {
    match cut {
        Some(pos) => Batch {
            new_tail: pos,
            records: formatted,
            corrupt: None,
        },
        None => batch,
    }
}

/// The system's page size.
fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
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
/// With `adopt`, the rate a previous writer kept in the region
/// (`tsc_hz`), if any and if it agrees with a measurement to 0.1%, is taken
/// as it is; a rate measured is kept there, and used, in whole ticks per
/// second.
fn calibrate(region: &Region, adopt: bool) -> Calibration {
    let id = &region.header().id;
    let base = (
        id.anchor_tsc.load(Ordering::Relaxed),
        id.anchor_ns.load(Ordering::Relaxed),
    );
    // The rate kept in the region by the last writer, as it used it: a
    // writer that takes over formats the records its predecessor left
    // unacknowledged by a forwarding receiver exactly as they are in the
    // files (it re-derives the rate 10 s later).
    let kept = id.tsc_hz.load(Ordering::Relaxed);
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
    // Used as kept: whole ticks per second. A kept rate is adopted only
    // if it agrees with this measurement to 0.1% (the region is
    // untrusted: a forged rate is not taken).
    let hz = (c.ticks_per_ns * 1e9).round().max(1.0) as u64;
    let hz = if adopt && kept != 0 && (kept as f64 - hz as f64).abs() <= hz as f64 * 1e-3 {
        kept
    } else {
        id.tsc_hz.store(hz, Ordering::Relaxed);
        hz
    };
    Calibration {
        ticks_per_ns: hz as f64 / 1e9,
        ..c
    }
}
