//! Argument lists whose length and types are known only at run time (the
//! `tracing` backend's fields): a slice of typed values whose strings live
//! in one shared text buffer.

use ul_ring::args::{Arg, Encoder};

use super::ArgList;

/// One run-time argument. Strings are byte ranges of [`DynArgs::text`], so
/// a visitor can append to one buffer while it collects values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum DynArg {
    U64(u64),
    I64(i64),
    U128(u128),
    I128(i128),
    F64(f64),
    Bool(bool),
    /// `text[start..end]`.
    Str {
        start: u32,
        end: u32,
    },
}

/// A run-time argument list: at most 255 values (the rest are ignored, as
/// the record header counts arguments in a byte).
pub(crate) struct DynArgs<'a> {
    /// The buffer string arguments point into.
    pub text: &'a str,
    /// The values, in order.
    pub args: &'a [DynArg],
}

impl DynArgs<'_> {
    #[inline]
    fn kept(&self) -> &[DynArg] {
        &self.args[..self.args.len().min(usize::from(u8::MAX))]
    }

    /// The string of a `Str` argument ("" if its range is not in `text`).
    #[inline]
    fn str_of(&self, start: u32, end: u32) -> &str {
        self.text
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    /// Writes one value, without its tag.
    #[inline]
    fn put_value(&self, a: &DynArg, enc: &mut Encoder<'_>, max_str: usize) {
        match *a {
            DynArg::U64(v) => v.put(enc, max_str),
            DynArg::I64(v) => v.put(enc, max_str),
            DynArg::U128(v) => v.put(enc, max_str),
            DynArg::I128(v) => v.put(enc, max_str),
            DynArg::F64(v) => v.put(enc, max_str),
            DynArg::Bool(v) => v.put(enc, max_str),
            DynArg::Str { start, end } => self.str_of(start, end).put(enc, max_str),
        }
    }
}

impl ArgList for DynArgs<'_> {
    const COUNT: u8 = 0;
    const CUTTABLE: bool = true;
    // Types known only at run time: the records are tagged.
    const SIGNATURE: Option<&'static [u8]> = None;

    #[inline]
    fn count(&self) -> u8 {
        self.kept().len() as u8
    }

    fn wire_len(&self, max_str: usize) -> usize {
        self.kept()
            .iter()
            .map(|a| {
                1 + match *a {
                    DynArg::U64(v) => v.wire_len(max_str),
                    DynArg::I64(v) => v.wire_len(max_str),
                    DynArg::U128(v) => v.wire_len(max_str),
                    DynArg::I128(v) => v.wire_len(max_str),
                    DynArg::F64(v) => v.wire_len(max_str),
                    DynArg::Bool(v) => v.wire_len(max_str),
                    DynArg::Str { start, end } => self.str_of(start, end).wire_len(max_str),
                }
            })
            .sum()
    }

    fn put(&self, enc: &mut Encoder<'_>, max_str: usize) {
        for a in self.kept() {
            enc.put_u8(match a {
                DynArg::U64(_) => u64::TAG,
                DynArg::I64(_) => i64::TAG,
                DynArg::U128(_) => u128::TAG,
                DynArg::I128(_) => i128::TAG,
                DynArg::F64(_) => f64::TAG,
                DynArg::Bool(_) => bool::TAG,
                DynArg::Str { .. } => str::TAG,
            });
        }
        self.put_values(enc, max_str);
    }

    fn values_len(&self, max_str: usize) -> usize {
        self.wire_len(max_str) - self.kept().len()
    }

    fn put_values(&self, enc: &mut Encoder<'_>, max_str: usize) {
        for a in self.kept() {
            self.put_value(a, enc, max_str);
        }
    }

    fn truncated(&self, max_str: usize) -> bool {
        self.kept().iter().any(|a| match *a {
            DynArg::Str { start, end } => self.str_of(start, end).truncated(max_str),
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ul_ring::args::{encode_record, OwnedValue, Value, DEFAULT_STR_LIMIT};
    use ul_ring::record::HEADER_LEN;

    #[test]
    fn encodes_as_the_reference_encoder_and_decodes() {
        let text = "hello wide world";
        let args = [
            DynArg::Str { start: 0, end: 5 },
            DynArg::U64(7),
            DynArg::I64(-3),
            DynArg::F64(0.5),
            DynArg::Bool(true),
            DynArg::U128(u128::MAX),
            DynArg::I128(i128::MIN),
            DynArg::Str { start: 6, end: 10 },
            // A range outside the text encodes as "".
            DynArg::Str { start: 3, end: 99 },
        ];
        let list = DynArgs { text, args: &args };
        assert_eq!(list.count(), 9);
        let n = list.wire_len(DEFAULT_STR_LIMIT);
        let mut mine = vec![0u8; n];
        let mut enc = Encoder::new(&mut mine);
        list.put(&mut enc, DEFAULT_STR_LIMIT);
        assert_eq!(enc.position(), n);
        assert!(!enc.overflowed());

        let owned = [
            OwnedValue::Str("hello".into()),
            OwnedValue::U64(7),
            OwnedValue::I64(-3),
            OwnedValue::F64(0.5),
            OwnedValue::Bool(true),
            OwnedValue::U128(u128::MAX),
            OwnedValue::I128(i128::MIN),
            OwnedValue::Str("wide".into()),
            OwnedValue::Str(String::new()),
        ];
        let mut reference = Vec::new();
        encode_record(&mut reference, Default::default(), &owned);
        assert_eq!(&reference[HEADER_LEN..HEADER_LEN + mine.len()], &mine[..]);
        let rec = ul_ring::record::decode(&reference).expect("decodes");
        let values: Vec<Value<'_>> = rec.args.iter().collect();
        assert_eq!(values[0], Value::Str("hello"));
        assert_eq!(values[7], Value::Str("wide"));
        assert!(!list.truncated(DEFAULT_STR_LIMIT));
    }

    #[test]
    fn counts_at_most_255() {
        let args = vec![DynArg::Bool(false); 300];
        let list = DynArgs {
            text: "",
            args: &args,
        };
        assert_eq!(list.count(), 255);
        assert_eq!(list.wire_len(DEFAULT_STR_LIMIT), 255 * 2);
    }
}
