//! The process's attachment to its region: set once by `init`, read by every
//! log call with one load.

use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use ul_ring::layout::ControlBlock;
use ul_ring::region::{PathStatus, Region, RegionOptions};

/// What to do when a thread's lane is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Return at once and count the record as dropped. The writer reports
    /// drops in the log.
    Drop,
    /// Wait up to `timeout` for room, then drop and count.
    Block {
        /// Longest a log call waits.
        timeout: Duration,
    },
    /// The default ([`Overflow::DEFAULT`]): wait for room while a writer
    /// drains the lane, however long that takes; drop (and count) once the
    /// writer has freed no room in the lane for `stall`, or at once if no
    /// writer holds the region's lock.
    ///
    /// A call that gave up leaves the thread *stalled*: its later calls on
    /// a full lane drop at once, without waiting, until the writer frees
    /// room again. So a writer that is stopped or gone costs each logging
    /// thread one wait of `stall`, not one per record, and a burst against
    /// a live writer, however slow, loses nothing.
    Wait {
        /// How long the writer may free no room before a call gives up.
        stall: Duration,
    },
}

impl Overflow {
    /// The default policy: [`Overflow::Wait`] with a 1 s stall.
    pub const DEFAULT: Overflow = Overflow::Wait {
        stall: Duration::from_secs(1),
    };
}

impl Default for Overflow {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The attached region and the process-wide settings.
///
/// Never freed: threads and call sites keep plain references to it, and a
/// region replaced at its path (see [`follow`]) stays mapped for threads
/// that are still finishing a record in it.
pub(crate) struct Shared {
    pub region: Region,
    pub path: PathBuf,
    pub overflow: Overflow,
    pub flush_timeout: Duration,
    /// How to open (or create) the region again at `path`.
    pub opts: RegionOptions,
    /// 1 for the first region attached, one more for each replacement.
    /// Call sites and contexts cache their ids tagged with it.
    pub gen: u32,
    /// `CLOCK_MONOTONIC` ns of the last look at `path` (rate limit).
    pub last_check_ns: AtomicU64,
}

/// Longest string a record keeps (`Options::max_string_len`, bounded by
/// [`str_limit`]). Stored once, by the first `init`, before it installs
/// the region (under `INIT_LOCK`), and never again: every record is
/// encoded after its thread saw the region installed (Acquire), so it
/// sees the one value, and a record's length (`wire_len`) and its bytes
/// (`put`) always agree. A process-wide static rather than a field of
/// [`Shared`]: read where it is needed, it costs records without strings
/// nothing (a field would have to be carried into the encoding closure).
static MAX_STR: AtomicUsize = AtomicUsize::new(ul_ring::args::DEFAULT_STR_LIMIT);

/// Serialises `init`s, so that only the first stores [`MAX_STR`].
pub(crate) static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The longest string a record keeps.
#[inline(always)]
pub(crate) fn max_str() -> usize {
    MAX_STR.load(Ordering::Relaxed)
}

/// Sets [`max_str`]: only from `init`, holding `INIT_LOCK`, before the
/// first region is installed.
pub(crate) fn set_max_str(n: usize) {
    debug_assert!(
        get().is_none(),
        "the string limit is set once, before the first record"
    );
    MAX_STR.store(n, Ordering::Relaxed);
}

/// The longest string a record of `region` keeps when `asked` is wanted:
/// at most what a lane takes in one record, less the header and the
/// string's own framing (tag, length word, count of bytes left out).
pub(crate) fn str_limit(asked: usize, region: &Region) -> usize {
    let lane = ul_ring::lane::max_record_len(region.geometry().sizes.lane_capacity as usize);
    asked.min(lane.saturating_sub(ul_ring::record::HEADER_LEN + 16))
}

/// Least time between two looks at the region's path from log calls.
const FOLLOW_INTERVAL_NS: u64 = 100_000_000;

/// The installed attachment and its region's settings line, side by side
/// on one cache line: the level check loads the settings ([`control`])
/// straight from here instead of through `Shared` and the region's
/// mapping address, so a log call that finds its lines cold (after a
/// pause) waits for two misses in a row on this path rather than three.
#[repr(C, align(64))]
struct Installed {
    /// A leaked `Box<Shared>` (never freed), or null before `init`.
    shared: AtomicPtr<Shared>,
    /// `&shared.region.header().control` of an installed `Shared` (so
    /// never unmapped), stored (Release) after `shared` each time that
    /// changes; null until the first is installed.
    control: AtomicPtr<ControlBlock>,
}

static INSTALLED: Installed = Installed {
    shared: AtomicPtr::new(core::ptr::null_mut()),
    control: AtomicPtr::new(core::ptr::null_mut()),
};

/// Points [`control`] at the settings of `shared`, which was just
/// installed (and is leaked).
fn publish_control(shared: &'static Shared) {
    let c: *const ControlBlock = &*shared.region.header().control;
    INSTALLED.control.store(c.cast_mut(), Ordering::Release);
}

/// The installed attachment and the settings line of its region (for the
/// level check), or `None` before `init` has stored both (a call racing
/// with the first `init` is not logged, as if it came a moment earlier).
/// The two may belong to different regions for a moment while a new one
/// is installed: the level check then reads the old region's settings,
/// which stay mapped.
#[inline(always)]
pub(crate) fn get_with_control() -> Option<(&'static Shared, &'static ControlBlock)> {
    let c = INSTALLED.control.load(Ordering::Acquire);
    if c.is_null() {
        return None;
    }
    let s = INSTALLED.shared.load(Ordering::Acquire);
    // SAFETY: as below: a non-null `control` implies a non-null `shared`
    // (told to the compiler, so it does not test `s` again).
    unsafe { core::hint::assert_unchecked(!s.is_null()) };
    // SAFETY: `control` is stored (Release) only after `shared` was set to
    // a leaked `Box<Shared>`, and `shared` is never set back to null, so
    // having seen a non-null `control` (Acquire) this load sees a non-null
    // pointer to a `Shared` that is never freed. `c` points into the
    // mapping of such a `Shared`'s region, never unmapped (the `Shared` is
    // never dropped).
    unsafe { Some((&*s, &*c)) }
}

/// Bumped in the child after `fork()`: lanes claimed before it belong to the
/// parent and must not be written by the child.
pub(crate) static FORK_EPOCH: AtomicU32 = AtomicU32::new(0);
static PID: AtomicU32 = AtomicU32::new(0);

/// The process's shared state, if `init` has run.
#[inline(always)]
pub(crate) fn get() -> Option<&'static Shared> {
    let p = INSTALLED.shared.load(Ordering::Acquire);
    // SAFETY: `INSTALLED.shared` is only ever set to a leaked `Box<Shared>`,
    // which is never freed, so a non-null pointer is valid for 'static.
    unsafe { p.as_ref() }
}

/// Installs `shared` unless something was installed first; returns the
/// installed one.
pub(crate) fn install(shared: Shared) -> Result<&'static Shared, &'static Shared> {
    let p = Box::into_raw(Box::new(shared));
    match INSTALLED.shared.compare_exchange(
        core::ptr::null_mut(),
        p,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {
            install_fork_handler();
            // SAFETY: we just leaked `p`; it lives forever.
            let shared = unsafe { &*p };
            publish_control(shared);
            Ok(shared)
        }
        Err(existing) => {
            // SAFETY: `p` came from Box::into_raw above and was not shared.
            drop(unsafe { Box::from_raw(p) });
            // SAFETY: as in `get`.
            Err(unsafe { &*existing })
        }
    }
}

/// Moves the process to a new region if the file at the region's path is
/// no longer the mapped one (unlinked, or unlinked and recreated): opens
/// or creates the region there and installs it, so every thread's next log
/// call attaches a lane in it. Called on slow paths only (a full lane, a
/// wake-up, `flush`, `writer_alive`); at most one `lstat` per 100 ms unless
/// `force`. Returns the region to use now.
pub(crate) fn follow(cur: &'static Shared, force: bool) -> &'static Shared {
    let now = ul_ring::clock::monotonic_ns();
    let last = cur.last_check_ns.load(Ordering::Relaxed);
    if !force && now.saturating_sub(last) < FOLLOW_INTERVAL_NS {
        return get().unwrap_or(cur);
    }
    cur.last_check_ns.store(now, Ordering::Relaxed);
    if !core::ptr::eq(INSTALLED.shared.load(Ordering::Acquire), cur) {
        // Another thread moved already.
        return get().unwrap_or(cur);
    }
    if cur.region.path_status() == PathStatus::Same {
        return cur;
    }
    let Ok(region) = Region::open(&cur.path, &cur.opts) else {
        // Cannot open the new one (yet): stay; the writer drains the old.
        return cur;
    };
    if region.path_status() != PathStatus::Same {
        // Replaced again while we opened it; try later.
        return cur;
    }
    let next = Box::into_raw(Box::new(Shared {
        region,
        path: cur.path.clone(),
        overflow: cur.overflow,
        flush_timeout: cur.flush_timeout,
        opts: cur.opts.clone(),
        gen: cur.gen.wrapping_add(1).max(1),
        last_check_ns: AtomicU64::new(now),
    }));
    match INSTALLED.shared.compare_exchange(
        (cur as *const Shared).cast_mut(),
        next,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {
            // SAFETY: `next` was just leaked and is never freed.
            let shared = unsafe { &*next };
            publish_control(shared);
            shared
        }
        Err(other) => {
            // SAFETY: `next` came from Box::into_raw above and was not
            // shared; `other` is a leaked Shared (as in `get`).
            unsafe {
                drop(Box::from_raw(next));
                &*other
            }
        }
    }
}

/// Tag for cached context ids: the fork epoch and the region generation,
/// so a context registers again after a fork or in a new region.
pub(crate) fn attach_epoch(shared: &Shared) -> u64 {
    u64::from(FORK_EPOCH.load(Ordering::Relaxed)) | u64::from(shared.gen) << 16
}

thread_local! {
    /// Calls of [`follow_sometimes`] on this thread.
    static FOLLOW_TICK: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// [`follow`] for paths a log call may take on every record (a full lane
/// under `Drop`): looks at the clock only on every 64th call of the thread,
/// so such a record costs a thread-local increment, not a clock read.
pub(crate) fn follow_sometimes(cur: &'static Shared) -> &'static Shared {
    let due = FOLLOW_TICK
        .try_with(|t| {
            let v = t.get().wrapping_add(1);
            t.set(v);
            v % 64 == 1
        })
        .unwrap_or(false);
    if due {
        follow(cur, false)
    } else {
        cur
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
    // The forking thread, the child's only one: off its hot path until it
    // has claimed a lane of its own. (A const thread-local without drop
    // glue: no allocation, no destructor registration.)
    crate::thread_lane::after_fork();
}

fn install_fork_handler() {
    // SAFETY: registering a handler that only touches atomics, a plain
    // thread-local `Cell` and calls getpid, all async-signal-safe, as a
    // post-fork handler must be.
    unsafe {
        libc::pthread_atfork(None, None, Some(after_fork_in_child));
    }
}
