//! `ul`: a logger for latency-sensitive code.
//!
//! A log call copies a small fixed-layout record (a callsite id, a
//! timestamp, and the raw argument values) into this thread's lock-free lane
//! in shared memory and returns, in nanoseconds, without a system call or a
//! lock. A separate process, `ul-writer`, formats the records and writes
//! `server.log` and `server.<level>.json`.
//!
//! ```no_run
//! ul::init("/dev/shm/ul")?;
//! let (i, j, x) = (1u64, 2u32, 3.25f64);
//! ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
//! ul::warn!(source: "AuthService", "User {} failed to log in", "ann"; ip = "192.168.1.1");
//! ul::flush()?; // wait until ul-writer has written everything above
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Arguments: integers, floats, `bool`, `char` and strings are copied raw
//! and formatted by the writer. Any other `Display` value is formatted at the
//! call site into a string (slower: it allocates).
//!
//! Before [`init`] (or if it failed), log calls do nothing.

#![warn(missing_docs, unreachable_pub)]

mod arg;
mod arglist;
mod attachment;
mod callsite;
mod context;
mod error;
mod intern;
#[cfg(feature = "log")]
pub mod log_compat;
mod macros;
mod thread_lane;
#[cfg(feature = "tracing")]
pub mod tracing_layer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use attachment::Overflow;
pub use context::{clear_thread_context, set_thread_context, Context, Logger};
pub use error::{ConfigureError, FlushError, InitError};
pub use thread_lane::current_lane;
pub use ul_ring::layout::Sizes;
pub use ul_ring::record::Level;
pub use ul_ring::WriterState;

/// Default region path.
pub const DEFAULT_SHM: &str = "/dev/shm/ul";

/// How a process attaches to its region.
///
/// ```no_run
/// use std::time::Duration;
/// ul::Options::new("/dev/shm/ul")
///     .overflow(ul::Overflow::Block { timeout: Duration::from_millis(100) })
///     .init()?;
/// # Ok::<(), ul::InitError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    path: PathBuf,
    sizes: Sizes,
    overflow: Overflow,
    flush_timeout: Duration,
    mode: u32,
    max_string_len: usize,
    create: bool,
}

impl Options {
    /// Options for the region at `path`, with defaults for the rest.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
            sizes: Sizes::default(),
            overflow: Overflow::DEFAULT,
            flush_timeout: Duration::from_secs(30),
            mode: 0o600,
            max_string_len: ul_ring::args::DEFAULT_STR_LIMIT,
            create: true,
        }
    }

    /// Sizes used if this process creates the region.
    pub fn sizes(mut self, sizes: Sizes) -> Self {
        self.sizes = sizes;
        self
    }

    /// What a log call does when its lane is full (default
    /// [`Overflow::DEFAULT`]: wait while the writer drains it).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Bound on every wait (`flush`), default 30 s.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Longest string argument (message, argument or field) a record keeps,
    /// in bytes; default 16 KiB. A longer one is cut at a char boundary and
    /// the cut is marked in both outputs: `…[+83616 bytes]` after the value
    /// in the text line and the JSON message, and `"truncated":true` in the
    /// JSON record. At most what one record in a lane holds (64 KiB less a
    /// few bytes with the default lanes, half a lane for lanes under
    /// 128 KiB); a larger value is lowered to that. Set by the first
    /// `init` of the process (if a writer later replaces the region with
    /// one of smaller lanes, a record too large for them is dropped and
    /// reported).
    ///
    /// ```no_run
    /// ul::Options::new("/dev/shm/ul").max_string_len(60_000).init()?;
    /// # Ok::<(), ul::InitError>(())
    /// ```
    pub fn max_string_len(mut self, bytes: usize) -> Self {
        self.max_string_len = bytes;
        self
    }

    /// Whether [`init`](Self::init) creates the region if no file is at
    /// the path (default `true`: records logged before a writer starts
    /// wait in the region). The region is sized by [`sizes`](Self::sizes),
    /// 37.1 MiB of shared memory with the defaults. `false`: a missing
    /// region is an error that names the path (as for `ul-log` without
    /// `--create`).
    ///
    /// ```no_run
    /// ul::Options::new("/dev/shm/ul").create(false).init()?; // only if a writer made it
    /// # Ok::<(), ul::InitError>(())
    /// ```
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// File mode if this process creates the region (default 0600).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Attaches the process (see [`init`]).
    pub fn init(self) -> Result<(), InitError> {
        let _serial = attachment::INIT_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(s) = attachment::get() {
            return if s.path == self.path {
                Ok(())
            } else {
                Err(InitError::AlreadyInitialised(s.path.clone()))
            };
        }
        let opts = ul_ring::region::RegionOptions {
            sizes: self.sizes,
            mode: self.mode,
            create: self.create,
            ..Default::default()
        };
        let region = match ul_ring::region::Region::open(&self.path, &opts) {
            Err(ul_ring::region::RegionError::Io { source, .. })
                if !self.create && source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(InitError::NoRegion(self.path.clone()));
            }
            r => r?,
        };
        attachment::set_max_str(attachment::str_limit(self.max_string_len, &region));
        let installed = attachment::install(attachment::Shared {
            region,
            path: self.path.clone(),
            overflow: self.overflow,
            flush_timeout: self.flush_timeout,
            opts,
            gen: 1,
            last_check_ns: std::sync::atomic::AtomicU64::new(ul_ring::clock::monotonic_ns()),
        });
        match installed {
            Ok(_) => Ok(()),
            Err(s) if s.path == self.path => Ok(()),
            Err(s) => Err(InitError::AlreadyInitialised(s.path.clone())),
        }
    }
}

/// Attaches this process to the region at `path`, creating it if no writer
/// or producer has yet (a file of 37.1 MiB with the default sizes, in
/// shared memory; [`Options::create`] refuses instead). Records logged
/// before a writer starts wait in the ring. Calling it again with the same
/// path does nothing.
///
/// ```no_run
/// ul::init("/dev/shm/ul")?;
/// # Ok::<(), ul::InitError>(())
/// ```
pub fn init(path: impl AsRef<Path>) -> Result<(), InitError> {
    Options::new(path).init()
}

/// Waits until the writer has written every record this process published
/// before the call, or until the flush timeout (default 30 s) passes.
///
/// ```no_run
/// ul::info!("about to exit");
/// ul::flush()?;
/// # Ok::<(), ul::FlushError>(())
/// ```
pub fn flush() -> Result<(), FlushError> {
    let timeout = attachment::get().map_or(Duration::ZERO, |s| s.flush_timeout);
    flush_timeout(timeout)
}

/// [`flush`] with an explicit timeout.
pub fn flush_timeout(timeout: Duration) -> Result<(), FlushError> {
    let shared = attachment::get().ok_or(FlushError::NotInitialised)?;
    // A region replaced at its path: move first; the writer acknowledges a
    // flush on the new region only once the old one is drained as far as
    // this request.
    let shared = attachment::follow(shared, true);
    let h = shared.region.header();
    // SeqCst: our records' `head` stores (Release, earlier in program order)
    // happen before this; the writer's Acquire load of `request` that sees
    // our ticket then sees them.
    let ticket = h.flush.ask();
    h.wake.kick_after_request();
    let start = Instant::now();
    loop {
        let seen = h.flush.ack_seq();
        if h.flush.acknowledged(ticket) {
            return Ok(());
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(FlushError::Timeout {
                waited,
                writer: writer_status(),
            });
        }
        let slice = (timeout - waited).min(Duration::from_millis(50));
        h.flush.wait_ack(seen, Some(slice));
        // The writer may have slept through our wake: nudge it again.
        h.wake.kick_after_request();
    }
}

fn writer_status() -> String {
    let Some(shared) = attachment::get() else {
        return "not initialised".into();
    };
    let pid = shared.region.header().writer.serving_pid();
    match writer_state() {
        WriterState::Gone if pid == 0 => "no writer has served this region".into(),
        WriterState::Running => format!("writer pid {pid} is running but did not answer"),
        state => format!("writer pid {pid} is {state}"),
    }
}

/// What the region's writer is doing: running, busy (its heartbeat is late
/// but its process runs), stopped (by a signal or a debugger; it drains
/// again once continued), unknown (heartbeat late and its process not
/// visible from here, e.g. another pid namespace) or gone (no process holds
/// the region's writer lock; the kernel's word, true in any pid
/// namespace). [`WriterState::Gone`] before [`init`]. If the region file
/// was replaced at its path, the process moves to the new one first.
///
/// ```no_run
/// ul::init("/dev/shm/ul")?;
/// match ul::writer_state() {
///     ul::WriterState::Running => {}
///     ul::WriterState::Stopped => eprintln!("ul-writer is stopped: records wait"),
///     other => eprintln!("ul-writer is {other}"),
/// }
/// # Ok::<(), ul::InitError>(())
/// ```
pub fn writer_state() -> WriterState {
    let Some(shared) = attachment::get() else {
        return WriterState::Gone;
    };
    let shared = attachment::follow(shared, false);
    WriterState::of_region(shared.region.file(), shared.region.header())
}

/// True if a running `ul-writer` serves the region: [`writer_state`] is
/// [`WriterState::Running`] (a process holds the region's writer lock, it
/// is not stopped, and its heartbeat is recent). If the region file was
/// replaced at its path, the process moves to the new one first (see
/// `docs/design.md`, recovery).
///
/// ```no_run
/// ul::init("/dev/shm/ul")?;
/// if !ul::writer_alive() {
///     eprintln!("no ul-writer: records wait in shared memory");
/// }
/// # Ok::<(), ul::InitError>(())
/// ```
pub fn writer_alive() -> bool {
    writer_state().is_running()
}

/// Run-time settings shared by every process on the region.
///
/// ```no_run
/// use std::time::Duration;
/// ul::configure(ul::Config {
///     min_level: Some(ul::Level::Info),
///     flush_interval: Some(Duration::from_millis(50)),
///     ..Default::default()
/// })?;
/// # Ok::<(), ul::ConfigureError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Records below this level are skipped at the call site.
    pub min_level: Option<Level>,
    /// Records the writer takes from one lane per pass.
    pub batch_size: Option<u32>,
    /// Longest a record waits before the writer looks for it.
    pub flush_interval: Option<Duration>,
}

/// Changes the run-time settings for every process on the region (the
/// writer sees them on its next pass; log calls at once).
pub fn configure(config: Config) -> Result<(), ConfigureError> {
    let shared = attachment::get().ok_or(ConfigureError::NotInitialised)?;
    let h = shared.region.header();
    if let Some(l) = config.min_level {
        h.control.set_min_level(l as u32);
    }
    if let Some(b) = config.batch_size {
        h.control.set_batch_size(b.max(1));
    }
    if let Some(d) = config.flush_interval {
        let ms = d.as_millis().clamp(1, u128::from(u32::MAX)) as u32;
        h.control.set_flush_interval_ms(ms);
    }
    h.control.bump_epoch();
    #[cfg(feature = "log")]
    log_compat::follow_min_level();
    h.wake.kick_after_request();
    Ok(())
}

/// The current run-time settings of the attached region.
pub fn current_config() -> Option<Config> {
    let shared = attachment::get()?;
    let c = &shared.region.header().control;
    Some(Config {
        min_level: Level::try_from(c.min_level() as u8).ok(),
        batch_size: Some(c.batch_size()),
        flush_interval: Some(Duration::from_millis(u64::from(c.flush_interval_ms()))),
    })
}

/// Logs one message given at run time (not a macro call site): for CLIs
/// and bindings. The first call from a thread with a new (level, source)
/// registers a callsite for it; later ones reuse it (up to 4096 distinct
/// sources per process; past that the source is printed before the
/// message).
///
/// ```no_run
/// ul::init("/dev/shm/ul")?;
/// ul::log_dynamic(ul::Level::Info, "deploy", "release 1.2 rolled out");
/// # Ok::<(), ul::InitError>(())
/// ```
pub fn log_dynamic(level: Level, source: &str, message: &str) {
    if !__private::enabled(level) {
        return;
    }
    intern::emit_str(level, source, "ul::log_dynamic", message);
}

/// Records dropped in this process because a log call was made from a
/// signal handler while its thread was inside another log call, or from a
/// thread-local destructor after the thread's lane went back to the
/// writer. Each is also counted where the writer reads drops (the thread's
/// lane, or the shared lane's counter for a thread past its exit), so the
/// writer reports it in the log like an overflow drop (`N records dropped
/// by pid P (lane L, thread T) since T0`).
pub fn nested_drops() -> u64 {
    thread_lane::NESTED_DROPS.load(Ordering::Relaxed)
}

/// `FUTEX_WAKE` system calls this process's log calls made to wake the
/// writer (not counting `flush`/`configure`). For tests: a writer that died
/// asleep must cost producers a bounded number of calls, not one per record.
/// Only with the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub fn wake_syscalls() -> u64 {
    thread_lane::WAKE_SYSCALLS.load(Ordering::Relaxed)
}

/// Sleeps this process's log calls took while waiting for room in a full
/// lane (or the shared lane). For tests of how waits are paced. Only with
/// the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub fn wait_sleeps() -> u64 {
    thread_lane::WAIT_SLEEPS.load(Ordering::Relaxed)
}

#[doc(hidden)]
pub mod __private {
    pub use crate::arg::{tag_of, Radix, ViaArg, ViaCopy, ViaDisplay, ViaFormat, Wrap};
    pub use crate::callsite::Callsite;
    pub use crate::thread_lane::{emit, emit_in};
    use crate::Level;
    pub use std::format;
    pub use ul_macros::log_call;
    pub use ul_ring::args::Text;

    /// The level check every macro call makes first: one load.
    #[inline(always)]
    pub fn enabled(level: Level) -> bool {
        enabled_in(level).is_some()
    }

    /// The process's attachment to its region, as [`enabled_in`] hands it
    /// to the macros' [`emit_in`].
    #[derive(Clone, Copy)]
    pub struct Attached(pub(crate) &'static crate::attachment::Shared);

    /// The level check of a macro call: the attachment to log into if a
    /// record of `level` is wanted, so that the call does not look for it
    /// twice.
    #[inline(always)]
    pub fn enabled_in(level: Level) -> Option<Attached> {
        let (s, control) = crate::attachment::get_with_control()?;
        (level as u32 >= control.min_level()).then_some(Attached(s))
    }
}
