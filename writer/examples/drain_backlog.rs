//! The writer draining a pre-filled backlog: producer threads fill their
//! lanes with the int/int/double `ul::info!` (no writer running), then one
//! engine drains everything, and the drain's CPU time (this thread's,
//! `CLOCK_THREAD_CPUTIME_ID`) is measured: records per second of writer
//! CPU time.
//!
//! ```text
//! cargo build --release -p ul-writer --example drain_backlog
//! target/release/examples/drain_backlog binary 4 1500000
//! ```
//!
//! Arguments: the format (`text`, `json`, `both`, `binary`, `all`), the
//! producer threads (one lane each), records per thread (a lane holds
//! records of 40 bytes; lanes are sized to fit), the batch size (records
//! per lane per pass, default 65536) and the output directory (default: a
//! new one under the temp dir, removed after). `UL_DRAIN_FORMAT_THREADS=N`
//! formats on N threads (`Engine::set_format_threads`, as `ul-writer
//! --format-threads`); the CPU time of the helpers is then in the
//! process's figure (all threads: the producers are done by then).
//! `UL_DRAIN_BATCH_KIB=K` bounds batches to K KiB of lines
//! (`Engine::set_batch_bytes`, as `ul-writer --batch-bytes`).

use std::time::{Duration, Instant};

use ul_ring::layout::Sizes;
use ul_ring::region::{Region, RegionOptions};
use ul_writer::internals::engine::Engine;
use ul_writer::internals::outputs::{Format, Outputs};

fn cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to write.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn thread_cpu_ns() -> u64 {
    cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn process_cpu_ns() -> u64 {
    cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// This thread's user and system CPU time (ns), from getrusage.
fn thread_user_sys_ns() -> (u64, u64) {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage for getrusage to write.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    (ns(ru.ru_utime), ns(ru.ru_stime))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let format = match args.next().as_deref() {
        Some("text") => Format::Text,
        Some("json") => Format::Json,
        Some("both") => Format::Both,
        None | Some("binary") => Format::Binary,
        Some("all") => Format::All,
        Some(other) => {
            eprintln!("drain_backlog: unknown format {other:?} (text, json, both, binary, all)");
            std::process::exit(2);
        }
    };
    let threads: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let per_thread: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_500_000);
    let batch: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(65_536);
    let pid = std::process::id();
    let (dir, remove_dir) = match args.next() {
        Some(d) => (std::path::PathBuf::from(d), false),
        None => (
            std::env::temp_dir().join(format!("ul-drain-backlog-{pid}")),
            true,
        ),
    };
    let shm = format!("/dev/shm/ul-drain-backlog-{pid}");
    // Each record is 40 bytes; leave room for the wrap's padding.
    let lane_capacity = (per_thread * 40 + 4096).next_power_of_two().max(1 << 16);
    let opts = RegionOptions {
        sizes: Sizes {
            lanes: threads + 1,
            lane_capacity: u32::try_from(lane_capacity).expect("lanes up to 1 GiB"),
            ..Sizes::default()
        },
        batch_size: batch,
        ..RegionOptions::default()
    };
    drop(Region::open(&shm, &opts).expect("create the region"));
    ul::Options::new(&shm)
        .overflow(ul::Overflow::Drop)
        .init()
        .expect("ul::init");
    let fill = Instant::now();
    // Every producer stays until all have logged, so that each keeps a
    // lane of its own (a thread that exits retires its lane, which the
    // next one could take, making fewer, longer runs).
    let all_logged = std::sync::Arc::new(std::sync::Barrier::new(threads as usize));
    let producers: Vec<_> = (0..threads)
        .map(|_| {
            let all_logged = all_logged.clone();
            // Named, so that a profile tells them from the drain.
            std::thread::Builder::new()
                .name("producer".into())
                .spawn(move || {
                    let (j, mut x) = (7u32, 0.5f64);
                    for i in 0..per_thread {
                        ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
                        x += 0.25;
                    }
                    all_logged.wait();
                })
                .expect("spawn a producer")
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    let filled = fill.elapsed();
    std::fs::create_dir_all(&dir).expect("create the output dir");
    let outputs = Outputs::new(&dir, "server").expect("open the outputs");
    // The writer's own mapping of the region, pre-faulted unless
    // `UL_DRAIN_NO_POPULATE` is set: a writer that has served its lanes
    // for a while has their pages mapped; a first touch of hundreds of MiB
    // of lanes is not what a drain costs in the steady state.
    let populate = std::env::var_os("UL_DRAIN_NO_POPULATE").is_none();
    let region = Region::open(
        &shm,
        &RegionOptions {
            create: false,
            populate,
            ..RegionOptions::default()
        },
    )
    .expect("open the region");
    let mut engine = Engine::new(region, outputs, format, Duration::from_secs(30)).expect("engine");
    engine.region().header().control.set_batch_size(batch);
    let format_threads: usize = std::env::var("UL_DRAIN_FORMAT_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    engine
        .set_format_threads(format_threads)
        .expect("start the format threads");
    if let Some(kib) = std::env::var("UL_DRAIN_BATCH_KIB")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        engine.set_batch_bytes(kib << 10);
    }
    let wall = Instant::now();
    let process_cpu = process_cpu_ns();
    let cpu = thread_cpu_ns();
    let (user0, sys0) = thread_user_sys_ns();
    let mut passes = 0u64;
    while engine.pass().expect("pass") > 0 {
        passes += 1;
    }
    let cpu = thread_cpu_ns() - cpu;
    let process_cpu = process_cpu_ns() - process_cpu;
    let (user1, sys1) = thread_user_sys_ns();
    let wall = wall.elapsed();
    let records = engine.totals.records;
    let bytes: u64 = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    let dropped: u64 = (0..threads as usize + 1)
        .map(|i| engine.region().lane_control(i).dropped())
        .sum();
    println!(
        "{format:?}: {records} records ({dropped} dropped while filling, {:.2} s) drained in {passes} passes: \
         writer CPU {:.3} s (user {:.3}, system {:.3}), {:.1} M records/s of writer CPU; \
         {} format thread(s), {} helper parts: all threads' CPU {:.3} s, {:.1} M records/s; \
         wall {:.3} s, {:.1} M/s; {:.1} MiB written to {}",
        filled.as_secs_f64(),
        cpu as f64 / 1e9,
        (user1 - user0) as f64 / 1e9,
        (sys1 - sys0) as f64 / 1e9,
        records as f64 / (cpu as f64 / 1e9) / 1e6,
        engine.format_threads(),
        engine.totals.helper_parts,
        process_cpu as f64 / 1e9,
        records as f64 / (process_cpu as f64 / 1e9) / 1e6,
        wall.as_secs_f64(),
        records as f64 / wall.as_secs_f64() / 1e6,
        bytes as f64 / (1 << 20) as f64,
        dir.display()
    );
    if remove_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_file(&shm);
}
