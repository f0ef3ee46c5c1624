//! Hot-path latency of `ul`, measured the way Quill's harness does: rdtscp
//! around a burst of 20 log calls, divided by 20, with a busy pause of
//! 2.0-2.2 ms between bursts so the writer drains and caches cool.
//!
//! ```text
//! cargo run --release -p ul-benches --bin latency -- --bursts 10000
//! ```
//!
//! Needs a `ul-writer` serving the region (or the ring fills and calls
//! measure the drop path). Peers come in the benchmark issue.

use clap::Parser;
use ul_benches::{rdtscp, summarize, ticks_per_ns};

/// Measure ul's hot-path latency.
#[derive(Parser, Debug)]
struct Cli {
    /// Region path.
    #[arg(long, default_value = "/dev/shm/ul-bench")]
    shm: String,
    /// Bursts of 20 calls.
    #[arg(long, default_value_t = 10_000)]
    bursts: usize,
}

fn busy_wait_ns(ns: u64, tpn: f64) {
    let end = rdtscp() + (ns as f64 * tpn) as u64;
    while rdtscp() < end {
        std::hint::spin_loop();
    }
}

fn main() {
    let cli = Cli::parse();
    ul::init(&cli.shm).expect("init");
    let tpn = ticks_per_ns();
    let mut samples = Vec::with_capacity(cli.bursts);
    let (mut i, j, mut x) = (0u64, 7u32, 0.5f64);
    // Warm up: attach the lane and register the call site.
    ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
    for b in 0..cli.bursts {
        let t0 = rdtscp();
        for _ in 0..20 {
            ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
            i += 1;
            x += 0.25;
        }
        let t1 = rdtscp();
        samples.push((t1 - t0) as f64 / tpn / 20.0);
        busy_wait_ns(2_000_000 + (b as u64 % 3) * 100_000, tpn);
    }
    let s = summarize(&mut samples);
    println!("| logger | p50 | p75 | p90 | p99 | p99.9 | p99.99 | max |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| ul (burst/20, ns) | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
        s.p50, s.p75, s.p90, s.p99, s.p999, s.p9999, s.max
    );
    let _ = ul::flush_timeout(std::time::Duration::from_secs(5));
}
