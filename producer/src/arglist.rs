//! A call's arguments as one value: a tuple of [`Arg`]s.
//!
//! The macros build a tuple of prepared arguments; [`ArgList`] is
//! implemented for tuples up to 16 long, so encoding a call is monomorphic,
//! inlined code with no dynamic dispatch and no allocation.

use ul_ring::args::{Arg, Encoder};

#[cfg(feature = "tracing")]
pub(crate) use dynamic::{DynArg, DynArgs};

#[cfg(feature = "tracing")]
mod dynamic;

/// The arguments of one log call.
pub trait ArgList {
    /// How many there are, when the type says (tuples).
    const COUNT: u8;
    /// True if some may be a string (whose bytes depend on the limit).
    const CUTTABLE: bool;
    /// The call site's signature, one argument tag per argument, when the
    /// type says (tuples): its records are then compact, the values alone
    /// (see `ul_ring::record`). `None` for a list known only at run time,
    /// whose records are tagged.
    const SIGNATURE: Option<&'static [u8]>;
    /// How many there are: [`ArgList::COUNT`] unless the list is only
    /// known at run time.
    #[inline(always)]
    fn count(&self) -> u8 {
        Self::COUNT
    }
    /// Bytes they take on the wire: one tag each plus the values, strings
    /// cut to `max_str` bytes.
    fn wire_len(&self, max_str: usize) -> usize;
    /// Writes the tags, then the values.
    fn put(&self, enc: &mut Encoder<'_>, max_str: usize);
    /// Bytes the values alone take (a compact record's), strings cut to
    /// `max_str` bytes.
    fn values_len(&self, max_str: usize) -> usize;
    /// Writes the values alone, in the order of [`ArgList::SIGNATURE`].
    fn put_values(&self, enc: &mut Encoder<'_>, max_str: usize);
    /// True if some string will be cut to `max_str` bytes.
    fn truncated(&self, max_str: usize) -> bool;
}

impl ArgList for () {
    const COUNT: u8 = 0;
    const CUTTABLE: bool = false;
    const SIGNATURE: Option<&'static [u8]> = Some(&[]);
    #[inline(always)]
    fn wire_len(&self, _: usize) -> usize {
        0
    }
    #[inline(always)]
    fn put(&self, _: &mut Encoder<'_>, _: usize) {}
    #[inline(always)]
    fn values_len(&self, _: usize) -> usize {
        0
    }
    #[inline(always)]
    fn put_values(&self, _: &mut Encoder<'_>, _: usize) {}
    #[inline(always)]
    fn truncated(&self, _: usize) -> bool {
        false
    }
}

macro_rules! tuple_arglist {
    ($n:expr; $($t:ident $i:tt),+) => {
        impl<$($t: Arg),+> ArgList for ($($t,)+) {
            const COUNT: u8 = $n;
            const CUTTABLE: bool = false $(|| $t::CUTTABLE)+;
            const SIGNATURE: Option<&'static [u8]> = Some(&[$($t::TAG),+]);
            #[inline(always)]
            fn wire_len(&self, max_str: usize) -> usize {
                $n + self.values_len(max_str)
            }
            #[inline(always)]
            fn put(&self, enc: &mut Encoder<'_>, max_str: usize) {
                $(enc.put_u8($t::TAG);)+
                self.put_values(enc, max_str);
            }
            #[inline(always)]
            fn values_len(&self, max_str: usize) -> usize {
                0 $(+ self.$i.wire_len(max_str))+
            }
            #[inline(always)]
            fn put_values(&self, enc: &mut Encoder<'_>, max_str: usize) {
                $(self.$i.put(enc, max_str);)+
            }
            #[inline(always)]
            fn truncated(&self, max_str: usize) -> bool {
                false $(|| self.$i.truncated(max_str))+
            }
        }
    };
}

tuple_arglist!(1; A 0);
tuple_arglist!(2; A 0, B 1);
tuple_arglist!(3; A 0, B 1, C 2);
tuple_arglist!(4; A 0, B 1, C 2, D 3);
tuple_arglist!(5; A 0, B 1, C 2, D 3, E 4);
tuple_arglist!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_arglist!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_arglist!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_arglist!(9; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_arglist!(10; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_arglist!(11; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_arglist!(12; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
tuple_arglist!(13; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12);
tuple_arglist!(14; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13);
tuple_arglist!(15; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14);
tuple_arglist!(16; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);
