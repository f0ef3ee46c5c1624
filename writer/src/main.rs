//! `ul-writer`: drains a ul region and writes the logs.
//!
//! ```text
//! ul-writer                          # /dev/shm/ul -> ./logs/server.log, ./logs/server.<level>.json
//! ul-writer --shm /dev/shm/app --dir /var/log/app --format text
//! ```

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use ul_ring::layout::Sizes;
use ul_ring::region::{Region, RegionOptions};
use ul_writer::engine::{Engine, Signals};
use ul_writer::outputs::{Format, Outputs};

/// Drain a ul shared-memory region and write human-readable and JSON logs.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The region to serve (created if missing).
    #[arg(long, default_value = "/dev/shm/ul")]
    shm: PathBuf,
    /// Directory for the log files (created if missing).
    #[arg(long, default_value = "./logs")]
    dir: PathBuf,
    /// File stem: <dir>/<name>.log and <dir>/<name>.<level>.json.
    #[arg(long, default_value = "server")]
    name: String,
    /// Which outputs to write.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    format: Format,
    /// Seconds after which an uncommitted shared-lane claim is abandoned.
    #[arg(long, default_value_t = 30.0)]
    process_timeout: f64,
    /// Set the region's flush interval (ms): the longest a record waits.
    #[arg(long)]
    flush_interval_ms: Option<u32>,
    /// Set the region's batch size (records per lane per pass).
    #[arg(long)]
    batch_size: Option<u32>,
    /// Lanes, if this writer creates the region.
    #[arg(long, default_value_t = Sizes::default().lanes)]
    lanes: u32,
    /// Bytes per lane (a power of two), if this writer creates the region.
    #[arg(long, default_value_t = Sizes::default().lane_capacity)]
    lane_size: u32,
    /// File mode (octal) if this writer creates the region.
    #[arg(long, default_value = "600")]
    mode: String,
    /// Accept a region owned by another user.
    #[arg(long)]
    allow_other_owner: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ul-writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let mode = u32::from_str_radix(&cli.mode, 8)
        .map_err(|_| format!("--mode {:?} is not an octal file mode like 600", cli.mode))?;
    let opts = RegionOptions {
        sizes: Sizes {
            lanes: cli.lanes,
            lane_capacity: cli.lane_size,
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
    let region = Region::open(&cli.shm, &opts)?;
    // One writer per region: an exclusive lock on the region file, released
    // by the kernel when the holder dies (so a dead writer's lock is free).
    // SAFETY: flock on our open file descriptor has no memory effects.
    let r = unsafe { libc::flock(region.file().as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let pid = region.header().writer.pid.load(Ordering::Relaxed);
        return Err(format!(
            "another ul-writer (pid {pid}) already serves {}; stop it first or use another --shm",
            cli.shm.display()
        )
        .into());
    }
    let h = region.header();
    let me = std::process::id();
    h.writer.start_time.store(
        ul_ring::procinfo::start_time(me).unwrap_or(0),
        Ordering::Relaxed,
    );
    h.writer
        .heartbeat_ns
        .store(ul_ring::clock::monotonic_ns(), Ordering::Relaxed);
    h.writer.pid.store(me, Ordering::Release);
    if let Some(ms) = cli.flush_interval_ms {
        h.control
            .flush_interval_ms
            .store(ms.max(1), Ordering::Relaxed);
    }
    if let Some(b) = cli.batch_size {
        h.control.batch_size.store(b.max(1), Ordering::Relaxed);
    }
    // A write past RLIMIT_FSIZE must fail with EFBIG (kept in the ring,
    // reported, retried), not kill the writer with SIGXFSZ.
    // SAFETY: setting a signal's disposition to SIG_IGN touches no memory.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let signals = Signals::default();
    signal_hook::flag::register(signal_hook::consts::SIGTERM, signals.terminate.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, signals.terminate.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGHUP, signals.reopen.clone())?;
    let outputs = Outputs::new(&cli.dir, &cli.name)?;
    let timeout = Duration::from_secs_f64(cli.process_timeout.max(0.001));
    let mut engine = Engine::new(region, outputs, cli.format, timeout)?;
    eprintln!(
        "ul-writer: serving {} -> {} (pid {me})",
        cli.shm.display(),
        cli.dir.display()
    );
    let result = engine.run(&signals);
    let h = engine.region().header();
    // Leave no stale identity behind; the flock goes with the process.
    h.writer.pid.store(0, Ordering::Release);
    eprintln!(
        "ul-writer: exiting after writing {} records in {} batches",
        engine.totals.records, engine.totals.batches
    );
    result?;
    Ok(())
}
