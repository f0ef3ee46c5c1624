//! Timestamps: cheap on the producer, converted to wall-clock time by the writer.
//!
//! On x86_64 a producer reads the time-stamp counter (`rdtsc`, a few
//! nanoseconds, no system call); elsewhere it reads `CLOCK_REALTIME`. The
//! record's `FLAG_TSC` says which. The writer turns ticks into nanoseconds
//! with a [`Calibration`]: an anchor pair (ticks, ns) taken together and the
//! tick rate measured against the wall clock.

use std::time::Duration;

/// Reads the producer's clock: `(value, is_tsc)`.
///
/// ```
/// let (a, _) = ul_ring::clock::now();
/// let (b, _) = ul_ring::clock::now();
/// assert!(b >= a);
/// ```
#[inline(always)]
pub fn now() -> (u64, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no preconditions; every x86_64 CPU has it.
        (unsafe { core::arch::x86_64::_rdtsc() }, true)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (wall_ns(), false)
    }
}

/// Nanoseconds since the Unix epoch from `CLOCK_REALTIME`.
///
/// ```
/// assert!(ul_ring::clock::wall_ns() > 1_600_000_000_000_000_000);
/// ```
pub fn wall_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec on our stack for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Nanoseconds of `CLOCK_MONOTONIC`, for timeouts and heartbeats.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as in `wall_ns`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Reads the TSC and the wall clock as close together as possible: the
/// pair with the shortest TSC bracket out of a few tries.
pub fn anchor() -> (u64, u64) {
    let mut best = (u64::MAX, 0u64, 0u64);
    for _ in 0..8 {
        let (t0, _) = now();
        let ns = wall_ns();
        let (t1, _) = now();
        let width = t1.wrapping_sub(t0);
        if width < best.0 {
            best = (width, t0 / 2 + t1 / 2, ns);
        }
    }
    (best.1, best.2)
}

/// Conversion from TSC ticks to Unix nanoseconds.
///
/// ```
/// use ul_ring::clock::Calibration;
/// let c = Calibration { tsc_base: 1000, ns_base: 5_000, ticks_per_ns: 2.0 };
/// assert_eq!(c.to_ns(3000), 6_000);
/// assert_eq!(c.to_ns(0), 4_500);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    /// TSC value of the anchor.
    pub tsc_base: u64,
    /// Wall-clock ns of the anchor.
    pub ns_base: u64,
    /// TSC ticks per nanosecond.
    pub ticks_per_ns: f64,
}

impl Calibration {
    /// Measures the tick rate over `span` (sleeping), anchored at the start.
    pub fn measure(span: Duration) -> Self {
        let (t0, n0) = anchor();
        std::thread::sleep(span);
        let (t1, n1) = anchor();
        Self::from_anchors((t0, n0), (t1, n1))
    }

    /// The calibration through two anchors `(tsc, ns)`; the first is the base.
    pub fn from_anchors(a: (u64, u64), b: (u64, u64)) -> Self {
        let dt = b.0.wrapping_sub(a.0) as f64;
        let dn = b.1.saturating_sub(a.1) as f64;
        let ticks_per_ns = if dn > 0.0 && dt > 0.0 { dt / dn } else { 1.0 };
        Self {
            tsc_base: a.0,
            ns_base: a.1,
            ticks_per_ns,
        }
    }

    /// Unix nanoseconds of a TSC reading (rounded to the nearest; clamped
    /// to 0 for readings before the epoch).
    #[inline]
    pub fn to_ns(&self, tsc: u64) -> u64 {
        // Only the distance from the anchor goes through f64 (exact to the
        // nanosecond for days of ticks); the anchor itself stays an integer,
        // since an f64 near 1.8e18 resolves only 256 ns. The distance is
        // taken as an i64 (a reading more than 2^63 ticks, about a century,
        // from the anchor is garbage either way) so that the conversions
        // are single instructions rather than i128 library calls.
        let delta = tsc.wrapping_sub(self.tsc_base) as i64;
        let d = delta as f64 / self.ticks_per_ns;
        // Round half away from zero, as `f64::round` (a libm call here).
        let delta_ns = if d >= 0.0 {
            (d + 0.5) as i64
        } else {
            (d - 0.5) as i64
        };
        let ns = i128::from(self.ns_base) + i128::from(delta_ns);
        ns.clamp(0, i128::from(u64::MAX)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward conversion `to_ns` replaces.
    fn reference(c: &Calibration, tsc: u64) -> u64 {
        let delta = tsc as i128 - c.tsc_base as i128;
        let delta_ns = (delta as f64 / c.ticks_per_ns).round() as i128;
        (c.ns_base as i128 + delta_ns).clamp(0, u64::MAX as i128) as u64
    }

    #[test]
    fn to_ns_matches_the_rounded_quotient() {
        let c = Calibration {
            tsc_base: 1 << 55,
            ns_base: 1_735_689_600_000_000_000,
            ticks_per_ns: 2.445_123,
        };
        let mut rng = ul_test_support::Rng::from_state(0x9e37_79b9_7f4a_7c15);
        for _ in 0..100_000 {
            let x = rng.next_u64();
            // Up to about 3 days of ticks either side of the anchor.
            let off = (x % (1 << 50)) as i64 - (1 << 49);
            let tsc = c.tsc_base.wrapping_add_signed(off);
            assert_eq!(c.to_ns(tsc), reference(&c, tsc), "tsc {tsc}");
        }
        // Before the epoch clamps to 0; no reading panics.
        let early = Calibration { ns_base: 10, ..c };
        assert_eq!(early.to_ns(0), 0);
        let _ = c.to_ns(u64::MAX);
    }
}
