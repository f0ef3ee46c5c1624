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
//! always go through `claim_wake`, or bump the futex word whatever
//! `sleeping` says ([`WakeBlock::kick`],
//! [`WakeBlock::kick_after_request`]).
//!
//! A producer clears `sleeping` with a swap before waking, so of many
//! producers only one pays for the system call, and a writer that died
//! asleep (leaving `sleeping == 1`) costs producers one call, not one per
//! record.

use crate::sync::{fence, AtomicU32, Ordering};

/// The writer's sleep state, shared by all processes.
///
/// Its two words are reached through the handshake's methods only:
///
/// | side | methods |
/// |---|---|
/// | writer | [`prepare_sleep`](Self::prepare_sleep), then [`cancel_sleep`](Self::cancel_sleep) or [`sleep`](Self::sleep) and `cancel_sleep`; [`mark_asleep`](Self::mark_asleep) for a region it left |
/// | producer | [`writer_sleeping`](Self::writer_sleeping) (the hot path's hint), [`claim_wake`](Self::claim_wake) then [`ring`](Self::ring) if it won; [`kick`](Self::kick), [`kick_after_request`](Self::kick_after_request) to wake the writer whatever `sleeping` says |
#[repr(C)]
pub struct WakeBlock {
    /// 1 while the writer is (about to be) asleep.
    pub(crate) sleeping: AtomicU32,
    /// The futex word the writer sleeps on; producers bump it to wake it.
    pub(crate) futex: AtomicU32,
}

// The words sit where they always did (layout version 3). Not under loom,
// whose atomics are larger (the block is then never in a region).
#[cfg(not(loom))]
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(WakeBlock, sleeping) == 0);
    assert!(offset_of!(WakeBlock, futex) == 4);
    assert!(core::mem::size_of::<WakeBlock>() == 8);
};

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
    /// [`cancel_sleep`](Self::cancel_sleep), otherwise
    /// [`sleep`](Self::sleep) on the value.
    pub fn prepare_sleep(&self) -> u32 {
        // Read the word before announcing: a producer that sees `sleeping`
        // bumps it afterwards, so the futex wait will not block. Relaxed:
        // the kernel compares the word again inside FUTEX_WAIT, and a bump
        // read here (Release, in `claim_wake` and `kick`) synchronizes with
        // the fence below, so the re-check sees what was published before
        // it.
        let seq = self.futex.load(Ordering::Relaxed);
        // Relaxed store, then the SeqCst fence: the writer's half of the
        // store-buffering pattern (module docs). The fence orders this
        // store before every load of the re-check that follows.
        self.sleeping.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        seq
    }

    /// Writer: the re-check found work, or the sleep ended.
    pub fn cancel_sleep(&self) {
        // Relaxed: a hint for producers; a producer that still reads 1
        // costs one spare wake, and nothing is published with it.
        self.sleeping.store(0, Ordering::Relaxed);
    }

    /// Writer, step 2 (the re-check found nothing): sleeps while the futex
    /// word still holds `seen` (from [`prepare_sleep`](Self::prepare_sleep)),
    /// at most `timeout`. Then call [`cancel_sleep`](Self::cancel_sleep).
    /// The kernel compares the word atomically with queueing the sleeper,
    /// so a bump made after `prepare_sleep` read it (and the wake that
    /// follows it) is never slept through.
    #[cfg(not(loom))]
    pub fn sleep(&self, seen: u32, timeout: std::time::Duration) -> crate::futex::WaitOutcome {
        crate::futex::wait(&self.futex, seen, Some(timeout))
    }

    /// Writer, for a region it no longer serves (it moved to a new region
    /// at the path, and drains this one to its end): say it sleeps, so
    /// that a producer still on it whose lane passes half full takes its
    /// slow path (and there finds the new region). Call again on every
    /// pass: the first producer's [`claim_wake`](Self::claim_wake) clears
    /// it. SeqCst, as it always was: stronger than the protocol needs (the
    /// producers' first look is a Relaxed load, and no load of the writer's
    /// depends on this store's place in the total order).
    pub fn mark_asleep(&self) {
        self.sleeping.store(1, Ordering::SeqCst);
    }

    /// Producer, after publishing: wake the writer if it sleeps. Returns
    /// true if this call should do the futex wake (it won the swap); the
    /// caller then calls [`ring`](Self::ring) (kept apart so the loom model
    /// can run this without a system call, and so a producer can count its
    /// system calls).
    #[inline]
    pub fn claim_wake(&self) -> bool {
        // The producer's half of the store-buffering pattern: orders the
        // caller's `head` store (earlier in program order) before the
        // load of `sleeping`, so this load or the writer's re-check sees
        // the other side's store.
        fence(Ordering::SeqCst);
        // Relaxed check first: most calls find the writer awake and leave
        // the line shared instead of taking it exclusive for a swap.
        if self.sleeping.load(Ordering::Relaxed) == 0 {
            return false;
        }
        // Of many producers that saw 1, one wins the swap and pays for the
        // system call. Relaxed: the fence above already ordered it.
        if self.sleeping.swap(0, Ordering::Relaxed) == 0 {
            return false;
        }
        // Release: a writer whose `prepare_sleep` reads the bumped value
        // (then its SeqCst fence, an acquire) sees this producer's records.
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
        // Relaxed and no fence: this is on every log call past half a lane,
        // and must cost one load (the hot path's instruction count).
        self.sleeping.load(Ordering::Relaxed) != 0
    }

    /// Producer, after [`claim_wake`](Self::claim_wake) returned true:
    /// `FUTEX_WAKE` one sleeper. Returns how many were woken.
    #[cfg(not(loom))]
    pub fn ring(&self) -> usize {
        crate::futex::wake(&self.futex, 1)
    }

    /// Producer waiting for room (its lane or the shared lane is full): the
    /// writer may be busy rather than asleep, so bump the futex word
    /// whatever `sleeping` says, then wake one sleeper. A writer between
    /// `prepare_sleep` and its wait then does not block (the word moved).
    /// Release: a writer whose `prepare_sleep` reads the bumped value (then
    /// its SeqCst fence, an acquire) sees what this producer published
    /// before. Returns how many were woken.
    #[cfg(not(loom))]
    pub fn kick(&self) -> usize {
        self.futex.fetch_add(1, Ordering::Release);
        self.ring()
    }

    /// Producer, after publishing a request the writer reads in its
    /// re-check (a flush ticket, new settings): as [`kick`](Self::kick),
    /// with a SeqCst bump. The request was stored before this in program
    /// order; a writer whose `prepare_sleep` reads the bumped value
    /// synchronizes with the bump through its SeqCst fence, so its re-check
    /// sees the request; one that read the value before cannot sleep on
    /// it. (Release, as in `kick`, would give the same; SeqCst is what the
    /// flush and `configure` paths always used, also puts the bump in the
    /// total order after a SeqCst request, and is not on a hot path.)
    #[cfg(not(loom))]
    pub fn kick_after_request(&self) -> usize {
        self.futex.fetch_add(1, Ordering::SeqCst);
        self.ring()
    }

    /// The futex word, for the loom model's checks (whether the word moved
    /// past the value the writer would sleep on). Not part of the protocol.
    #[doc(hidden)]
    pub fn futex_value(&self) -> u32 {
        self.futex.load(Ordering::Relaxed)
    }
}

impl Default for WakeBlock {
    fn default() -> Self {
        Self::new()
    }
}
