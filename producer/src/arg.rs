//! How the macros turn each argument into something the codec copies raw.
//!
//! Integers, floats, bools, chars and strings implement
//! [`ul_ring::args::Arg`] and are copied into the record as they are: the
//! writer formats them. Any other `Display` value is formatted into a
//! `String` at the call site (the slow path: it allocates) and sent as a
//! string. The choice is made at compile time by auto-ref method lookup:
//! `(&&Wrap(&x)).__ul_prepare()` finds [`ViaArg`] when `x: Arg` and falls
//! back to [`ViaDisplay`] otherwise.

use std::fmt::Display;

use ul_ring::args::Arg;

/// Wraps an argument for the method lookup described in the module docs.
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Chosen for values the codec copies raw.
pub trait ViaArg<'a> {
    /// The value as the codec sees it.
    type Out: Arg;
    /// Borrow it.
    fn __ul_prepare(self) -> Self::Out;
}

impl<'a, T: Arg + ?Sized> ViaArg<'a> for &&Wrap<'a, T> {
    type Out = &'a T;
    #[inline(always)]
    fn __ul_prepare(self) -> &'a T {
        self.0
    }
}

/// Chosen for other `Display` values: formatted at the call site.
pub trait ViaDisplay {
    /// Format it.
    fn __ul_prepare(self) -> String;
}

impl<T: Display + ?Sized> ViaDisplay for &Wrap<'_, T> {
    #[inline]
    fn __ul_prepare(self) -> String {
        self.0.to_string()
    }
}

/// The wire tag of a prepared argument.
#[inline(always)]
pub fn tag_of<T: Arg>(_: &T) -> u8 {
    T::TAG
}
