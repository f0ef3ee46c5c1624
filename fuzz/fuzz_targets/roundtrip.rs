//! Arbitrary header fields and argument lists through `encode_record` and
//! back through `decode`: everything must survive (strings cut to
//! `MAX_STR_LEN` with `FLAG_TRUNCATED`, at most 255 arguments), and records
//! over `MAX_RECORD_LEN` must be refused.
//!
//! `ring/tests/codec.rs` (`check_roundtrip`, `roundtrip_input`) replays this
//! corpus with the same input type and checks; keep the two in step.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ul_ring::args::{encode_record, OwnedValue, Value, MAX_STR_LEN};
use ul_ring::record::{
    decode, DecodeError, RecordHeader, RecordKind, FLAG_TRUNCATED, MAX_RECORD_LEN,
};

/// Must match `Input` in `ring/tests/codec.rs`.
#[derive(Arbitrary, Debug)]
struct Input {
    level: u8,
    flags: u16,
    timestamp: u64,
    callsite: u32,
    seq: u32,
    context: u32,
    args: Vec<OwnedValue>,
}

/// Value equality that compares floats by their bits (NaN == NaN).
fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fuzz_target!(|input: Input| {
    let h = RecordHeader {
        level: input.level % 5,
        flags: input.flags,
        timestamp: input.timestamp,
        callsite: input.callsite,
        seq: input.seq,
        context: input.context,
        ..Default::default()
    };
    let args = &input.args;
    let mut buf = vec![0xA5; 3]; // encode_record appends
    encode_record(&mut buf, h, args);
    let rec_bytes = &buf[3..];
    assert_eq!(rec_bytes.len() % 8, 0);
    let kept = &args[..args.len().min(255)];
    let truncated = kept
        .iter()
        .any(|a| matches!(a, OwnedValue::Str(s) if s.len() > MAX_STR_LEN));
    if rec_bytes.len() > MAX_RECORD_LEN {
        assert!(matches!(
            decode(rec_bytes),
            Err(DecodeError::BadLength { .. })
        ));
        return;
    }
    let rec = decode(rec_bytes).unwrap();
    let hh = rec.header;
    assert_eq!(hh.len as usize, rec_bytes.len());
    assert_eq!(hh.kind, RecordKind::Log as u8);
    assert_eq!(hh.level, h.level);
    assert_eq!(rec.level as u8, h.level);
    assert_eq!(
        hh.flags,
        h.flags | if truncated { FLAG_TRUNCATED } else { 0 }
    );
    assert_eq!(
        (hh.timestamp, hh.callsite, hh.seq, hh.context),
        (h.timestamp, h.callsite, h.seq, h.context)
    );
    assert_eq!(usize::from(hh.nargs), kept.len());
    assert_eq!(rec.args.len(), kept.len());
    let got: Vec<Value<'_>> = rec.args.iter().collect();
    let want: Vec<Value<'_>> = kept.iter().map(OwnedValue::as_value).collect();
    assert!(
        got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| same(a, b)),
        "got {got:?}, want {want:?}"
    );
});
