//! End-to-end throughput: N producer threads log M records as fast as they
//! can; the clock runs from the first call until the last record is on disk.
//!
//! ```text
//! cargo run --release -p ul-benches --features harness --bin throughput -- --threads 1 --records 4000000 \
//!     [--format text,json,both] [--logger ul,tracing,...] [--json out.json] \
//!     [--runs 3] [--writer-arg=--memory-limit --writer-arg=64M]
//! ```
//!
//! With `--runs N` every configuration runs N times, in N rounds (each
//! round runs every configuration once, so a slow stretch of a shared
//! machine spreads over all of them); a second table gives the medians and
//! each thread count against the fewest: records/s and the writer's CPU
//! time per record.
//!
//! Each (logger, format, thread count) runs in a child process of its own.
//! ul runs with `Overflow::Block` and a real `ul-writer --format F`; "on
//! disk" is `ul::flush()` returning. Peers block when their queue is full;
//! "on disk" is their guard or flush call returning (tracing: until its
//! worker has written every line). Every run counts the lines in its output
//! file afterwards.
//!
//! The backend's CPU seconds and peak RSS: ul's writer is a process, read
//! from `/proc/<pid>/stat` and `/proc/<pid>/status` (`VmHWM`) before
//! SIGTERM. A peer's backend is a thread: its CPU time is the process's
//! minus the producers' and the main thread's, and its peak RSS is the
//! whole process's.

use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::Instant;

use clap::Parser;
use ul_benches::loggers::{
    lines_in, temp_dir, with_logger, Api, Installed, Kind, LoggerOptions, Visitor,
};
use ul_benches::report::{self, ThroughputRow};
use ul_benches::writer_proc::proc_memory;
use ul_benches::{process_cpu_seconds, thread_cpu_seconds};

/// Measure end-to-end logging throughput of ul and its Rust peers.
#[derive(Parser, Debug, Clone)]
#[command(about)]
struct Cli {
    /// Producer thread counts.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    threads: Vec<usize>,
    /// Records per run, in all (split evenly over the threads).
    #[arg(long, default_value_t = 4_000_000)]
    records: u64,
    /// Output formats: text, json, both (ul-writer's --format). Peers run
    /// text, and json where they have a JSON formatter (tracing, slog).
    #[arg(long, value_delimiter = ',', default_value = "text,json,both")]
    format: Vec<String>,
    /// Loggers: ul, tracing, slog, fast_log, ftlog, spdlog (default: all).
    #[arg(long, value_delimiter = ',')]
    logger: Vec<String>,
    /// ul: bytes per lane.
    #[arg(long, default_value_t = ul::Sizes::default().lane_capacity)]
    lane_size: u32,
    /// ul: lanes in the region (threads beyond share the shared lane).
    #[arg(long, default_value_t = ul::Sizes::default().lanes)]
    lanes: u32,
    /// ul: the writer's `--format-threads` (default: the writer's own).
    #[arg(long)]
    format_threads: Option<usize>,
    /// ul: one more argument for `ul-writer` (repeat for several, e.g.
    /// `--writer-arg=--memory-limit --writer-arg=64M`).
    #[arg(long = "writer-arg", allow_hyphen_values = true)]
    writer_args: Vec<String>,
    /// Runs of each configuration (rounds over all of them).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Peers: queue capacity where it can be set.
    #[arg(long, default_value_t = 100_000)]
    capacity: usize,
    /// Write every result row as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// The ul-writer binary (default: next to this one, built if missing).
    #[arg(long)]
    writer: Option<std::path::PathBuf>,
    /// Run one configuration in this process and print its result (internal).
    #[arg(long, hide = true)]
    child: bool,
}

fn main() {
    let cli = Cli::parse();
    let r = if cli.child { child(&cli) } else { parent(&cli) };
    if let Err(e) = r {
        eprintln!("throughput: {e}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------ child

struct ThroughputVisitor {
    kind: Kind,
    format: String,
    threads: usize,
    records: u64,
}

struct ProducerResult {
    start: Instant,
    end: Instant,
    cpu: f64,
}

impl Visitor for ThroughputVisitor {
    type Out = ThroughputRow;
    fn visit<A: Api>(self, mut l: Installed<A>) -> ThroughputRow {
        let n = self.threads;
        let per = self.records / n as u64;
        let extra = self.records % n as u64;
        let barrier = Barrier::new(n + 1);
        let writer_cpu0 = l.control.backend_cpu_seconds();
        let writer_sched0 = l.control.backend_sched();
        let proc_cpu0 = process_cpu_seconds();
        let main_cpu0 = thread_cpu_seconds();
        let api = &l.api;
        let results: Vec<ProducerResult> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|k| {
                    let barrier = &barrier;
                    let count = per + u64::from((k as u64) < extra);
                    s.spawn(move || {
                        let cpu0 = thread_cpu_seconds();
                        let (mut i, j, mut x) = (k as u64 * 1_000_000_000, 7u32 + k as u32, 0.5f64);
                        barrier.wait();
                        let start = Instant::now();
                        for _ in 0..count {
                            api.int(i, j, x);
                            i += 1;
                            x += 0.25;
                        }
                        let end = Instant::now();
                        ProducerResult {
                            start,
                            end,
                            cpu: thread_cpu_seconds() - cpu0,
                        }
                    })
                })
                .collect();
            barrier.wait();
            handles
                .into_iter()
                .map(|h| h.join().expect("producer panicked"))
                .collect()
        });
        l.control.flush(self.records);
        let done = Instant::now();
        let t0 = results.iter().map(|r| r.start).min().expect("a producer");
        let t_prod = results.iter().map(|r| r.end).max().expect("a producer");
        let producers_cpu: f64 = results.iter().map(|r| r.cpu).sum();
        let main_cpu = thread_cpu_seconds() - main_cpu0;
        let proc_cpu = process_cpu_seconds() - proc_cpu0;
        let mut notes = Vec::new();
        let backend_cpu_s = match (writer_cpu0, l.control.backend_cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => (proc_cpu - producers_cpu - main_cpu).max(0.0),
        };
        let writer_sched = match (writer_sched0, l.control.backend_sched()) {
            (Some(a), Some(b)) => Some(b.since(&a)),
            _ => None,
        };
        let main_file = l.control.main_file();
        let lines_found = lines_in(&main_file);
        if self.kind == Kind::Ul && self.format == "both" {
            let json = lines_in(&main_file.with_file_name("server.info.json"));
            if json != self.records {
                notes.push(format!("server.info.json has {json} lines"));
            }
        }
        let stats = l.control.stop();
        let (peak_rss_kib, anon, shmem) = match stats.memory {
            Some(m) => {
                if !stats.clean_exit {
                    notes.push("ul-writer did not exit cleanly".into());
                }
                (m.hwm_kib, Some(m.anon_kib), Some(m.shmem_kib))
            }
            None => (
                proc_memory(std::process::id()).map_or(0, |m| m.hwm_kib),
                None,
                None,
            ),
        };
        ThroughputRow {
            logger: self.kind.name().into(),
            format: self.format,
            threads: n,
            records: self.records,
            seconds: (done - t0).as_secs_f64(),
            producer_seconds: (t_prod - t0).as_secs_f64(),
            backend_cpu_s,
            producers_cpu_s: producers_cpu,
            peak_rss_kib,
            writer_anon_kib: anon,
            writer_shmem_kib: shmem,
            writer_sched,
            lines_expected: self.records,
            lines_found,
            notes,
        }
    }
}

fn child(cli: &Cli) -> Result<(), String> {
    let name = cli.logger.first().ok_or("--child needs --logger")?;
    let kind = Kind::parse(name).ok_or_else(|| format!("unknown logger {name:?}"))?;
    let threads = *cli.threads.first().ok_or("--child needs --threads")?;
    let format = cli.format.first().ok_or("--child needs --format")?.clone();
    let dir = temp_dir(&format!("ul-bench-{}-", kind.name())).map_err(|e| e.to_string())?;
    let writer = match kind {
        Kind::Ul => ul_benches::writer_proc::locate_writer(cli.writer.as_deref())?,
        _ => Default::default(),
    };
    let opts = LoggerOptions {
        dir: dir.path().to_owned(),
        json: format == "json",
        ul_format: format.clone(),
        writer,
        lanes: cli.lanes,
        lane_size: cli.lane_size,
        format_threads: cli.format_threads,
        writer_args: cli.writer_args.clone(),
        capacity: cli.capacity,
    };
    let row = with_logger(
        kind,
        &opts,
        ThroughputVisitor {
            kind,
            format,
            threads,
            records: cli.records,
        },
    )?;
    report::emit(&row);
    Ok(())
}

// ------------------------------------------------------------------ parent

fn parent(cli: &Cli) -> Result<(), String> {
    let kinds: Vec<Kind> = if cli.logger.is_empty() {
        Kind::ALL.to_vec()
    } else {
        cli.logger
            .iter()
            .map(|n| Kind::parse(n).ok_or_else(|| format!("unknown logger {n:?}")))
            .collect::<Result<_, _>>()?
    };
    for f in &cli.format {
        if !["text", "json", "both"].contains(&f.as_str()) {
            return Err(format!("unknown format {f:?}: use text, json or both"));
        }
    }
    let writer = if kinds.contains(&Kind::Ul) {
        Some(ul_benches::writer_proc::locate_writer(
            cli.writer.as_deref(),
        )?)
    } else {
        None
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut rows: Vec<ThroughputRow> = Vec::new();
    for round in 0..cli.runs.max(1) {
        for format in &cli.format {
            for &kind in &kinds {
                let runs = match format.as_str() {
                    "text" => true,
                    "json" => kind.has_json(),
                    _ => kind == Kind::Ul,
                };
                if !runs {
                    continue;
                }
                for &t in &cli.threads {
                    let mut cmd = Command::new(&exe);
                    cmd.args(["--child", "--logger", kind.name()])
                        .args(["--threads", &t.to_string()])
                        .args(["--records", &cli.records.to_string()])
                        .args(["--format", format])
                        .args(["--lane-size", &cli.lane_size.to_string()])
                        .args(["--lanes", &cli.lanes.to_string()])
                        .args(["--capacity", &cli.capacity.to_string()]);
                    if let Some(w) = &writer {
                        cmd.arg("--writer").arg(w);
                    }
                    if let Some(n) = cli.format_threads {
                        cmd.args(["--format-threads", &n.to_string()]);
                    }
                    for a in &cli.writer_args {
                        cmd.arg(format!("--writer-arg={a}"));
                    }
                    let label = format!(
                        "{}, {format}, {t} thread(s), run {} of {}",
                        kind.name(),
                        round + 1,
                        cli.runs.max(1)
                    );
                    eprintln!("throughput: {label} ...");
                    let out = cmd
                        .stdin(Stdio::null())
                        .stderr(Stdio::inherit())
                        .output()
                        .map_err(|e| format!("running {}: {e}", exe.display()))?;
                    match report::parse::<ThroughputRow>(&String::from_utf8_lossy(&out.stdout)) {
                        Ok(r) => {
                            eprintln!(
                                "throughput: {label}: {} in {:.2} s",
                                report::fmt_rate(r.rate()),
                                r.seconds
                            );
                            rows.push(r);
                        }
                        Err(e) => eprintln!("throughput: {label} failed ({}): {e}", out.status),
                    }
                }
            }
        }
    }
    if rows.is_empty() {
        return Err("no run succeeded".into());
    }
    println!("### Throughput\n");
    println!(
        "- command: `cargo run --release -p ul-benches --features harness --bin throughput -- {}`",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    println!(
        "- message `(\"Logging int: {{}}, int: {{}}, double: {{}}\", u64, u32, f64)`; time from the first call until the last record is on disk; harness wall time {:.0} s",
        started.elapsed().as_secs_f64()
    );
    if !cli.writer_args.is_empty() {
        println!(
            "- ul-writer arguments added: `{}`",
            cli.writer_args.join(" ")
        );
    }
    for r in &rows {
        if let Some(s) = r.writer_sched {
            println!(
                "- ul {} ({} threads): writer threads ran {:.2} s, waited {:.3} s for a CPU, slept {} times, were preempted {} times",
                r.format, r.threads, s.run_s, s.wait_s, s.voluntary, s.involuntary
            );
            let [run, wait, vol, invol] = s.engine;
            println!(
                "  - of which the engine (main) thread: ran {run:.2} s, waited {wait:.3} s, slept {vol} times, preempted {invol} times; producers' CPU {:.2} s",
                r.producers_cpu_s
            );
        }
        if let (Some(a), Some(s)) = (r.writer_anon_kib, r.writer_shmem_kib) {
            println!(
                "- ul {} ({} threads): writer at exit: {:.1} MiB anonymous (heap), {:.1} MiB shared (the region's pages it touched)",
                r.format,
                r.threads,
                a as f64 / 1024.0,
                s as f64 / 1024.0
            );
        }
        for n in &r.notes {
            println!("- {} {} ({} threads): {n}", r.logger, r.format, r.threads);
        }
    }
    println!();
    print!("{}", report::throughput_table(&rows));
    if cli.runs > 1 || cli.threads.len() > 1 {
        println!("\n#### Medians and thread scaling\n");
        print!("{}", report::scaling_table(&rows));
    }
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
