//! How a log call turns each argument into something the codec copies.
//!
//! Integers, floats, bools, chars and strings implement
//! [`ul_ring::args::Arg`] and are copied into the record as they are: the
//! writer formats them with their placeholder's spec. Any other value is
//! formatted at the call site with the placeholder's whole spec (the slow
//! path: it allocates) and sent as text, which the writer puts in as it is.
//!
//! The choice is made at compile time by auto-ref method lookup: for
//! `(&&&Wrap(&x)).__ul_arg(f)` the compiler first looks for the method on
//! `&&&Wrap<T>`, where [`ViaCopy`] has it when `T: Arg + Copy` (the value
//! itself goes into the call's argument tuple, so the log call passes it
//! in a register, never through memory), then on `&&Wrap<T>`, where
//! [`ViaArg`] has it when `T: Arg` (a reference to it: a `String`, a
//! `str`), and only then on `&Wrap<T>`, where [`ViaFormat`] has it for
//! every `T`. `f` is the
//! formatting the macro wrote for this placeholder
//! (`|v| format!("{:>8?}", *v)`): the raw path never calls it, but the
//! compiler checks it all the same, so a value that does not implement the
//! placeholder's trait is refused at compile time, as `format!` refuses it.

use std::fmt::Display;

use ul_ring::args::{Arg, Encoder, Text};

/// Wraps an argument for the method lookup described in the module docs.
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Chosen for values the codec copies raw and that are `Copy` (numbers,
/// `bool`, `char`, `&str`): the tuple holds the value, not a reference to
/// it.
pub trait ViaCopy<'a, T: 'a> {
    /// A key-value pair's value: copied.
    fn __ul_prepare(self) -> T;
    /// A placeholder's value: copied (the writer applies the spec);
    /// `format` is not called.
    fn __ul_arg<F: FnOnce(&'a T) -> String>(self, format: F) -> T;
    /// A radix placeholder's value (`{:x}`): copied, sent under
    /// [`Arg::RADIX_TAG`].
    fn __ul_radix<F: FnOnce(&'a T) -> String>(self, format: F) -> Radix<T>;
}

impl<'a, T: Arg + Copy + 'a> ViaCopy<'a, T> for &&&Wrap<'a, T> {
    #[inline(always)]
    fn __ul_prepare(self) -> T {
        *self.0
    }
    #[inline(always)]
    fn __ul_arg<F: FnOnce(&'a T) -> String>(self, _: F) -> T {
        *self.0
    }
    #[inline(always)]
    fn __ul_radix<F: FnOnce(&'a T) -> String>(self, _: F) -> Radix<T> {
        Radix(*self.0)
    }
}

/// Chosen for values the codec copies raw that are not `Copy` (`String`,
/// `str`): borrowed.
pub trait ViaArg<'a> {
    /// The value as the codec sees it.
    type Out: Arg;
    /// A key-value pair's value: borrowed as it is.
    fn __ul_prepare(self) -> Self::Out;
    /// A placeholder's value: borrowed as it is (the writer applies the
    /// spec); `format` is not called.
    fn __ul_arg<F: FnOnce(Self::Out) -> String>(self, format: F) -> Self::Out;
    /// A radix placeholder's value (`{:x}`): borrowed, sent under
    /// [`Arg::RADIX_TAG`].
    fn __ul_radix<F: FnOnce(Self::Out) -> String>(self, format: F) -> Radix<Self::Out>;
}

impl<'a, T: Arg + ?Sized> ViaArg<'a> for &&Wrap<'a, T> {
    type Out = &'a T;
    #[inline(always)]
    fn __ul_prepare(self) -> &'a T {
        self.0
    }
    #[inline(always)]
    fn __ul_arg<F: FnOnce(&'a T) -> String>(self, _: F) -> &'a T {
        self.0
    }
    #[inline(always)]
    fn __ul_radix<F: FnOnce(&'a T) -> String>(self, _: F) -> Radix<&'a T> {
        Radix(self.0)
    }
}

/// Chosen for a key-value pair's value of another `Display` type:
/// formatted at the call site.
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

/// Chosen for a placeholder's value of a type the codec does not carry:
/// formatted at the call site by the placeholder's own `format!`.
pub trait ViaFormat<'a, T: ?Sized + 'a> {
    /// Format it.
    fn __ul_arg<F: FnOnce(&'a T) -> String>(self, format: F) -> Text<String>;
    /// Format it (a radix placeholder).
    fn __ul_radix<F: FnOnce(&'a T) -> String>(self, format: F) -> Text<String>;
}

impl<'a, T: ?Sized> ViaFormat<'a, T> for &Wrap<'a, T> {
    #[inline]
    fn __ul_arg<F: FnOnce(&'a T) -> String>(self, format: F) -> Text<String> {
        Text(format(self.0))
    }
    #[inline]
    fn __ul_radix<F: FnOnce(&'a T) -> String>(self, format: F) -> Text<String> {
        Text(format(self.0))
    }
}

/// A value under a radix placeholder: its bytes as they are, under its
/// [`Arg::RADIX_TAG`] (a narrow signed integer as its unsigned bits).
#[derive(Clone, Copy, Debug)]
pub struct Radix<T>(pub T);

impl<T: Arg> Arg for Radix<T> {
    const TAG: u8 = T::RADIX_TAG;
    const CUTTABLE: bool = T::CUTTABLE;
    #[inline(always)]
    fn wire_len(&self, max_str: usize) -> usize {
        self.0.wire_len(max_str)
    }
    #[inline(always)]
    fn put(&self, enc: &mut Encoder<'_>, max_str: usize) {
        self.0.put(enc, max_str)
    }
    #[inline(always)]
    fn truncated(&self, max_str: usize) -> bool {
        self.0.truncated(max_str)
    }
}

/// The wire tag of a prepared argument.
#[inline(always)]
pub fn tag_of<T: Arg>(_: &T) -> u8 {
    T::TAG
}
