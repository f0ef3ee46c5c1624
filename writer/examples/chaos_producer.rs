//! The producer the chaos tests kill: T threads log numbered, self-checking
//! records until a count is reached or the process is killed.
//!
//! ```text
//! cargo run --example chaos_producer -- --shm /dev/shm/ul --threads 2 --count 0
//! ```
//!
//! Each thread first logs `h p=<pid> t=<thread>` (which attaches its lane),
//! then records `c p=<pid> t=<thread> i=<counter> l=<lane> x=<3*counter>
//! pad=<padding>`, where `<lane>` is the thread's lane (-1: the shared lane)
//! and `<padding>` is `(i * 7) % (max_pad + 1)` copies of the letter
//! `'a' + i % 26`. The level cycles trace..error with the counter. A checker
//! can so tell from the files alone which records of which thread are there,
//! whether a line is whole, and which lane's drop reports explain a gap.
//!
//! When the threads are done (`--count` reached, or `--stop-file` appeared)
//! and the flush succeeded, the main thread logs `e p=<pid> t=<thread>
//! n=<records attempted>` for each thread and flushes again: the checker
//! then knows exactly how many records each thread tried to log.
//!
//! `--fork K`: the main thread logs K records as thread 0, forks; the child
//! logs K records as thread 0 of its own pid, flushes and exits; the parent
//! logs K more, waits for the child and flushes. Worker threads (`--threads`)
//! keep logging while the fork happens.

use std::time::Duration;

use clap::Parser;

/// Log numbered, self-checking records from several threads.
#[derive(Parser, Debug)]
struct Cli {
    /// Region path.
    #[arg(long, default_value = "/dev/shm/ul")]
    shm: std::path::PathBuf,
    /// Threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Records per thread (0: until killed).
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Drop records when a lane is full (default: block).
    #[arg(long)]
    drop: bool,
    /// How long a blocked log call waits before it drops (ms).
    #[arg(long, default_value_t = 20_000)]
    block_ms: u64,
    /// Flush timeout, seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Do not flush at the end.
    #[arg(long)]
    no_flush: bool,
    /// Longest padding string (bytes).
    #[arg(long, default_value_t = 40)]
    max_pad: usize,
    /// After every `burst` records sleep `pause_us` microseconds (0: never).
    #[arg(long, default_value_t = 0)]
    burst: u64,
    /// See `burst`.
    #[arg(long, default_value_t = 200)]
    pause_us: u64,
    /// Fork mode (see the module docs): records before and after the fork.
    #[arg(long)]
    fork: Option<u64>,
    /// With `--count 0`: stop when this file exists (checked every 256
    /// records), flush, and log the end records.
    #[arg(long)]
    stop_file: Option<std::path::PathBuf>,
    /// Write this number as `p=` instead of the process id: producers in
    /// pid namespaces of their own all see themselves as pid 1, and the
    /// checker must still tell them apart.
    #[arg(long)]
    pid_as: Option<u32>,
    /// Once every worker is done, print `held` on stdout and sleep this
    /// long before flushing: a test kills the process there, when exactly
    /// `--count` records per thread were attempted.
    #[arg(long)]
    hold_ms: Option<u64>,
}

const LETTERS: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// The padding of record `i`.
fn pad(i: u64, max_pad: usize, buf: &mut String) {
    buf.clear();
    let n = (i as usize * 7) % (max_pad + 1);
    let c = LETTERS[(i % 26) as usize] as char;
    buf.extend(std::iter::repeat_n(c, n));
}

/// Logs record `i` of thread `t` at the level the counter picks.
fn record(pid: u32, t: u32, i: u64, lane: i64, max_pad: usize, buf: &mut String) {
    pad(i, max_pad, buf);
    let x = i * 3;
    let p: &str = buf;
    match i % 5 {
        0 => {
            ul::trace!(source: "chaos", "c p={} t={} i={} l={} x={} pad={}", pid, t, i, lane, x, p)
        }
        1 => {
            ul::debug!(source: "chaos", "c p={} t={} i={} l={} x={} pad={}", pid, t, i, lane, x, p)
        }
        2 => ul::info!(source: "chaos", "c p={} t={} i={} l={} x={} pad={}", pid, t, i, lane, x, p),
        3 => ul::warn!(source: "chaos", "c p={} t={} i={} l={} x={} pad={}", pid, t, i, lane, x, p),
        _ => {
            ul::error!(source: "chaos", "c p={} t={} i={} l={} x={} pad={}", pid, t, i, lane, x, p)
        }
    }
}

/// Logs the hello record and returns the lane it attached (-1: shared).
fn hello(pid: u32, t: u32) -> i64 {
    ul::info!(source: "chaos", "h p={} t={}", pid, t);
    ul::current_lane().map_or(-1, |l| l as i64)
}

/// Thread `t`'s loop: records `from..to` (`to == 0`: until killed or the
/// stop file appears). Returns the next counter.
fn run_thread(pid: u32, t: u32, from: u64, to: u64, cli: &Cli, lane: i64) -> u64 {
    let mut buf = String::with_capacity(cli.max_pad);
    let mut i = from;
    while to == 0 || i < to {
        record(pid, t, i, lane, cli.max_pad, &mut buf);
        i += 1;
        if cli.burst != 0 && i % cli.burst == 0 {
            std::thread::sleep(Duration::from_micros(cli.pause_us));
        }
        if to == 0 && i % 256 == 0 && cli.stop_file.as_ref().is_some_and(|f| f.exists()) {
            break;
        }
    }
    i
}

fn flush_or_exit(who: &str) {
    if let Err(e) = ul::flush() {
        eprintln!("chaos_producer ({who}): flush: {e}");
        std::process::exit(3);
    }
}

fn main() {
    let cli = Cli::parse();
    let overflow = if cli.drop {
        ul::Overflow::Drop
    } else {
        ul::Overflow::Block {
            timeout: Duration::from_millis(cli.block_ms),
        }
    };
    ul::Options::new(&cli.shm)
        .overflow(overflow)
        .flush_timeout(Duration::from_secs_f64(cli.timeout))
        .init()
        .unwrap_or_else(|e| {
            eprintln!("chaos_producer: {e}");
            std::process::exit(2)
        });
    let cli: &'static Cli = Box::leak(Box::new(cli));
    let pid = cli.pid_as.unwrap_or_else(std::process::id);
    // Thread 0 is the main thread in fork mode; workers are 1..=threads.
    let first_worker = u32::from(cli.fork.is_some());
    let workers: Vec<_> = (first_worker..first_worker + cli.threads)
        .map(|t| {
            std::thread::spawn(move || {
                let lane = hello(pid, t);
                (t, run_thread(pid, t, 0, cli.count, cli, lane))
            })
        })
        .collect();
    let mut ends = Vec::new();
    if let Some(k) = cli.fork {
        let lane = hello(pid, 0);
        run_thread(pid, 0, 0, k, cli, lane);
        // SAFETY: the child only logs from this thread, flushes and leaves
        // with _exit; ul re-attaches it to lanes of its own (its fork
        // handler), and glibc's malloc is fork-safe.
        let child = unsafe { libc::fork() };
        if child < 0 {
            eprintln!("chaos_producer: fork: {}", std::io::Error::last_os_error());
            std::process::exit(4);
        }
        if child == 0 {
            let me = std::process::id();
            let lane = hello(me, 0);
            let n = run_thread(me, 0, 0, k, cli, lane);
            let code = match ul::flush() {
                Ok(()) => {
                    ul::info!(source: "chaos", "e p={} t={} n={}", me, 0, n);
                    match ul::flush() {
                        Ok(()) => 0,
                        Err(_) => 3,
                    }
                }
                Err(e) => {
                    eprintln!("chaos_producer (child): flush: {e}");
                    3
                }
            };
            // SAFETY: _exit skips the parent's atexit handlers and buffers,
            // which is what a forked child of a threaded process must do.
            unsafe { libc::_exit(code) };
        }
        ends.push((0, run_thread(pid, 0, k, 2 * k, cli, lane)));
        let mut status = 0;
        // SAFETY: waiting for our own child; `status` is a valid out pointer.
        let r = unsafe { libc::waitpid(child, &mut status, 0) };
        if r != child || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            eprintln!("chaos_producer: child {child} failed: wait {r}, status {status:#x}");
            std::process::exit(5);
        }
    }
    for w in workers {
        ends.push(w.join().expect("producer thread panicked"));
    }
    if let Some(ms) = cli.hold_ms {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "held");
        let _ = out.flush();
        std::thread::sleep(Duration::from_millis(ms));
    }
    if cli.no_flush {
        return;
    }
    flush_or_exit("parent");
    for (t, n) in ends {
        ul::info!(source: "chaos", "e p={} t={} n={}", pid, t, n);
    }
    flush_or_exit("parent");
}
