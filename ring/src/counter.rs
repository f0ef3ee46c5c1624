//! Counts kept in shared memory that parties add to and read, never set.

use crate::sync::{AtomicU64, Ordering};

/// A count kept in shared memory: records dropped (the shared lane's
/// anonymous count, a drop-table entry's, a lane's count of drops by its
/// owner's signal handlers), and the writer's statistics
/// ([`crate::layout::Stats`]).
///
/// The only ways in are [`add`](Self::add), one atomic instruction (a
/// signal handler may interrupt its own thread's add, and several threads
/// may share a drop count), and [`get`](Self::get). No party can set a
/// count back; the writer reports a drop count's difference from what it
/// reported last. Counts wrap at 2^64.
///
/// `#[repr(transparent)]` over an `AtomicU64`: it takes the place of one in
/// the shared layout.
///
/// ```
/// use ul_ring::counter::Counter;
/// let c = Counter::new(0);
/// c.add(2);
/// assert_eq!(c.get(), 2);
/// ```
#[repr(transparent)]
pub struct Counter(AtomicU64);

impl Counter {
    /// A count at `n` (heap-backed lanes, tests, loom).
    pub fn new(n: u64) -> Self {
        Counter(AtomicU64::new(n))
    }

    /// Counts `n` more. Relaxed: a count, ordered with nothing (a drop has
    /// no bytes to publish; a statistic is read for display).
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count now (Relaxed; see [`add`](Self::add)).
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
