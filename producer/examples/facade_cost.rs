//! The cost of one log call through each front end, for callgrind
//! instruction counts (and a rough ns/call on an idle machine):
//!
//! ```text
//! cargo build --release -p ul --features log,tracing --example facade_cost
//! valgrind --tool=callgrind target/release/examples/facade_cost log-static 2000
//! valgrind --tool=callgrind target/release/examples/facade_cost log-static 7000
//! ```
//!
//! (instructions at 7000 - instructions at 2000) / 5000 is the cost of one
//! call, start-up excluded. Modes: `ul-static`, `ul-args`, `log-static`,
//! `log-fmt`, `tracing`, `tracing-span` (the same event inside a span
//! `req` with two fields, nested in a span `conn` with one). No writer is needed: the calls fit in one 16 MiB
//! lane.

use std::hint::black_box;
use std::time::Instant;

use tracing_subscriber::layer::SubscriberExt;

fn main() {
    let mut a = std::env::args().skip(1);
    let mode = a.next().unwrap_or_else(|| "log-static".into());
    let n: u64 = a.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let path = format!("/dev/shm/ul-facade-cost-{}", std::process::id());
    let sizes = ul::Sizes {
        lanes: 4,
        lane_capacity: 16 << 20,
        ..Default::default()
    };
    ul::log_compat::init_with(ul::Options::new(&path).sizes(sizes)).expect("init");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(ul::tracing_layer::UlLayer::new()),
    )
    .expect("subscriber");
    let (j, x) = (black_box(7u32), black_box(0.5f64));
    // Warm-up: attaches the lane and registers the call site.
    run(&mode, 1, j, x);
    let t = Instant::now();
    run(&mode, n, j, x);
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    eprintln!("{mode}: {n} calls, {ns:.1} ns/call");
    let _ = std::fs::remove_file(&path);
}

fn run(mode: &str, n: u64, j: u32, x: f64) {
    match mode {
        "ul-static" => (0..n).for_each(|_| ul::info!("Static message without arguments")),
        "ul-args" => (0..n).for_each(|i| {
            ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
        }),
        "log-static" => (0..n).for_each(|_| log::info!("Static message without arguments")),
        "log-fmt" => (0..n).for_each(|i| {
            log::info!("Logging int: {}, int: {}, double: {}", i, j, x);
        }),
        "tracing" => (0..n).for_each(|i| {
            tracing::info!(i, j, x, "Logging three fields");
        }),
        "tracing-span" => {
            let conn = tracing::info_span!("conn", peer = "10.0.0.1:443");
            let _c = conn.enter();
            let req = tracing::info_span!("req", id = 7u64, path = "/login");
            let _r = req.enter();
            (0..n).for_each(|i| {
                tracing::info!(i, j, x, "Logging three fields");
            })
        }
        other => panic!("unknown mode {other}"),
    }
}
