//! The sleeping-flag handshake between an idle writer and producers.
//!
//! The writer must not spin while idle and a producer must not make a system
//! call on its hot path. The writer announces `sleeping = 1`, re-checks every
//! lane, and only then sleeps on the futex word (with a timeout: the flush
//! interval). A producer that wants the writer awake (its lane is filling, or
//! it asked for a flush) checks `sleeping` and only then bumps the word and
//! wakes it.
//!
//! This is a store-buffering (Dekker) pattern: the writer stores `sleeping`
//! then loads each `head`; the producer stores `head` then loads `sleeping`.
//! Each side puts a SeqCst fence between its store and its load, so at least
//! one of them sees the other's store: either the writer's re-check finds
//! the record, or the producer finds `sleeping == 1` and wakes it. No wakeup
//! is lost. The loom model in `tests/loom_wake.rs` checks this.
//!
//! That guarantee is [`WakeBlock::claim_wake`]'s, whose fence is the
//! producer's half. The log hot path does not pay for a fence on every
//! record: it first asks [`WakeBlock::writer_sleeping`], a plain load,
//! and calls `claim_wake` only if that says yes. Without the fence that
//! load can miss a `sleeping = 1` the writer just stored, while the
//! writer's re-check misses the record: the writer then sleeps until its
//! futex wait times out, one flush interval, with that lane over half
//! full. That delay (not a loss: the record is drained at the next pass)
//! is what the hot path trades for its speed; `flush()` and a full lane
//! always go through `claim_wake` or bump the futex themselves.
//!
//! A producer clears `sleeping` with a swap before waking, so of many
//! producers only one pays for the system call, and a writer that died
//! asleep (leaving `sleeping == 1`) costs producers one call, not one per
//! record.

use crate::sync::{fence, AtomicU32, Ordering};

/// The writer's sleep state, shared by all processes.
#[repr(C)]
pub struct WakeBlock {
    /// 1 while the writer is (about to be) asleep.
    pub sleeping: AtomicU32,
    /// The futex word the writer sleeps on; producers bump it to wake it.
    pub futex: AtomicU32,
}

impl WakeBlock {
    /// An awake state (heap-backed tests, loom).
    pub fn new() -> Self {
        Self {
            sleeping: AtomicU32::new(0),
            futex: AtomicU32::new(0),
        }
    }

    /// Writer, step 1: announce the intent to sleep. Returns the futex value
    /// to sleep on. Re-check every lane after this; if one has records, call
    /// [`cancel_sleep`](Self::cancel_sleep), otherwise sleep on the value.
    pub fn prepare_sleep(&self) -> u32 {
        // Read the word before announcing: a producer that sees `sleeping`
        // bumps it afterwards, so the futex wait will not block.
        let seq = self.futex.load(Ordering::Relaxed);
        self.sleeping.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        seq
    }

    /// Writer: the re-check found work, or the sleep ended.
    pub fn cancel_sleep(&self) {
        self.sleeping.store(0, Ordering::Relaxed);
    }

    /// Producer, after publishing: wake the writer if it sleeps. Returns
    /// true if this call should do the futex wake (it won the swap); the
    /// caller then calls [`crate::futex::wake`] on `futex` (kept apart so
    /// the loom model can run this without a system call).
    #[inline]
    pub fn claim_wake(&self) -> bool {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) == 0 {
            return false;
        }
        if self.sleeping.swap(0, Ordering::Relaxed) == 0 {
            return false;
        }
        self.futex.fetch_add(1, Ordering::Release);
        true
    }

    /// True if the writer announced it sleeps (cheap: a relaxed load, no
    /// fence). A hint only: it may miss an announcement made just before
    /// (see the module docs), which costs at most one flush interval of
    /// delay. Use [`claim_wake`](Self::claim_wake) where no wakeup may be
    /// missed.
    #[inline]
    pub fn writer_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Relaxed) != 0
    }
}

impl Default for WakeBlock {
    fn default() -> Self {
        Self::new()
    }
}
