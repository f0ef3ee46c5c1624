//! A test hook (feature `test-hooks`): an allocator that refuses blocks
//! above a size, so that tests can make the real `ul-writer` meet
//! allocation failure where it grows batch buffers, and check that a
//! refused allocation becomes a smaller batch, not an abort.
//!
//! `ul-writer` built with `test-hooks` uses [`FailAlloc`] as its global
//! allocator; it passes everything to the system allocator until it is
//! armed. `UL_TEST_FAIL_ALLOC=SIZE` (read once, at start) arms it once the
//! writer serves its region: from then on every allocation, or growth by
//! `realloc`, to more than SIZE bytes returns null (as an allocator that
//! cannot find such a block would). Fallible reservations (`try_reserve`)
//! see an error; anything else aborts the process (`memory allocation of N
//! bytes failed`).
//!
//! ```
//! use std::alloc::{GlobalAlloc, Layout};
//! use ul_writer::fail_alloc::FailAlloc;
//!
//! static A: FailAlloc = FailAlloc::new();
//! A.arm(4096);
//! let big = Layout::from_size_align(8192, 8).unwrap();
//! // SAFETY: the layout has a non-zero size.
//! assert!(unsafe { A.alloc(big) }.is_null());
//! assert_eq!(A.refused(), 1);
//! let small = Layout::from_size_align(64, 8).unwrap();
//! // SAFETY: the layout has a non-zero size; the block is freed with the
//! // layout it was allocated with.
//! unsafe {
//!     let p = A.alloc(small);
//!     assert!(!p.is_null());
//!     A.dealloc(p, small);
//! }
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The environment variable that arms the hook in `ul-writer`.
pub const ENV: &str = "UL_TEST_FAIL_ALLOC";

/// The system allocator, refusing blocks above a size once armed (see the
/// module docs).
pub struct FailAlloc {
    /// Largest block granted (`usize::MAX`: not armed).
    cap: AtomicUsize,
    /// Allocations refused so far.
    refused: AtomicU64,
}

impl Default for FailAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl FailAlloc {
    /// Not armed: every allocation goes to the system allocator.
    pub const fn new() -> Self {
        FailAlloc {
            cap: AtomicUsize::new(usize::MAX),
            refused: AtomicU64::new(0),
        }
    }

    /// From now on, refuses every block of more than `cap` bytes.
    pub fn arm(&self, cap: usize) {
        self.cap.store(cap, Ordering::Relaxed);
    }

    /// Allocations refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// True (and counted) if a block of `size` bytes is to be refused.
    fn refuse(&self, size: usize) -> bool {
        if size <= self.cap.load(Ordering::Relaxed) {
            return false;
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        true
    }
}

// SAFETY: every method either returns null (a failed allocation, which
// the `GlobalAlloc` contract allows; `realloc` then leaves the block as it
// was) or passes its arguments unchanged to `System`, whose methods meet
// the contract for the same arguments; `dealloc` always goes to `System`,
// which allocated every block this allocator returned.
unsafe impl GlobalAlloc for FailAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `alloc`'s contract (a non-zero size),
        // which is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if self.refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator with `layout`, so by
        // `System` with `layout` (see the impl's SAFETY comment).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && self.refuse(new_size) {
            // A failed realloc leaves the block allocated and unchanged.
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `realloc`'s contract (`ptr` from this
        // allocator, so from `System`, with `layout`; a valid non-zero
        // `new_size`), which is `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
