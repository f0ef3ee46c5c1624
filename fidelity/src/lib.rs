//! Log calls with random format strings and values, each beside what
//! `format!` makes of the same call, for ul-writer's fidelity test.
//!
//! `build.rs` draws the calls (format strings with every kind of
//! placeholder: `{}`, `{0}`, `{name}` captured, `name = expr`, fill,
//! alignment, sign, `#`, `0`, width, precision, `$` and `.*` counts, each
//! trait) from a seed: `UL_FIDELITY_SEED` (a number) if set, else a fixed
//! one, so CI runs the same calls every time and anyone can run others.
//! The values are drawn at run time from the seed [`run`] is given.

mod values;

pub use values::{GenExt, Point, Rng, Shout};

/// One log call made: what `format!` gives for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The call's number (its message starts `c<case>.<round>|`).
    pub case: usize,
    /// The round of values.
    pub round: u64,
    /// `format!` of the call's format string and values.
    pub message: String,
}

include!(concat!(env!("OUT_DIR"), "/cases.rs"));

/// The seed `build.rs` drew the calls with.
pub const CALL_SEED: u64 = SEED;

/// Logs every generated call `rounds` times with fresh values drawn from
/// `seed`, and returns what `format!` gives for each.
///
/// ```no_run
/// let expected = ul_fidelity::run(7, 2);
/// assert!(expected.len() >= 2 * ul_fidelity::CASES);
/// ```
pub fn run(seed: u64, rounds: u64) -> Vec<Expected> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for round in 0..rounds {
        log_all(&mut rng, round, &mut out);
    }
    out
}
