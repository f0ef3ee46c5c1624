//! Becoming a region's one writer: an exclusive `flock` on the region file
//! (the kernel releases it when the holder dies, so a dead writer's lock is
//! free at once), the region's writer lock (an open-file-description lock
//! that producers and `ul-stat` can test from any pid namespace), then the
//! writer's pid, pid start time and a first heartbeat in the header.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use ul_ring::region::Region;

/// Another live writer holds the region.
#[derive(Debug, thiserror::Error)]
#[error("another ul-writer (pid {pid}) already serves {path}; stop it first or use another --shm")]
pub struct Busy {
    /// The region path.
    pub path: PathBuf,
    /// The pid the header names as its writer.
    pub pid: u32,
}

/// Takes `region` for this process, or says who holds it.
///
/// ```no_run
/// use ul_ring::region::{Region, RegionOptions};
/// let region = Region::open("/dev/shm/ul-doc", &RegionOptions::default())?;
/// ul_writer::internals::takeover::take(&region)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn take(region: &Region) -> Result<(), Busy> {
    // SAFETY: flock on our open file descriptor has no memory effects.
    let r = unsafe { libc::flock(region.file().as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    let h = region.header();
    if r != 0 {
        return Err(Busy {
            path: region.path().to_owned(),
            pid: h.writer.serving_pid(),
        });
    }
    // Held for the life of the process, like the mapping of every region
    // the writer served: a replaced region is still drained, and its
    // producers still ask whether a writer serves it. The kernel drops it
    // when the writer dies. Without it the writer still serves the region;
    // producers then call it gone in their flush errors.
    match ul_ring::ownership::WriterLock::acquire(region) {
        Ok(Some(lock)) => std::mem::forget(lock),
        Ok(None) => crate::diag!(
            "another process holds the writer lock of {}; producers may call this writer gone",
            region.path().display()
        ),
        Err(e) => crate::diag!(
            "cannot take the writer lock of {} ({e}); producers will call this writer gone",
            region.path().display()
        ),
    }
    let me = std::process::id();
    h.writer.take(
        me,
        ul_ring::procinfo::start_time(me).unwrap_or(0),
        ul_ring::clock::monotonic_ns(),
    );
    // The region this writer serves is the one at the path (a file moved
    // back there after it was superseded is current again).
    h.control.set_superseded(false);
    Ok(())
}
