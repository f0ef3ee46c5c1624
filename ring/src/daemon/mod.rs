//! The daemon template: a process that serves a [`Channel`] by handling its
//! messages in batches, with the machinery `ul-writer` uses for the log.
//!
//! Implement [`Daemon`] and call [`run_daemon`]. The runner:
//!
//! * opens (or creates) the channel and takes its single-daemon lock (an
//!   exclusive `flock` on the region file, freed by the kernel when the
//!   holder dies); a second daemon is refused with the first one's pid;
//! * registers its pid, pid start time and a heartbeat in the region (so
//!   [`Channel::daemon_pid`] can tell whether a daemon serves it);
//! * drains every lane and the shared lane in batches (at most
//!   [`DaemonOptions::batch_size`] messages per lane per pass) and calls
//!   [`Daemon::process_batch`];
//! * sleeps on the channel's futex when there is nothing to do (the
//!   sleeping-flag handshake of [`crate::wake`]: senders wake it, no
//!   message waits for a timeout, and an idle daemon uses no CPU);
//! * every [`DaemonOptions::reclaim_interval`], frees drained lanes of
//!   dropped senders and of dead sender processes (nobody holds the lane's
//!   kernel lock: see [`crate::ownership`]), calling
//!   [`Daemon::on_sender_exit`] with the pid the sender saw for itself;
//! * abandons a shared-lane claim not committed within
//!   [`DaemonOptions::claim_timeout`] (its sender died mid-send);
//! * stops when [`DaemonOptions::stop`] is set (or, if
//!   [`DaemonOptions::handle_signals`], on SIGTERM/SIGINT): it drains every
//!   message sent before the stop, then returns.
//!
//! # Delivery guarantee: at-least-once
//!
//! A message is consumed (its lane's tail moves past it) only after the
//! [`Daemon::process_batch`] call that received it has returned. If the
//! daemon dies before that (crash, SIGKILL, a panic in `process_batch`),
//! nothing is lost: the next daemon on the channel receives the same
//! messages again. Without a crash every message is delivered exactly once,
//! and the messages of one sender arrive in the order it sent them. A daemon
//! that must not apply a message twice across its own crashes makes
//! `process_batch` idempotent, or carries a sender id and sequence number in
//! its messages and persists the last one applied.
//! [`Daemon::on_sender_exit`] is at-least-once in the same way.
//!
//! ```no_run
//! use ul_ring::daemon::{run_daemon, Daemon, DaemonOptions};
//!
//! #[repr(C)]
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! struct Add { amount: u64 }
//!
//! struct Sum(u64);
//! impl Daemon for Sum {
//!     type Message = Add;
//!     fn process_batch(&mut self, batch: &[Add]) {
//!         self.0 += batch.iter().map(|m| m.amount).sum::<u64>();
//!     }
//! }
//!
//! let mut sum = Sum(0);
//! let opts = DaemonOptions { handle_signals: true, ..Default::default() };
//! run_daemon("/dev/shm/sum", &mut sum, &opts)?; // until SIGTERM, then drains
//! println!("total {}", sum.0);
//! # Ok::<(), ul_ring::daemon::DaemonError>(())
//! ```

mod drain;
mod signals;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channel::{Channel, ChannelError, ChannelOptions};
use crate::limits::{Limits, Outcome, Throttle};
use crate::region::Region;
use drain::Drainer;

/// A process that handles a channel's messages in batches.
pub trait Daemon {
    /// The channel's message type.
    type Message: bytemuck::Pod;

    /// Handles a batch of messages (never empty). They are consumed when
    /// this returns; if the process dies before, they are delivered again to
    /// the next daemon (see the module docs).
    fn process_batch(&mut self, batch: &[Self::Message]);

    /// Called when the channel is empty, before the daemon sleeps: after
    /// each burst, and at least every [`DaemonOptions::idle_timeout`] while
    /// idle. Does nothing by default.
    fn on_idle(&mut self) {}

    /// Called once the lanes of sender process `pid`, which died without
    /// dropping its senders, are drained (all its messages processed), just
    /// before they are freed. Senders that use the shared lane are not
    /// tracked. Does nothing by default.
    fn on_sender_exit(&mut self, pid: u32) {
        let _ = pid;
    }

    /// Called with a description of bytes in the channel that are not
    /// messages (a corrupt lane, a record of another length, a torn
    /// shared-lane slot), which were skipped and counted. Prints to stderr
    /// by default.
    fn on_bad_input(&mut self, what: &str) {
        eprintln!("ul daemon: {what}");
    }

    /// Called once per limit in [`DaemonOptions::limits`] at start, with
    /// what became of it (applied and how, or not and why). Prints it on
    /// stderr by default, as `ul-writer` does.
    fn on_limit(&mut self, what: &str, outcome: &Outcome) {
        eprintln!("ul daemon: {what} limit {outcome}");
    }
}

/// How [`run_daemon`] runs.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// How to open the channel, and its sizes if the daemon creates it.
    pub channel: ChannelOptions,
    /// Set it (from any thread) to stop: the daemon drains what was sent
    /// before and returns. The runner also sets it when it stops on a signal.
    pub stop: Arc<AtomicBool>,
    /// Install SIGTERM and SIGINT handlers that stop the daemon (replacing
    /// any others). Off by default: the library installs no handler unless
    /// asked.
    pub handle_signals: bool,
    /// Most messages taken from one lane (and from the shared lane) per pass.
    pub batch_size: usize,
    /// Longest sleep while idle (senders wake the daemon sooner).
    pub idle_timeout: Duration,
    /// How often lanes of dropped senders and dead processes are looked for.
    pub reclaim_interval: Duration,
    /// A shared-lane claim not committed within this is abandoned.
    pub claim_timeout: Duration,
    /// Resource limits applied once the channel is served (as `ul-writer
    /// --memory-limit/--cpu-limit/--nice/--cpu-affinity` does); what became
    /// of each goes to [`Daemon::on_limit`]. A CPU share that no cgroup
    /// enforces is kept by pacing the loop after each batch.
    pub limits: Limits,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        Self {
            channel: ChannelOptions::default(),
            stop: Arc::new(AtomicBool::new(false)),
            handle_signals: false,
            batch_size: 1024,
            idle_timeout: Duration::from_millis(250),
            reclaim_interval: Duration::from_millis(200),
            claim_timeout: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

/// Why [`run_daemon`] could not serve the channel.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The channel could not be opened or created.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// Another daemon holds the channel's lock.
    #[error(
        "another daemon (pid {pid}) already serves {path}; stop it first or use another channel"
    )]
    AlreadyRunning {
        /// The channel path.
        path: PathBuf,
        /// The registered daemon's pid (0 if it has not registered yet).
        pid: u32,
    },
    /// The signal handlers could not be installed.
    #[error("installing SIGTERM/SIGINT handlers: {0}")]
    Signals(std::io::Error),
}

/// What a daemon did, returned when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaemonTotals {
    /// Messages handed to `process_batch`.
    pub messages: u64,
    /// Calls of `process_batch`.
    pub batches: u64,
    /// Times the daemon slept on the futex.
    pub sleeps: u64,
    /// Dead sender processes reported to `on_sender_exit`.
    pub senders_exited: u64,
}

/// Clears the registered pid when the runner returns or unwinds.
struct Registration<'r>(&'r Region);

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.0.header().writer.release();
    }
}

/// Serves the channel at `path` with `daemon` until `options.stop` is set
/// (or a signal arrives, if `options.handle_signals`), then drains and
/// returns what it did. See the module docs for the whole contract.
pub fn run_daemon<D: Daemon>(
    path: impl AsRef<Path>,
    daemon: &mut D,
    options: &DaemonOptions,
) -> Result<DaemonTotals, DaemonError> {
    if options.handle_signals {
        signals::install().map_err(DaemonError::Signals)?;
    }
    let channel = Channel::<D::Message>::open_or_create(path, &options.channel)?;
    let region = channel.region();
    // SAFETY: flock on our open file descriptor has no memory effects.
    let r = unsafe { libc::flock(region.file().as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        return Err(DaemonError::AlreadyRunning {
            path: region.path().to_owned(),
            pid: region.header().writer.serving_pid(),
        });
    }
    // Held while we serve (dropped on return): lets senders in any pid
    // namespace ask whether a daemon serves the channel.
    let _writer_lock = crate::ownership::WriterLock::acquire(region).ok().flatten();
    let h = region.header();
    let me = crate::procinfo::getpid();
    h.writer.take(
        me,
        crate::procinfo::start_time(me).unwrap_or(0),
        crate::clock::monotonic_ns(),
    );
    let _registered = Registration(region);
    // After the mapping, so an address-space limit counts what we hold.
    let (outcomes, throttle) = options.limits.apply();
    for (what, outcome) in &outcomes {
        daemon.on_limit(what, outcome);
    }
    Ok(serve(region, daemon, options, throttle))
}

fn stop_requested(options: &DaemonOptions) -> bool {
    options.stop.load(Ordering::Relaxed) || (options.handle_signals && signals::signalled())
}

/// Frees drained lanes of dropped senders and dead processes, reporting
/// each dead pid first: a daemon killed in between reports the exit again
/// rather than never.
fn reclaim_lanes<D: Daemon>(region: &Region, daemon: &mut D, totals: &mut DaemonTotals) {
    // Only drained lanes: whatever a dead sender published is still
    // delivered; the lane is freed on a later scan.
    let drained = |i: usize| {
        let c = region.lane_control(i);
        c.head() == c.tail()
    };
    let lanes = crate::drain_core::scan_lanes(region, drained, |_, _| {});
    let mut dead: Vec<u32> = Vec::new();
    for r in lanes.iter().filter(|r| r.dead) {
        if !dead.contains(&r.owner.pid()) {
            dead.push(r.owner.pid());
        }
    }
    for &pid in &dead {
        daemon.on_sender_exit(pid);
    }
    totals.senders_exited += dead.len() as u64;
    crate::drain_core::free_lanes(region, &lanes);
}

/// The drain loop.
fn serve<D: Daemon>(
    region: &Region,
    daemon: &mut D,
    options: &DaemonOptions,
    mut throttle: Option<Throttle>,
) -> DaemonTotals {
    let h = region.header();
    let mut drainer = Drainer::<D::Message>::new(region, options.batch_size, options.claim_timeout);
    let mut batch = Vec::with_capacity(options.batch_size.clamp(1, 1 << 16));
    let mut totals = DaemonTotals::default();
    let mut last_scan: Option<Instant> = None;
    let mut stopping = None;
    loop {
        h.writer.beat(crate::clock::monotonic_ns());
        if stopping.is_none() && stop_requested(options) {
            options.stop.store(true, Ordering::Relaxed);
            stopping = Some(drainer.targets());
        }
        if last_scan.is_none_or(|t| t.elapsed() >= options.reclaim_interval) {
            last_scan = Some(Instant::now());
            reclaim_lanes(region, daemon, &mut totals);
        }
        let took = drainer.collect(&mut batch);
        for what in std::mem::take(&mut drainer.problems) {
            daemon.on_bad_input(&what);
        }
        if !batch.is_empty() {
            daemon.process_batch(&batch);
            totals.messages += batch.len() as u64;
            totals.batches += 1;
            h.stats.records_written.add(batch.len() as u64);
        }
        if took {
            // Only now: the batch is processed (at-least-once).
            drainer.commit();
            if let Some(t) = &mut throttle {
                t.pace();
            }
        }
        if let Some(targets) = &stopping {
            if drainer.reached(targets) {
                // Free what the last passes drained before going.
                reclaim_lanes(region, daemon, &mut totals);
                return totals;
            }
            if !took {
                // A shared-lane claim before the targets is pending: wait
                // for its commit or its claim timeout, without spinning.
                std::thread::sleep(Duration::from_millis(5));
            }
            continue;
        }
        if took {
            continue;
        }
        daemon.on_idle();
        // Announce sleep, re-check, then sleep until a sender wakes us.
        let seq = h.wake.prepare_sleep();
        if drainer.has_work() || stop_requested(options) {
            h.wake.cancel_sleep();
            continue;
        }
        let timeout = if drainer.claim_pending() {
            // Wake up to time out a claim whose sender may be dead.
            options.idle_timeout.min(Duration::from_millis(50))
        } else {
            options.idle_timeout
        };
        totals.sleeps += 1;
        h.wake.sleep(seq, timeout.max(Duration::from_millis(1)));
        h.wake.cancel_sleep();
    }
}
