//! Format helper threads: more than one core for a writer that fell behind.
//!
//! When one lane holds a long run of records, the engine splits the run at
//! record boundaries ([`Consumer::split_after`]). It formats the first part
//! itself while each helper formats a later part into buffers of its own;
//! the parts are then appended in lane order, so the files hold exactly
//! what one thread would have written. Writing, the write-ahead intent and
//! the cursors stay with the engine's thread: a helper only reads lane
//! bytes (below the head the engine observed, above the tail it has not
//! yet moved) and formats them, so crash recovery is unchanged.
//!
//! When many lanes each hold a short run (many producer threads), the
//! engine plans the pass's runs in its lane order and hands consecutive
//! groups of them (a lane's run may be cut between two groups) to the
//! helpers, formatting the first group itself; the parts are appended in
//! that order ([`FormatThreads::start_runs`]).
//!
//! A helper that dies (a panic) is dropped and its part formatted by the
//! engine instead; nothing is lost.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use ul_ring::clock::Calibration;
use ul_ring::lane::{Batch, Consumer, COPY_CHUNK};
use ul_ring::region::Region;

use crate::batch_lines::{BatchLines, Origin};
use crate::outputs::{Format, COUNT};

/// Fewest records a part must hold for a run to be split: below this the
/// hand-off (a futex wake and wait per helper) costs more than it saves.
pub const MIN_PART_RECORDS: usize = 256;

/// Most format threads (the engine's own included).
pub const MAX_FORMAT_THREADS: usize = 16;

/// A run of one lane for a part: the records in `[from, to)`, at most
/// `max_records` of them, after a line of the writer's own (`note`, a
/// drop report) if it has one.
#[derive(Clone, Debug)]
pub struct Run {
    /// The lane.
    pub lane: usize,
    /// Its owner.
    pub origin: Origin,
    /// Where the run starts (a record boundary).
    pub from: u64,
    /// Where it ends (a record boundary at or below the head observed).
    pub to: u64,
    /// Most records to format.
    pub max_records: usize,
    /// A warning line to write before the run's records.
    pub note: Option<String>,
}

/// One part for a helper: runs of lanes, formatted in order.
struct Job {
    region: &'static Region,
    /// Bytes of lines the part may take (see [`BatchLines::set_limit`]).
    limit: usize,
    runs: Vec<Run>,
    calib: Calibration,
    /// Text lines show file and line (`--text-location`).
    text_location: bool,
    /// Empty buffers to format into (handed back and forth, so they are
    /// allocated once).
    bufs: Vec<Vec<u8>>,
    /// Panic inside this part, as a bug in formatting would (a test hook:
    /// `FormatThreads::fail_next_part`, feature `test-hooks`).
    fail: bool,
}

/// A helper's finished part.
pub struct Part {
    /// The formatted lines, one buffer per output.
    pub bufs: Vec<Vec<u8>>,
    /// Records formatted.
    pub records: u64,
    /// What reading the part's last run found (`new_tail` short of the
    /// run's end if it stopped early; `corrupt` if it held bytes that are
    /// not records).
    pub batch: Batch,
    /// Every run was read to its end, with no bytes that are not records
    /// (a part of several runs stops at the first that was not).
    pub whole: bool,
    /// The allocator refused to grow a buffer (the bytes asked for): the
    /// part stopped there ([`BatchLines::alloc_failed`]).
    pub alloc_failed: Option<usize>,
    /// The entries the part's binary records name (see
    /// [`BatchLines::append_part`]); empty without the binary log.
    pub defs: Vec<u32>,
    /// The clock the part's timestamps were converted with.
    pub calib: Calibration,
}

struct Helper {
    /// The next part this helper is handed panics (a test hook).
    fail_next: bool,
    jobs: Option<Sender<Job>>,
    parts: Receiver<Part>,
    spare: Option<Vec<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

/// The engine's helper threads (none by default; `ul-writer
/// --format-threads N` starts `N - 1`).
///
/// ```
/// use ul_writer::internals::format_threads::FormatThreads;
/// use ul_writer::internals::outputs::Format;
///
/// let h = FormatThreads::spawn(Format::Text, 3).unwrap();
/// assert_eq!(h.len(), 2);
/// assert!(FormatThreads::default().is_empty());
/// ```
pub struct FormatThreads {
    helpers: Vec<Helper>,
    /// Format threads that died and were dropped.
    lost: u64,
    /// Handed to each part: text lines show file and line
    /// ([`BatchLines::set_text_location`]).
    pub text_location: bool,
    /// Bytes of lines one part may take ([`BatchLines::set_limit`]).
    limit: usize,
}

impl Default for FormatThreads {
    fn default() -> Self {
        FormatThreads {
            helpers: Vec::new(),
            lost: 0,
            text_location: false,
            limit: usize::MAX,
        }
    }
}

impl FormatThreads {
    /// Starts `threads - 1` helpers (`threads` counts the engine's own
    /// thread; at most [`MAX_FORMAT_THREADS`]).
    pub fn spawn(format: Format, threads: usize) -> std::io::Result<Self> {
        let mut h = FormatThreads::default();
        for k in 1..threads.clamp(1, MAX_FORMAT_THREADS) {
            let (job_tx, job_rx) = channel::<Job>();
            let (part_tx, part_rx) = channel::<Part>();
            // The lane copy buffer is allocated here, before the thread
            // runs: at start, so the memory limit's plan (which measures
            // once the helpers are started) finds it in use, rather than
            // later on the helper's thread, where it would race with the
            // limit (and, if refused, abort the writer).
            let scratch = Vec::with_capacity(COPY_CHUNK);
            let thread = std::thread::Builder::new()
                .name(format!("ul-format-{k}"))
                .spawn(move || serve(format, job_rx, part_tx, scratch))?;
            h.helpers.push(Helper {
                fail_next: false,
                jobs: Some(job_tx),
                parts: part_rx,
                spare: None,
                thread: Some(thread),
            });
        }
        Ok(h)
    }

    /// Bounds the lines of each part to `bytes` (all outputs together): a
    /// part whose next record might not fit stops short there, and the
    /// engine reads the rest again in a later pass. Unbounded by default.
    pub fn set_limit(&mut self, bytes: usize) {
        self.limit = bytes;
    }

    /// Format threads alive.
    pub fn len(&self) -> usize {
        self.helpers.len()
    }

    /// True if there is no helper.
    pub fn is_empty(&self) -> bool {
        self.helpers.is_empty()
    }

    /// Format threads that died (and were dropped) so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// A test hook (feature `test-hooks`): helper `k` panics while
    /// formatting the next part it is handed, as a bug in formatting would
    /// make it, so that tests can check the engine formats that part itself
    /// and loses nothing.
    ///
    /// ```
    /// use ul_writer::internals::format_threads::FormatThreads;
    /// use ul_writer::internals::outputs::Format;
    ///
    /// let mut h = FormatThreads::spawn(Format::Text, 2).unwrap();
    /// h.fail_next_part(0);
    /// assert_eq!(h.len(), 1);
    /// ```
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn fail_next_part(&mut self, k: usize) {
        self.helpers[k].fail_next = true;
    }

    /// Hands helper `k` the records of `lane` in `[from, to)`, at most
    /// `max_records`. False if the helper is gone (the caller formats the
    /// part itself).
    ///
    /// The caller must be the lane's consumer, must have loaded the head
    /// (Acquire) at or past `to`, and must not move the tail past `from`
    /// before [`finish`](Self::finish) returns for this part.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        k: usize,
        region: &'static Region,
        lane: usize,
        origin: Origin,
        (from, to): (u64, u64),
        max_records: usize,
        calib: Calibration,
    ) -> bool {
        let run = Run {
            lane,
            origin,
            from,
            to,
            max_records,
            note: None,
        };
        self.start_runs(k, region, vec![run], calib)
    }

    /// Hands helper `k` a part made of `runs`, formatted in order (each
    /// after its `note`). False if the helper is gone (then it is removed,
    /// and the caller formats the runs itself).
    ///
    /// For every run the caller must be the lane's consumer, must have
    /// loaded the lane's head (Acquire) at or past `to`, and must not move
    /// the lane's tail past `from` before [`finish`](Self::finish) returns
    /// for this part.
    pub fn start_runs(
        &mut self,
        k: usize,
        region: &'static Region,
        runs: Vec<Run>,
        calib: Calibration,
    ) -> bool {
        let h = &mut self.helpers[k];
        let bufs = h
            .spare
            .take()
            .unwrap_or_else(|| (0..COUNT).map(|_| Vec::new()).collect());
        let job = Job {
            region,
            limit: self.limit,
            runs,
            calib,
            text_location: self.text_location,
            bufs,
            fail: std::mem::take(&mut h.fail_next),
        };
        if h.jobs.as_ref().is_some_and(|tx| tx.send(job).is_ok()) {
            return true;
        }
        self.remove(k);
        false
    }

    /// Drops helper `k`, which died.
    fn remove(&mut self, k: usize) {
        let mut h = self.helpers.remove(k);
        self.lost += 1;
        h.jobs = None;
        if let Some(t) = h.thread.take() {
            let _ = t.join();
        }
        crate::diag!("a format helper stopped; the engine formats its share");
    }

    /// Waits for helper `k`'s part; `None` if the helper died (then it is
    /// removed, and the caller formats the part itself).
    pub fn finish(&mut self, k: usize) -> Option<Part> {
        match self.helpers[k].parts.recv() {
            Ok(p) => Some(p),
            Err(_) => {
                self.remove(k);
                None
            }
        }
    }

    /// Returns a part's buffers to helper `k` for its next part.
    pub fn give_back(&mut self, k: usize, mut bufs: Vec<Vec<u8>>) {
        if let Some(h) = self.helpers.get_mut(k) {
            for b in &mut bufs {
                b.clear();
            }
            h.spare = Some(bufs);
        }
    }
}

impl Drop for FormatThreads {
    fn drop(&mut self) {
        for h in &mut self.helpers {
            // Closing the channel ends the helper's loop.
            h.jobs = None;
        }
        for h in &mut self.helpers {
            if let Some(t) = h.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// A helper's loop: format each part it is handed, send it back.
/// `scratch` is its lane copy buffer.
fn serve(format: Format, jobs: Receiver<Job>, parts: Sender<Part>, mut scratch: Vec<u8>) {
    let mut lines: Option<(BatchLines, *const Region)> = None;
    while let Ok(job) = jobs.recv() {
        let (maker, names_of) =
            lines.get_or_insert_with(|| (BatchLines::new(format, job.calib), core::ptr::null()));
        if !core::ptr::eq(*names_of, job.region) {
            // Call-site caches are per region (a replaced region is drained too).
            maker.names.clear();
            *names_of = job.region;
        }
        maker.calib = job.calib;
        maker.set_text_location(job.text_location);
        maker.bufs = job.bufs;
        maker.clear();
        maker.set_limit(job.limit);
        maker.begin_part(job.region);
        let region = job.region;
        let table = region.callsites();
        let mut batch = Batch {
            new_tail: 0,
            records: 0,
            corrupt: None,
        };
        let mut whole = true;
        for run in &job.runs {
            if let Some(note) = &run.note {
                maker.writer_line(ul_ring::record::Level::Warn, note);
            }
            // SAFETY: the engine is this lane's consumer and hands out
            // disjoint runs of `[tail, head)` that it observed published
            // and does not release until this part is returned (the
            // contract of `FormatThreads::start_runs`); reading them
            // concurrently with the engine's reads of other runs is sound
            // because nobody consumes (moves the tail) meanwhile. Lane
            // capacities are validated powers of two.
            let consumer = unsafe {
                Consumer::attach(region.lane_control(run.lane), region.lane_bytes(run.lane))
            };
            batch = crate::engine::read_part(
                &consumer,
                (run.from, run.to),
                run.max_records,
                &mut scratch,
                |pos, rec| {
                    if job.fail {
                        panic!("ul-writer: a format helper failed (a test asked it to)");
                    }
                    maker.record(region, &table, run.origin, pos, rec)
                },
            );
            if batch.new_tail != run.to || batch.corrupt.is_some() {
                whole = false;
                break;
            }
        }
        let part = Part {
            bufs: std::mem::take(&mut maker.bufs),
            records: maker.records,
            batch,
            whole,
            alloc_failed: maker.alloc_failed,
            defs: maker.part_defs(),
            calib: job.calib,
        };
        if parts.send(part).is_err() {
            break;
        }
    }
}
