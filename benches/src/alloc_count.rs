//! A global allocator that counts allocations made on the measuring thread
//! only, for the tests that check an enqueue allocates nothing
//! (`tests/no_alloc.rs`, `tests/log_no_alloc.rs`).
//!
//! ```no_run
//! use ul_benches::alloc_count::{allocations, Counting};
//! #[global_allocator]
//! static GLOBAL: Counting = Counting;
//! fn main() {
//!     assert_eq!(allocations(|| ()), 0);
//! }
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Forwards to the system allocator and counts, on threads inside
/// [`allocations`], every allocation and reallocation. Install it with
/// `#[global_allocator]` in the test binary.
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator unchanged; the
// counting touches only an atomic and a const-initialised thread-local
// (which never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations made by `f` on this thread (counted only while
/// [`Counting`] is the global allocator).
pub fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.load(Ordering::Relaxed) - before
}

/// Removes a file (a test's region) when dropped.
pub struct RemoveOnDrop(pub std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Attaches this process to a private region with four 4 MiB lanes (room
/// for every call an allocation test makes, with no writer running),
/// removed when the returned guard drops.
pub fn attach_private_region(tag: &str) -> RemoveOnDrop {
    let shm = std::path::PathBuf::from(format!("/dev/shm/ul-{tag}-{}", std::process::id()));
    let sizes = ul::Sizes {
        lanes: 4,
        lane_capacity: 4 << 20,
        ..Default::default()
    };
    ul::Options::new(&shm)
        .sizes(sizes)
        .init()
        .expect("ul::init");
    RemoveOnDrop(shm)
}
