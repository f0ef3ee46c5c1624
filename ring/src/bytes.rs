//! Where a lane's bytes live.
//!
//! The lane protocol in [`crate::lane`] is generic over a [`ByteStore`], so
//! the same code runs over the shared mapping in production ([`RawBytes`]),
//! over heap memory in property tests and fuzz targets ([`HeapBytes`]), and
//! over loom-tracked cells in the model tests (`cfg(loom)`), where loom checks
//! that every byte the consumer reads was published to it by the producer.

use crate::args::Encoder;

/// Byte storage of one lane: `capacity()` bytes addressed by offset.
///
/// Offsets and lengths handed to these methods are multiples of 8 and lie
/// within `capacity()`; implementations still check, and ignore a request
/// that does not fit rather than touch memory outside the store.
pub trait ByteStore {
    /// Size of the store in bytes.
    fn capacity(&self) -> usize;

    /// Copies `dst.len()` bytes starting at `offset` into `dst`.
    ///
    /// A range outside the store leaves `dst` untouched.
    fn read(&self, offset: usize, dst: &mut [u8]);

    /// Runs `f` with an [`Encoder`] over `[offset, offset + len)`, a range
    /// the caller has reserved for its exclusive use.
    ///
    /// A range outside the store gives `f` an encoder over zero bytes, so
    /// every write through it is refused and reported by
    /// [`Encoder::overflowed`].
    fn write_with<R>(&self, offset: usize, len: usize, f: impl FnOnce(&mut Encoder<'_>) -> R) -> R;

    /// [`write_with`](Self::write_with) for a range the caller knows to lie
    /// inside the store: an implementation may skip the bounds check.
    ///
    /// # Safety
    ///
    /// `offset + len <= self.capacity()`, and the caller has reserved the
    /// range for its exclusive use (as for `write_with`).
    #[inline(always)]
    unsafe fn write_in_bounds<R>(
        &self,
        offset: usize,
        len: usize,
        f: impl FnOnce(&mut Encoder<'_>) -> R,
    ) -> R {
        self.write_with(offset, len, f)
    }

    /// Appends the `len` bytes at `offset` to `out` (a copy straight into
    /// `out`'s spare capacity, where the store can: no zeroing first). A
    /// range outside the store appends nothing.
    ///
    /// ```
    /// use ul_ring::bytes::{ByteStore, HeapBytes};
    /// let mut store = HeapBytes::new(64);
    /// store.fill(8, &[1, 2, 3, 4, 5, 6, 7, 8]);
    /// let mut out = vec![9];
    /// store.read_append(8, 8, &mut out);
    /// assert_eq!(out, [9, 1, 2, 3, 4, 5, 6, 7, 8]);
    /// store.read_append(60, 8, &mut out);
    /// assert_eq!(out.len(), 9);
    /// ```
    #[inline]
    fn read_append(&self, offset: usize, len: usize, out: &mut Vec<u8>) {
        if offset
            .checked_add(len)
            .is_none_or(|end| end > self.capacity())
        {
            return;
        }
        let at = out.len();
        out.resize(at + len, 0);
        self.read(offset, &mut out[at..]);
    }

    /// Hints that the bytes at `offset` will be written soon (a write
    /// prefetch, so the cache line is owned before the next record needs
    /// it). Does nothing by default.
    #[inline(always)]
    fn prefetch_write(&self, offset: usize) {
        let _ = offset;
    }
}

/// Bytes reached through a raw pointer: the shared mapping in production.
///
/// # Example
///
/// ```
/// use ul_ring::bytes::{ByteStore, RawBytes};
/// let mut backing = vec![0u64; 4];
/// // SAFETY: `backing` outlives `store` and nothing else touches it.
/// let store = unsafe { RawBytes::new(backing.as_mut_ptr().cast(), 32) };
/// store.write_with(8, 8, |enc| enc.put_u64(7));
/// let mut out = [0u8; 8];
/// store.read(8, &mut out);
/// assert_eq!(u64::from_le_bytes(out), 7);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RawBytes {
    ptr: *mut u8,
    capacity: usize,
}

// SAFETY: `RawBytes` is a pointer plus a length. Concurrent access to the
// bytes is governed by the lane protocol (a producer writes only the range it
// reserved, the consumer reads only published ranges), not by Rust ownership;
// every access goes through raw pointers, never references.
unsafe impl Send for RawBytes {}
// SAFETY: see the `Send` impl: shared use is the purpose of this type.
unsafe impl Sync for RawBytes {}

impl RawBytes {
    /// Wraps `capacity` bytes starting at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for reads and writes of `capacity` bytes for as
    /// long as the returned value (or a copy) is used, and the value and
    /// its copies (it is `Copy` and `Sync`) must be used so that no write
    /// races a read or write of the same bytes by another thread of this
    /// process: the lane protocol's ranges, or one thread at a time. The
    /// bytes must not be owned by, or reachable through, any Rust value
    /// passed to its methods (a `Vec` given to
    /// [`read_append`](ByteStore::read_append) may reallocate).
    pub unsafe fn new(ptr: *mut u8, capacity: usize) -> Self {
        Self { ptr, capacity }
    }

    fn fits(&self, offset: usize, len: usize) -> bool {
        offset
            .checked_add(len)
            .is_some_and(|end| end <= self.capacity)
    }
}

impl ByteStore for RawBytes {
    #[inline]
    fn capacity(&self) -> usize {
        self.capacity
    }

    #[inline(always)]
    fn prefetch_write(&self, offset: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `wrapping_add` computes the address without asserting it
        // is in the store (no bounds check on the hot path: the lane passes
        // an offset it masked, so it is), and `prefetchw` is a hint that
        // reads and writes nothing architecturally and cannot fault, even
        // for an address outside the mapping.
        unsafe {
            core::arch::asm!(
                "prefetchw [{0}]",
                in(reg) self.ptr.wrapping_add(offset),
                options(nostack, preserves_flags, readonly)
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = offset;
    }

    #[inline]
    fn read(&self, offset: usize, dst: &mut [u8]) {
        if !self.fits(offset, dst.len()) {
            return;
        }
        // SAFETY: `fits` checked that `[offset, offset + dst.len())` lies in
        // the store, which `new`'s contract makes valid for reads; `dst` is a
        // distinct local buffer, so the ranges do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(self.ptr.add(offset), dst.as_mut_ptr(), dst.len()) }
    }

    #[inline]
    fn read_append(&self, offset: usize, len: usize, out: &mut Vec<u8>) {
        if !self.fits(offset, len) {
            return;
        }
        out.reserve(len);
        let at = out.len();
        // SAFETY: `fits` checked that `[offset, offset + len)` lies in the
        // store, which `new`'s contract makes valid for reads; `reserve`
        // left at least `len` bytes of spare capacity after `at`, in `out`'s
        // own heap allocation, which does not overlap the store. The copy
        // initializes exactly `[at, at + len)`, so the new length covers
        // initialized bytes only.
        unsafe {
            core::ptr::copy_nonoverlapping(self.ptr.add(offset), out.as_mut_ptr().add(at), len);
            out.set_len(at + len);
        }
    }

    #[inline]
    fn write_with<R>(&self, offset: usize, len: usize, f: impl FnOnce(&mut Encoder<'_>) -> R) -> R {
        let (ptr, len) = if self.fits(offset, len) {
            // SAFETY: in bounds, checked just above.
            (unsafe { self.ptr.add(offset) }, len)
        } else {
            (self.ptr, 0)
        };
        // SAFETY: `[ptr, ptr + len)` lies in the store (or is empty), valid
        // for writes by `new`'s contract; the caller reserved it, so no one
        // else writes it while the encoder lives.
        let mut enc = unsafe { Encoder::from_raw(ptr, len) };
        f(&mut enc)
    }

    #[inline(always)]
    unsafe fn write_in_bounds<R>(
        &self,
        offset: usize,
        len: usize,
        f: impl FnOnce(&mut Encoder<'_>) -> R,
    ) -> R {
        debug_assert!(self.fits(offset, len), "write_in_bounds out of bounds");
        // SAFETY: the caller guarantees `offset + len <= capacity`, so
        // `[ptr + offset, ptr + offset + len)` lies in the store, valid for
        // writes by `new`'s contract, and that it reserved the range, so no
        // one else writes it while the encoder lives.
        let mut enc = unsafe { Encoder::from_raw(self.ptr.add(offset), len) };
        f(&mut enc)
    }
}

/// Heap-allocated, 8-byte-aligned bytes: for tests, fuzzing and benchmarks.
///
/// # Example
///
/// ```
/// use ul_ring::bytes::{ByteStore, HeapBytes};
/// let store = HeapBytes::new(64);
/// store.write_with(0, 8, |enc| enc.put_u64(42));
/// let mut out = [0u8; 8];
/// store.read(0, &mut out);
/// assert_eq!(u64::from_le_bytes(out), 42);
/// ```
pub struct HeapBytes {
    _words: Box<[core::cell::UnsafeCell<u64>]>,
    raw: RawBytes,
}

// SAFETY: the bytes sit behind `UnsafeCell`s owned by the value and are
// only reached through raw pointers; moving the owner to another thread
// moves all access with it. Not `Sync`: `write_with` takes `&self`, and two
// threads writing one range through shared references would race in safe
// code. (Shared use across threads is what `RawBytes`, made by an `unsafe`
// constructor whose caller answers for the protocol, is for.)
unsafe impl Send for HeapBytes {}

impl HeapBytes {
    /// Allocates `capacity` zeroed bytes (rounded up to a multiple of 8).
    pub fn new(capacity: usize) -> Self {
        let words: Box<[core::cell::UnsafeCell<u64>]> = (0..capacity.div_ceil(8))
            .map(|_| core::cell::UnsafeCell::new(0))
            .collect();
        let ptr = words.as_ptr() as *mut u8;
        // SAFETY: the boxed slice owns `words.len() * 8` bytes, lives as long
        // as `self`, and does not move when `self` moves (it is on the heap).
        let raw = unsafe { RawBytes::new(ptr, words.len() * 8) };
        Self { _words: words, raw }
    }

    /// A view of the same bytes that may be shared between threads (a
    /// producer and a consumer thread over one heap lane).
    ///
    /// # Safety
    ///
    /// As for [`RawBytes::new`]: the view is not used after `self` is
    /// dropped, and no write through it races another access to the same
    /// bytes.
    pub unsafe fn shared(&self) -> RawBytes {
        self.raw
    }

    /// Overwrites `src.len()` bytes at `offset`, bypassing the protocol:
    /// for tests and fuzzers that plant arbitrary bytes in a lane.
    pub fn fill(&mut self, offset: usize, src: &[u8]) {
        self.raw
            .write_with(offset, src.len(), |enc| enc.put_bytes(src));
    }
}

impl ByteStore for HeapBytes {
    #[inline]
    fn capacity(&self) -> usize {
        self.raw.capacity()
    }
    #[inline]
    fn read(&self, offset: usize, dst: &mut [u8]) {
        self.raw.read(offset, dst)
    }
    #[inline]
    fn read_append(&self, offset: usize, len: usize, out: &mut Vec<u8>) {
        self.raw.read_append(offset, len, out)
    }
    #[inline]
    fn write_with<R>(&self, offset: usize, len: usize, f: impl FnOnce(&mut Encoder<'_>) -> R) -> R {
        self.raw.write_with(offset, len, f)
    }
}

/// Loom-tracked bytes: one `loom::cell::UnsafeCell<u64>` per 8-byte word, so
/// loom reports any read of a word that was not published to the reader.
#[cfg(loom)]
pub struct LoomBytes {
    words: Vec<loom::cell::UnsafeCell<u64>>,
}

#[cfg(loom)]
impl LoomBytes {
    /// Allocates `capacity` zeroed bytes (a multiple of 8).
    pub fn new(capacity: usize) -> Self {
        Self {
            words: (0..capacity / 8)
                .map(|_| loom::cell::UnsafeCell::new(0))
                .collect(),
        }
    }
}

#[cfg(loom)]
impl ByteStore for LoomBytes {
    fn capacity(&self) -> usize {
        self.words.len() * 8
    }
    fn read(&self, offset: usize, dst: &mut [u8]) {
        assert!(
            offset % 8 == 0 && dst.len() % 8 == 0,
            "loom store: unaligned read"
        );
        for (i, chunk) in dst.chunks_mut(8).enumerate() {
            let word = self.words[offset / 8 + i].with(|p| {
                // SAFETY: loom checks this read against concurrent writes.
                unsafe { *p }
            });
            chunk.copy_from_slice(&word.to_le_bytes());
        }
    }
    fn write_with<R>(&self, offset: usize, len: usize, f: impl FnOnce(&mut Encoder<'_>) -> R) -> R {
        assert!(
            offset % 8 == 0 && len % 8 == 0,
            "loom store: unaligned write"
        );
        let mut tmp = vec![0u8; len];
        let r = f(&mut Encoder::new(&mut tmp));
        for (i, chunk) in tmp.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.words[offset / 8 + i].with_mut(|p| {
                // SAFETY: loom checks this write against concurrent access.
                unsafe { *p = u64::from_le_bytes(w) }
            });
        }
        r
    }
}

impl<T: ByteStore + ?Sized> ByteStore for &T {
    #[inline]
    fn capacity(&self) -> usize {
        (**self).capacity()
    }
    #[inline(always)]
    fn prefetch_write(&self, offset: usize) {
        (**self).prefetch_write(offset)
    }
    #[inline]
    fn read(&self, offset: usize, dst: &mut [u8]) {
        (**self).read(offset, dst)
    }
    #[inline]
    fn read_append(&self, offset: usize, len: usize, out: &mut Vec<u8>) {
        (**self).read_append(offset, len, out)
    }
    #[inline]
    fn write_with<R>(&self, offset: usize, len: usize, f: impl FnOnce(&mut Encoder<'_>) -> R) -> R {
        (**self).write_with(offset, len, f)
    }
}
