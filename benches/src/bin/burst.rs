//! Does a burst lose records at the default settings?
//!
//! ```text
//! cargo run --release -p ul-benches --bin burst -- [--runs 20] [--records 200000] \
//!     [--threads 1] [--overflow default|drop|block:MS] [--writer-arg=--lane-size --writer-arg=8388608]
//! ```
//!
//! Each run starts a fresh `ul-writer` (its defaults, plus any
//! `--writer-arg`) on a new region, runs a child process (this binary
//! re-executed with `--child`) that logs `--records` records per thread in
//! a tight loop (`ul::info!("record {} of {}", i, n)`) on default
//! `ul::Options` (or `--overflow`), calls `ul::flush()` and exits; then
//! stops the writer with SIGTERM and counts, in `server.log`, the records
//! written and the drops the writer reported (`N records dropped ...`).
//! One line per run, then a summary; exit status 1 if any run lost a
//! record without a report (written + reported drops != logged).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use ul_benches::writer_proc::locate_writer;

#[derive(Parser, Debug)]
#[command(about = "Drops at the default settings under a burst")]
struct Cli {
    /// Runs, each with a fresh writer and region.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Records per thread.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Logging threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Overflow policy: `default` (ul::Options' default), `drop`, or
    /// `block:MS`.
    #[arg(long, default_value = "default")]
    overflow: String,
    /// Extra argument for ul-writer (repeat for several).
    #[arg(long = "writer-arg", allow_hyphen_values = true)]
    writer_args: Vec<String>,
    /// The ul-writer binary (default: next to this one, built if missing).
    #[arg(long)]
    writer: Option<PathBuf>,
    /// Internal: log into this region and exit.
    #[arg(long, hide = true)]
    child: Option<PathBuf>,
}

fn child(cli: &Cli, shm: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = ul::Options::new(shm);
    match cli.overflow.as_str() {
        "default" => {}
        "drop" => opts = opts.overflow(ul::Overflow::Drop),
        s => {
            let ms: u64 = s
                .strip_prefix("block:")
                .ok_or("--overflow: default, drop or block:MS")?
                .parse()?;
            opts = opts.overflow(ul::Overflow::Block {
                timeout: Duration::from_millis(ms),
            });
        }
    }
    opts.init()?;
    let n = cli.records;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cli.threads {
            s.spawn(move || {
                for i in 0..n {
                    ul::info!("record {} of {}", i, n);
                }
            });
        }
    });
    let logged = start.elapsed();
    ul::flush()?;
    println!(
        "{} {}",
        logged.as_nanos(),
        start.elapsed().as_nanos() - logged.as_nanos()
    );
    Ok(())
}

struct Run {
    written: u64,
    dropped: u64,
    log_ms: f64,
    flush_ms: f64,
}

fn one_run(cli: &Cli, writer: &Path, k: usize) -> Result<Run, String> {
    let tag = format!("ul-burst-{}-{k}", std::process::id());
    let shm = PathBuf::from("/dev/shm").join(&tag);
    let dir = std::env::temp_dir().join(&tag);
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_dir_all(&dir);
    let mut w = Command::new(writer)
        .arg("--shm")
        .arg(&shm)
        .arg("--dir")
        .arg(&dir)
        .args(&cli.writer_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", writer.display()))?;
    let up = Instant::now();
    while !(shm.exists() && dir.join("server.log").exists()) {
        if up.elapsed() > Duration::from_secs(10) {
            let _ = w.kill();
            return Err("ul-writer did not come up within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("--child")
        .arg(&shm)
        .args(["--records", &cli.records.to_string()])
        .args(["--threads", &cli.threads.to_string()])
        .args(["--overflow", &cli.overflow])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    // SAFETY: kill(2) on our own unreaped child.
    unsafe { libc::kill(w.id() as libc::pid_t, libc::SIGTERM) };
    let status = w.wait().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&shm);
    if !out.status.success() {
        return Err(format!("producer failed: {}", out.status));
    }
    if !status.success() {
        return Err(format!("ul-writer exited with {status}"));
    }
    let text = std::fs::read_to_string(dir.join("server.log")).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut written = 0;
    let mut dropped = 0;
    for line in text.lines() {
        if line.contains("INFO: record ") {
            written += 1;
        } else if let Some(p) = line.find(" records dropped") {
            let head = &line[..p];
            let num = head.rsplit(' ').next().unwrap_or("");
            dropped += num.parse::<u64>().unwrap_or(0);
        }
    }
    let times = String::from_utf8_lossy(&out.stdout);
    let mut t = times
        .split_whitespace()
        .map(|x| x.parse::<f64>().unwrap_or(0.0));
    Ok(Run {
        written,
        dropped,
        log_ms: t.next().unwrap_or(0.0) / 1e6,
        flush_ms: t.next().unwrap_or(0.0) / 1e6,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    if let Some(shm) = &cli.child {
        return child(&cli, shm);
    }
    let writer = locate_writer(cli.writer.as_deref())?;
    let logged = cli.records * cli.threads as u64;
    println!(
        "burst: {} run(s), {} thread(s) x {} records, overflow {}, writer args {:?}",
        cli.runs, cli.threads, cli.records, cli.overflow, cli.writer_args
    );
    println!("run   written   dropped  log_ms  flush_ms");
    let (mut lossy, mut total_dropped, mut unaccounted) = (0, 0, 0);
    for k in 0..cli.runs {
        let r = one_run(&cli, &writer, k)?;
        println!(
            "{k:>3} {:>9} {:>9} {:>7.1} {:>9.1}",
            r.written, r.dropped, r.log_ms, r.flush_ms
        );
        if r.dropped > 0 {
            lossy += 1;
        }
        total_dropped += r.dropped;
        if r.written + r.dropped != logged {
            unaccounted += 1;
        }
    }
    println!(
        "summary: {lossy} of {} runs dropped records ({total_dropped} in all); \
         {unaccounted} runs with records neither written nor reported",
        cli.runs
    );
    if unaccounted > 0 {
        std::process::exit(1);
    }
    Ok(())
}
