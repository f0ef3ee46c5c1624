//! Floats as `{}` writes them, through ryu's shortest digits.
//!
//! `format!("{}", x)` writes the shortest digits that read back as `x`
//! (the closest such, when several are as short) in plain decimal notation
//! (`100000000000000000000`, `0.0000001`, `-0`), never an exponent. ryu
//! finds the same digits several times faster than std but writes them in
//! its own notation (`1e20`, `1e-7`, `-0.0`); [`write_f64`] and
//! [`write_f32`] take ryu's digits and exponent and lay them out as std
//! does. NaN and the infinities go through std.

use super::cursor::Cursor;
use super::put::put;
use std::io::Write as _;

/// Appends `x` exactly as `format!("{}", x)` would.
///
/// ```
/// let mut out = Vec::new();
/// ul_writer::internals::format::write_f64(&mut out, 1e20);
/// assert_eq!(out, format!("{}", 1e20).as_bytes());
/// ```
#[inline]
pub fn write_f64(out: &mut Vec<u8>, x: f64) {
    write_f64_to(&mut Cursor::new(out, 0), x);
}

/// [`write_f64`] through a [`Cursor`].
#[inline]
pub fn write_f64_to(c: &mut Cursor<'_>, x: f64) {
    if let Some((neg, n, k)) = short_decimal(x) {
        c.reserve(17);
        // SAFETY: room for 17 bytes was just made; `short_decimal` gives
        // `n < 10^15` and `k <= 9`.
        unsafe { c.decimal_unchecked(neg, n, k) };
    } else {
        c.with_vec(|out| write_f64_slow(out, x));
    }
}

/// [`write_f64`] for a float that is not a short decimal.
#[cold]
#[inline(never)]
pub(super) fn write_f64_slow(out: &mut Vec<u8>, x: f64) {
    if x.is_finite() {
        let mut b = zmij::Buffer::new();
        if !relayout(out, b.format_finite(x).as_bytes(), x) {
            std_display(out, x);
        }
    } else {
        std_display(out, x);
    }
}

/// Appends `x` exactly as `format!("{}", x)` would (as an `f32`: `0.1`,
/// not `0.10000000149011612`).
///
/// ```
/// let mut out = Vec::new();
/// ul_writer::internals::format::write_f32(&mut out, 0.1);
/// assert_eq!(out, b"0.1");
/// ```
#[inline]
pub fn write_f32(out: &mut Vec<u8>, x: f32) {
    if x.is_finite() {
        let mut b = zmij::Buffer::new();
        if !relayout(out, b.format_finite(x).as_bytes(), f64::from(x)) {
            std_display(out, x);
        }
    } else {
        std_display(out, x);
    }
}

/// 10^0 to 10^9, all exact in an `f64`.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// The fast path of [`write_f64`]: `Some((negative, n, k))` if `x` is zero
/// (`n = 0`, `k = 0`) or the nearest `f64` to a decimal `n / 10^k` with
/// `n < 10^15` and `k <= 9` (prices, durations, ratios: `12345.75`,
/// `0.125`, `3`); `None` otherwise. [`Cursor::decimal_unchecked`] writes it.
///
/// That decimal is then exactly what `{}` prints. Two different decimals
/// of at most 15 significant digits differ by more than 10^-15 of their
/// size, an `f64`'s spacing is at most 2^-52 (2.2 * 10^-16) of its size, so
/// no other decimal of 15 digits or fewer rounds to `x`: the decimal is the
/// shortest that reads back as `x`, and the only one that short (no tie to
/// break). The test that it rounds to `x` is exact: `n` and `10^k` are exact
/// in an `f64` and IEEE division rounds correctly, so `n / 10^k == x`
/// holds exactly when the decimal rounds to `x`.
///
/// About 40 instructions for `12345.75` against about 440 for the shortest-
/// digits search and relayout.
#[inline]
pub(super) fn short_decimal(x: f64) -> Option<(bool, u64, usize)> {
    let ax = x.abs();
    let neg = x.is_sign_negative();
    if ax == 0.0 {
        return Some((neg, 0, 0));
    }
    // NaN fails both comparisons; infinities and subnormals the range.
    if !(1e-9..1e15).contains(&ax) {
        return None;
    }
    for (k, &p) in POW10.iter().enumerate() {
        let s = ax * p;
        if s >= 1e15 {
            return None;
        }
        // `s < 2^53`, so the truncation is exact when `s` is an integer.
        // `as u64` would saturate (range checks) and `u64 as f64` needs a
        // fix-up sequence on x86-64; through `i64` each is one instruction
        // (about 30 fewer per float).
        // SAFETY: `s` is finite and in (0, 1e15): `ax` is in [1e-9, 1e15)
        // (checked above) and `p` in [1, 1e9], so `s` is positive and at
        // most 1e24, and the check above bounds it by 1e15 < 2^63; its
        // truncation is therefore representable as an `i64`, which is all
        // `to_int_unchecked` requires.
        let n = unsafe { s.to_int_unchecked::<i64>() };
        let back = n as f64;
        if back == s && back / p == ax {
            // `0 <= n < 10^15` (`s < 1e15`).
            return Some((neg, n as u64, k));
        }
    }
    None
}

#[cold]
fn std_display(out: &mut Vec<u8>, x: impl std::fmt::Display) {
    let _ = write!(out, "{x}");
}

/// True if `x` (finite, an `f64` or an `f32` widened exactly) may lie
/// exactly halfway between two `shortest`-digit decimals: its exact
/// decimal expansion has `shortest + 1` significant digits, or is too large
/// to check cheaply (|x| >= 2^75).
fn may_tie(x: f64, shortest: usize) -> bool {
    let bits = x.to_bits();
    let field = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    // x = m * 2^e exactly.
    let (mut m, mut e) = if field == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), field - 1075)
    };
    if m == 0 {
        return false;
    }
    let z = m.trailing_zeros();
    m >>= z;
    e += z as i32;
    if e < 0 {
        // x = m * 5^k / 10^k, and m * 5^k (m odd) ends in 5: no trailing
        // zeros, so its length is the exact expansion's digit count. With
        // k >= 28, or a product past u64, that is at least 20 digits: more
        // than any shortest form (17) plus one.
        let k = e.unsigned_abs() as usize;
        return match POW5.get(k).and_then(|p| m.checked_mul(*p)) {
            Some(n) => n.ilog10() as usize + 1 == shortest + 1,
            None => false,
        };
    }
    // An integer: its significant digits are those before its trailing
    // zeros.
    if e > 74 {
        return true;
    }
    let exact = u128::from(m) << e;
    let Ok(mut n) = u64::try_from(exact) else {
        // |x| >= 2^64: the slow way.
        let mut n = exact;
        while n % 10 == 0 {
            n /= 10;
        }
        return n.checked_ilog10().map_or(0, |l| l as usize + 1) == shortest + 1;
    };
    while n % 10 == 0 {
        n /= 10;
    }
    n.checked_ilog10().map_or(0, |l| l as usize + 1) == shortest + 1
}

/// 5^0 to 5^27 (5^27 < 2^63).
const POW5: [u64; 28] = {
    let mut t = [1u64; 28];
    let mut i = 1;
    while i < 28 {
        t[i] = t[i - 1] * 5;
        i += 1;
    }
    t
};

/// Rewrites ryu's `[-]d.ddd[e[-]x]` / `[-]ddd.d` / `[-]0.000ddd` for the
/// value `exact` as std's plain decimal; false (nothing written) if the
/// value may be a tie, where std's digits may differ.
fn relayout(out: &mut Vec<u8>, s: &[u8], exact: f64) -> bool {
    if !s.contains(&b'e') {
        return relayout_fixed(out, s, exact);
    }
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (mant, exp) = match s.iter().position(|&b| b == b'e') {
        Some(e) => (&s[..e], parse_exp(&s[e + 1..])),
        None => (s, 0),
    };
    // The significant digits (at most 17) and where the decimal point
    // falls relative to their start.
    let mut digits = [0u8; 24];
    let mut n = 0;
    let mut point = mant.len() as i32;
    for (i, &b) in mant.iter().enumerate() {
        if b == b'.' {
            point = i as i32;
        } else if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    point += exp;
    // Drop leading zeros (`0.001`), moving the point, and trailing zeros
    // (`1.0`, `10.0`).
    let mut lead = 0;
    while lead < n && digits[lead] == b'0' {
        lead += 1;
        point -= 1;
    }
    while n > lead && digits[n - 1] == b'0' {
        n -= 1;
    }
    let d = &digits[lead..n];
    if !d.is_empty() && may_tie(exact, d.len()) {
        return false;
    }
    if neg {
        out.push(b'-');
    }
    if d.is_empty() {
        out.push(b'0');
    } else if point <= 0 {
        put(out, b"0.");
        out.resize(out.len() + (-point) as usize, b'0');
        put(out, d);
    } else if point as usize >= d.len() {
        put(out, d);
        out.resize(out.len() + (point as usize - d.len()), b'0');
    } else {
        let p = point as usize;
        put(out, &d[..p]);
        out.push(b'.');
        put(out, &d[p..]);
    }
    true
}

/// [`relayout`] for ryu-style fixed notation (`[-]ddd.ddd`, always with a
/// point): std's form already, but for the `.0` of integral values.
fn relayout_fixed(out: &mut Vec<u8>, s: &[u8], exact: f64) -> bool {
    let body = s.strip_suffix(b".0").unwrap_or(s);
    // Significant digits: all digits but leading and trailing zeros.
    let digits = body.strip_prefix(b"-").unwrap_or(body);
    let lead = digits
        .iter()
        .position(|&b| b != b'0' && b != b'.')
        .unwrap_or(digits.len());
    let trail = digits
        .iter()
        .rev()
        .position(|&b| b != b'0' && b != b'.')
        .unwrap_or(digits.len());
    let sig = digits[lead..digits.len() - trail.min(digits.len() - lead)]
        .iter()
        .filter(|&&b| b != b'.')
        .count();
    if sig > 0 && may_tie(exact, sig) {
        return false;
    }
    put(out, body);
    true
}

fn parse_exp(s: &[u8]) -> i32 {
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let v = s
        .iter()
        .fold(0i32, |v, &b| v * 10 + i32::from(b.wrapping_sub(b'0')));
    if neg {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ul_test_support::Rng;

    fn f64s(x: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, x);
        String::from_utf8(out).unwrap()
    }

    fn f32s(x: f32) -> String {
        let mut out = Vec::new();
        write_f32(&mut out, x);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn edges_match_std() {
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            1e15,
            1e16,
            1e17,
            1e20,
            1.5e300,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            1e-5,
            1e-4,
            1.2345e-7,
            123456789.125,
            0.3,
            2.0f64.powi(60),
            2.0f64.powi(80),
            0.5,
            0.25,
            9007199254740993.0,
            1.0000000000000002,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(f64s(x), format!("{x}"), "{x:?}");
        }
        for x in [
            0.0f32,
            -0.0,
            0.1,
            1e10,
            3.4e38,
            f32::MIN_POSITIVE,
            1e-45,
            16777216.0,
            f32::from_bits(0x4898_d324), // 312985.125, a tie
            f32::NAN,
            f32::NEG_INFINITY,
        ] {
            assert_eq!(f32s(x), format!("{x}"), "{x:?}");
        }
    }

    #[test]
    fn short_binary_fractions_match_std() {
        // Values with short exact expansions, where ties live.
        for i in 0..100_000u32 {
            for scale in [8.0, 1024.0, 1e-3] {
                let x = f64::from(i) / scale + f64::from(i);
                assert_eq!(f64s(x), format!("{x}"), "{x:?}");
                let y = x as f32;
                assert_eq!(f32s(y), format!("{y}"), "{y:?}");
            }
        }
    }

    #[test]
    fn random_bits_match_std() {
        // xorshift over all bit patterns: every exponent and sign.
        let mut rng = Rng::from_state(0x9e37_79b9_7f4a_7c15);
        for _ in 0..400_000 {
            let s = rng.next_u64();
            let x = f64::from_bits(s);
            assert_eq!(f64s(x), format!("{x}"), "{:#x}", s);
            let y = f32::from_bits(s as u32);
            assert_eq!(f32s(y), format!("{y}"), "{:#x}", s as u32);
        }
    }

    #[test]
    fn short_decimals_and_their_neighbours_match_std() {
        // The fast path's domain (n / 10^k, n < 10^15, k <= 9), its edges,
        // and the doubles right next to each value, which must not take it.
        let mut rng = Rng::from_state(0x2545_f491_4f6c_dd1d);
        for _ in 0..200_000 {
            let s = rng.next_u64();
            let digits = 1 + (s % 16) as u32;
            let n = (s >> 8) % 10u64.pow(digits);
            let k = ((s >> 4) % 12) as i32;
            let x = n as f64 / 10f64.powi(k);
            for y in [
                x,
                -x,
                f64::from_bits(x.to_bits() + 1),
                f64::from_bits(x.to_bits().saturating_sub(1)),
            ] {
                assert_eq!(f64s(y), format!("{y}"), "{y:?}");
            }
        }
        for x in [
            1e-9,
            1.5e-9,
            9.99e-10,
            999999999999999.0,
            999999999999999.9,
            1e15 - 0.5,
            0.000000001,
            123.456789012,
        ] {
            assert_eq!(f64s(x), format!("{x}"), "{x:?}");
        }
    }
}
