//! Shared pieces of the ul benchmark harnesses.
//!
//! - [`timing`]: the cycle counter, fenced time stamps, the timer's own cost,
//!   the busy pause between bursts;
//! - [`hist`]: HDR histograms of nanoseconds and their percentiles;
//! - [`subject`]: what a latency run calls (a logger or a bare ring) and the
//!   measurement loop (Quill's burst/20 and single-call);
//! - `loggers` (feature `harness`): ul and the Rust peers, each installed to
//!   write a real file;
//! - [`floor`]: the bare SPSC pushes that tell what any design pays here;
//! - [`writer_proc`]: starting, measuring and stopping a real `ul-writer`;
//! - [`report`]: results passed from child to parent, and markdown tables;
//! - `chart` (feature `harness`): the percentile chart (PNG).

#![warn(missing_docs)]

pub mod alloc_count;
#[cfg(feature = "harness")]
pub mod chart;
pub mod floor;
pub mod hist;
#[cfg(feature = "harness")]
pub mod loggers;
pub mod report;
pub mod subject;
pub mod timing;
pub mod writer_proc;

pub use timing::{rdtscp, ticks_per_ns};

/// The argument of the string message: 56 bytes, as in Quill's
/// large-string case (longer than any small-string optimisation).
pub const LONG_STR: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit";

/// Percentiles of a sample, in the unit of the sample (ns in reports).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// 99.99th percentile.
    pub p9999: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// The values in report order: p50, p75, p90, p99, p99.9, p99.99, max.
    pub fn values(&self) -> [f64; 7] {
        [
            self.p50, self.p75, self.p90, self.p99, self.p999, self.p9999, self.max,
        ]
    }

    /// Column names matching [`values`](Self::values).
    pub const NAMES: [&'static str; 7] = ["p50", "p75", "p90", "p99", "p99.9", "p99.99", "max"];
}

/// Summarises `v` (sorted in place).
///
/// ```
/// let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
/// let s = ul_benches::summarize(&mut v);
/// assert_eq!(s.p50, 50.0);
/// assert_eq!(s.max, 100.0);
/// ```
pub fn summarize(v: &mut [f64]) -> Summary {
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        let idx = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[idx]
    };
    Summary {
        p50: q(0.50),
        p75: q(0.75),
        p90: q(0.90),
        p99: q(0.99),
        p999: q(0.999),
        p9999: q(0.9999),
        max: v.last().copied().unwrap_or(f64::NAN),
    }
}

/// Counts `\n` bytes in a file (0 if it does not exist): how many lines a
/// logger put on disk.
pub fn count_lines(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut buf = vec![0u8; 4 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..k]).count() as u64;
    }
}

/// Pins the calling thread to `cpu` (modulo the CPUs online); ignores
/// failure (the measurement still runs, unpinned).
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    // SAFETY: `set` is a plain bit set on our stack, zeroed, then filled by
    // the libc helpers; sched_setaffinity(0, ..) applies to this thread and
    // only reads `set`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % n, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Number of CPUs online.
pub fn cpus_online() -> usize {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize
}

/// CPU time (user + system) the calling thread has used, in seconds.
pub fn thread_cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time (user + system) the whole process has used, in seconds.
pub fn process_cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock_seconds(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec on our stack for the call to fill.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
