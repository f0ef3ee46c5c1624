//! Forwarding sinks: one thread per `--forward` URL that sends the records
//! the files already hold to a receiver, and the engine's view of how far
//! each has had them acknowledged.
//!
//! A lane's bytes pass three positions: its tail, what its sinks have had
//! acknowledged, and what is in the files
//! ([`LaneControl::files`](ul_ring::lane::LaneControl::files)). The engine
//! writes the files as before, reading from the files position; each sink
//! reads `[acknowledged, files)` and the engine moves the tail (giving the
//! producers their room back) only up to the least any sink has had
//! acknowledged. So a record reaches a receiver only once it is in the
//! files, a slow or absent receiver holds its records in the ring (and
//! when the ring fills the producers' overflow policy applies, as for a
//! slow disk), and a writer that dies loses nothing: its successor starts
//! every sink at the tail and sends again what was not acknowledged (at
//! least once: what a receiver took but whose acknowledgement was lost is
//! sent twice).
//!
//! The engine stays the only thread that moves a cursor. It hands each idle
//! sink a job (runs of lanes below the files position, of one region), and
//! takes the result (how far each lane was acknowledged, or why not) on its
//! next pass; the sink wakes it through the region's futex when it is done.
//! The shared lane's records and the writer's own lines are not forwarded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ul_ring::clock::Calibration;
use ul_ring::lane::Consumer;
use ul_ring::layout::{SinkStatus, SINK_SLOTS};
use ul_ring::record::Level;
use ul_ring::region::Region;

use crate::batch_lines::{BatchLines, Origin};
use crate::outputs::{Format, TEXT};

/// One record on its way out: its text line (as in `<name>.log`, without
/// the newline) and what a protocol's header carries.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// Severity.
    pub level: Level,
    /// Unix nanoseconds.
    pub timestamp_ns: u64,
    /// Producer process.
    pub pid: u32,
    /// Producer thread.
    pub tid: u32,
    /// The lane it came from.
    pub lane: u32,
    /// Its position in the lane (JSON's `"seq"`): with pid, tid and lane
    /// it names the record, so a receiver can drop a repeat.
    pub seq: u64,
    /// The text line.
    pub line: &'a [u8],
}

/// A protocol client: delivers records in order.
pub trait Transport: Send {
    /// Sends `records`; `Ok` once the receiver has acknowledged every one
    /// (or, for a protocol without acknowledgements, once they are handed
    /// to the kernel). On `Err` none of them counts as delivered: they are
    /// sent again later.
    fn deliver(&mut self, records: &[Outgoing<'_>]) -> Result<(), String>;

    /// Most records per [`deliver`](Self::deliver) call.
    fn window(&self) -> usize;
}

/// Records a sink takes per job at most (then it reports and gets the
/// next): bounds how stale the engine's view of it gets, and so what a
/// writer killed mid-job sends again after its restart (the job's records
/// the receiver acknowledged but the engine had not yet heard of).
pub const JOB_RECORDS: usize = 2048;

/// Bytes of lines a sink formats at a time (one call's records).
const SINK_LINE_BYTES: usize = 1 << 20;

/// First wait after a failure; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A run of one lane for a sink: the records in `[from, to)`.
struct Run {
    lane: usize,
    origin: Origin,
    from: u64,
    to: u64,
    /// Stretches of bytes that are not records the engine skipped in
    /// `[from, to)`: `[start, end)`.
    skips: Vec<(u64, u64)>,
}

struct Job {
    region: &'static Region,
    calib: Calibration,
    runs: Vec<Run>,
}

struct Done {
    region: &'static Region,
    /// Per lane of the job: acknowledged up to here.
    acked: Vec<(usize, u64)>,
    records: u64,
    error: Option<String>,
}

/// What a sink is doing, for the writer's diagnostics and `ul-stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkState {
    /// Sending, or waiting for records.
    Up,
    /// The last delivery failed; retrying after a backoff.
    Failing,
}

struct Sink {
    url: String,
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    /// Set by the thread before it hands a job back, cleared when the
    /// engine takes it: a finished job is work, so the engine does not go
    /// to sleep over it (the thread's wake may have come just before).
    ready: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    busy: bool,
    /// Per region served: how far each lane was acknowledged.
    acked: Vec<(&'static Region, Vec<u64>)>,
    retry_at: Option<Instant>,
    backoff: Duration,
    state: SinkState,
    last_error: Option<String>,
    /// Wall-clock ns of the last failure.
    last_error_at: u64,
    forwarded: u64,
    /// The lane the next job starts at: jobs take lanes in turn, so one
    /// busy lane does not keep the others' records (and tails) waiting.
    next_lane: usize,
}

/// The engine's sinks (none without `--forward`).
#[derive(Default)]
pub struct Sinks {
    list: Vec<Sink>,
    /// Per region and lane: stretches `[start, end)` of bytes that are not
    /// records the engine skipped, until every sink is past them.
    skipped: Vec<(&'static Region, usize, u64, u64)>,
}

/// A sink's counters, for the closing summary and the tests.
#[derive(Clone, Debug)]
pub struct SinkReport {
    /// The URL it was started with.
    pub url: String,
    /// Records acknowledged.
    pub forwarded: u64,
    /// Up or failing.
    pub state: SinkState,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl Sinks {
    /// Starts a sink thread for `url` sending through `transport`.
    pub fn add(&mut self, url: &str, transport: Box<dyn Transport>) -> std::io::Result<()> {
        let (jobs, rx) = mpsc::sync_channel::<Job>(1);
        let (tx, done) = mpsc::sync_channel::<Done>(1);
        let ready = Arc::new(AtomicBool::new(false));
        let flag = ready.clone();
        let thread = std::thread::Builder::new()
            .name("ul-writer-fwd".into())
            .spawn(move || serve(transport, rx, tx, flag))?;
        self.list.push(Sink {
            url: url.to_string(),
            jobs: Some(jobs),
            done,
            ready,
            thread: Some(thread),
            busy: false,
            acked: Vec::new(),
            retry_at: None,
            backoff: FIRST_BACKOFF,
            state: SinkState::Up,
            last_error: None,
            last_error_at: 0,
            forwarded: 0,
            next_lane: 0,
        });
        Ok(())
    }

    /// True if there are no sinks.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The engine skipped `[start, end)` of lane `lane` of `region` as not
    /// records: the sinks skip the same bytes.
    pub fn note_skipped(&mut self, region: &'static Region, lane: usize, start: u64, end: u64) {
        if self.list.is_empty() {
            return;
        }
        let key = |r: &'static Region, l: usize| (r as *const Region, l);
        // Forget stretches every sink is past (the lane's tail is).
        self.skipped.retain(|&(r, l, _, e)| {
            let tail = r.lane_control(l).tail();
            e.wrapping_sub(tail) < 1 << 62 && e != tail
        });
        if !self
            .skipped
            .iter()
            .any(|&(r, l, s, _)| key(r, l) == key(region, lane) && s == start)
        {
            self.skipped.push((region, lane, start, end));
        }
    }

    /// Where lane `lane` of `region` may have its tail, given its `tail` and
    /// `files` positions: `files` without sinks, else the least any sink
    /// has had acknowledged (one that has not started on the region holds
    /// everything from the tail).
    pub fn held(&self, region: &'static Region, lane: usize, tail: u64, files: u64) -> u64 {
        let mut to = files;
        for s in &self.list {
            let at = within(s.acked_at(region, lane).unwrap_or(tail), tail, files);
            if at.wrapping_sub(tail) < to.wrapping_sub(tail) {
                to = at;
            }
        }
        to
    }

    /// Takes the sinks' finished jobs and hands each idle one its next
    /// (the runs of `region`'s lanes between what it had acknowledged and
    /// the files). Reports failures on standard error (once per kind).
    /// True if a sink acknowledged more, so tails may move.
    pub fn pump(&mut self, region: &'static Region, calib: Calibration) -> bool {
        let mut moved = false;
        for s in &mut self.list {
            moved |= s.take_done();
            if s.busy || s.retry_at.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            let mut runs = s.runs(region);
            let Some(first) = runs.first() else {
                continue;
            };
            s.next_lane = first.lane + 1;
            for run in &mut runs {
                run.skips = self
                    .skipped
                    .iter()
                    .filter(|&&(r, l, ..)| core::ptr::eq(r, region) && l == run.lane)
                    .map(|&(.., a, b)| (a, b))
                    .collect();
            }
            let job = Job {
                region,
                calib,
                runs,
            };
            match s.jobs.as_ref().map(|j| j.send(job)) {
                Some(Ok(())) => s.busy = true,
                _ => {
                    if s.state != SinkState::Failing {
                        crate::diag!("forwarding to {}: its thread stopped", s.url);
                    }
                    s.state = SinkState::Failing;
                    s.last_error = Some("the sink's thread stopped".into());
                    s.retry_at = Some(Instant::now() + MAX_BACKOFF);
                }
            }
        }
        moved
    }

    /// True if a sink has records of `region` below the files to send and
    /// could send them now.
    pub fn has_work(&self, region: &'static Region) -> bool {
        self.list.iter().any(|s| s.ready.load(Ordering::Acquire))
            || self.list.iter().any(|s| {
                !s.busy && s.retry_at.is_none_or(|t| Instant::now() >= t) && s.behind(region)
            })
    }

    /// True if no sink is sending and none has records of `region` in the
    /// files left to send (the engine changes its clock only then, so that
    /// a sink formats each record as the files have it).
    pub fn caught_up(&self, region: &'static Region) -> bool {
        self.list.iter().all(|s| !s.busy && !s.behind(region))
    }

    /// Publishes each sink's state in `region`'s header for `ul-stat`
    /// (the first [`SINK_SLOTS`] sinks; the other slots cleared): its lag
    /// is the records of `region`'s lanes between what it had acknowledged
    /// and the files, counted by `count(lane, from, to)`.
    pub fn publish(&self, region: &'static Region, count: impl Fn(usize, u64, u64) -> u64) {
        let lanes = region.geometry().sizes.lanes as usize;
        for k in 0..SINK_SLOTS {
            let slot = &region.header().forward.sinks[k];
            let Some(s) = self.list.get(k) else {
                slot.publish(None);
                continue;
            };
            let lag = (0..lanes)
                .map(|i| match s.to_send(region, i) {
                    (from, files) if from != files => count(i, from, files),
                    _ => 0,
                })
                .sum();
            slot.publish(Some(&SinkStatus {
                state: match s.state {
                    SinkState::Up => "up",
                    SinkState::Failing => "failing",
                },
                url: s.url.clone(),
                forwarded: s.forwarded,
                lag_records: lag,
                last_error: s.last_error.clone().map(|e| (e, s.last_error_at)),
            }));
        }
    }

    /// Each sink's counters.
    pub fn report(&self) -> Vec<SinkReport> {
        self.list
            .iter()
            .map(|s| SinkReport {
                url: s.url.clone(),
                forwarded: s.forwarded,
                state: s.state,
                last_error: s.last_error.clone(),
            })
            .collect()
    }
}

/// `at` if it lies in `[tail, files]` (by wrapping distance), else the
/// tail: a position that holds back no more than everything.
fn within(at: u64, tail: u64, files: u64) -> u64 {
    if at.wrapping_sub(tail) <= files.wrapping_sub(tail) {
        at
    } else {
        tail
    }
}

impl Sink {
    /// What this sink has yet to send of lane `lane` of `region`:
    /// `[from, files)`, from where it stands (the tail if it has not
    /// started on the region) to the files position.
    fn to_send(&self, region: &'static Region, lane: usize) -> (u64, u64) {
        let c = region.lane_control(lane);
        let (tail, files) = (c.tail(), c.files());
        (
            within(self.acked_at(region, lane).unwrap_or(tail), tail, files),
            files,
        )
    }

    fn acked_at(&self, region: &'static Region, lane: usize) -> Option<u64> {
        self.acked
            .iter()
            .find(|(r, _)| core::ptr::eq(*r, region))
            .and_then(|(_, v)| v.get(lane).copied())
    }

    /// True if some lane of `region` has records in the files this sink
    /// has not had acknowledged ([`runs`](Self::runs) is not empty).
    fn behind(&self, region: &'static Region) -> bool {
        let lanes = region.geometry().sizes.lanes as usize;
        (0..lanes).any(|i| {
            let (from, files) = self.to_send(region, i);
            from != files
        })
    }

    /// The lanes of `region` with records in the files this sink has not
    /// had acknowledged, from where it stands (the tail, the first time).
    fn runs(&self, region: &'static Region) -> Vec<Run> {
        let lanes = region.geometry().sizes.lanes as usize;
        let start = self.next_lane % lanes.max(1);
        let mut runs = Vec::new();
        for i in (start..lanes).chain(0..start) {
            let (from, files) = self.to_send(region, i);
            if from == files {
                continue;
            }
            let slot = region.lane_slot(i);
            runs.push(Run {
                lane: i,
                origin: Origin {
                    lane: Some(i),
                    pid: slot.owner().load().pid(),
                    tid: slot.tid(),
                },
                from,
                to: files,
                skips: Vec::new(),
            });
        }
        runs
    }

    /// Applies a finished job, if one is back. True if it moved a lane.
    fn take_done(&mut self) -> bool {
        let d = match self.done.try_recv() {
            Ok(d) => d,
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Disconnected) => {
                self.busy = false;
                return false;
            }
        };
        self.busy = false;
        self.ready.store(false, Ordering::Relaxed);
        let lanes = d.region.geometry().sizes.lanes as usize;
        let k = match self
            .acked
            .iter()
            .position(|(r, _)| core::ptr::eq(*r, d.region))
        {
            Some(k) => k,
            None => {
                let start = (0..lanes)
                    .map(|i| d.region.lane_control(i).tail())
                    .collect();
                self.acked.push((d.region, start));
                self.acked.len() - 1
            }
        };
        let mut moved = false;
        for (lane, to) in d.acked {
            if let Some(a) = self.acked[k].1.get_mut(lane) {
                moved |= *a != to;
                *a = to;
            }
        }
        self.forwarded += d.records;
        match d.error {
            None => {
                if self.state == SinkState::Failing {
                    crate::diag!("forwarding to {} works again", self.url);
                }
                self.state = SinkState::Up;
                self.retry_at = None;
                self.backoff = FIRST_BACKOFF;
            }
            Some(e) => {
                if self.last_error.as_deref() != Some(e.as_str()) || self.state == SinkState::Up {
                    crate::diag!(
                        "forwarding to {}: {e}; the records stay in shared memory, retrying",
                        self.url
                    );
                }
                self.state = SinkState::Failing;
                self.last_error = Some(e);
                self.last_error_at = ul_ring::clock::wall_ns();
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
        moved
    }
}

/// How long dropping the sinks waits for a thread still inside a
/// delivery (a receiver that stopped answering) before leaving it: its
/// records are not acknowledged, so they stay in the region.
const DROP_WAIT: Duration = Duration::from_secs(1);

impl Drop for Sinks {
    fn drop(&mut self) {
        for s in &mut self.list {
            // Closing the queue ends the thread's loop after its job.
            s.jobs = None;
        }
        let until = Instant::now() + DROP_WAIT;
        for s in &mut self.list {
            if let Some(t) = s.thread.take() {
                while !t.is_finished() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if t.is_finished() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// A sink thread's loop: each job's runs read, formatted and delivered in
/// calls of the transport's window; what was acknowledged goes back.
fn serve(
    mut transport: Box<dyn Transport>,
    jobs: Receiver<Job>,
    done: SyncSender<Done>,
    ready: Arc<AtomicBool>,
) {
    let mut lines: Option<(BatchLines, *const Region)> = None;
    let mut scratch = Vec::with_capacity(ul_ring::lane::COPY_CHUNK);
    // (seq, start, end, level, ns) of each formatted record in `lines`.
    let mut metas: Vec<(u64, usize, usize, Level, u64)> = Vec::new();
    while let Ok(job) = jobs.recv() {
        let (maker, names_of) = lines.get_or_insert_with(|| {
            let mut l = BatchLines::new(Format::Text, job.calib);
            l.set_limit(SINK_LINE_BYTES);
            // The engine counted them when it wrote the files.
            l.count_errors = false;
            (l, core::ptr::null())
        });
        if !core::ptr::eq(*names_of, job.region) {
            maker.names.clear();
            *names_of = job.region;
        }
        maker.calib = job.calib;
        let region = job.region;
        let table = region.callsites();
        let window = transport.window().max(1);
        let mut out = Done {
            region,
            acked: Vec::new(),
            records: 0,
            error: None,
        };
        let mut budget = JOB_RECORDS;
        'runs: for run in &job.runs {
            let mut pos = run.from;
            while pos != run.to && budget > 0 {
                maker.clear();
                metas.clear();
                // SAFETY: `attach`'s shared-reader case: the engine is the
                // one that commits, and it moves the tail only up to what
                // every sink had acknowledged (this one's acknowledgements
                // come back in `Done`, after this read), so `[from, to)`,
                // at or above the tail and below the files position (so
                // below a head the engine observed) when it made this job,
                // stays in the lane, unreleased, while this only reads it
                // (`read_part` never commits). Lane capacities are
                // validated powers of two.
                let consumer = unsafe {
                    Consumer::attach(region.lane_control(run.lane), region.lane_bytes(run.lane))
                };
                let batch = crate::engine::read_part(
                    &consumer,
                    (pos, run.to),
                    window.min(budget),
                    &mut scratch,
                    |at, rec| {
                        let before = maker.bufs[TEXT].len();
                        let records = maker.records;
                        if !maker.record(region, &table, run.origin, at, rec) {
                            return false;
                        }
                        // A record that could not be read gives a line of
                        // the writer's own instead (in the files): not
                        // forwarded.
                        if maker.records != records {
                            let (level, ns) = maker.last;
                            metas.push((at, before, maker.bufs[TEXT].len(), level, ns));
                        }
                        true
                    },
                );
                let text = &maker.bufs[TEXT];
                let outgoing: Vec<Outgoing<'_>> = metas
                    .iter()
                    .map(|&(seq, a, b, level, ns)| Outgoing {
                        level,
                        timestamp_ns: ns,
                        pid: run.origin.pid,
                        tid: run.origin.tid,
                        lane: run.lane as u32,
                        seq,
                        line: text[a..b].strip_suffix(b"\n").unwrap_or(&text[a..b]),
                    })
                    .collect();
                if !outgoing.is_empty() {
                    if let Err(e) = transport.deliver(&outgoing) {
                        out.error = Some(e);
                        break 'runs;
                    }
                }
                out.records += outgoing.len() as u64;
                budget = budget.saturating_sub(outgoing.len().max(1));
                // Bytes that are not records (the files report them): the
                // sink skips what the engine skipped (to the files position
                // if it does not know: a stretch skipped before a restart).
                let next = match &batch.corrupt {
                    Some(c) => run
                        .skips
                        .iter()
                        .find(|&&(a, b)| c.pos.wrapping_sub(a) < b.wrapping_sub(a))
                        .map_or(run.to, |&(_, b)| b),
                    None => batch.new_tail,
                };
                if next == pos {
                    break;
                }
                pos = next;
                match out.acked.last_mut() {
                    Some((l, p)) if *l == run.lane => *p = pos,
                    _ => out.acked.push((run.lane, pos)),
                }
            }
        }
        // Before the hand-back: the engine clears it when it takes the job,
        // so it cannot miss one (Release: pairs with `has_work`'s Acquire).
        ready.store(true, Ordering::Release);
        if done.send(out).is_err() {
            return;
        }
        region.header().wake.kick();
    }
}
