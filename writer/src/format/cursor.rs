//! Appending to a `Vec<u8>` through a cursor that checks capacity once per
//! run of appends instead of once per append.
//!
//! A planned record's line is a dozen short appends (literal pieces,
//! digits, the timestamp), each with an upper bound known in advance. A
//! [`Cursor`] keeps the write position and the end of the vector's
//! capacity in registers: [`Cursor::reserve`] makes room for the whole run
//! once, and the `unsafe` appends that follow only store and advance. Each
//! such append states the room it needs (its largest footprint); a caller
//! that reserved the sum of the appends' largest lengths plus [`SLACK`]
//! meets every one of them (see [`Cursor::block`]). The safe appends
//! ([`Cursor::put`], [`Cursor::u64`], ...) reserve for themselves.
//!
//! ```
//! use ul_writer::internals::format::{Cursor, Lit};
//! let mut out = b"n=".to_vec();
//! {
//!     let mut c = Cursor::new(&mut out, 0);
//!     c.u64(1234);
//!     c.lit(&Lit::new(b", m="));
//!     c.i64(-5);
//!     c.put(b" ok");
//! }
//! assert_eq!(out, b"n=1234, m=-5 ok");
//! ```

use super::put::PAIRS;

/// Bytes past an append's own length that [`Cursor::block`] may store
/// (it copies a whole 32-byte block): a run of unchecked appends needs this
/// much room beyond the sum of their lengths.
pub const SLACK: usize = 32;

/// Most digits of a `u64` (and of an `i64`'s magnitude).
pub const U64_DIGITS: usize = 20;

/// A literal of up to 32 bytes kept in a zero-padded 32-byte block, so that
/// it is appended with one fixed-size copy ([`Cursor::block`]).
///
/// ```
/// use ul_writer::internals::format::Lit;
/// assert_eq!(Lit::new(b"abc").as_bytes(), b"abc");
/// assert!(Lit::try_new(&[b'x'; 33]).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lit {
    block: [u8; 32],
    len: u8,
}

impl Lit {
    /// `s` as a block; `None` if it is longer than 32 bytes.
    pub fn try_new(s: &[u8]) -> Option<Lit> {
        if s.len() > 32 {
            return None;
        }
        let mut block = [0; 32];
        block[..s.len()].copy_from_slice(s);
        Some(Lit {
            block,
            len: s.len() as u8,
        })
    }

    /// `s` as a block, in a constant.
    ///
    /// # Panics
    ///
    /// If `s` is longer than 32 bytes (at compile time, in a constant).
    pub const fn from_const(s: &[u8]) -> Lit {
        assert!(s.len() <= 32, "a literal of at most 32 bytes");
        let mut block = [0; 32];
        let mut i = 0;
        while i < s.len() {
            block[i] = s[i];
            i += 1;
        }
        Lit {
            block,
            len: s.len() as u8,
        }
    }

    /// `s` as a block.
    ///
    /// # Panics
    ///
    /// If `s` is longer than 32 bytes.
    pub fn new(s: &[u8]) -> Lit {
        Lit::try_new(s).expect("a literal of at most 32 bytes")
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.block[..usize::from(self.len)]
    }

    /// Its length.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True if it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A piece of literal text: a [`Lit`] when it is short enough to be
/// appended as one block, else its bytes.
///
/// ```
/// use ul_writer::internals::format::{Cursor, Piece};
/// let long = Piece::new(&[b'y'; 40]);
/// let mut out = Vec::new();
/// {
///     let mut c = Cursor::new(&mut out, 0);
///     c.piece(&Piece::new(b"x="));
///     c.piece(&long);
/// }
/// assert_eq!(out.len(), 42);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Up to 32 bytes.
    Short(Lit),
    /// Longer.
    Long(Box<[u8]>),
}

impl Default for Piece {
    fn default() -> Self {
        Piece::Short(Lit::new(b""))
    }
}

impl Piece {
    /// `s` as a piece.
    pub fn new(s: &[u8]) -> Piece {
        match Lit::try_new(s) {
            Some(l) => Piece::Short(l),
            None => Piece::Long(s.into()),
        }
    }

    /// Its length.
    #[inline(always)]
    pub fn len(&self) -> usize {
        match self {
            Piece::Short(l) => l.len(),
            Piece::Long(b) => b.len(),
        }
    }

    /// True if it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Piece::Short(l) => l.as_bytes(),
            Piece::Long(b) => b,
        }
    }
}

/// Digits of `x` in decimal (1 for 0).
///
/// ```
/// use ul_writer::internals::format::decimal_digits;
/// assert_eq!(decimal_digits(0), 1);
/// assert_eq!(decimal_digits(99), 2);
/// assert_eq!(decimal_digits(100), 3);
/// assert_eq!(decimal_digits(u64::MAX), 20);
/// ```
#[inline(always)]
pub fn decimal_digits(x: u64) -> usize {
    const POW10: [u64; 20] = {
        let mut t = [0u64; 20];
        let mut p = 1u64;
        let mut i = 0;
        while i < 20 {
            t[i] = p;
            if i < 19 {
                p *= 10;
            }
            i += 1;
        }
        t
    };
    // floor(log10(2^bits)) or one less: 1233 / 4096 is just above log10(2).
    let bits = 64 - (x | 1).leading_zeros() as usize;
    let t = (bits * 1233) >> 12;
    // `t` <= 19 (bits <= 64): 64 * 1233 >> 12 = 19.
    // `x | 1`: 0 has one digit (and no power of ten above 1 is odd).
    t + usize::from((x | 1) >= POW10[t])
}

/// An append position in a `Vec<u8>`'s spare capacity (see the module
/// docs). Dropping it sets the vector's length to what was appended.
pub struct Cursor<'a> {
    vec: &'a mut Vec<u8>,
    /// Where the next byte goes: `vec`'s buffer at an offset between its
    /// length and its capacity; every byte before it is initialized. Null
    /// (and `end` too) while detached (`Cursor::with_vec`).
    pos: *mut u8,
    /// The end of `vec`'s capacity.
    end: *mut u8,
}

impl<'a> Cursor<'a> {
    /// A cursor at the end of `vec`, with room for at least `room` bytes.
    #[inline]
    pub fn new(vec: &'a mut Vec<u8>, room: usize) -> Self {
        vec.reserve(room);
        let (pos, end) = Self::ends(vec);
        Cursor { vec, pos, end }
    }

    /// The position after `vec`'s length and the end of its capacity.
    #[inline(always)]
    fn ends(vec: &mut Vec<u8>) -> (*mut u8, *mut u8) {
        let base = vec.as_mut_ptr();
        // SAFETY: `len <= capacity`, and both offsets lie within (or one
        // past the end of) the vector's allocation.
        unsafe { (base.add(vec.len()), base.add(vec.capacity())) }
    }

    /// Bytes that can be appended without growing the vector.
    #[inline(always)]
    pub fn room(&self) -> usize {
        self.end as usize - self.pos as usize
    }

    /// Bytes appended to the vector so far (its length, were the cursor
    /// dropped now).
    #[inline]
    pub fn len(&self) -> usize {
        self.pos as usize - self.vec.as_ptr() as usize
    }

    /// True if the vector is empty so far.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes [`room`](Self::room) at least `n`.
    #[inline(always)]
    pub fn reserve(&mut self, n: usize) {
        if self.room() < n {
            self.grow(n);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        self.detach().reserve(n);
        self.attach();
    }

    /// The vector, its length set to what has been appended; the cursor
    /// holds no position until [`attach`](Self::attach) (so that a panic
    /// in between, with the vector perhaps moved, leaves its length as
    /// it is).
    #[inline(always)]
    fn detach(&mut self) -> &mut Vec<u8> {
        self.sync();
        self.pos = core::ptr::null_mut();
        self.end = core::ptr::null_mut();
        self.vec
    }

    /// Continues at the vector's end.
    #[inline(always)]
    fn attach(&mut self) {
        (self.pos, self.end) = Self::ends(self.vec);
    }

    /// Sets the vector's length to what has been appended.
    #[inline(always)]
    fn sync(&mut self) {
        let len = self.len();
        // SAFETY: `pos` lies between the vector's length and capacity and
        // every byte before it is initialized (see the field).
        unsafe { self.vec.set_len(len) };
    }

    /// Runs `f` on the vector holding everything appended so far; the
    /// cursor then continues at the vector's new end.
    #[inline]
    pub fn with_vec<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let r = f(self.detach());
        self.attach();
        r
    }

    /// The bytes appended after offset `from` of the vector.
    ///
    /// # Panics
    ///
    /// If `from` is past what has been appended.
    #[inline]
    pub fn since(&self, from: usize) -> &[u8] {
        let len = self.len();
        assert!(from <= len, "offset past the cursor");
        // SAFETY: the first `len` bytes of the buffer are initialized
        // (see `pos`), and no `&mut` to them is live while `self` is
        // borrowed shared.
        unsafe { core::slice::from_raw_parts(self.vec.as_ptr().add(from), len - from) }
    }

    /// Appends `s`.
    #[inline]
    pub fn put(&mut self, s: &[u8]) {
        self.reserve(s.len());
        // SAFETY: room for `s.len()` bytes was just made.
        unsafe { self.slice(s) }
    }

    /// Appends `lit`.
    #[inline]
    pub fn lit(&mut self, lit: &Lit) {
        self.reserve(SLACK);
        // SAFETY: room for 32 bytes was just made.
        unsafe { self.block(lit) }
    }

    /// Appends `p`.
    #[inline]
    pub fn piece(&mut self, p: &Piece) {
        self.reserve(p.len() + SLACK);
        // SAFETY: room for its length plus `SLACK` was just made.
        unsafe { self.piece_unchecked(p) }
    }

    /// Appends `p`.
    ///
    /// # Safety
    ///
    /// [`room`](Self::room) must be at least `p.len() + SLACK`.
    #[inline(always)]
    pub unsafe fn piece_unchecked(&mut self, p: &Piece) {
        match p {
            // SAFETY: room for `SLACK` (32) bytes at least (the caller).
            Piece::Short(l) => unsafe { self.block(l) },
            // SAFETY: room for its length at least (the caller).
            Piece::Long(b) => unsafe { self.slice(b) },
        }
    }

    /// Appends `x` in decimal.
    #[inline]
    pub fn u64(&mut self, x: u64) {
        self.reserve(U64_DIGITS);
        // SAFETY: room for 20 bytes was just made.
        unsafe { self.u64_unchecked(x) }
    }

    /// Appends `x` in decimal.
    #[inline]
    pub fn i64(&mut self, x: i64) {
        self.reserve(U64_DIGITS + 1);
        // SAFETY: room for 21 bytes was just made.
        unsafe { self.i64_unchecked(x) }
    }

    /// Appends `s` (of any length).
    ///
    /// # Safety
    ///
    /// [`room`](Self::room) must be at least `s.len()`.
    #[inline(always)]
    pub unsafe fn slice(&mut self, s: &[u8]) {
        debug_assert!(self.room() >= s.len());
        // SAFETY: the caller guarantees room for `s.len()` bytes after
        // `pos`; `s` is a shared borrow, so it cannot overlap the vector's
        // spare capacity (which only this cursor, borrowing the vector
        // mutably, can reach).
        unsafe {
            core::ptr::copy_nonoverlapping(s.as_ptr(), self.pos, s.len());
            self.pos = self.pos.add(s.len());
        }
    }

    /// Appends `lit` by storing its whole 32-byte block and advancing by
    /// its length (the bytes stored past it are spare capacity, written
    /// over by the next append or ignored).
    ///
    /// # Safety
    ///
    /// [`room`](Self::room) must be at least 32 ([`SLACK`]). A run of
    /// unchecked appends whose lengths add up to at most `n` meets this
    /// and every other unchecked append's requirement if `n + SLACK` was
    /// reserved before it: before each append the room is at least the
    /// lengths still to come plus [`SLACK`], and no append stores more
    /// than its length plus [`SLACK`].
    #[inline(always)]
    pub unsafe fn block(&mut self, lit: &Lit) {
        // SAFETY: the caller's guarantee, and `lit.len <= 32`
        // (`Lit::try_new`).
        unsafe { self.first_of_block(&lit.block, usize::from(lit.len)) }
    }

    /// Appends the first `n` bytes of `block` by storing all 32 of them (as
    /// [`block`](Self::block) does).
    ///
    /// # Safety
    ///
    /// [`room`](Self::room) must be at least 32 ([`SLACK`]), and `n` at
    /// most 32.
    #[inline(always)]
    pub unsafe fn first_of_block(&mut self, block: &[u8; 32], n: usize) {
        debug_assert!(self.room() >= SLACK && n <= 32);
        // SAFETY: the caller guarantees 32 bytes of room after `pos`, and
        // `n <= 32`, so `pos + n` stays within the capacity. Unaligned
        // store of a copy of the block.
        unsafe {
            self.pos.cast::<[u8; 32]>().write_unaligned(*block);
            self.pos = self.pos.add(n);
        }
    }

    /// Appends the byte `b`.
    ///
    /// # Safety
    ///
    /// [`room`](Self::room) must be at least 1.
    #[inline(always)]
    pub unsafe fn byte(&mut self, b: u8) {
        debug_assert!(self.room() >= 1);
        // SAFETY: the caller guarantees room for one byte.
        unsafe {
            self.pos.write(b);
            self.pos = self.pos.add(1);
        }
    }

    /// Appends the `N` bytes of `b`.
    ///
    /// # Safety
    ///
    /// [`room`](Self::room) must be at least `N`.
    #[inline(always)]
    pub unsafe fn array<const N: usize>(&mut self, b: [u8; N]) {
        debug_assert!(self.room() >= N);
        // SAFETY: the caller guarantees room for `N` bytes; unaligned
        // store of a value.
        unsafe {
            self.pos.cast::<[u8; N]>().write_unaligned(b);
            self.pos = self.pos.add(N);
        }
    }

    /// Appends `x` in decimal (what `{}` prints): at most 20 bytes.
    ///
    /// # Safety
    ///
    /// [`room`](Self::room) must be at least [`U64_DIGITS`] (20).
    #[inline(always)]
    pub unsafe fn u64_unchecked(&mut self, x: u64) {
        debug_assert!(self.room() >= U64_DIGITS);
        let n = decimal_digits(x);
        // SAFETY: `n <= 20` digits, within the room the caller
        // guarantees; `digits_right_to_left` stores exactly `pos[0..n]`.
        unsafe {
            digits_right_to_left(self.pos.add(n), x);
            self.pos = self.pos.add(n);
        }
    }

    /// Appends `x` in decimal (what `{}` prints): at most 21 bytes.
    ///
    /// # Safety
    ///
    /// [`room`](Self::room) must be at least 21.
    #[inline(always)]
    pub unsafe fn i64_unchecked(&mut self, x: i64) {
        debug_assert!(self.room() > U64_DIGITS);
        // SAFETY: a sign (1 byte) and at most 20 digits, within the room
        // the caller guarantees.
        unsafe {
            if x < 0 {
                self.byte(b'-');
            }
            self.u64_unchecked(x.unsigned_abs());
        }
    }

    /// Appends `[-]n / 10^k` (`n < 10^15`, `k <= 9`) in plain decimal,
    /// trailing fractional zeros dropped (what `{}` prints for the `f64`
    /// nearest that decimal, see `write_f64`): at most 17 bytes (a sign,
    /// 15 digits and a point; or `-0.` and 9 fraction digits).
    ///
    /// # Safety
    ///
    /// [`room`](Self::room) must be at least 17, `n < 10^15` and `k <= 9`.
    #[inline]
    pub unsafe fn decimal_unchecked(&mut self, neg: bool, mut n: u64, mut k: usize) {
        debug_assert!(self.room() >= 17 && n < 1_000_000_000_000_000 && k <= 9);
        while k > 0 && n % 10 == 0 {
            n /= 10;
            k -= 1;
        }
        // The digits of `n`, and at least one before the point (a leading
        // zero when `n < 10^k`).
        let digits = decimal_digits(n).max(k + 1);
        let len = usize::from(neg) + digits + usize::from(k > 0);
        // SAFETY: every store below lies in `pos[0..len]`, and `len <= 17`
        // (`n < 10^15` has at most 15 digits; with `k <= 9` a leading-zero
        // form has at most 10 digits): within the room the caller
        // guarantees. The stores go right to left from `pos + len`: the
        // `k` fraction digits, the point, the integer digits (exactly
        // `digits - k` of them), and the sign, which ends at `pos`.
        unsafe {
            let mut p = self.pos.add(len);
            let mut frac = k;
            while frac >= 2 {
                p = p.sub(2);
                p.cast::<[u8; 2]>()
                    .write_unaligned(PAIRS[(n % 100) as usize]);
                n /= 100;
                frac -= 2;
            }
            if frac == 1 {
                p = p.sub(1);
                p.write(b'0' + (n % 10) as u8);
                n /= 10;
            }
            if k > 0 {
                p = p.sub(1);
                p.write(b'.');
            }
            digits_right_to_left(p, n);
            if neg {
                self.pos.write(b'-');
            }
            self.pos = self.pos.add(len);
        }
    }
}

/// Stores the decimal digits of `x` (`0` for 0) right to left, ending just
/// before `end`, two at a time.
///
/// # Safety
///
/// The [`decimal_digits`]`(x)` bytes before `end` must be valid for writes.
#[inline(always)]
unsafe fn digits_right_to_left(end: *mut u8, mut x: u64) {
    let mut p = end;
    // SAFETY: exactly `decimal_digits(x)` bytes are stored, each below
    // `end` and at or above `end - decimal_digits(x)`: every pair stored
    // is two of `x`'s digits, and the last store is its leading digit or
    // pair.
    unsafe {
        while x >= 100 {
            p = p.sub(2);
            p.cast::<[u8; 2]>()
                .write_unaligned(PAIRS[(x % 100) as usize]);
            x /= 100;
        }
        if x >= 10 {
            p.sub(2)
                .cast::<[u8; 2]>()
                .write_unaligned(PAIRS[x as usize]);
        } else {
            p.sub(1).write(b'0' + x as u8);
        }
    }
}

impl Drop for Cursor<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // Detached (a panic while the vector was lent out): its length is
        // its own.
        if !self.pos.is_null() {
            self.sync();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values around every power of ten, the extremes, and random ones.
    fn samples() -> Vec<u64> {
        let mut v = vec![0, 1, 9, u64::MAX, u64::MAX - 1, i64::MAX as u64];
        let mut p = 1u64;
        for _ in 0..20 {
            for d in [0, 1, 2] {
                v.push(p.wrapping_sub(d));
                v.push(p.wrapping_add(d));
            }
            p = p.wrapping_mul(10);
        }
        let mut r = ul_test_support::Rng::from_state(0x51ab_1e5e_ed00_0001);
        for _ in 0..20_000 {
            let x = r.next_u64();
            v.push(x >> (x % 64));
        }
        v
    }

    #[test]
    fn digits_match_std() {
        for x in samples() {
            assert_eq!(decimal_digits(x), x.to_string().len(), "{x}");
            let mut out = b"<".to_vec();
            Cursor::new(&mut out, 0).u64(x);
            assert_eq!(out, format!("<{x}").as_bytes());
            let y = x as i64;
            let mut out = Vec::new();
            Cursor::new(&mut out, 0).i64(y);
            assert_eq!(out, y.to_string().as_bytes());
        }
        let mut out = Vec::new();
        Cursor::new(&mut out, 0).i64(i64::MIN);
        assert_eq!(out, i64::MIN.to_string().as_bytes());
    }

    #[test]
    fn decimals_match_the_division_they_stand_for() {
        let mut r = ul_test_support::Rng::from_state(0xdec1_3a15);
        for i in 0..50_000u64 {
            let x = r.next_u64();
            let n = match i % 3 {
                0 => x % 1_000_000_000_000_000,
                1 => x % 1000,
                _ => (x % 1000) * 10u64.pow((x % 10) as u32),
            };
            let k = (x >> 40) as usize % 10;
            let neg = x >> 63 == 1;
            // The expected text, from the decimal's digits.
            let s = format!("{n:0>w$}", w = k + 1);
            let (int, frac) = s.split_at(s.len() - k);
            let frac = frac.trim_end_matches('0');
            let mut want = String::from(if neg { "-" } else { "" });
            want.push_str(int);
            if !frac.is_empty() {
                want.push('.');
                want.push_str(frac);
            }
            let mut out = Vec::new();
            {
                let mut c = Cursor::new(&mut out, 17);
                // SAFETY: room for 17 bytes, n < 10^15, k <= 9.
                unsafe { c.decimal_unchecked(neg, n, k) };
            }
            assert_eq!(String::from_utf8(out).unwrap(), want, "{n} {k}");
        }
    }

    #[test]
    fn a_panic_while_lent_out_leaves_the_vectors_length() {
        let mut out = b"ab".to_vec();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut c = Cursor::new(&mut out, 0);
            c.put(b"cd");
            c.with_vec(|v| {
                // Moves the buffer, then panics.
                v.extend_from_slice(&[b'e'; 4096]);
                panic!("in the closure");
            })
        }));
        assert!(r.is_err());
        assert_eq!(out.len(), 4 + 4096);
        assert_eq!(&out[..5], b"abcde");
    }

    #[test]
    fn pieces_of_every_length_append_their_bytes() {
        let src: Vec<u8> = (0..100u8).map(|i| b'!' + i % 90).collect();
        for n in 0..=100 {
            let p = Piece::new(&src[..n]);
            assert_eq!(p.as_bytes(), &src[..n]);
            assert_eq!(p.len(), n);
            let mut out = b"<".to_vec();
            {
                let mut c = Cursor::new(&mut out, 0);
                c.piece(&p);
                c.put(b">");
            }
            let mut want = b"<".to_vec();
            want.extend_from_slice(&src[..n]);
            want.push(b'>');
            assert_eq!(out, want, "n {n}");
        }
    }

    #[test]
    fn growing_keeps_what_was_written() {
        let mut out = Vec::new();
        let mut want = Vec::new();
        {
            let mut c = Cursor::new(&mut out, 0);
            for i in 0..1000u64 {
                c.lit(&Lit::new(b"ab"));
                c.put(&[b'x'; 40]);
                c.u64(i);
                c.with_vec(|v| v.push(b'|'));
                want.extend_from_slice(b"ab");
                want.extend_from_slice(&[b'x'; 40]);
                want.extend_from_slice(i.to_string().as_bytes());
                want.push(b'|');
                assert_eq!(c.since(0), &want[..]);
            }
        }
        assert_eq!(out, want);
    }
}
