//! RFC 3339 UTC timestamps with nanoseconds, the date and time of day
//! computed once per second.

/// Formats Unix nanoseconds as `2025-01-01T00:00:00.000000123Z`.
///
/// ```
/// let mut t = ul_writer::format::TimestampFormatter::new();
/// let mut out = Vec::new();
/// t.write(&mut out, 1_735_689_600_000_000_123);
/// assert_eq!(out, b"2025-01-01T00:00:00.000000123Z");
/// ```
#[derive(Debug, Clone)]
pub struct TimestampFormatter {
    second: u64,
    prefix: [u8; 19],
}

impl Default for TimestampFormatter {
    fn default() -> Self {
        Self::new()
    }
}

impl TimestampFormatter {
    /// A formatter with an empty cache.
    pub fn new() -> Self {
        let mut t = Self {
            second: 0,
            prefix: [0; 19],
        };
        t.set_second(0);
        t
    }

    fn set_second(&mut self, second: u64) {
        let dt = chrono::DateTime::from_timestamp(second.min(i64::MAX as u64) as i64, 0)
            .unwrap_or_default();
        let s = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
        let b = s.as_bytes();
        // Years past 9999 do not fit 19 bytes; clamp rather than misprint.
        if b.len() == 19 {
            self.prefix.copy_from_slice(b);
        } else {
            self.prefix.copy_from_slice(b"9999-12-31T23:59:59");
        }
        self.second = second;
    }

    /// Appends the timestamp of `ns` (nanoseconds since the Unix epoch).
    #[inline]
    pub fn write(&mut self, out: &mut Vec<u8>, ns: u64) {
        let second = ns / 1_000_000_000;
        let frac = (ns % 1_000_000_000) as u32;
        if second != self.second {
            self.set_second(second);
        }
        out.extend_from_slice(&self.prefix);
        let mut digits = [b'0'; 11];
        digits[0] = b'.';
        let mut f = frac;
        for d in digits[1..10].iter_mut().rev() {
            *d = b'0' + (f % 10) as u8;
            f /= 10;
        }
        digits[10] = b'Z';
        out.extend_from_slice(&digits);
    }
}
