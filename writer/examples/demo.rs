//! The demo producer that `./demo.sh` runs next to a real `ul-writer`.
//!
//! ```text
//! cargo run --release -p ul-writer --example demo -- --shm /dev/shm/ul
//! ```

use std::time::{Duration, Instant};

fn main() {
    let shm = std::env::args()
        .skip_while(|a| a != "--shm")
        .nth(1)
        .unwrap_or_else(|| ul::DEFAULT_SHM.to_string());
    // Block (bounded) instead of dropping when a lane fills: the burst
    // below outruns the writer, and the demo should show every record.
    let opts = ul::Options::new(&shm).overflow(ul::Overflow::Block {
        timeout: Duration::from_secs(5),
    });
    if let Err(e) = opts.init() {
        eprintln!("demo: {e}");
        std::process::exit(1);
    }

    // The classic benchmark message: two integers and a float.
    let (i, j, x) = (42u64, 7u32, 3.25f64);
    ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);

    // A source and per-call key-value context.
    ul::info!(source: "AuthService", "User {} logged in", "ann"; user_id = "user123", ip = "192.168.1.1");

    // A context set once for this thread rides on every record.
    ul::set_thread_context(
        ul::Context::new()
            .source("UserService")
            .with("session", "abc123"),
    );
    ul::info!("User action completed");
    ul::warn!("Slow response: {} ms", 250u32);
    ul::clear_thread_context();

    // A Logger handle with its own context.
    let db = ul::Logger::new(ul::Context::new().source("Database").with("env", "demo"));
    ul::debug!(logger: &db, "query took {} us", 812u64);
    ul::error!(logger: &db, "connection lost: {}", std::io::Error::other("reset by peer"));

    // A burst from several threads.
    let start = Instant::now();
    let handles: Vec<_> = (0..4u32)
        .map(|t| {
            std::thread::spawn(move || {
                for n in 0..5_000u64 {
                    ul::trace!("worker {} step {} ratio {}", t, n, n as f64 / 7.0);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let logged = start.elapsed();
    match ul::flush_timeout(Duration::from_secs(10)) {
        Ok(()) => println!(
            "demo: logged 20,006 records (the burst took {logged:?}); all written by ul-writer"
        ),
        Err(e) => {
            eprintln!("demo: {e}");
            std::process::exit(1);
        }
    }
}
