//! Opt-in SIGTERM/SIGINT handling for [`super::run_daemon`]: the handler
//! only sets a flag, which the drain loop reads.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the handler; the loop copies it into the caller's stop flag.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    // An atomic store is async-signal-safe.
    SIGNALLED.store(true, Ordering::Relaxed);
}

/// True once SIGTERM or SIGINT arrived after [`install`].
pub(super) fn signalled() -> bool {
    SIGNALLED.load(Ordering::Relaxed)
}

/// Installs the handler for SIGTERM and SIGINT (replacing any other).
pub(super) fn install() -> std::io::Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction is a valid value to fill in; the
        // handler is an `extern "C" fn(c_int)` that only stores an atomic,
        // so it is async-signal-safe; `sigaction` reads `act` and writes
        // nothing we pass (the old action pointer is null).
        let r = unsafe {
            let mut act: libc::sigaction = core::mem::zeroed();
            act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, core::ptr::null_mut())
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
