// The bodies of the `decode_record` and `roundtrip` fuzz targets.
//
// Not a module of its own: `include!`d by `fuzz/fuzz_targets/decode_record.rs`,
// `fuzz/fuzz_targets/roundtrip.rs` and `ring/tests/codec.rs` (which replays
// the corpora and runs the same checks from proptest on stable Rust), so the
// fuzzer and CI run the very same code. It may use only `std` and `ul_ring`.

use ul_ring::args::{
    encode_compact, encode_record, signature_of, tag, CompactHeader, OwnedValue, Value,
    DEFAULT_STR_LIMIT,
};
use ul_ring::record::{
    decode, decode_with, peek, read_frame, record_len, DecodeError, Form, RecordHeader,
    RecordKind, COMPACT_HEADER_LEN, FLAG_TRUNCATED, FLAG_TSC, HEADER_LEN, MAX_COMPACT_CALLSITE,
    MAX_RECORD_LEN,
};

/// Signatures every input is also decoded by as a compact record: none,
/// the macros' usual ones, every fixed size, strings and texts.
pub const SIGNATURES: &[&[u8]] = &[
    &[],
    &[tag::U64, tag::U32, tag::F64],
    &[tag::STR],
    &[tag::STR, tag::I64, tag::BOOL],
    &[tag::U8, tag::U16, tag::CHAR, tag::U128, tag::I128, tag::F32],
    &[tag::TEXT, tag::TEXT],
];

/// Value equality that compares floats by their bits (NaN == NaN).
pub fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

fn same_args(got: &[Value<'_>], want: &[Value<'_>]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(a, b)| same(a, b))
}

/// Encodes, decodes and checks everything that should survive, in both
/// forms: tagged (`encode_record`, `decode`) and compact (`encode_compact`
/// with the callsite id cut to 24 bits, `decode_with` by the arguments'
/// signature). The `roundtrip` fuzz target's body.
pub fn check_roundtrip(h: RecordHeader, args: &[OwnedValue]) -> Result<(), String> {
    let truncated_of = |args: &[OwnedValue]| {
        args.iter()
            .any(|a| matches!(a, OwnedValue::Str(s) | OwnedValue::Text(s) if s.len() > DEFAULT_STR_LIMIT))
    };

    // Tagged.
    let mut buf = vec![0xA5; 3]; // encode_record appends
    encode_record(&mut buf, h, args);
    let rec_bytes = &buf[3..];
    if rec_bytes.len() % 8 != 0 {
        return Err(format!("length {} not padded", rec_bytes.len()));
    }
    let kept = &args[..args.len().min(255)];
    if rec_bytes.len() > MAX_RECORD_LEN {
        match decode(rec_bytes) {
            Err(DecodeError::BadLength { .. }) => {}
            other => return Err(format!("oversized record decoded as {other:?}")),
        }
    } else {
        let rec = decode(rec_bytes).map_err(|e| format!("{e} ({e:?})"))?;
        let want_flags = h.flags | if truncated_of(kept) { FLAG_TRUNCATED } else { 0 };
        if rec.len != rec_bytes.len()
            || rec.form != Form::Tagged
            || rec.level.map(|l| l as u8) != Some(h.level)
            || rec.flags != want_flags
            || rec.timestamp != h.timestamp
            || rec.callsite != h.callsite
            || rec.context != h.context
            || rec_bytes[4] != RecordKind::Log as u8
            || usize::from(rec_bytes[28]) != kept.len()
        {
            return Err(format!("tagged record {rec:?} from {h:?}"));
        }
        let got: Vec<Value<'_>> = rec.args.iter().collect();
        let want: Vec<Value<'_>> = kept.iter().map(OwnedValue::as_value).collect();
        if !same_args(&got, &want) {
            return Err(format!("tagged args {got:?}, want {want:?}"));
        }
    }

    // Compact.
    let ch = CompactHeader {
        flags: h.flags,
        timestamp: h.timestamp,
        callsite: h.callsite & MAX_COMPACT_CALLSITE,
        context: h.context,
    };
    let sig = signature_of(args);
    let mut buf = vec![0x5A; 5];
    encode_compact(&mut buf, ch, args);
    let rec_bytes = &buf[5..];
    if rec_bytes.len() % 8 != 0 {
        return Err(format!("compact length {} not padded", rec_bytes.len()));
    }
    if rec_bytes.len() > MAX_RECORD_LEN {
        return match decode_with(rec_bytes, Some(&sig)) {
            Err(DecodeError::BadLength { .. }) => Ok(()),
            other => Err(format!("oversized compact record decoded as {other:?}")),
        };
    }
    // Exactly the values, the context (if any) and the padding.
    let values: usize = args.iter().map(OwnedValue::wire_len).sum();
    let ctx = if h.context != 0 { 4 } else { 0 };
    if rec_bytes.len() != record_len(COMPACT_HEADER_LEN + values + ctx) {
        return Err(format!("compact length {} for {values} + {ctx}", rec_bytes.len()));
    }
    let rec = decode_with(rec_bytes, Some(&sig)).map_err(|e| format!("compact: {e} ({e:?})"))?;
    let want_flags =
        h.flags & (FLAG_TSC | FLAG_TRUNCATED) | if truncated_of(args) { FLAG_TRUNCATED } else { 0 };
    if rec.len != rec_bytes.len()
        || rec.form != Form::Compact
        || rec.level.is_some()
        || rec.flags != want_flags
        || rec.timestamp != h.timestamp
        || rec.callsite != ch.callsite
        || rec.context != h.context
    {
        return Err(format!("compact record {rec:?} from {ch:?}"));
    }
    let got: Vec<Value<'_>> = rec.args.iter().collect();
    let want: Vec<Value<'_>> = args.iter().map(OwnedValue::as_value).collect();
    if !same_args(&got, &want) {
        return Err(format!("compact args {got:?}, want {want:?}"));
    }
    // Without its signature it is refused, never read as a tagged record.
    if decode(rec_bytes) != Err(DecodeError::NoSignature { callsite: ch.callsite }) {
        return Err("a compact record decoded without its signature".into());
    }
    // Other signatures: whatever they give, the decoder's promises hold.
    for s in SIGNATURES {
        check_one(rec_bytes, s);
    }
    if let Some((_, shorter)) = sig.split_last() {
        check_one(rec_bytes, shorter);
    }
    Ok(())
}

/// The promises a successful decode of `bytes` (either form, a compact one
/// by `sig`) makes; a refusal is fine.
pub fn check_one(bytes: &[u8], sig: &[u8]) {
    let Ok(rec) = decode_with(bytes, Some(sig)) else {
        return;
    };
    assert_eq!(rec.len, bytes.len());
    let head = peek(bytes).expect("a record that decodes peeks");
    assert_eq!((head.form, head.len, head.callsite), (rec.form, rec.len, rec.callsite));
    assert!(bytes.len() <= MAX_RECORD_LEN);
    match rec.form {
        Form::Tagged => {
            assert!(bytes.len() >= HEADER_LEN);
            assert_eq!(bytes[4], RecordKind::Log as u8);
            assert_eq!(rec.level.map(|l| l as u8), Some(bytes[5]));
            assert_eq!(rec.args.len(), usize::from(bytes[28]));
        }
        Form::Compact => {
            assert!(bytes.len() >= COMPACT_HEADER_LEN);
            assert_eq!(
                RecordKind::try_from(bytes[4]),
                Ok(RecordKind::Compact)
            );
            assert!(rec.level.is_none());
            assert_eq!(rec.args.len(), sig.len());
            assert_eq!(rec.flags & !(FLAG_TSC | FLAG_TRUNCATED), 0);
        }
    }
    let mut n = 0;
    for v in rec.args.iter() {
        if let Value::Str(s) = v {
            assert!(s.len() <= bytes.len());
        }
        n += 1;
    }
    assert_eq!(n, rec.args.len(), "iteration ended early");
}

/// Decodes and checks the invariants a successful decode promises, as a
/// tagged record and as a compact one by each of [`SIGNATURES`] and by a
/// signature made of the input's last bytes (any byte: most are no tag).
/// The `decode_record` fuzz target's body.
pub fn check_decode(data: &[u8]) {
    let tail_sig: Vec<u8> = data.iter().rev().take(6).map(|b| b % 18).collect();
    let one = |bytes: &[u8]| {
        if let Ok(rec) = decode(bytes) {
            assert_eq!(rec.form, Form::Tagged);
        }
        for s in SIGNATURES {
            check_one(bytes, s);
        }
        check_one(bytes, &tail_sig);
    };
    one(data);
    if let Ok(f) = read_frame(data) {
        assert!(f.len >= 8 && f.len % 8 == 0 && f.len <= data.len().min(MAX_RECORD_LEN));
        if let Some(rec) = data.get(..f.len) {
            one(rec);
        }
    }
}
