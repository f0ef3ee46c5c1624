//! A region truncated under the writer: reported, never a silent death.
//!
//! Any process with write access to the region file can truncate it; the
//! writer's next access to a page past the new end raises SIGBUS. Two
//! defences, both ending in [`EXIT_REGION_BROKEN`]:
//!
//! * the drain loop checks the file's size (one `fstat`) on every wake-up
//!   and every reclaim scan, and stops cleanly with
//!   [`RegionError::Truncated`](ul_ring::region::RegionError::Truncated);
//! * a truncation between two checks faults inside a pass: the SIGBUS
//!   handler installed by [`watch`] writes a message naming the path and
//!   both sizes (async-signal-safe: `fstat`, `write`, `_exit`) and exits.
//!
//! Either way, every batch written before is on disk (cursors move only
//! after their batch is written), and what was still in the region is lost
//! with it.

use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;

use ul_ring::region::Region;

/// Exit status of `ul-writer` when its region file was truncated under it.
pub const EXIT_REGION_BROKEN: u8 = 3;

/// Regions the SIGBUS handler knows (the served one, and regions being
/// drained after they were replaced).
const WATCHED: usize = 4;

/// One watched region, readable from a signal handler (atomics only).
struct Watched {
    base: AtomicUsize,
    len: AtomicUsize,
    fd: AtomicI32,
    path: AtomicPtr<u8>,
    path_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Watched = Watched {
    base: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    fd: AtomicI32::new(-1),
    path: AtomicPtr::new(core::ptr::null_mut()),
    path_len: AtomicUsize::new(0),
};

static SLOTS: [Watched; WATCHED] = [EMPTY; WATCHED];

/// Makes a SIGBUS inside `region`'s mapping end the process with a clear
/// message and [`EXIT_REGION_BROKEN`]. `region` must stay mapped until
/// [`unwatch`] (the engine's regions are leaked, so they do). Returns false
/// if every watch slot is taken (the region is then only size-checked).
pub fn watch(region: &'static Region) -> bool {
    install_handler();
    let (base, len) = region.mapped_range();
    for s in &SLOTS {
        if s.base
            .compare_exchange(0, base as usize, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // The path is never freed: a handler may read it at any time,
            // even after `unwatch`. Only a claimed slot gets one, and a
            // reused slot's old path moves to `RETIRED`, so each stays
            // reachable and the leak is bounded by the regions served.
            let path: &'static [u8] = Box::leak(
                region
                    .path()
                    .as_os_str()
                    .as_bytes()
                    .to_vec()
                    .into_boxed_slice(),
            );
            let old = s.path.swap(path.as_ptr().cast_mut(), Ordering::Relaxed);
            let old_len = s.path_len.swap(path.len(), Ordering::Relaxed);
            if !old.is_null() {
                RETIRED
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((old as usize, old_len));
            }
            s.fd.store(region.file().as_raw_fd(), Ordering::Relaxed);
            // Release: a handler that sees `len` sees the fields above.
            s.len.store(len, Ordering::Release);
            return true;
        }
    }
    false
}

/// Paths of reused slots (address, length): kept, never freed, since a
/// signal handler may still hold one.
static RETIRED: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

/// Stops watching `region` (before it is unmapped).
pub fn unwatch(region: &Region) {
    let base = region.mapped_range().0 as usize;
    for s in &SLOTS {
        if s.base.load(Ordering::Acquire) == base {
            s.len.store(0, Ordering::Release);
            s.base.store(0, Ordering::Release);
        }
    }
}

fn install_handler() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    if DONE.swap(1, Ordering::AcqRel) != 0 {
        return;
    }
    // SAFETY: a zeroed sigaction is a valid value to fill in; the handler
    // has the SA_SIGINFO signature and only uses async-signal-safe calls.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_sigbus
            as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
            as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGBUS, &sa, core::ptr::null_mut());
    }
}

/// A fixed buffer for building the message without allocating.
struct Msg {
    buf: [u8; 1024],
    len: usize,
}

impl Msg {
    fn put(&mut self, b: &[u8]) {
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }

    fn num(&mut self, mut v: u64) {
        let mut d = [0u8; 20];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&d[i..]);
    }
}

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler;
    // for SIGBUS, si_addr is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    for s in &SLOTS {
        let len = s.len.load(Ordering::Acquire);
        let base = s.base.load(Ordering::Acquire);
        if len == 0 || addr < base || addr >= base + len {
            continue;
        }
        let fd = s.fd.load(Ordering::Relaxed);
        // SAFETY: `path` points at a leaked slice of `path_len` bytes,
        // published before `len` (Release/Acquire above).
        let path = unsafe {
            core::slice::from_raw_parts(
                s.path.load(Ordering::Relaxed),
                s.path_len.load(Ordering::Relaxed),
            )
        };
        // SAFETY: fstat into a zeroed stat on our stack; async-signal-safe.
        let now = unsafe {
            let mut st: libc::stat = core::mem::zeroed();
            if libc::fstat(fd, &mut st) == 0 {
                Some(st.st_size as u64)
            } else {
                None
            }
        };
        let mut m = Msg {
            buf: [0; 1024],
            len: 0,
        };
        m.put(b"ul-writer: region ");
        m.put(path);
        m.put(b" is broken (SIGBUS reading it): the file is now ");
        match now {
            Some(n) => m.num(n),
            None => m.put(b"unreadable"),
        }
        m.put(b" bytes, the region needs ");
        m.num(len as u64);
        m.put(b" (another process truncated it); batches already written are on disk, the rest of the region is lost; exiting with status ");
        m.num(u64::from(EXIT_REGION_BROKEN));
        m.put(b"\n");
        // SAFETY: write and _exit are async-signal-safe; the buffer is ours.
        unsafe {
            libc::write(2, m.buf.as_ptr().cast(), m.len);
            libc::_exit(i32::from(EXIT_REGION_BROKEN));
        }
    }
    // Not in a region: restore the default action and return, so the
    // faulting access faults again and the process dies as it would have.
    // SAFETY: setting SIG_DFL touches no memory.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::Msg;

    #[test]
    fn message_numbers_are_decimal() {
        let mut m = Msg {
            buf: [0; 1024],
            len: 0,
        };
        m.num(0);
        m.put(b" ");
        m.num(18_446_744_073_709_551_615);
        m.put(b" ");
        m.num(4096);
        assert_eq!(&m.buf[..m.len], b"0 18446744073709551615 4096");
    }
}
