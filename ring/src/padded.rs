//! A block of the shared layout on 128 bytes of its own.

use core::ops::{Deref, DerefMut};

/// `T` aligned (and so padded) to 128 bytes: the blocks that different
/// parties write sit on cache lines of their own (two 64-byte lines, which
/// x86_64's adjacent-line prefetcher fetches in pairs).
///
/// Unlike `crossbeam_utils::CachePadded`, whose alignment depends on the
/// target (128 on x86_64 and aarch64, 64 or 32 on others), this is 128
/// everywhere: every process that maps a region, whatever its architecture
/// or pointer width, agrees on every offset of one layout version.
///
/// ```
/// use ul_ring::padded::Padded;
/// assert_eq!(core::mem::align_of::<Padded<u8>>(), 128);
/// let p = Padded::new(7u32);
/// assert_eq!(*p, 7);
/// ```
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct Padded<T>(T);

impl<T> Padded<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Padded(value)
    }
}

impl<T> Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Padded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
