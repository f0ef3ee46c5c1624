//! Counts of dropped records that producers add to and the writer reports.

use crate::sync::{AtomicU64, Ordering};

/// A count of records dropped, kept in shared memory so that a producer
/// killed by SIGKILL still has its drops reported: the shared lane's
/// anonymous count, a drop-table entry's count, a lane's count of drops by
/// its owner's signal handlers.
///
/// Producers only ever [`add`](Self::add) to it, with one atomic
/// instruction (a signal handler may interrupt its own thread's add, and
/// several threads may share a counter); the writer only reads it, and
/// compares it with what it reported last. No party can set it back.
///
/// `#[repr(transparent)]` over an `AtomicU64`: it takes the place of one in
/// the shared layout.
///
/// ```
/// use ul_ring::counter::DropCounter;
/// let c = DropCounter::new(0);
/// c.add(2);
/// assert_eq!(c.get(), 2);
/// ```
#[repr(transparent)]
pub struct DropCounter(AtomicU64);

impl DropCounter {
    /// A counter at `n` (heap-backed lanes, tests, loom).
    pub fn new(n: u64) -> Self {
        DropCounter(AtomicU64::new(n))
    }

    /// Counts `n` more drops. Relaxed: a count, ordered with nothing (the
    /// writer reports it when it sees it, and a drop has no bytes to
    /// publish).
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
