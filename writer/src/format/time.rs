//! RFC 3339 UTC timestamps with nanoseconds, the date and time of day
//! computed once per second.

use super::cursor::{Cursor, SLACK};
use super::put::PAIRS;
use chrono::{Datelike, Timelike};

const NANOS: i64 = 1_000_000_000;

/// Formats nanoseconds since the Unix epoch as
/// `2025-01-01T00:00:00.000000123Z` (RFC 3339, UTC, always 9 fractional
/// digits).
///
/// The `YYYY-MM-DDTHH:MM:SS` part is cached: chrono is consulted only when
/// the second changes, so formatting a run of records from the same second
/// costs a copy and nine digits.
///
/// ```
/// use ul_writer::internals::format::TimestampFormatter;
/// let mut t = TimestampFormatter::new();
/// let mut out = Vec::new();
/// t.write(&mut out, 1_735_689_600_000_000_123);
/// assert_eq!(out, b"2025-01-01T00:00:00.000000123Z");
/// out.clear();
/// t.write_i64(&mut out, -1);
/// assert_eq!(out, b"1969-12-31T23:59:59.999999999Z");
/// ```
#[derive(Debug, Clone)]
pub struct TimestampFormatter {
    /// Seconds since the epoch that `prefix` shows.
    second: i64,
    prefix: [u8; 19],
    /// The last timestamp [`write`](Self::write) rendered, kept for the
    /// same record's other line (text and JSON) and, for the next one of
    /// the same second, its date and time of day: its 30 bytes, in a
    /// 32-byte block ([`Cursor::first_of_block`]).
    last_ns: u64,
    last: [u8; 32],
    /// The second `last` shows.
    last_second: i64,
}

impl Default for TimestampFormatter {
    fn default() -> Self {
        Self::new()
    }
}

impl TimestampFormatter {
    /// A formatter whose cache holds the epoch.
    ///
    /// ```
    /// let t = ul_writer::internals::format::TimestampFormatter::new();
    /// # let _ = t;
    /// ```
    pub fn new() -> Self {
        let mut t = Self {
            second: 0,
            prefix: [0; 19],
            last_ns: 0,
            last: [0; 32],
            last_second: 0,
        };
        t.set_second(0);
        let first = t.render(0, 0);
        t.last[..30].copy_from_slice(&first);
        t
    }

    /// Recomputes the cached `YYYY-MM-DDTHH:MM:SS` for `second`.
    #[cold]
    fn set_second(&mut self, second: i64) {
        // Every i64 nanosecond count is within chrono's range (years 1677
        // to 2262) and within four-digit years; the fallback is unreachable.
        let dt = chrono::DateTime::from_timestamp(second, 0).unwrap_or_default();
        let year = dt.year().clamp(0, 9999) as u32;
        let p = &mut self.prefix;
        put(&mut p[0..4], year);
        p[4] = b'-';
        put(&mut p[5..7], dt.month());
        p[7] = b'-';
        put(&mut p[8..10], dt.day());
        p[10] = b'T';
        put(&mut p[11..13], dt.hour());
        p[13] = b':';
        put(&mut p[14..16], dt.minute());
        p[16] = b':';
        put(&mut p[17..19], dt.second());
        self.second = second;
    }

    /// The 30 bytes of the timestamp `second` + `frac` ns.
    #[inline]
    fn render(&mut self, second: i64, frac: u32) -> [u8; 30] {
        if second != self.second {
            self.set_second(second);
        }
        let mut buf = [0u8; 30];
        buf[..19].copy_from_slice(&self.prefix);
        buf[19] = b'.';
        put_nine(&mut buf[20..29], frac);
        buf[29] = b'Z';
        buf
    }

    /// Appends the timestamp of `ns` nanoseconds since the Unix epoch
    /// (every `u64` is within range: the last is in 2554).
    ///
    /// ```
    /// let mut out = Vec::new();
    /// ul_writer::internals::format::TimestampFormatter::new().write(&mut out, 1_500_000_000);
    /// assert_eq!(out, b"1970-01-01T00:00:01.500000000Z");
    /// ```
    #[inline]
    pub fn write(&mut self, out: &mut Vec<u8>, ns: u64) {
        self.write_to(&mut Cursor::new(out, 0), ns);
    }

    /// [`write`](Self::write) through a [`Cursor`].
    #[inline]
    pub fn write_to(&mut self, c: &mut Cursor<'_>, ns: u64) {
        c.reserve(SLACK);
        // SAFETY: room for 32 bytes was just made.
        unsafe { self.write_unchecked(c, ns) };
    }

    /// [`write`](Self::write) through a [`Cursor`], which has the room.
    ///
    /// # Safety
    ///
    /// The cursor's room must be at least 32 ([`SLACK`]); 30 bytes are
    /// appended.
    #[inline]
    pub unsafe fn write_unchecked(&mut self, c: &mut Cursor<'_>, ns: u64) {
        if ns != self.last_ns {
            // u64::MAX / 1e9 fits an i64 with room to spare.
            let second = (ns / NANOS as u64) as i64;
            let frac = (ns % NANOS as u64) as u32;
            if second != self.last_second {
                self.last_of_second(second);
            }
            // `last` keeps its `.` and `Z` (bytes 19 and 29).
            put_nine(&mut self.last[20..29], frac);
            self.last_ns = ns;
        }
        // SAFETY: room for 32 bytes (the caller), and 30 <= 32.
        unsafe { c.first_of_block(&self.last, 30) };
    }

    /// Makes `last` show `second` (its fraction is then set by the caller).
    #[cold]
    #[inline(never)]
    fn last_of_second(&mut self, second: i64) {
        let r = self.render(second, 0);
        self.last[..30].copy_from_slice(&r);
        self.last_second = second;
    }

    /// Appends the timestamp of `ns` nanoseconds since the Unix epoch,
    /// which may be negative (before 1970).
    ///
    /// ```
    /// let mut out = Vec::new();
    /// ul_writer::internals::format::TimestampFormatter::new().write_i64(&mut out, -1_500_000_000);
    /// assert_eq!(out, b"1969-12-31T23:59:58.500000000Z");
    /// ```
    #[inline]
    pub fn write_i64(&mut self, out: &mut Vec<u8>, ns: i64) {
        let second = ns.div_euclid(NANOS);
        let frac = ns.rem_euclid(NANOS) as u32;
        let buf = self.render(second, frac);
        out.extend_from_slice(&buf);
    }
}

/// Writes `v` (below 10^9) as nine digits, zero-padded: one digit, then
/// four pairs (five divisions by constants instead of nine).
#[inline]
fn put_nine(dst: &mut [u8], v: u32) {
    let (top, low8) = (v / 100_000_000 % 10, v % 100_000_000);
    let (hi4, lo4) = (low8 / 10_000, low8 % 10_000);
    dst[0] = b'0' + top as u8;
    dst[1..3].copy_from_slice(&PAIRS[(hi4 / 100) as usize]);
    dst[3..5].copy_from_slice(&PAIRS[(hi4 % 100) as usize]);
    dst[5..7].copy_from_slice(&PAIRS[(lo4 / 100) as usize]);
    dst[7..9].copy_from_slice(&PAIRS[(lo4 % 100) as usize]);
}

/// Writes `v` as `dst.len()` decimal digits, zero-padded (higher digits
/// dropped).
#[inline]
fn put(dst: &mut [u8], mut v: u32) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_digits_match_the_digit_loop() {
        let mut v = 0u32;
        let mut rng = ul_test_support::Rng::from_state(0x9e37_79b9);
        for k in 0..400_000u32 {
            let (mut a, mut b) = ([0u8; 9], [0u8; 9]);
            put_nine(&mut a, v);
            put(&mut b, v);
            assert_eq!(a, b, "{v}");
            let x = rng.next_u64() as u32;
            // Random values, and every value near the powers of ten.
            v = if k % 2 == 0 {
                x % 1_000_000_000
            } else {
                (10u32.pow(k % 10) + k % 7).wrapping_sub(3) % 1_000_000_000
            };
        }
        let mut a = [0u8; 9];
        put_nine(&mut a, 999_999_999);
        assert_eq!(&a, b"999999999");
    }
    use chrono::{DateTime, SecondsFormat};

    fn chrono_u64(ns: u64) -> String {
        DateTime::from_timestamp((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
            .unwrap()
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    fn ours_u64(t: &mut TimestampFormatter, ns: u64) -> String {
        let mut out = Vec::new();
        t.write(&mut out, ns);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn edges() {
        let mut t = TimestampFormatter::new();
        for ns in [
            0,
            1,
            999_999_999,
            1_000_000_000,
            1_735_689_599_999_999_999,
            1_735_689_600_000_000_000,
            951_782_400_000_000_000, // 2000-02-29
            i64::MAX as u64,
            i64::MAX as u64 + 1,
            u64::MAX,
        ] {
            assert_eq!(ours_u64(&mut t, ns), chrono_u64(ns), "{ns}");
        }
        let mut out = Vec::new();
        t.write_i64(&mut out, i64::MIN);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            DateTime::from_timestamp_nanos(i64::MIN).to_rfc3339_opts(SecondsFormat::Nanos, true)
        );
    }

    #[test]
    fn random_and_repeated_timestamps_match_chrono() {
        let mut t = TimestampFormatter::new();
        let mut rng = ul_test_support::Rng::from_state(0x1234_5678_9abc_def1);
        let mut prev = 0u64;
        for k in 0..20_000 {
            let x = rng.next_u64();
            // New values, the same one again (the text and JSON lines of
            // one record), and near ones (the same second).
            let ns = match k % 3 {
                0 => x,
                1 => prev,
                _ => prev.wrapping_add(x % 2_000_000_000),
            };
            assert_eq!(ours_u64(&mut t, ns), chrono_u64(ns), "{ns}");
            // write_i64 moves the cached second under the kept timestamp.
            t.write_i64(&mut Vec::new(), (x >> 2) as i64);
            prev = ns;
        }
    }

    #[test]
    fn cache_follows_the_second() {
        let mut t = TimestampFormatter::new();
        let base = 1_735_689_599_000_000_000u64;
        for ns in [base, base + 5, base + 1_000_000_000, base, base - 1] {
            assert_eq!(ours_u64(&mut t, ns), chrono_u64(ns));
        }
    }
}
