//! ul and the Rust peers, each installed to write a real file, behind one
//! interface: [`Api`] for the three timed log statements, [`Control`] for
//! flushing and stopping the backend.
//!
//! Every logger is configured to block rather than drop when its queue is
//! full, with a queue of [`LoggerOptions::capacity`] entries where it has a
//! setting for that. Global facades install once per process, so each
//! process installs exactly one logger ([`with_logger`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::subject::Subject;
use crate::writer_proc::{ProcMemory, ProcSched, WriterConfig, WriterProcess};

pub use crate::LONG_STR;

/// Names of the three messages, in [`Api`] order.
pub const MESSAGES: [&str; 3] = ["int, int, double", "int, int, 56-byte str", "static"];

/// The loggers the harness knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// ul with a real `ul-writer` process.
    Ul,
    /// tracing + tracing-subscriber fmt layer + tracing-appender `non_blocking`.
    Tracing,
    /// slog + slog-term (or slog-json) behind slog-async.
    Slog,
    /// fast_log (log facade) to a file appender.
    FastLog,
    /// ftlog (log facade) to its FileAppender.
    Ftlog,
    /// spdlog-rs with an AsyncPoolSink over a FileSink.
    Spdlog,
}

impl Kind {
    /// Every logger, ul first.
    pub const ALL: [Kind; 6] = [
        Kind::Ul,
        Kind::Tracing,
        Kind::Slog,
        Kind::FastLog,
        Kind::Ftlog,
        Kind::Spdlog,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ul => "ul",
            Kind::Tracing => "tracing",
            Kind::Slog => "slog",
            Kind::FastLog => "fast_log",
            Kind::Ftlog => "ftlog",
            Kind::Spdlog => "spdlog",
        }
    }

    /// Parses a name given by [`name`](Self::name).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
    }

    /// A longer description for reports.
    pub fn description(self) -> &'static str {
        match self {
            Kind::Ul => "ul: records into a shared-memory lane; a separate ul-writer process formats",
            Kind::Tracing => "tracing 0.1 + tracing-subscriber fmt layer + tracing-appender non_blocking (lossy=false) to a BufWriter<File>",
            Kind::Slog => "slog 2 + slog-term FullFormat (or slog-json) to a BufWriter<File>, behind slog-async (OverflowStrategy::Block)",
            Kind::FastLog => "fast_log 1.7 (log facade), file appender, bounded channel",
            Kind::Ftlog => "ftlog 0.2 (log facade), FileAppender, bounded channel, block when full",
            Kind::Spdlog => "spdlog-rs 0.5 AsyncPoolSink (OverflowPolicy::Block) over a FileSink",
        }
    }

    /// True if this logger has a JSON line format the harness can select.
    pub fn has_json(self) -> bool {
        matches!(self, Kind::Ul | Kind::Tracing | Kind::Slog)
    }
}

/// The three timed log statements.
pub trait Api: Sync + Send {
    /// `("Logging int: {}, int: {}, double: {}", u64, u32, f64)`.
    fn int(&self, i: u64, j: u32, x: f64);
    /// `("Logging int: {}, int: {}, string: {}", u64, u32, &str)`.
    fn string(&self, i: u64, j: u32, s: &str);
    /// A message without arguments.
    fn stat(&self);
}

/// How to set a logger up.
#[derive(Clone, Debug)]
pub struct LoggerOptions {
    /// Directory for the log file(s).
    pub dir: PathBuf,
    /// Peers: write JSON lines instead of text (where supported).
    pub json: bool,
    /// ul: the writer's `--format` (`text`, `json` or `both`).
    pub ul_format: String,
    /// ul: the `ul-writer` binary.
    pub writer: PathBuf,
    /// ul: lanes in the region.
    pub lanes: u32,
    /// ul: bytes per lane.
    pub lane_size: u32,
    /// ul: the writer's `--format-threads` (None: its default).
    pub format_threads: Option<usize>,
    /// ul: more arguments for `ul-writer` (`--writer-arg`).
    pub writer_args: Vec<String>,
    /// Peers: queue capacity (records) where the logger lets it be set.
    pub capacity: usize,
}

/// What a separate backend process used (ul's writer).
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct BackendStats {
    /// Memory of the writer process, read just before SIGTERM.
    pub memory: Option<ProcMemory>,
    /// The writer exited with status 0 after SIGTERM.
    pub clean_exit: bool,
}

/// Flushing and stopping a logger's backend.
pub trait Control {
    /// Blocks until every record logged so far (`expected` in all) is in
    /// the output file: ul's `flush()`, the peers' guard or flush call.
    fn flush(&mut self, expected: u64);
    /// CPU seconds a separate backend process has used so far, if there is one.
    fn backend_cpu_seconds(&self) -> Option<f64> {
        None
    }
    /// Scheduler figures of a separate backend process so far, if there is one.
    fn backend_sched(&self) -> Option<ProcSched> {
        None
    }
    /// Stops the backend.
    fn stop(self: Box<Self>) -> BackendStats;
    /// The file holding one line per record.
    fn main_file(&self) -> PathBuf;
}

/// An installed logger.
pub struct Installed<A: Api> {
    /// The log statements.
    pub api: A,
    /// Its backend.
    pub control: Box<dyn Control>,
}

/// Code to run with whichever logger was installed (generic, so the log
/// calls are inlined into it).
pub trait Visitor {
    /// What the code returns.
    type Out;
    /// Runs with the installed logger.
    fn visit<A: Api>(self, logger: Installed<A>) -> Self::Out;
}

/// Installs logger `kind` (once per process) and runs `v` with it.
pub fn with_logger<V: Visitor>(kind: Kind, opts: &LoggerOptions, v: V) -> Result<V::Out, String> {
    std::fs::create_dir_all(&opts.dir).map_err(|e| format!("{}: {e}", opts.dir.display()))?;
    Ok(match kind {
        Kind::Ul => v.visit(install_ul(opts)?),
        Kind::Tracing => v.visit(install_tracing(opts)?),
        Kind::Slog => v.visit(install_slog(opts)?),
        Kind::FastLog => v.visit(install_fast_log(opts)?),
        Kind::Ftlog => v.visit(install_ftlog(opts)?),
        Kind::Spdlog => v.visit(install_spdlog(opts)?),
    })
}

/// Per-thread arguments of the timed messages.
#[derive(Debug)]
pub struct Args {
    i: u64,
    j: u32,
    x: f64,
    s: String,
}

impl Args {
    /// Arguments for thread `index`.
    pub fn new(index: usize) -> Self {
        Self {
            i: index as u64 * 1_000_000_000,
            j: 7 + index as u32,
            x: 0.5,
            s: LONG_STR.to_string(),
        }
    }

    /// Logs message `m` (0: int/int/double, 1: string, 2: static) and
    /// advances the arguments.
    #[inline(always)]
    pub fn log<A: Api, const M: usize>(&mut self, api: &A) {
        match M {
            0 => api.int(self.i, self.j, self.x),
            1 => api.string(self.i, self.j, &self.s),
            2 => api.stat(),
            _ => unreachable!("a logger has three messages"),
        }
        self.i = self.i.wrapping_add(1);
        self.x += 0.25;
    }
}

/// A logger as a latency [`Subject`].
pub struct LoggerSubject<'a, A: Api>(pub &'a A);

impl<A: Api> Subject for LoggerSubject<'_, A> {
    type Thread<'t>
        = Args
    where
        Self: 't;

    fn messages(&self) -> &'static [&'static str] {
        &MESSAGES
    }

    fn thread(&self, index: usize) -> Args {
        Args::new(index)
    }

    #[inline(always)]
    fn call<const M: usize>(&self, t: &mut Args) {
        t.log::<A, M>(self.0);
    }
}

// ---------------------------------------------------------------- ul

/// ul's log statements.
pub struct UlApi;

impl Api for UlApi {
    #[inline(always)]
    fn int(&self, i: u64, j: u32, x: f64) {
        ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
    }
    #[inline(always)]
    fn string(&self, i: u64, j: u32, s: &str) {
        ul::info!("Logging int: {}, int: {}, string: {}", i, j, s);
    }
    #[inline(always)]
    fn stat(&self) {
        ul::info!("Static message without arguments");
    }
}

struct UlControl {
    writer: Option<WriterProcess>,
    main_file: PathBuf,
}

/// The region path for this process: `/dev/shm/ul-bench-<pid>`.
pub fn ul_region_path() -> PathBuf {
    PathBuf::from(format!("/dev/shm/ul-bench-{}", std::process::id()))
}

fn install_ul(opts: &LoggerOptions) -> Result<Installed<UlApi>, String> {
    let shm = ul_region_path();
    let _ = std::fs::remove_file(&shm);
    let writer = WriterProcess::spawn(&WriterConfig {
        binary: opts.writer.clone(),
        shm: shm.clone(),
        dir: opts.dir.clone(),
        format: opts.ul_format.clone(),
        lanes: opts.lanes,
        lane_size: opts.lane_size,
        format_threads: opts.format_threads,
        extra_args: opts.writer_args.clone(),
    })
    .map_err(|e| format!("starting {}: {e}", opts.writer.display()))?;
    // Let the writer create the region with its sizes; if it is slow, we
    // create it with the same sizes (whoever comes second opens it).
    writer.wait_for_region(Duration::from_secs(2));
    let sizes = ul::Sizes {
        lanes: opts.lanes,
        lane_capacity: opts.lane_size,
        ..ul::Sizes::default()
    };
    ul::Options::new(&shm)
        .sizes(sizes)
        .overflow(ul::Overflow::Block {
            timeout: Duration::from_secs(60),
        })
        .flush_timeout(Duration::from_secs(120))
        .init()
        .map_err(|e| format!("ul::init({}): {e}", shm.display()))?;
    let start = Instant::now();
    while !ul::writer_alive() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("ul-writer did not come up within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let main_file = if opts.ul_format == "json" {
        opts.dir.join("server.info.json")
    } else {
        opts.dir.join("server.log")
    };
    Ok(Installed {
        api: UlApi,
        control: Box::new(UlControl {
            writer: Some(writer),
            main_file,
        }),
    })
}

impl Control for UlControl {
    fn flush(&mut self, _expected: u64) {
        if let Err(e) = ul::flush() {
            eprintln!("harness: ul::flush failed: {e}");
        }
    }
    fn backend_cpu_seconds(&self) -> Option<f64> {
        self.writer.as_ref()?.cpu_seconds()
    }
    fn backend_sched(&self) -> Option<ProcSched> {
        self.writer.as_ref()?.sched()
    }
    fn stop(mut self: Box<Self>) -> BackendStats {
        let Some(w) = self.writer.take() else {
            return BackendStats::default();
        };
        let memory = w.memory();
        let status = w.stop(Duration::from_secs(60));
        BackendStats {
            memory,
            clean_exit: status.is_some_and(|s| s.success()),
        }
    }
    fn main_file(&self) -> PathBuf {
        self.main_file.clone()
    }
}

// ---------------------------------------------------------------- tracing

/// A buffered file that counts the lines it has flushed to the kernel, so
/// the harness knows when tracing-appender's worker has written everything
/// (its guard gives up waiting after about a second).
pub struct CountingFile {
    inner: BufWriter<File>,
    pending: u64,
    flushed: Arc<AtomicU64>,
}

impl CountingFile {
    /// Wraps `file` in a 64 KiB buffer; the counter reads lines flushed.
    pub fn new(file: File) -> (Self, Arc<AtomicU64>) {
        let flushed = Arc::new(AtomicU64::new(0));
        (
            Self {
                inner: BufWriter::with_capacity(64 * 1024, file),
                pending: 0,
                flushed: flushed.clone(),
            },
            flushed,
        )
    }
}

impl Write for CountingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pending += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()?;
        self.flushed.fetch_add(self.pending, Ordering::Release);
        self.pending = 0;
        Ok(())
    }
}

/// tracing's log statements (the global subscriber).
pub struct TracingApi;

impl Api for TracingApi {
    #[inline(always)]
    fn int(&self, i: u64, j: u32, x: f64) {
        tracing::info!("Logging int: {}, int: {}, double: {}", i, j, x);
    }
    #[inline(always)]
    fn string(&self, i: u64, j: u32, s: &str) {
        tracing::info!("Logging int: {}, int: {}, string: {}", i, j, s);
    }
    #[inline(always)]
    fn stat(&self) {
        tracing::info!("Static message without arguments");
    }
}

struct TracingControl {
    guard: Option<tracing_appender::non_blocking::WorkerGuard>,
    flushed: Arc<AtomicU64>,
    main_file: PathBuf,
}

fn install_tracing(opts: &LoggerOptions) -> Result<Installed<TracingApi>, String> {
    let main_file = opts.dir.join(if opts.json {
        "tracing.json"
    } else {
        "tracing.log"
    });
    let file = File::create(&main_file).map_err(|e| format!("{}: {e}", main_file.display()))?;
    let (writer, flushed) = CountingFile::new(file);
    let (nb, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(opts.capacity)
        .finish(writer);
    let builder = tracing_subscriber::fmt().with_ansi(false).with_writer(nb);
    let r = if opts.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    r.map_err(|e| format!("tracing subscriber: {e}"))?;
    Ok(Installed {
        api: TracingApi,
        control: Box::new(TracingControl {
            guard: Some(guard),
            flushed,
            main_file,
        }),
    })
}

impl Control for TracingControl {
    fn flush(&mut self, expected: u64) {
        // Dropping the guard asks the worker to finish, but waits at most
        // about 1.1 s; wait on for the lines really written.
        drop(self.guard.take());
        let start = Instant::now();
        while self.flushed.load(Ordering::Acquire) < expected {
            if start.elapsed() > Duration::from_secs(120) {
                eprintln!("harness: tracing worker did not write all lines within 120 s");
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    fn stop(self: Box<Self>) -> BackendStats {
        BackendStats::default()
    }
    fn main_file(&self) -> PathBuf {
        self.main_file.clone()
    }
}

// ---------------------------------------------------------------- slog

/// slog's log statements.
pub struct SlogApi {
    log: slog::Logger,
}

impl Api for SlogApi {
    #[inline(always)]
    fn int(&self, i: u64, j: u32, x: f64) {
        slog::info!(self.log, "Logging int: {}, int: {}, double: {}", i, j, x);
    }
    #[inline(always)]
    fn string(&self, i: u64, j: u32, s: &str) {
        slog::info!(self.log, "Logging int: {}, int: {}, string: {}", i, j, s);
    }
    #[inline(always)]
    fn stat(&self) {
        slog::info!(self.log, "Static message without arguments");
    }
}

struct SlogControl {
    guard: Option<slog_async::AsyncGuard>,
    main_file: PathBuf,
}

fn slog_async_logger<D>(drain: D, capacity: usize) -> (slog::Logger, slog_async::AsyncGuard)
where
    D: slog::Drain<Err = slog::Never, Ok = ()> + Send + 'static,
{
    use slog::Drain as _;
    let (drain, guard) = slog_async::Async::new(drain)
        .chan_size(capacity)
        .overflow_strategy(slog_async::OverflowStrategy::Block)
        .build_with_guard();
    (slog::Logger::root(drain.fuse(), slog::o!()), guard)
}

fn install_slog(opts: &LoggerOptions) -> Result<Installed<SlogApi>, String> {
    use slog::Drain as _;
    let main_file = opts
        .dir
        .join(if opts.json { "slog.json" } else { "slog.log" });
    let file = File::create(&main_file).map_err(|e| format!("{}: {e}", main_file.display()))?;
    // Buffered: slog-json writes each key and value with its own write
    // call, slog-term flushes after every record (one write per record).
    let file = BufWriter::with_capacity(64 * 1024, file);
    let (log, guard) = if opts.json {
        let drain = slog_json::Json::new(file).add_default_keys().build().fuse();
        slog_async_logger(drain, opts.capacity)
    } else {
        let decorator = slog_term::PlainDecorator::new(file);
        let drain = slog_term::FullFormat::new(decorator).build().fuse();
        slog_async_logger(drain, opts.capacity)
    };
    Ok(Installed {
        api: SlogApi { log },
        control: Box::new(SlogControl {
            guard: Some(guard),
            main_file,
        }),
    })
}

impl Control for SlogControl {
    fn flush(&mut self, _expected: u64) {
        // The guard's drop tells the worker to finish and joins it.
        drop(self.guard.take());
    }
    fn stop(self: Box<Self>) -> BackendStats {
        BackendStats::default()
    }
    fn main_file(&self) -> PathBuf {
        self.main_file.clone()
    }
}

// ---------------------------------------------------------------- log facade (fast_log, ftlog)

/// Log statements through the `log` facade (fast_log, ftlog).
pub struct LogFacadeApi;

impl Api for LogFacadeApi {
    #[inline(always)]
    fn int(&self, i: u64, j: u32, x: f64) {
        log::info!("Logging int: {}, int: {}, double: {}", i, j, x);
    }
    #[inline(always)]
    fn string(&self, i: u64, j: u32, s: &str) {
        log::info!("Logging int: {}, int: {}, string: {}", i, j, s);
    }
    #[inline(always)]
    fn stat(&self) {
        log::info!("Static message without arguments");
    }
}

struct LogFacadeControl {
    main_file: PathBuf,
    _ftlog_guard: Option<ftlog::LoggerGuard>,
}

impl Control for LogFacadeControl {
    fn flush(&mut self, _expected: u64) {
        // fast_log: sends a flush command and waits for the appender;
        // ftlog: sends a flush and waits for its notification.
        log::logger().flush();
    }
    fn stop(self: Box<Self>) -> BackendStats {
        BackendStats::default()
    }
    fn main_file(&self) -> PathBuf {
        self.main_file.clone()
    }
}

fn install_fast_log(opts: &LoggerOptions) -> Result<Installed<LogFacadeApi>, String> {
    let main_file = opts.dir.join("fast_log.log");
    let path = main_file.to_str().ok_or("non-UTF-8 temp path")?;
    fast_log::init(
        fast_log::Config::new()
            .file(path)
            .chan_len(Some(opts.capacity)),
    )
    .map_err(|e| format!("fast_log::init: {e}"))?;
    Ok(Installed {
        api: LogFacadeApi,
        control: Box::new(LogFacadeControl {
            main_file,
            _ftlog_guard: None,
        }),
    })
}

fn install_ftlog(opts: &LoggerOptions) -> Result<Installed<LogFacadeApi>, String> {
    let main_file = opts.dir.join("ftlog.log");
    let guard = ftlog::builder()
        .root(ftlog::appender::FileAppender::new(&main_file))
        .bounded(opts.capacity, true)
        .try_init()
        .map_err(|e| format!("ftlog init: {e}"))?;
    Ok(Installed {
        api: LogFacadeApi,
        control: Box::new(LogFacadeControl {
            main_file,
            _ftlog_guard: Some(guard),
        }),
    })
}

// ---------------------------------------------------------------- spdlog

/// spdlog-rs's log statements (to a stored logger, as spdlog-rs's own
/// benchmarks do, rather than the default logger that is cloned per call).
pub struct SpdlogApi {
    logger: Arc<spdlog::Logger>,
}

impl Api for SpdlogApi {
    #[inline(always)]
    fn int(&self, i: u64, j: u32, x: f64) {
        spdlog::info!(logger: self.logger, "Logging int: {}, int: {}, double: {}", i, j, x);
    }
    #[inline(always)]
    fn string(&self, i: u64, j: u32, s: &str) {
        spdlog::info!(logger: self.logger, "Logging int: {}, int: {}, string: {}", i, j, s);
    }
    #[inline(always)]
    fn stat(&self) {
        spdlog::info!(logger: self.logger, "Static message without arguments");
    }
}

struct SpdlogControl {
    sink: Arc<spdlog::sink::AsyncPoolSink>,
    main_file: PathBuf,
}

fn install_spdlog(opts: &LoggerOptions) -> Result<Installed<SpdlogApi>, String> {
    use spdlog::sink::{AsyncPoolSink, FileSink, OverflowPolicy};
    let main_file = opts.dir.join("spdlog.log");
    let e = |e: spdlog::Error| format!("spdlog: {e}");
    let capacity = std::num::NonZeroUsize::new(opts.capacity.max(1)).expect("non-zero");
    let pool = spdlog::ThreadPool::builder()
        .capacity(capacity)
        .build_arc()
        .map_err(e)?;
    let file = FileSink::builder()
        .path(&main_file)
        .truncate(true)
        .build_arc()
        .map_err(e)?;
    let sink = AsyncPoolSink::builder()
        .sink(file)
        .overflow_policy(OverflowPolicy::Block)
        .thread_pool(pool)
        .build_arc()
        .map_err(e)?;
    let logger = spdlog::Logger::builder()
        .sink(sink.clone())
        .build_arc()
        .map_err(e)?;
    Ok(Installed {
        api: SpdlogApi { logger },
        control: Box::new(SpdlogControl { sink, main_file }),
    })
}

impl Control for SpdlogControl {
    fn flush(&mut self, _expected: u64) {
        use spdlog::sink::Sink as _;
        // `flush_on_exit` joins the pool's thread once it has run every
        // queued task, then flushes the file sink on this thread. (`flush`
        // only queues a flush task.)
        if let Err(e) = self.sink.flush_on_exit() {
            eprintln!("harness: spdlog flush: {e}");
        }
    }
    fn stop(self: Box<Self>) -> BackendStats {
        BackendStats::default()
    }
    fn main_file(&self) -> PathBuf {
        self.main_file.clone()
    }
}

/// A temporary directory under the system temp dir, removed on drop.
pub fn temp_dir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir()
}

/// Lines found in `path`, or 0 if it cannot be read.
pub fn lines_in(path: &Path) -> u64 {
    crate::count_lines(path).unwrap_or(0)
}
