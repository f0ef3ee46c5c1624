// The bodies of the `decode_record` and `roundtrip` fuzz targets.
//
// Not a module of its own: `include!`d by `fuzz/fuzz_targets/decode_record.rs`,
// `fuzz/fuzz_targets/roundtrip.rs` and `ring/tests/codec.rs` (which replays
// the corpora and runs the same checks from proptest on stable Rust), so the
// fuzzer and CI run the very same code. It may use only `std` and `ul_ring`.

use ul_ring::args::{encode_record, OwnedValue, Value, DEFAULT_STR_LIMIT};
use ul_ring::record::{
    decode, read_frame, DecodeError, RecordHeader, RecordKind, FLAG_TRUNCATED, HEADER_LEN,
    MAX_RECORD_LEN,
};

/// Value equality that compares floats by their bits (NaN == NaN).
pub fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// Encodes, decodes and checks everything that should survive. The `roundtrip`
/// fuzz target's body.
pub fn check_roundtrip(h: RecordHeader, args: &[OwnedValue]) -> Result<(), String> {
    let mut buf = vec![0xA5; 3]; // encode_record appends
    encode_record(&mut buf, h, args);
    let rec_bytes = &buf[3..];
    if rec_bytes.len() % 8 != 0 {
        return Err(format!("length {} not padded", rec_bytes.len()));
    }
    let kept = &args[..args.len().min(255)];
    let truncated = kept
        .iter()
        .any(|a| matches!(a, OwnedValue::Str(s) if s.len() > DEFAULT_STR_LIMIT));
    if rec_bytes.len() > MAX_RECORD_LEN {
        return match decode(rec_bytes) {
            Err(DecodeError::BadLength { .. }) => Ok(()),
            other => Err(format!("oversized record decoded as {other:?}")),
        };
    }
    let rec = decode(rec_bytes).map_err(|e| format!("{e} ({e:?})"))?;
    let want_flags = h.flags | if truncated { FLAG_TRUNCATED } else { 0 };
    let hh = rec.header;
    if hh.len as usize != rec_bytes.len()
        || hh.kind != RecordKind::Log as u8
        || hh.level != h.level
        || hh.flags != want_flags
        || hh.timestamp != h.timestamp
        || hh.callsite != h.callsite
        || hh.seq != h.seq
        || hh.context != h.context
        || usize::from(hh.nargs) != kept.len()
    {
        return Err(format!("header {hh:?} from {h:?}"));
    }
    if rec.level as u8 != h.level {
        return Err(format!("level {:?}", rec.level));
    }
    if rec.args.len() != kept.len() {
        return Err(format!("{} args, want {}", rec.args.len(), kept.len()));
    }
    let got: Vec<Value<'_>> = rec.args.iter().collect();
    let want: Vec<Value<'_>> = kept.iter().map(OwnedValue::as_value).collect();
    if got.len() != want.len() || !got.iter().zip(&want).all(|(a, b)| same(a, b)) {
        return Err(format!("args {got:?}, want {want:?}"));
    }
    Ok(())
}

/// Decodes and checks the invariants a successful decode promises. The
/// `decode_record` fuzz target's body.
pub fn check_decode(data: &[u8]) {
    fn one(bytes: &[u8]) {
        if let Ok(rec) = decode(bytes) {
            assert_eq!(rec.header.len as usize, bytes.len());
            assert!(bytes.len() >= HEADER_LEN && bytes.len() <= MAX_RECORD_LEN);
            assert_eq!(rec.header.kind, RecordKind::Log as u8);
            assert_eq!(rec.level as u8, rec.header.level);
            assert_eq!(rec.args.len(), usize::from(rec.header.nargs));
            let mut n = 0;
            for v in rec.args.iter() {
                if let Value::Str(s) = v {
                    assert!(s.len() <= bytes.len());
                }
                n += 1;
            }
            assert_eq!(n, rec.args.len(), "iteration ended early");
        }
    }
    one(data);
    if let Ok(f) = read_frame(data) {
        assert!(f.len >= 8 && f.len % 8 == 0 && f.len <= data.len().min(MAX_RECORD_LEN));
        if let Some(rec) = data.get(..f.len) {
            one(rec);
        }
    }
}
