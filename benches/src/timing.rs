//! The cycle counter and what is measured with it.
//!
//! Two ways of reading the time-stamp counter:
//!
//! - [`rdtscp`]: waits for every earlier instruction to finish, then reads
//!   the counter. Quill's burst method puts one before and one after 20
//!   calls; the cost of the two reads is spread over the 20 calls.
//! - [`stamp`]: `rdtscp` then `lfence`, so later instructions also wait for
//!   the read. Single-call latency brackets each call with two stamps; the
//!   cost of a stamp pair with nothing between is measured
//!   ([`timer_overhead`]) and subtracted.

use crate::hist::LatHist;

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

/// `rdtscp` followed by `lfence`: the read waits for earlier instructions
/// and later ones wait for the read. One end of a single-call measurement.
///
/// ```
/// let a = ul_benches::timing::stamp();
/// assert!(ul_benches::timing::stamp() >= a);
/// ```
#[inline(always)]
pub fn stamp() -> u64 {
    let t = rdtscp();
    #[cfg(target_arch = "x86_64")]
    // SAFETY: lfence is part of SSE2, which every x86_64 CPU has; it only
    // orders instruction execution.
    unsafe {
        core::arch::x86_64::_mm_lfence()
    };
    t
}

/// TSC ticks per nanosecond, measured against the monotonic clock over
/// 200 ms.
pub fn ticks_per_ns() -> f64 {
    let t0 = rdtscp();
    let n0 = ul_ring::clock::monotonic_ns();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let t1 = rdtscp();
    let n1 = ul_ring::clock::monotonic_ns();
    (t1 - t0) as f64 / (n1 - n0) as f64
}

/// The cost of the timer itself: `n` pairs of [`stamp`] with nothing
/// between them, in ns (as the single-call measurement would see an empty
/// call).
pub fn timer_overhead(n: usize, tpn: f64) -> LatHist {
    let mut h = LatHist::new();
    for _ in 0..n {
        let a = stamp();
        let b = stamp();
        h.record_ns((b - a) as f64 / tpn);
    }
    h
}

/// The resolution of the time-stamp counter as read here, in ns: the
/// smallest non-zero difference between two back-to-back plain `rdtsc`
/// reads. On most machines that is the read's own latency; some CPUs and
/// hypervisors advance the counter in coarse steps (about 10 ns on the AMD
/// EPYC VM this was written on), which quantises single-call samples.
pub fn tsc_step_ns(tpn: f64) -> f64 {
    let mut min = u64::MAX;
    for _ in 0..200_000 {
        let (a, _) = ul_ring::clock::now();
        let (b, _) = ul_ring::clock::now();
        if b > a {
            min = min.min(b - a);
        }
    }
    min as f64 / tpn
}

/// Spins (no sleep, no yield) for `ticks` TSC ticks.
#[inline]
pub fn busy_wait_ticks(ticks: u64) {
    let end = rdtscp() + ticks;
    while rdtscp() < end {
        std::hint::spin_loop();
    }
}

/// The pause between bursts: uniformly 2.0 to 2.2 ms, spun, as in Quill's
/// harness (the backend drains, caches cool as in real code).
#[derive(Clone, Debug)]
pub struct Pause {
    rng: ul_test_support::Rng,
    min_ticks: u64,
    spread_ticks: u64,
}

impl Pause {
    /// A pause generator for a thread; `seed` varies the sequence.
    pub fn new(tpn: f64, seed: u64) -> Self {
        Self {
            rng: ul_test_support::Rng::new(seed),
            min_ticks: (2_000_000.0 * tpn) as u64,
            spread_ticks: (200_000.0 * tpn) as u64,
        }
    }

    /// Ticks of the next pause.
    pub fn next_ticks(&mut self) -> u64 {
        self.min_ticks + self.rng.below(self.spread_ticks)
    }

    /// Spins for the next pause.
    pub fn spin(&mut self) {
        let t = self.next_ticks();
        busy_wait_ticks(t);
    }
}
