//! Cross-process futex wait and wake on a 32-bit word in shared memory.
//!
//! The word lives in the shared mapping, so these calls do not use
//! `FUTEX_PRIVATE_FLAG`: the kernel keys the wait queue on the physical page,
//! and a waiter in one process is woken by a waker in another.

use core::sync::atomic::AtomicU32;
use std::time::Duration;

/// How a [`wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Woken, or the word no longer held `expected` (no sleep at all).
    Woken,
    /// The timeout passed.
    TimedOut,
    /// A signal interrupted the wait; the caller re-checks its condition.
    Interrupted,
}

/// Sleeps while `*word == expected`, at most `timeout`.
///
/// ```
/// use std::sync::atomic::AtomicU32;
/// use std::time::Duration;
/// use ul_ring::futex::{wait, WaitOutcome};
/// let word = AtomicU32::new(1);
/// // The word does not hold 0, so this returns at once.
/// assert_eq!(wait(&word, 0, Some(Duration::from_millis(10))), WaitOutcome::Woken);
/// ```
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned 32-bit word for the duration of the
    // call; `ts_ptr` is null or points at a timespec on our stack. FUTEX_WAIT
    // only reads both.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            core::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return WaitOutcome::Woken;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ETIMEDOUT) => WaitOutcome::TimedOut,
        Some(libc::EINTR) => WaitOutcome::Interrupted,
        _ => WaitOutcome::Woken, // EAGAIN: the word had changed.
    }
}

/// Wakes up to `count` waiters on `word`; returns how many were woken.
///
/// ```
/// use std::sync::atomic::AtomicU32;
/// let word = AtomicU32::new(0);
/// assert_eq!(ul_ring::futex::wake(&word, i32::MAX), 0);
/// ```
pub fn wake(word: &AtomicU32, count: i32) -> usize {
    // SAFETY: `word` is a valid, aligned 32-bit word; FUTEX_WAKE does not
    // access it beyond using its address as a key.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            count,
            core::ptr::null::<libc::timespec>(),
            core::ptr::null::<u32>(),
            0u32,
        )
    };
    r.max(0) as usize
}
