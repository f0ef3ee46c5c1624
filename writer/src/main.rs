//! `ul-writer`: drains a ul region and writes the logs.
//!
//! ```text
//! ul-writer                          # /dev/shm/ul -> ./logs/server.log, ./logs/server.<level>.json
//! ul-writer --shm /dev/shm/app --dir /var/log/app --format text
//! ul-writer --rotate-size 100M --keep 10 --memory-limit 64M --cpu-limit 10%
//! ```
//!
//! Exit status: 0 after SIGTERM/SIGINT (everything drained), 3 if the
//! region file was truncated under it (reported with the path and both
//! sizes), 1 for any other error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ul_ring::layout::Sizes;
use ul_ring::region::{Region, RegionOptions};
use ul_writer::internals::engine::{
    Engine, RunError, Signals, DEFAULT_BATCH_BYTES, MIN_BATCH_BYTES,
};
use ul_writer::internals::forward::sink::SinkState;
use ul_writer::internals::forward::url::ForwardUrl;
use ul_writer::internals::limits::{memory_in_use, parse_size, Limits, Outcome};
use ul_writer::internals::memory::InUse;
use ul_writer::internals::outputs::{Format, Outputs};
use ul_writer::internals::region_guard::EXIT_REGION_BROKEN;
use ul_writer::internals::rotate::Rotation;

/// With `test-hooks`, an allocator that `UL_TEST_FAIL_ALLOC` makes refuse
/// large blocks (see `ul_writer::fail_alloc`); the system allocator
/// otherwise.
#[cfg(feature = "test-hooks")]
#[global_allocator]
static ALLOC: ul_writer::fail_alloc::FailAlloc = ul_writer::fail_alloc::FailAlloc::new();

/// Drain a ul shared-memory region and write human-readable and JSON logs.
///
/// Serves the region at --shm (creating it if missing) and writes every
/// record to <dir>/<name>.log (text, one line per record) and
/// <dir>/<name>.<level>.json (one JSON object per line; trace, debug, info,
/// warn, error), appending to files already there. With --format binary
/// (or all) it writes <dir>/<name>.ulog too: the records as read from the
/// region, which `ul-decode` turns into the same text or JSON lines. One writer per region: a
/// second is refused with the first one's pid; and one writer per set of
/// files: a writer of another region given the same --dir and --name is
/// refused too (it holds <dir>/.<name>.ul-writer.lock). Diagnostics go to standard
/// error, each line prefixed `ul-writer: `; drops and reclaimed lanes are
/// reported in the log itself.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Signals:\n  \
SIGTERM, SIGINT  write everything the region holds, then exit 0\n  \
SIGHUP           close and reopen the output files (after logrotate renamed them; see --pid-file)\n\n\
Exit status:\n  \
0  stopped by SIGTERM/SIGINT, everything drained\n  \
1  an error, reported on stderr (a bad flag value, another writer serves the region \
or writes the same --dir and --name, the log directory cannot be written, ...)\n  \
2  bad command-line syntax\n  \
3  the region file was truncated under the writer (path and both sizes reported; \
everything written so far is on disk)\n\n\
SIZE values (--rotate-size, --memory-limit) are whole numbers of bytes with an optional \
suffix K, M, G or T (powers of 1024, e.g. 100M = 104857600; a trailing B is allowed)."
)]
struct Cli {
    /// The region to serve (created if missing, with --lanes and
    /// --lane-size).
    #[arg(long, default_value = "/dev/shm/ul")]
    shm: PathBuf,
    /// Directory for the log files (created if missing; relative to the
    /// working directory).
    #[arg(long, default_value = "./logs")]
    dir: PathBuf,
    /// File stem: <dir>/<name>.log, <dir>/<name>.<level>.json, <dir>/<name>.ulog.
    #[arg(long, default_value = "server")]
    name: String,
    /// Which outputs to write: text (<name>.log), json
    /// (<name>.<level>.json), both, binary (<name>.ulog: the records as
    /// read, for `ul-decode`; the cheapest to write), or all three.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    format: Format,
    /// Show each record's file and line in the text log, before the
    /// message (`INFO: src/main.rs:12: message`); JSON has them always.
    #[arg(long)]
    text_location: bool,
    /// Seconds after which an uncommitted shared-lane claim is abandoned.
    #[arg(long, default_value_t = 30.0, alias = "process-timeout")]
    claim_timeout: f64,
    /// Set the region's flush interval (ms): the longest a record waits.
    #[arg(long)]
    flush_interval_ms: Option<u32>,
    /// Set the region's batch size (records per lane per pass).
    #[arg(long)]
    batch_size: Option<u32>,
    /// Lanes (one per producer thread; more threads share one extra lane),
    /// if this writer creates the region [default: 128]. A region that
    /// exists keeps its own sizes (the writer says so if they differ).
    #[arg(long, value_name = "N")]
    lanes: Option<u32>,
    /// Bytes per lane, a power of two, if this writer creates the region
    /// [default: 262144]. A region that exists keeps its own.
    #[arg(long, value_name = "BYTES")]
    lane_size: Option<u32>,
    /// File mode (octal) if this writer creates the region.
    #[arg(long, default_value = "600")]
    mode: String,
    /// Accept a region owned by another user.
    #[arg(long)]
    allow_other_owner: bool,
    /// Rotate a file before a batch would take it past SIZE (e.g. 100M):
    /// <name>.log becomes <name>.log.1, .1 becomes .2, and so on.
    #[arg(long, value_name = "SIZE")]
    rotate_size: Option<String>,
    /// Rotated files to keep (<name>.log.1 ... .N) with --rotate-size.
    /// Each output rotates on its own (<name>.ulog.1 ...); a rotated binary
    /// log decodes on its own.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "rotate_size")]
    keep: u32,
    /// Memory limit (e.g. 64M): the cgroup's memory.max (v1:
    /// memory.limit_in_bytes) if the writer is alone in its cgroup, else
    /// RLIMIT_AS.
    /// Batches are sized to fit in it; a limit too small to work in is
    /// refused at start (exit status 1) with the smallest that would do.
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Bytes of formatted lines one batch holds at most, all outputs
    /// together (each format thread holds at most this much): the
    /// writer's memory for records in flight, whatever the number of
    /// lanes or producer threads. --memory-limit may lower it.
    /// [default: 1M]
    #[arg(long, value_name = "SIZE")]
    batch_bytes: Option<String>,
    /// CPU limit as a share of one CPU (e.g. 10%): the cgroup's cpu.max (v1:
    /// cpu.cfs_quota_us) if the writer is alone in its cgroup, else the
    /// writer paces itself.
    #[arg(long, value_name = "PERCENT")]
    cpu_limit: Option<String>,
    /// Nice value, -20 (highest priority) to 19.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    nice: Option<i32>,
    /// CPUs to run on, e.g. 0,1 or 2-3.
    #[arg(long, value_name = "LIST")]
    cpu_affinity: Option<String>,
    /// Threads that format a long backlog (one lane's run is split among
    /// them; the files are the same as with one). Default: 2 with text and
    /// JSON together (`--format both`, the default, or `all`) on 2 or more
    /// CPUs, else 1. Always 1 with `--format binary`.
    #[arg(long, value_name = "N")]
    format_threads: Option<usize>,
    /// Also send every record, as its text line in an RFC 5424 message, to
    /// a receiver: relp://HOST:PORT (RELP, acknowledged: the lanes hold a
    /// record until the receiver acknowledged it, and a restarted writer
    /// sends again what was not) or syslog+tcp://HOST:PORT (RFC 6587
    /// octet counting, no acknowledgements: records in the network or the
    /// receiver's buffers when a connection breaks are lost). `?window=N`:
    /// records per exchange (default 128). Repeat for several receivers.
    /// The shared lane's records and the writer's own lines are not
    /// forwarded.
    #[arg(long, value_name = "URL")]
    forward: Vec<String>,
    /// Write the writer's pid to this file once it serves the region
    /// (removed on exit), for `kill -HUP $(cat FILE)` after logrotate.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ul_writer::diag!("{e}");
            match e.downcast_ref::<RunError>() {
                Some(RunError::RegionBroken(_)) => ExitCode::from(EXIT_REGION_BROKEN),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    // A test hook: the largest block the allocator grants once the writer
    // serves its region.
    #[cfg(feature = "test-hooks")]
    let fail_alloc = match std::env::var(ul_writer::fail_alloc::ENV) {
        Ok(v) => Some(parse_size(ul_writer::fail_alloc::ENV, &v)?),
        Err(_) => None,
    };
    // Bad limits are argument errors: refuse them before touching anything.
    let limits = Limits::parse(
        cli.memory_limit.as_deref(),
        cli.cpu_limit.as_deref(),
        cli.nice,
        cli.cpu_affinity.as_deref(),
    )?;
    let forwards = cli
        .forward
        .iter()
        .map(|u| ForwardUrl::parse(u))
        .collect::<Result<Vec<_>, _>>()?;
    let rotation = match &cli.rotate_size {
        Some(s) => Some(Rotation {
            size: parse_size("--rotate-size", s)?,
            keep: cli.keep,
        }),
        None => None,
    };
    let batch_bytes = match &cli.batch_bytes {
        Some(s) => {
            let b = parse_size("--batch-bytes", s)?;
            if b < MIN_BATCH_BYTES as u64 {
                return Err(format!(
                    "--batch-bytes {s:?}: at least {} KiB (a batch must hold a few hundred records)",
                    MIN_BATCH_BYTES >> 10
                )
                .into());
            }
            usize::try_from(b).unwrap_or(usize::MAX)
        }
        None => DEFAULT_BATCH_BYTES,
    };
    if limits.memory.is_some() {
        // One malloc arena for every thread: glibc gives each thread that
        // allocates an arena of its own, reserving 64 MiB of address space
        // for it, which an RLIMIT_AS limit would count (or refuse).
        // SAFETY: mallopt only sets an allocator parameter; no thread but
        // this one runs yet.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    }
    let mode = u32::from_str_radix(&cli.mode, 8)
        .map_err(|_| format!("--mode {:?} is not an octal file mode like 600", cli.mode))?;
    let opts = RegionOptions {
        sizes: Sizes {
            lanes: cli.lanes.unwrap_or(Sizes::default().lanes),
            lane_capacity: cli.lane_size.unwrap_or(Sizes::default().lane_capacity),
            ..Sizes::default()
        },
        mode,
        allow_other_owner: cli.allow_other_owner,
        // Map the lanes' pages in only as they are read: with the default
        // sizes, populating would put the whole region (33 MiB) in the
        // writer's RSS.
        populate: false,
        ..RegionOptions::default()
    };
    // The log directory first: a bad --dir must fail before a region is
    // created for nothing.
    let outputs = Outputs::new_for(&cli.dir, &cli.name, cli.format)?;
    let region = Region::open(&cli.shm, &opts)?;
    let have = region.geometry().sizes;
    let creator = region
        .header()
        .id
        .creator_pid
        .load(std::sync::atomic::Ordering::Relaxed);
    let sizes_text = format!(
        "{} lanes of {} KiB, created by pid {creator}",
        have.lanes,
        have.lane_capacity / 1024
    );
    if !region.created() {
        // Sizes are fixed when a region is created: flags that asked for
        // others are not applied, and the operator should know.
        let mut asked = Vec::new();
        if let Some(n) = cli.lanes.filter(|&n| n != have.lanes) {
            asked.push(format!("--lanes {n}"));
        }
        if let Some(n) = cli.lane_size.filter(|&n| n != have.lane_capacity) {
            asked.push(format!("--lane-size {n}"));
        }
        if !asked.is_empty() {
            ul_writer::diag!(
                "{} not applied: {} exists with {sizes_text} (a region's sizes are \
                 fixed when it is created, by whichever writer or producer opens it first)",
                asked.join(" "),
                cli.shm.display()
            );
        }
    }
    // One writer per region (a flock the kernel frees when its holder dies).
    ul_writer::internals::takeover::take(&region)?;
    // One writer per set of output files (another region's writer may have
    // been given the same --dir and --name). Held until the writer exits.
    let _dir_lock = ul_writer::internals::dir_lock::DirLock::take(&cli.dir, &cli.name, &cli.shm)?;
    let h = region.header();
    let me = std::process::id();
    if let Some(ms) = cli.flush_interval_ms {
        h.control.set_flush_interval_ms(ms.max(1));
    }
    if let Some(b) = cli.batch_size {
        h.control.set_batch_size(b.max(1));
    }
    // A write past RLIMIT_FSIZE must fail with EFBIG (kept in the ring,
    // reported, retried), not kill the writer with SIGXFSZ.
    // SAFETY: setting a signal's disposition to SIG_IGN touches no memory.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let signals = Signals::default();
    signal_hook::flag::register(signal_hook::consts::SIGTERM, signals.terminate.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, signals.terminate.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGHUP, signals.reopen.clone())?;
    let timeout = Duration::from_secs_f64(cli.claim_timeout.max(0.001));
    let mut engine = Engine::new(region, outputs, cli.format, timeout)?;
    engine.set_text_location(cli.text_location);
    // A region unlinked or recreated at --shm: drain the old one, serve the
    // new one.
    engine.follow_path(opts);
    engine.set_rotation(rotation);
    for u in &forwards {
        engine.forward(&u.text, u.transport(&cli.name))?;
    }
    // Before the limits, so an address-space limit counts the helpers'
    // stacks.
    if cli.format == Format::Binary && cli.format_threads.is_some_and(|n| n > 1) {
        ul_writer::diag!(
            "--format-threads not applied: with --format binary the writer copies records on one thread"
        );
    }
    let threads = cli.format_threads.unwrap_or_else(|| {
        if cli.format.json() && cli.format.text() {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
        } else {
            1
        }
    });
    engine.set_format_threads(threads)?;
    engine.set_batch_bytes(batch_bytes);
    // Batches sized to the memory limit, or a limit too small refused,
    // before anything is applied: against what the writer holds now, the
    // region mapped and the helpers started.
    if let (Some(limit), Some((bytes, measure))) = (limits.memory, memory_in_use()) {
        let in_use = InUse {
            bytes,
            measure,
            region: measure
                .starts_with("address")
                .then(|| engine.region().file().metadata().map(|m| m.len()).ok())
                .flatten(),
        };
        let arena = u64::from(engine.region().geometry().sizes.callsite_len);
        let text = cli.memory_limit.as_deref().unwrap_or_default();
        let p = ul_writer::internals::memory::plan(
            text,
            limit,
            in_use,
            engine.format_threads(),
            arena,
            batch_bytes,
        )?;
        engine.set_batch_bytes(p.batch_bytes);
        ul_writer::diag!(
            "batches of at most {} KiB of lines per format thread ({} of them) within \
             --memory-limit {text} ({:.1} MiB in use now)",
            p.batch_bytes >> 10,
            engine.format_threads(),
            bytes as f64 / f64::from(1 << 20)
        );
    }
    let (outcomes, throttle) = limits.apply();
    for (what, o) in &outcomes {
        ul_writer::diag!("{what} limit {o}");
        if let (&"memory", Outcome::NotApplied(why)) = (what, o) {
            // Running without the limit asked for is not what the operator
            // wants: say why and stop.
            return Err(format!("--memory-limit cannot be applied: {why}").into());
        }
    }
    engine.set_throttle(throttle);
    ul_writer::diag!(
        "serving {} ({sizes_text}) -> {} (pid {me})",
        cli.shm.display(),
        cli.dir.display()
    );
    if let Some(p) = &cli.pid_file {
        write_pid_file(p, me)?;
    }
    #[cfg(feature = "test-hooks")]
    if let Some(cap) = fail_alloc {
        ul_writer::diag!(
            "test hook {}: allocations of more than {cap} bytes are refused from now on",
            ul_writer::fail_alloc::ENV
        );
        ALLOC.arm(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    let result = engine.run(&signals);
    #[cfg(feature = "test-hooks")]
    if fail_alloc.is_some() {
        ul_writer::diag!(
            "test hook {}: {} allocations refused",
            ul_writer::fail_alloc::ENV,
            ALLOC.refused()
        );
    }
    if let Some(p) = &cli.pid_file {
        let _ = std::fs::remove_file(p);
    }
    if !matches!(result, Err(RunError::RegionBroken(_))) {
        // Leave no stale identity behind; the flock goes with the process.
        // (A truncated region's header may be gone: touching it is SIGBUS.)
        engine.region().header().writer.release();
    }
    ul_writer::diag!(
        "exiting after writing {} records in {} batches ({} lane parts formatted by helpers, {} sleeps)",
        engine.totals.records,
        engine.totals.batches,
        engine.totals.helper_parts,
        engine.totals.sleeps
    );
    for s in engine.sinks() {
        ul_writer::diag!(
            "forwarded {} records to {}{}",
            s.forwarded,
            s.url,
            match &s.last_error {
                Some(e) if s.state == SinkState::Failing => format!(" (failing: {e})"),
                _ => String::new(),
            }
        );
    }
    result?;
    Ok(())
}

/// Writes `pid` to `path` atomically (a temporary file renamed over it), so
/// a reader never sees a half-written pid.
fn write_pid_file(path: &std::path::Path, pid: u32) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, format!("{pid}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("--pid-file {}: {e}", path.display()))
}
