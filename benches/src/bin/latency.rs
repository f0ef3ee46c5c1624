//! Hot-path latency of ul and its Rust peers, against the floor.
//!
//! ```text
//! cargo run --release -p ul-benches --features harness --bin latency -- [--threads 1,2] \
//!     [--logger ul,tracing] [--bursts 10000] [--chart docs/perf/latency.png] [--json out.json]
//! # for callgrind: ul's call, or the floor's push
//! cargo run --release -p ul-benches --features harness --bin latency -- --logger ul --profile-bursts 5000
//! cargo run --release -p ul-benches --features harness --bin latency -- --logger rings --profile-ring 4 \
//!     --profile-bursts 5000
//! ```
//!
//! Each logger runs in a child process of its own (this binary re-executed
//! with `--child`), since global facades install once per process. A child
//! installs its logger writing to a file in a fresh temp dir (for ul: starts
//! a real `ul-writer` on `/dev/shm/ul-bench-<pid>`), runs `--bursts` bursts
//! of 20 calls per thread with a 2.0-2.2 ms busy pause after each, and
//! reports HDR-histogram percentiles as one JSON line on stdout.
//!
//! Each case gets `--bursts` bursts per thread (10,000 by default, as the
//! issue asks); the cases are 2 modes (burst/20: `rdtscp` around 20 calls /
//! 20, Quill's method; single call: `rdtscp; lfence` around each call, the
//! timer's own median cost subtracted) x 3 messages, and their bursts are
//! interleaved round-robin so all cases see the same conditions. A thread
//! thus makes `bursts x cases` bursts (60,000 by default, about 2 minutes
//! of pauses); `--modes burst --messages int` runs one case only.
//!
//! The floor (issue 15: a 40-byte record written with plain stores into a
//! pre-faulted ring, published with one Release store of the head; see
//! `ul_benches::floor`) is timed inside ul's child process, as one more
//! case per mode, its bursts interleaved with ul's, on every producer
//! thread into that thread's own ring (`--floor-beside`). The report
//! divides ul's percentiles by it. The reference rings (`--logger rings`:
//! ul's lane and a hand-written ring, 56-byte records) run in a process of
//! their own, one producer thread.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use ul_benches::floor::{
    Floor, MinFloor, WithFloor, FLOOR_IDLE_RINGS, FLOOR_MESSAGES, MIN_FLOOR, WITH_FLOOR_MESSAGE,
};
use ul_benches::hist::LatHist;
use ul_benches::loggers::{
    lines_in, temp_dir, with_logger, Api, Installed, Kind, LoggerOptions, LoggerSubject, Visitor,
    MESSAGES,
};
use ul_benches::report::{self, FloorRatio, LatencyChild, LatencyRow};
use ul_benches::subject::{run, Case, Mode, RunConfig};
use ul_benches::timing::{ticks_per_ns, timer_overhead, tsc_step_ns};

/// The reference rings (56-byte records, one producer thread, a process
/// of their own), run before the loggers. `floor` is their old name, from
/// before the floor became issue 15's minimal push.
const RINGS: [&str; 2] = ["rings", "floor"];

/// Measure the hot-path latency of ul and its Rust peers.
#[derive(Parser, Debug, Clone)]
#[command(about)]
struct Cli {
    /// Producer thread counts to run (the reference rings always run with
    /// 1; the floor beside a logger runs on each of its threads).
    /// `1,2` roughly doubles the run time (about 6 minutes on a quiet
    /// 2-core machine: with both cores spinning, backends preempt the
    /// producers and stretch the pauses).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    threads: Vec<usize>,
    /// Loggers to run: rings (the reference rings, 56-byte records; old
    /// name: floor), ul, tracing, slog, fast_log, ftlog, spdlog (default:
    /// all).
    #[arg(long, value_delimiter = ',')]
    logger: Vec<String>,
    /// Bursts of 20 calls per thread for each case (mode x message); the
    /// cases' bursts are interleaved round-robin.
    #[arg(long, default_value_t = 10_000)]
    bursts: usize,
    /// Timing modes.
    #[arg(long, value_delimiter = ',', default_value = "burst,single")]
    modes: Vec<Mode>,
    /// Messages: int (int, int, double), str (int, int, 56-byte string),
    /// static.
    #[arg(long, value_delimiter = ',', default_value = "int,str,static")]
    messages: Vec<String>,
    /// Loggers whose process also times the floor (issue 15's 40-byte
    /// plain-store push, one ring per producer thread), as one more case
    /// per mode, its bursts interleaved with the logger's: logger names,
    /// `all` or `none`.
    #[arg(long, value_delimiter = ',', default_value = "ul")]
    floor_beside: Vec<String>,
    /// Untimed calls of each message per thread before the first burst.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Do not pin producer threads (default: thread k on CPU k+1).
    #[arg(long)]
    no_pin: bool,
    /// Write a PNG chart of the percentiles (int message, 1 thread) here.
    #[arg(long)]
    chart: Option<std::path::PathBuf>,
    /// Write every result row as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// The ul-writer binary (default: next to this one, built if missing).
    #[arg(long)]
    writer: Option<std::path::PathBuf>,
    /// Instead of timing: make this many bursts of the first `--messages`
    /// message (`--logger rings`: of ring `--profile-ring`) on one thread, untimed,
    /// without pauses, through `profile_burst` (for callgrind or perf).
    /// Runs in this process; prints nothing but the logger's own output.
    #[arg(long)]
    profile_bursts: Option<usize>,
    /// With `--logger rings`, what `--profile-bursts` pushes into: 0 ul
    /// lane, 1 hand ring (no consumer), 2 ul lane, 3 hand ring (drained),
    /// 4 the floor (40-byte plain-store push).
    #[arg(long, default_value_t = 0)]
    profile_ring: usize,
    /// Run one logger in this process and print its results (internal).
    #[arg(long, hide = true)]
    child: bool,
}

fn message_index(name: &str) -> Result<usize, String> {
    match name {
        "int" => Ok(0),
        "str" | "string" => Ok(1),
        "static" => Ok(2),
        _ => Err(format!("unknown message {name:?}: use int, str or static")),
    }
}

fn main() {
    let cli = Cli::parse();
    let r = if cli.profile_bursts.is_some() {
        profile(&cli)
    } else if cli.child {
        child(&cli)
    } else {
        parent(&cli)
    };
    if let Err(e) = r {
        eprintln!("latency: {e}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------ profile

struct ProfileVisitor {
    message: usize,
    bursts: usize,
}

impl Visitor for ProfileVisitor {
    type Out = ();
    fn visit<A: Api>(self, mut l: Installed<A>) {
        let s = LoggerSubject(&l.api);
        ul_benches::subject::profile(&s, self.message, self.bursts);
        l.control.flush(0);
        let _ = l.control.stop();
    }
}

fn profile(cli: &Cli) -> Result<(), String> {
    let name = cli.logger.first().map_or("ul", String::as_str);
    let bursts = cli.profile_bursts.unwrap_or(0);
    if RINGS.contains(&name) && cli.profile_ring >= 4 {
        ul_benches::subject::profile(&MinFloor::new(1), 0, bursts);
        return Ok(());
    }
    if RINGS.contains(&name) {
        let floor = Floor::new();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let drainer = s.spawn(|| floor.drain(&stop));
            ul_benches::subject::profile(&floor, cli.profile_ring.min(3), bursts);
            stop.store(true, Ordering::Relaxed);
            let _ = drainer.join();
        });
        return Ok(());
    }
    let kind = Kind::parse(name).ok_or_else(|| format!("unknown logger {name:?}"))?;
    let message = message_index(cli.messages.first().map_or("int", String::as_str))?;
    let dir = temp_dir(&format!("ul-bench-{}-", kind.name())).map_err(|e| e.to_string())?;
    let writer = match kind {
        Kind::Ul => ul_benches::writer_proc::locate_writer(cli.writer.as_deref())?,
        _ => Default::default(),
    };
    let opts = LoggerOptions {
        dir: dir.path().to_owned(),
        json: false,
        ul_format: "both".into(),
        writer,
        lanes: ul::Sizes::default().lanes,
        lane_size: ul::Sizes::default().lane_capacity,
        format_threads: None,
        writer_args: Vec::new(),
        capacity: 100_000,
    };
    with_logger(kind, &opts, ProfileVisitor { message, bursts })
}

// ------------------------------------------------------------------ child

struct LatencyVisitor<'a> {
    cfg: &'a RunConfig,
    /// Time the floor beside the logger (cases with message
    /// `WITH_FLOOR_MESSAGE`).
    with_floor: bool,
}

impl Visitor for LatencyVisitor<'_> {
    type Out = (Vec<LatHist>, u64, u64, Vec<String>);
    fn visit<A: Api>(self, mut l: Installed<A>) -> Self::Out {
        let subject = LoggerSubject(&l.api);
        let hists = if self.with_floor {
            run(&WithFloor::new(subject, self.cfg.threads), self.cfg)
        } else {
            run(&subject, self.cfg)
        };
        let expected = self.cfg.calls_per_thread(MESSAGES.len()) * self.cfg.threads as u64;
        l.control.flush(expected);
        let found = lines_in(&l.control.main_file());
        let stats = l.control.stop();
        let mut notes = Vec::new();
        if let Some(m) = stats.memory {
            if !stats.clean_exit {
                notes.push(format!(
                    "ul-writer did not exit cleanly (peak RSS {} KiB)",
                    m.hwm_kib
                ));
            }
        }
        (hists, expected, found, notes)
    }
}

static PROBE_REGION: std::sync::OnceLock<ul_ring::region::Region> = std::sync::OnceLock::new();

/// `UL_BENCH_TRACE`'s probe for ul (see `ul_benches::subject::Diag`): the
/// writer's heartbeat (it beats once per loop, so a change means it ran),
/// and this thread's lane's head and tail, read through a mapping of the
/// region of our own (other addresses, the same lines).
fn ul_probe(_k: usize) -> [u64; 3] {
    let r = PROBE_REGION.get_or_init(|| {
        let opts = ul_ring::region::RegionOptions {
            create: false,
            populate: false,
            ..Default::default()
        };
        ul_ring::region::Region::open(ul_benches::loggers::ul_region_path(), &opts).expect("probe")
    });
    let hb = r.header().writer.heartbeat();
    match ul::current_lane() {
        Some(i) => {
            let c = r.lane_control(i);
            [hb, c.head(), c.tail()]
        }
        None => [hb, 0, 0],
    }
}

/// `UL_BENCH_WARM=level|tls` for ul: the level check alone (the
/// attachment and its settings line), or the thread's state alone.
fn ul_warm(what: &str) {
    match what {
        "level" => {
            std::hint::black_box(ul::__private::enabled(ul::Level::Info));
        }
        "tls" => {
            std::hint::black_box(ul::current_lane());
        }
        _ => {}
    }
}

fn child(cli: &Cli) -> Result<(), String> {
    let name = cli.logger.first().ok_or("--child needs --logger")?.clone();
    if name == "ul" {
        let _ = ul_benches::subject::PROBE.set(ul_probe);
        let _ = ul_benches::subject::WARM.set(ul_warm);
    }
    let threads = *cli.threads.first().ok_or("--child needs --threads")?;
    let tpn = ticks_per_ns();
    let tsc_step = tsc_step_ns(tpn);
    let timer = timer_overhead(200_000, tpn);
    let ts = timer.summary();
    let overhead_ticks = (ts.p50 * tpn).round() as u64;
    let is_rings = RINGS.contains(&name.as_str());
    let with_floor = !is_rings
        && !cli.floor_beside.iter().any(|n| n == "none")
        && cli.floor_beside.iter().any(|n| n == "all" || *n == name);
    let mut message_ids: Vec<usize> = if is_rings {
        (0..FLOOR_MESSAGES.len()).collect()
    } else {
        cli.messages
            .iter()
            .map(|m| message_index(m))
            .collect::<Result<_, _>>()?
    };
    if with_floor {
        message_ids.push(WITH_FLOOR_MESSAGE);
    }
    let mut cases = Vec::new();
    for &m in &message_ids {
        for &mode in &cli.modes {
            cases.push(Case { mode, message: m });
        }
    }
    let cfg = RunConfig {
        threads: if is_rings { 1 } else { threads },
        bursts: cli.bursts,
        cases: cases.clone(),
        tpn,
        overhead_ticks,
        warmup: cli.warmup,
        pin: !cli.no_pin,
    };
    let started = Instant::now();
    let mut notes = Vec::new();
    let (hists, expected, found) = if is_rings {
        let floor = Floor::new();
        // Two phases: the rings with no consumer are timed while no drain
        // thread runs (it would hold the other CPU and push the machine's
        // own work onto the producer's), then the drained rings with it.
        // `cases` lists messages in order, so idle cases come first.
        let (idle, drained): (Vec<Case>, Vec<Case>) =
            cases.iter().partition(|c| c.message < FLOOR_IDLE_RINGS);
        let phase = |cases: Vec<Case>| RunConfig {
            cases,
            ..cfg.clone()
        };
        let mut hists = if idle.is_empty() {
            Vec::new()
        } else {
            run(&floor, &phase(idle))
        };
        if !drained.is_empty() {
            let stop = AtomicBool::new(false);
            hists.extend(std::thread::scope(|s| {
                let drainer = s.spawn(|| {
                    if cfg.pin {
                        ul_benches::pin_to_cpu(0);
                    }
                    floor.drain(&stop)
                });
                let h = run(&floor, &phase(drained));
                stop.store(true, Ordering::Relaxed);
                let _ = drainer.join();
                h
            }));
        }
        let refused = floor.refused.load(Ordering::Relaxed);
        if refused > 0 {
            notes.push(format!("{refused} pushes found the ring full"));
        }
        (hists, 0, 0)
    } else {
        let kind = Kind::parse(&name).ok_or_else(|| format!("unknown logger {name:?}"))?;
        let dir = temp_dir(&format!("ul-bench-{}-", kind.name())).map_err(|e| e.to_string())?;
        let writer = match kind {
            Kind::Ul => ul_benches::writer_proc::locate_writer(cli.writer.as_deref())?,
            _ => Default::default(),
        };
        let opts = LoggerOptions {
            dir: dir.path().to_owned(),
            json: false,
            ul_format: "both".into(),
            writer,
            lanes: ul::Sizes::default().lanes,
            lane_size: std::env::var("UL_BENCH_LANE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(ul::Sizes::default().lane_capacity),
            format_threads: None,
            writer_args: Vec::new(),
            capacity: 100_000,
        };
        let visitor = LatencyVisitor {
            cfg: &cfg,
            with_floor,
        };
        let (h, e, f, n) = with_logger(kind, &opts, visitor)?;
        notes.extend(n);
        (h, e, f)
    };
    let rows: Vec<LatencyRow> = cases
        .iter()
        .zip(&hists)
        .map(|(c, h)| {
            let (logger, message) = if is_rings {
                (
                    FLOOR_MESSAGES[c.message].to_string(),
                    "56-byte record".to_string(),
                )
            } else if c.message == WITH_FLOOR_MESSAGE {
                // The floor pushes the int message's arguments: its row
                // goes in that message's table.
                (MIN_FLOOR.to_string(), MESSAGES[0].to_string())
            } else {
                (name.clone(), MESSAGES[c.message].to_string())
            };
            LatencyRow {
                logger,
                threads: cfg.threads,
                mode: c.mode,
                message,
                samples: h.len(),
                ns: h.summary(),
            }
        })
        .collect();
    if found < expected {
        notes.push(format!("only {found} of {expected} lines reached the file"));
    }
    // The logger's int message against the floor of the same run, mode by
    // mode.
    let floor_ratios = rows
        .iter()
        .filter(|r| r.logger == name && r.message == MESSAGES[0])
        .filter_map(|r| {
            let f = rows
                .iter()
                .find(|f| f.logger == MIN_FLOOR && f.mode == r.mode)?;
            Some(FloorRatio::of(r, f))
        })
        .collect();
    report::emit(&LatencyChild {
        logger: name,
        threads: cfg.threads,
        rows,
        ticks_per_ns: tpn,
        tsc_step_ns: tsc_step,
        timer_ns: ts,
        timer_min_ns: timer.min_ns(),
        timer_subtracted_ns: overhead_ticks as f64 / tpn,
        lines_expected: expected,
        lines_found: found,
        notes,
        elapsed_s: started.elapsed().as_secs_f64(),
        floor_ratios,
    });
    Ok(())
}

// ------------------------------------------------------------------ parent

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {} CPUs online, Linux {}",
        ul_benches::cpus_online(),
        kernel.trim()
    )
}

fn parent(cli: &Cli) -> Result<(), String> {
    let names: Vec<String> = if cli.logger.is_empty() {
        std::iter::once(RINGS[0].to_string())
            .chain(Kind::ALL.iter().map(|k| k.name().to_string()))
            .collect()
    } else {
        // The old name of the reference rings runs them under their new one.
        cli.logger
            .iter()
            .map(|n| {
                if RINGS.contains(&n.as_str()) {
                    RINGS[0]
                } else {
                    n
                }
                .to_string()
            })
            .collect()
    };
    for n in &names {
        if !RINGS.contains(&n.as_str()) && Kind::parse(n).is_none() {
            return Err(format!("unknown logger {n:?}"));
        }
    }
    for m in &cli.messages {
        message_index(m)?;
    }
    let writer = if names.iter().any(|n| n == "ul") {
        Some(ul_benches::writer_proc::locate_writer(
            cli.writer.as_deref(),
        )?)
    } else {
        None
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut children: Vec<LatencyChild> = Vec::new();
    for name in &names {
        let thread_counts: Vec<usize> = if RINGS.contains(&name.as_str()) {
            vec![1]
        } else {
            cli.threads.clone()
        };
        for t in thread_counts {
            let mut cmd = Command::new(&exe);
            cmd.args(["--child", "--logger", name])
                .args(["--threads", &t.to_string()])
                .args(["--bursts", &cli.bursts.to_string()])
                .args(["--warmup", &cli.warmup.to_string()])
                .arg("--modes")
                .arg(
                    cli.modes
                        .iter()
                        .map(|m| format!("{m:?}").to_lowercase())
                        .collect::<Vec<_>>()
                        .join(","),
                )
                .args(["--messages", &cli.messages.join(",")])
                .args(["--floor-beside", &cli.floor_beside.join(",")]);
            if cli.no_pin {
                cmd.arg("--no-pin");
            }
            if let Some(w) = &writer {
                cmd.arg("--writer").arg(w);
            }
            eprintln!("latency: {name}, {t} thread(s) ...");
            let out = cmd
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("running {}: {e}", exe.display()))?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            match report::parse::<LatencyChild>(&stdout) {
                Ok(c) => {
                    eprintln!("latency: {name}, {t} thread(s): {:.1} s", c.elapsed_s);
                    for n in &c.notes {
                        eprintln!("latency: {name}, {t} thread(s): note: {n}");
                    }
                    children.push(c);
                }
                Err(e) => eprintln!(
                    "latency: {name}, {t} thread(s) failed ({}): {e}",
                    out.status
                ),
            }
        }
    }
    if children.is_empty() {
        return Err("no run succeeded".into());
    }
    let rows: Vec<LatencyRow> = children.iter().flat_map(|c| c.rows.clone()).collect();
    print_report(cli, &children, &rows, started.elapsed());
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&children).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &cli.chart {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let title = format!(
            "Log call latency, `{}`, 1 thread ({} bursts/thread/case, {})",
            MESSAGES[0],
            cli.bursts,
            machine()
        );
        ul_benches::chart::draw(path, &rows, MESSAGES[0], 1, &title)?;
        eprintln!("latency: chart written to {}", path.display());
    }
    Ok(())
}

fn print_report(cli: &Cli, children: &[LatencyChild], rows: &[LatencyRow], took: Duration) {
    let c0 = &children[0];
    println!("### Latency\n");
    println!("- machine: {}", machine());
    println!(
        "- command: `cargo run --release -p ul-benches --features harness --bin latency -- {}`",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    println!(
        "- {} bursts of 20 calls per thread for each of {} mode(s) x {} message(s), interleaved round-robin; busy pause 2.0-2.2 ms after each burst; threads pinned: {}",
        cli.bursts,
        cli.modes.len(),
        cli.messages.len(),
        !cli.no_pin
    );
    println!(
        "- TSC {:.3} ticks/ns, read resolution {:.1} ns (smallest step between two back-to-back `rdtsc`; single-call samples are multiples of it)",
        c0.ticks_per_ns, c0.tsc_step_ns
    );
    println!(
        "- timer (`rdtscp; lfence` pair, nothing between): p50 {:.1} ns, p99 {:.1} ns, min {:.1} ns; the p50 is subtracted from every single-call sample; burst/20 subtracts nothing (2 reads per 20 calls)",
        c0.timer_ns.p50, c0.timer_ns.p99, c0.timer_min_ns
    );
    if children.iter().any(|c| !c.floor_ratios.is_empty()) {
        println!(
            "- `{MIN_FLOOR}`: a {}-byte record (8-byte header word, 8-byte `rdtsc` timestamp, then the u64, u32 and f64 arguments in 24 bytes) written with plain stores into a pre-faulted ring of {} slots and published with one Release store of the head, no call and no check between; timed in the same process as the logger beside it (`--floor-beside`), its bursts interleaved with the logger's, each producer thread into its own ring",
            ul_benches::floor::MIN_RECORD_LEN,
            ul_benches::floor::MIN_RING_RECORDS
        );
    }
    println!("- harness wall time: {:.0} s", took.as_secs_f64());
    for c in children {
        if c.lines_expected > 0 && c.lines_found != c.lines_expected {
            println!(
                "- {} ({} threads): {} lines on disk, {} expected",
                c.logger, c.threads, c.lines_found, c.lines_expected
            );
        }
        for n in &c.notes {
            println!("- {} ({} threads): {n}", c.logger, c.threads);
        }
    }
    print!("{}", report::latency_tables(rows));
    print_goals(children, rows);
}

/// Ratios the benchmark issues set goals for (burst/20, int message).
fn print_goals(children: &[LatencyChild], rows: &[LatencyRow]) {
    let find = |logger: &str, threads: usize| {
        rows.iter().find(|r| {
            r.mode == Mode::Burst
                && r.logger == logger
                && r.threads == threads
                && (r.message == MESSAGES[0] || FLOOR_MESSAGES.contains(&r.logger.as_str()))
        })
    };
    let ratios: Vec<&FloorRatio> = children
        .iter()
        .flat_map(|c| &c.floor_ratios)
        .filter(|r| r.mode == Mode::Burst)
        .collect();
    let ul1 = find("ul", 1);
    if ratios.is_empty() && ul1.is_none() {
        return;
    }
    println!("\n#### Ratios (burst/20, `{}`)\n", MESSAGES[0]);
    println!("| comparison | p50 | p99 | p99.9 |");
    println!("|---|--:|--:|--:|");
    for r in &ratios {
        println!(
            "| {} {} thread(s) / {} (same process, {} ring(s)) | {:.2} | {:.2} | {:.2} |",
            r.logger, r.threads, r.floor, r.threads, r.p50, r.p99, r.p999
        );
    }
    let ratio = |a: &LatencyRow, b: &LatencyRow| {
        format!(
            "| {:.2} | {:.2} | {:.2} |",
            a.ns.p50 / b.ns.p50,
            a.ns.p99 / b.ns.p99,
            a.ns.p999 / b.ns.p999
        )
    };
    let Some(ul1) = ul1 else {
        return;
    };
    for ring in &FLOOR_MESSAGES[..FLOOR_IDLE_RINGS] {
        if let Some(f) = find(ring, 1) {
            println!(
                "| ul 1 thread / {ring} (reference ring, separate process) {}",
                ratio(ul1, f)
            );
        }
    }
    if let Some(ul2) = find("ul", 2) {
        println!("| ul 2 threads / ul 1 thread {}", ratio(ul2, ul1));
    }
    let peers: Vec<&LatencyRow> = Kind::ALL[1..]
        .iter()
        .filter_map(|k| find(k.name(), 1))
        .collect();
    if let (Some(b50), Some(b999)) = (
        peers.iter().min_by(|a, b| a.ns.p50.total_cmp(&b.ns.p50)),
        peers.iter().min_by(|a, b| a.ns.p999.total_cmp(&b.ns.p999)),
    ) {
        println!(
            "| best peer p50 ({}) / ul, best peer p99.9 ({}) / ul | {:.1} | - | {:.1} |",
            b50.logger,
            b999.logger,
            b50.ns.p50 / ul1.ns.p50,
            b999.ns.p999 / ul1.ns.p999
        );
    }
}
