//! Random values of every type the calls log.

use std::fmt;

pub use ul_test_support::Rng;

/// `rng.gen::<T>()`: a random value of any type with random values (`Gen`).
pub trait GenExt {
    /// A random value of `T`.
    fn gen<T: Gen>(&mut self) -> T;
}

impl GenExt for Rng {
    fn gen<T: Gen>(&mut self) -> T {
        T::gen(self)
    }
}

/// Types with random values.
pub trait Gen {
    /// A random value, edges often.
    fn gen(r: &mut Rng) -> Self;
}

macro_rules! int_gen {
    ($($t:ty),+) => {$(
        impl Gen for $t {
            fn gen(r: &mut Rng) -> Self {
                match r.below(6) {
                    0 => <$t>::MIN,
                    1 => <$t>::MAX,
                    2 => 0,
                    3 => (r.below(200) as $t).wrapping_sub(100 as $t),
                    _ => {
                        let wide = (u128::from(r.next_u64()) << 64) | u128::from(r.next_u64());
                        wide as $t
                    }
                }
            }
        }
    )+};
}

int_gen!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl Gen for f64 {
    fn gen(r: &mut Rng) -> Self {
        match r.below(10) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => -0.0,
            4 => f64::from_bits(r.next_u64()),
            5 => (r.below(2_000_000) as f64 - 1e6) / 1000.0,
            6 => f64::MIN_POSITIVE / (r.below(1000) + 1) as f64,
            7 => 1e20 * (r.below(1000) as f64),
            _ => (r.below(1 << 53) as f64) / (1u64 << r.below(60)) as f64,
        }
    }
}

impl Gen for f32 {
    fn gen(r: &mut Rng) -> Self {
        match r.below(6) {
            0 => f32::from_bits(r.next_u64() as u32),
            1 => f32::NAN,
            2 => -f32::INFINITY,
            _ => f64::gen(r) as f32,
        }
    }
}

impl Gen for bool {
    fn gen(r: &mut Rng) -> Self {
        r.below(2) == 0
    }
}

/// Characters that test escaping and widths: quotes, backslashes,
/// several UTF-8 lengths, a combining mark.
const CHARS: &[char] = &[
    'a',
    'Z',
    '0',
    ' ',
    '"',
    '\'',
    '\\',
    '{',
    '}',
    'é',
    'ß',
    '日',
    '本',
    '\u{1F600}',
    '\u{301}',
    '-',
    '_',
    '.',
];

impl Gen for char {
    fn gen(r: &mut Rng) -> Self {
        CHARS[r.below(CHARS.len() as u64) as usize]
    }
}

impl Gen for String {
    fn gen(r: &mut Rng) -> Self {
        let n = r.below(12);
        (0..n).map(|_| char::gen(r)).collect()
    }
}

impl<T: Gen> Gen for Option<T> {
    fn gen(r: &mut Rng) -> Self {
        (r.below(3) != 0).then(|| T::gen(r))
    }
}

impl<T: Gen> Gen for Vec<T> {
    fn gen(r: &mut Rng) -> Self {
        (0..r.below(4)).map(|_| T::gen(r)).collect()
    }
}

/// A struct with a derived `Debug` and a `Display` that pads (so width,
/// fill and precision apply to it).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// x.
    pub x: i32,
    /// y.
    pub y: f64,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("({}, {})", self.x, self.y))
    }
}

impl Gen for Point {
    fn gen(r: &mut Rng) -> Self {
        Point {
            x: r.gen(),
            y: r.gen(),
        }
    }
}

/// A type whose `Display` ignores the spec (writes, does not pad).
#[derive(Debug, Clone, PartialEq)]
pub struct Shout(pub String);

impl fmt::Display for Shout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!", self.0)
    }
}

impl Gen for Shout {
    fn gen(r: &mut Rng) -> Self {
        Shout(r.gen())
    }
}
