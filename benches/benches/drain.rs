//! One writer pass: `ul_writer::internals::engine::Engine::pass` over 1,000 records of
//! the int/int/double message waiting in one lane: copy out, decode,
//! resolve the callsite, format, one `write` per output file, move the tail.
//!
//! The records are logged with `ul::info!` in this process (untimed) into a
//! region under /dev/shm; the outputs go to a temp dir and are truncated
//! now and then (untimed) so the files stay small.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ul_ring::region::{Region, RegionOptions};
use ul_writer::internals::engine::Engine;
use ul_writer::internals::outputs::{Format, Outputs};

const K: u64 = 1_000;

struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn fill() {
    let (mut i, j, mut x) = (0u64, 7u32, 0.5f64);
    for _ in 0..K {
        ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
        i += 1;
        x += 0.25;
    }
}

fn truncate_all(dir: &std::path::Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(e.path()) {
                let _ = f.set_len(0);
            }
        }
    }
}

fn drain(c: &mut Criterion) {
    let shm = PathBuf::from(format!("/dev/shm/ul-bench-drain-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(shm.clone());
    ul::init(&shm).expect("ul::init");
    let mut g = c.benchmark_group("drain pass (1000 records, one lane)");
    g.throughput(Throughput::Elements(K));
    g.measurement_time(Duration::from_secs(4));
    for (name, format) in [
        ("text", Format::Text),
        ("json", Format::Json),
        ("both", Format::Both),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let region = Region::open(&shm, &RegionOptions::default()).expect("open region");
        let outputs = Outputs::new(dir.path(), "server").expect("outputs");
        let mut engine =
            Engine::new(region, outputs, format, Duration::from_secs(30)).expect("engine");
        // Warm the callsite cache and the buffers.
        fill();
        engine.pass().expect("pass");
        let mut passes = 0u64;
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    fill();
                    let t = Instant::now();
                    let n = engine.pass().expect("pass");
                    total += t.elapsed();
                    black_box(n);
                    passes += 1;
                    if passes % 256 == 0 {
                        truncate_all(dir.path());
                    }
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, drain);
criterion_main!(benches);
