//! A call's arguments as one value: a tuple of [`Arg`]s.
//!
//! The macros build a tuple of prepared arguments; [`ArgList`] is
//! implemented for tuples up to 16 long, so encoding a call is monomorphic,
//! inlined code with no dynamic dispatch and no allocation.

use ul_ring::args::{Arg, Encoder};

use crate::__private::Attached;
use crate::callsite::Callsite;

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
    /// Logs the record off the log call's hot path (a call site not
    /// registered yet, a thread without its lane or inside a log call
    /// already, a full lane...): `thread_lane::emit_registering`.
    ///
    /// A tuple passes its values to it one by one, each in a register
    /// where it fits: a tuple of more than two words passed whole goes
    /// through a pointer to it, which would keep it in memory (stored as
    /// it is built) on the hot path too.
    #[inline(always)]
    fn emit_cold(self, at: Attached, cs: &'static Callsite, context: u32)
    where
        Self: Sized,
    {
        crate::thread_lane::emit_registering(at.0, cs, context, self)
    }
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
    ($n:expr; $($t:ident $i:tt $v:ident),+) => {
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
            #[inline(always)]
            fn emit_cold(self, at: Attached, cs: &'static Callsite, context: u32) {
                #[cold]
                #[inline(never)]
                #[allow(clippy::too_many_arguments)]
                fn cold<$($t: Arg),+>(
                    at: Attached,
                    cs: &'static Callsite,
                    context: u32,
                    $($v: $t),+
                ) {
                    crate::thread_lane::emit_registering(at.0, cs, context, ($($v,)+))
                }
                cold(at, cs, context, $(self.$i),+)
            }
        }
    };
}

tuple_arglist!(1; A 0 a);
tuple_arglist!(2; A 0 a, B 1 b);
tuple_arglist!(3; A 0 a, B 1 b, C 2 c);
tuple_arglist!(4; A 0 a, B 1 b, C 2 c, D 3 d);
tuple_arglist!(5; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e);
tuple_arglist!(6; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f);
tuple_arglist!(7; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g);
tuple_arglist!(8; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h);
tuple_arglist!(9; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h, I 8 i);
tuple_arglist!(10; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h, I 8 i, J 9 j);
tuple_arglist!(11; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h, I 8 i, J 9 j, K 10 k);
tuple_arglist!(12; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h, I 8 i, J 9 j, K 10 k, L 11 l);
tuple_arglist!(13; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h, I 8 i, J 9 j, K 10 k, L 11 l, M 12 m);
tuple_arglist!(14; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h, I 8 i, J 9 j, K 10 k, L 11 l, M 12 m, N 13 n);
tuple_arglist!(15; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h, I 8 i, J 9 j, K 10 k, L 11 l, M 12 m, N 13 n, O 14 o);
tuple_arglist!(16; A 0 a, B 1 b, C 2 c, D 3 d, E 4 e, F 5 f, G 6 g, H 7 h, I 8 i, J 9 j, K 10 k, L 11 l, M 12 m, N 13 n, O 14 o, P 15 p);
