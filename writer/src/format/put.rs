//! Appending short byte strings without a `memcpy` call.
//!
//! `Vec::extend_from_slice` with a length known only at run time becomes a
//! call to libc's `memcpy`, about 14 instructions of call and dispatch for
//! the 2 to 20 bytes a log line is made of (literal pieces, digits, field
//! names). [`put`] copies up to 32 bytes with two overlapping fixed-size
//! moves instead. [`same_bytes`] compares short strings the same way,
//! without a call to libc's `memcmp`.

/// `00` to `99`, two digits at a time (for digit writers that divide by
/// 100 rather than by 10).
pub(crate) const PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// Appends `s` to `out`, as `out.extend_from_slice(s)`.
///
/// ```
/// let mut out = b"ab".to_vec();
/// ul_writer::internals::format::put(&mut out, b"cdefghijk");
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

/// True if `a == b`; strings of up to 16 bytes are compared with two
/// overlapping word loads each instead of a `memcmp` call (about 40
/// instructions with its dispatch, for a source name of 4 to 16 bytes).
///
/// ```
/// use ul_writer::internals::format::same_bytes;
/// assert!(same_bytes(b"auth", b"auth"));
/// assert!(!same_bytes(b"auth", b"autH"));
/// assert!(!same_bytes(b"auth", b"auth2"));
/// ```
#[inline(always)]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
        *s[at..].first_chunk::<N>().expect("at + N <= len")
    }
    if (8..=16).contains(&n) {
        word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8)
    } else if (4..8).contains(&n) {
        word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_matches_eq_at_every_length_and_differing_byte() {
        let a: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=40 {
            let copy = a[..n].to_vec();
            assert!(same_bytes(&a[..n], &copy), "n {n}");
            for at in 0..n {
                let mut b = a[..n].to_vec();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a[..n], &b), "n {n} at {at}");
            }
            if n < 40 {
                assert!(!same_bytes(&a[..n], &a[..n + 1]), "n {n}");
            }
        }
    }

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
