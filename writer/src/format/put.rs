//! Appending short byte strings without a `memcpy` call.
//!
//! `Vec::extend_from_slice` with a length known only at run time becomes a
//! call to libc's `memcpy`, about 14 instructions of call and dispatch for
//! the 2 to 20 bytes a log line is made of (literal pieces, digits, field
//! names). [`put`] copies up to 32 bytes with two overlapping fixed-size
//! moves instead.

/// Appends `s` to `out`, as `out.extend_from_slice(s)`.
///
/// ```
/// let mut out = b"ab".to_vec();
/// ul_writer::format::put(&mut out, b"cdefghijk");
/// assert_eq!(out, b"abcdefghijk");
/// ```
#[inline(always)]
pub fn put(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n > 32 {
        out.extend_from_slice(s);
        return;
    }
    out.reserve(32);
    let len = out.len();
    let src = s.as_ptr();
    // SAFETY: `reserve(32)` leaves at least 32 bytes of capacity after
    // `len`, and every store below lies within `dst[0..n]` with n <= 32;
    // every load lies within `s[0..n]`. Each pair of moves covers all of
    // `0..n` (the second ends at n, the first starts at 0, and each is at
    // least half of n long), so the `n` bytes after `len` are initialized
    // before `set_len`. Unaligned reads and writes are used throughout;
    // `s` cannot overlap `out`'s spare capacity (it is a shared borrow
    // while `out` is borrowed mutably).
    unsafe {
        let dst = out.as_mut_ptr().add(len);
        if n >= 16 {
            let a = src.cast::<[u8; 16]>().read_unaligned();
            let b = src.add(n - 16).cast::<[u8; 16]>().read_unaligned();
            dst.cast::<[u8; 16]>().write_unaligned(a);
            dst.add(n - 16).cast::<[u8; 16]>().write_unaligned(b);
        } else if n >= 8 {
            let a = src.cast::<u64>().read_unaligned();
            let b = src.add(n - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(a);
            dst.add(n - 8).cast::<u64>().write_unaligned(b);
        } else if n >= 4 {
            let a = src.cast::<u32>().read_unaligned();
            let b = src.add(n - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(a);
            dst.add(n - 4).cast::<u32>().write_unaligned(b);
        } else {
            for i in 0..n {
                dst.add(i).write(*src.add(i));
            }
        }
        out.set_len(len + n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_and_offset_matches_extend_from_slice() {
        let src: Vec<u8> = (0..80u8).collect();
        for start in 0..8 {
            for n in 0..=70 {
                for prefix in [0, 1, 7, 31] {
                    let mut got = vec![0xaa; prefix];
                    let mut want = got.clone();
                    got.shrink_to_fit();
                    put(&mut got, &src[start..start + n]);
                    want.extend_from_slice(&src[start..start + n]);
                    assert_eq!(got, want, "start {start} n {n} prefix {prefix}");
                }
            }
        }
    }
}
