//! A test and demo producer: T threads each log N numbered records.
//!
//! ```text
//! cargo run --example stress -- --shm /dev/shm/ul --threads 4 --count 1000
//! ```
//!
//! Each record says `p=<pid> t=<thread> i=<counter>`; its level cycles
//! trace, debug, info, warn, error with the counter, so every output file
//! gets records. The integration tests check the files against this.

use std::time::Duration;

use clap::Parser;

/// Log numbered records from several threads.
#[derive(Parser, Debug)]
struct Cli {
    /// Region path.
    #[arg(long, default_value = "/dev/shm/ul")]
    shm: std::path::PathBuf,
    /// Threads.
    #[arg(long, default_value_t = 4)]
    threads: u32,
    /// Records per thread.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Do not wait for the writer at the end.
    #[arg(long)]
    no_flush: bool,
    /// Drop records when a lane is full instead of waiting (default: wait).
    #[arg(long)]
    drop: bool,
    /// Flush timeout in seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Log for this many seconds instead of --count records, then print
    /// `t=<thread> count=<records>` per thread on stdout.
    #[arg(long)]
    seconds: Option<f64>,
}

fn main() {
    let cli = Cli::parse();
    let overflow = if cli.drop {
        ul::Overflow::Drop
    } else {
        ul::Overflow::Block {
            timeout: Duration::from_secs(30),
        }
    };
    ul::Options::new(&cli.shm)
        .overflow(overflow)
        .flush_timeout(Duration::from_secs_f64(cli.timeout))
        .init()
        .unwrap_or_else(|e| {
            eprintln!("stress: {e}");
            std::process::exit(2)
        });
    let pid = std::process::id();
    let threads: Vec<_> = (0..cli.threads)
        .map(|t| {
            let count = cli.count;
            let deadline = cli
                .seconds
                .map(|s| std::time::Instant::now() + Duration::from_secs_f64(s));
            std::thread::spawn(move || {
                ul::set_thread_context(ul::Context::new().with("session", format!("s{t}")));
                let mut i = 0;
                loop {
                    match deadline {
                        Some(d) if i % 64 == 0 && std::time::Instant::now() >= d => break,
                        None if i == count => break,
                        _ => {}
                    }
                    let x = i as f64 / 4.0;
                    match i % 5 {
                        0 => ul::trace!(source: "stress", "p={} t={} i={} x={}", pid, t, i, x),
                        1 => ul::debug!(source: "stress", "p={} t={} i={} x={}", pid, t, i, x),
                        2 => {
                            ul::info!(source: "stress", "p={} t={} i={} x={}", pid, t, i, x; k = i)
                        }
                        3 => ul::warn!(source: "stress", "p={} t={} i={} x={}", pid, t, i, x),
                        _ => ul::error!(source: "stress", "p={} t={} i={} x={}", pid, t, i, x),
                    }
                    i += 1;
                }
                (t, i)
            })
        })
        .collect();
    for t in threads {
        let (t, n) = t.join().expect("producer thread panicked");
        if cli.seconds.is_some() {
            println!("t={t} count={n}");
        }
    }
    if !cli.no_flush {
        if let Err(e) = ul::flush() {
            eprintln!("stress: {e}");
            std::process::exit(3);
        }
    }
}
