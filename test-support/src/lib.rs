//! What ul's tests share across crates: one seeded random generator, and
//! a private `rsyslogd` for the forwarding tests ([`rsyslog`]).
//!
//! Unpublished and dependency-free, so that any crate of the workspace
//! (even `ul-ring`, at the bottom) can take it as a dev-dependency (or, for
//! `ul-fidelity`'s build script, a build-dependency) without pulling the
//! others into its tests. The writer-process handle the integration tests
//! share is `writer/tests/common`, next to the binaries it starts.
//!
//! ```
//! use ul_test_support::Rng;
//!
//! let mut rng = Rng::new(42);
//! let roll = rng.below(6);
//! assert!(roll < 6);
//! // The same seed gives the same sequence: a failing run can be replayed.
//! assert_eq!(Rng::new(7).next_u64(), Rng::new(7).next_u64());
//! ```

#![warn(missing_docs, unreachable_pub)]

pub mod rsyslog;

/// A xorshift64 generator (shifts 13, 7, 17): varied values, replayable
/// from a seed, not secure and not meant to be.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`, spread over the state's bits (any seed,
    /// 0 included, gives a usable non-zero state).
    pub fn new(seed: u64) -> Self {
        Self::from_state(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A generator whose state is `state` as given (0, which xorshift
    /// never leaves, is replaced by 1). For tests that pin an exact
    /// sequence.
    pub const fn from_state(state: u64) -> Self {
        Self(if state == 0 { 1 } else { state })
    }

    /// A generator seeded from the environment variable `var` if it holds
    /// a number, else from the clock; the seed is printed on stderr as
    /// `label: VAR=seed` so that a failing run can be replayed.
    pub fn from_env(var: &str, label: &str) -> Self {
        let seed = std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            });
        eprintln!("{label}: {var}={seed}");
        Self::new(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A value in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo))
    }

    /// True `percent` times in 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of `from` (which must not be empty).
    pub fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn from_state_is_the_plain_xorshift64_sequence() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut r = Rng::from_state(x);
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert_eq!(r.next_u64(), x);
        }
    }

    #[test]
    fn no_state_is_stuck_at_zero() {
        assert_ne!(Rng::from_state(0).next_u64(), 0);
        assert_ne!(Rng::new(0).next_u64(), 0);
    }

    #[test]
    fn ranges_hold_their_bounds() {
        let mut r = Rng::new(3);
        for _ in 0..10_000 {
            assert!((5..9).contains(&r.range(5, 9)));
            assert!(r.below(3) < 3);
        }
        assert_eq!(r.range(4, 4), 4);
        assert_eq!(r.below(0), 0);
    }
}
