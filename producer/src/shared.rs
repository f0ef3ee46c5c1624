//! The process's attachment to its region: set once by `init`, read by every
//! log call with one load.

use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::time::Duration;

use ul_ring::region::Region;

/// What to do when a thread's lane is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Return at once and count the record as dropped (the default). The
    /// writer reports drops in the log.
    #[default]
    Drop,
    /// Wait up to `timeout` for room, then drop and count.
    Block {
        /// Longest a log call waits.
        timeout: Duration,
    },
}

/// The attached region and the process-wide settings.
pub(crate) struct Shared {
    pub region: Region,
    pub path: PathBuf,
    pub overflow: Overflow,
    pub process_timeout: Duration,
}

static SHARED: AtomicPtr<Shared> = AtomicPtr::new(core::ptr::null_mut());

/// Bumped in the child after `fork()`: lanes claimed before it belong to the
/// parent and must not be written by the child.
pub(crate) static FORK_EPOCH: AtomicU32 = AtomicU32::new(0);
static PID: AtomicU32 = AtomicU32::new(0);

/// The process's shared state, if `init` has run.
#[inline(always)]
pub(crate) fn get() -> Option<&'static Shared> {
    let p = SHARED.load(Ordering::Acquire);
    // SAFETY: `SHARED` is only ever set (once) to a leaked `Box<Shared>`,
    // which is never freed, so a non-null pointer is valid for 'static.
    unsafe { p.as_ref() }
}

/// Installs `shared` unless something was installed first; returns the
/// installed one.
pub(crate) fn install(shared: Shared) -> Result<&'static Shared, &'static Shared> {
    let p = Box::into_raw(Box::new(shared));
    match SHARED.compare_exchange(
        core::ptr::null_mut(),
        p,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {
            install_fork_handler();
            // SAFETY: we just leaked `p`; it lives forever.
            Ok(unsafe { &*p })
        }
        Err(existing) => {
            // SAFETY: `p` came from Box::into_raw above and was not shared.
            drop(unsafe { Box::from_raw(p) });
            // SAFETY: as in `get`.
            Err(unsafe { &*existing })
        }
    }
}

/// This process's pid, kept current across `fork()`.
#[inline]
pub(crate) fn pid() -> u32 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    let p = std::process::id();
    PID.store(p, Ordering::Relaxed);
    p
}

extern "C" fn after_fork_in_child() {
    FORK_EPOCH.fetch_add(1, Ordering::Relaxed);
    PID.store(std::process::id(), Ordering::Relaxed);
}

fn install_fork_handler() {
    // SAFETY: registering a handler that only touches atomics and calls
    // getpid, both async-signal-safe, as a post-fork handler must be.
    unsafe {
        libc::pthread_atfork(None, None, Some(after_fork_in_child));
    }
}
