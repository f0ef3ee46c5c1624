//! HDR histograms of latencies.
//!
//! Values are recorded in units of 10 ps (so a 6.3 ns burst average keeps
//! its decimal), with 3 significant digits, up to 60 s.

use hdrhistogram::Histogram;

use crate::Summary;

/// Histogram units per nanosecond.
pub const UNITS_PER_NS: f64 = 100.0;

/// A latency histogram in nanoseconds.
///
/// ```
/// let mut h = ul_benches::hist::LatHist::new();
/// for v in 1..=1000 {
///     h.record_ns(v as f64);
/// }
/// let s = h.summary();
/// assert!((s.p50 - 500.0).abs() < 1.0);
/// assert!((s.max - 1000.0).abs() < 1.0);
/// assert_eq!(h.len(), 1000);
/// ```
#[derive(Clone, Debug)]
pub struct LatHist(Histogram<u64>);

impl Default for LatHist {
    fn default() -> Self {
        Self::new()
    }
}

impl LatHist {
    /// An empty histogram.
    pub fn new() -> Self {
        let h = Histogram::new_with_bounds(1, 60 * 1_000_000_000 * UNITS_PER_NS as u64, 3)
            .expect("valid histogram bounds");
        Self(h)
    }

    /// Records one latency in ns (negative values count as 0; values past
    /// the bound as the bound).
    #[inline]
    pub fn record_ns(&mut self, ns: f64) {
        let v = (ns.max(0.0) * UNITS_PER_NS).round() as u64;
        self.0.saturating_record(v);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatHist) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Percentiles in ns.
    pub fn summary(&self) -> Summary {
        let q = |p: f64| self.0.value_at_quantile(p) as f64 / UNITS_PER_NS;
        Summary {
            p50: q(0.50),
            p75: q(0.75),
            p90: q(0.90),
            p99: q(0.99),
            p999: q(0.999),
            p9999: q(0.9999),
            max: self.0.max() as f64 / UNITS_PER_NS,
        }
    }

    /// Smallest value in ns.
    pub fn min_ns(&self) -> f64 {
        self.0.min() as f64 / UNITS_PER_NS
    }
}
