//! Shared pieces of the ul benchmark harnesses: the cycle counter and
//! percentile summaries.

/// Reads the time-stamp counter with `rdtscp` (waits for earlier
/// instructions to finish), or a monotonic ns clock off x86_64.
///
/// ```
/// let a = ul_benches::rdtscp();
/// let b = ul_benches::rdtscp();
/// assert!(b >= a);
/// ```
#[inline(always)]
pub fn rdtscp() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut aux = 0u32;
        // SAFETY: rdtscp has no preconditions on x86_64 CPUs that have it
        // (all this project targets); it writes `aux`, a local.
        unsafe { core::arch::x86_64::__rdtscp(&mut aux) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        ul_ring::clock::monotonic_ns()
    }
}

/// Percentiles of a sample, in the unit of the sample.
#[derive(Clone, Copy, Debug, PartialEq)]
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

/// TSC ticks per nanosecond, measured against the monotonic clock.
pub fn ticks_per_ns() -> f64 {
    let t0 = rdtscp();
    let n0 = ul_ring::clock::monotonic_ns();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let t1 = rdtscp();
    let n1 = ul_ring::clock::monotonic_ns();
    (t1 - t0) as f64 / (n1 - n0) as f64
}
