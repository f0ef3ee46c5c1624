//! Record codec: random argument lists survive `encode_record` → `decode`
//! and `encode_compact` → `decode_with` (by their signature), and neither
//! decoder panics on any bytes (random, or a valid record of either form
//! with bytes flipped, under its own signature and others). Also replays the fuzz corpora under `fuzz/` so stable CI
//! runs every input the fuzzers keep.
//!
//! The corpus replay of the `roundtrip` target needs the `arbitrary`
//! feature (`cargo test -p ul-ring --features arbitrary --test codec`);
//! without it those files are still fed to the decoder.

use proptest::prelude::*;
use ul_ring::args::{
    encode_compact, encode_record, signature_of, CompactHeader, OwnedValue, DEFAULT_STR_LIMIT,
};
use ul_ring::record::{
    decode, DecodeError, Level, RecordHeader, RecordKind, HEADER_LEN, MAX_RECORD_LEN,
};

/// The fuzz targets' own checks (`decode_record`, `roundtrip`).
mod codec_checks {
    include!("../../fuzz/src/codec_checks.rs");
}
/// Where the corpora are.
mod corpus_files {
    include!("../../fuzz/src/corpus_files.rs");
}

use codec_checks::{check_decode, check_one, check_roundtrip};
use corpus_files::{corpus, fuzz_dir};

fn owned_value(max_str: usize) -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        any::<u8>().prop_map(OwnedValue::U8),
        any::<u16>().prop_map(OwnedValue::U16),
        any::<u32>().prop_map(OwnedValue::U32),
        any::<u64>().prop_map(OwnedValue::U64),
        any::<u128>().prop_map(OwnedValue::U128),
        any::<i8>().prop_map(OwnedValue::I8),
        any::<i16>().prop_map(OwnedValue::I16),
        any::<i32>().prop_map(OwnedValue::I32),
        any::<i64>().prop_map(OwnedValue::I64),
        any::<i128>().prop_map(OwnedValue::I128),
        any::<u32>().prop_map(|b| OwnedValue::F32(f32::from_bits(b))),
        any::<u64>().prop_map(|b| OwnedValue::F64(f64::from_bits(b))),
        any::<bool>().prop_map(OwnedValue::Bool),
        any::<char>().prop_map(OwnedValue::Char),
        proptest::collection::vec(any::<char>(), 0..max_str)
            .prop_map(|cs| OwnedValue::Str(cs.into_iter().collect())),
    ]
}

fn header() -> impl Strategy<Value = RecordHeader> {
    (
        0u8..5,
        any::<u16>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(level, flags, timestamp, callsite, seq, context)| RecordHeader {
                level,
                flags,
                timestamp,
                callsite,
                seq,
                context,
                ..Default::default()
            },
        )
}

/// A byte string whose frame and header look valid, so the decoder gets
/// past them into the arguments.
fn plausible(level: u8, nargs: u8, body: &[u8]) -> Vec<u8> {
    let len = ul_ring::record::record_len(HEADER_LEN + body.len());
    let mut b = vec![0u8; len];
    b[..4].copy_from_slice(&(len as u32).to_le_bytes());
    b[4] = RecordKind::Log as u8;
    b[5] = level % 5;
    b[28] = nargs;
    b[HEADER_LEN..HEADER_LEN + body.len()].copy_from_slice(body);
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip_random_args(
        h in header(),
        args in proptest::collection::vec(owned_value(24), 0..48),
    ) {
        check_roundtrip(h, &args).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn decode_arbitrary_bytes_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        check_decode(&data);
    }

    #[test]
    fn decode_plausible_headers_never_panics(
        level in any::<u8>(),
        nargs in any::<u8>(),
        body in proptest::collection::vec(
            prop_oneof![3 => 0u8..=16, 1 => any::<u8>()], 0..300),
    ) {
        check_decode(&plausible(level, nargs, &body));
    }

    #[test]
    fn mutated_record_never_panics(
        h in header(),
        args in proptest::collection::vec(owned_value(12), 0..16),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..6),
    ) {
        let mut buf = Vec::new();
        encode_record(&mut buf, h, &args);
        for (i, x) in flips {
            let i = i.index(buf.len());
            buf[i] ^= x;
        }
        check_decode(&buf);
        // A mutated length field usually no longer matches; decode the
        // prefix it claims as well, and every suffix frame, for coverage.
        for start in (0..buf.len()).step_by(8) {
            check_decode(&buf[start..]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A compact record with bytes flipped, read by its own signature
    /// (which a producer would have registered) and by others.
    #[test]
    fn mutated_compact_record_never_panics(
        h in header(),
        args in proptest::collection::vec(owned_value(12), 0..16),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..6),
    ) {
        let mut buf = Vec::new();
        let ch = CompactHeader {
            flags: h.flags,
            timestamp: h.timestamp,
            callsite: h.callsite & ul_ring::record::MAX_COMPACT_CALLSITE,
            context: h.context,
        };
        encode_compact(&mut buf, ch, &args);
        let sig = signature_of(&args);
        for (i, x) in flips {
            let i = i.index(buf.len());
            buf[i] ^= x;
        }
        check_one(&buf, &sig);
        check_decode(&buf);
        for start in (0..buf.len()).step_by(8) {
            check_one(&buf[start..], &sig);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Few but long strings: truncation at DEFAULT_STR_LIMIT and records that
    /// exceed MAX_RECORD_LEN.
    #[test]
    fn roundtrip_long_strings(
        h in header(),
        lens in proptest::collection::vec(0usize..(DEFAULT_STR_LIMIT + 300), 1..6),
        c in any::<char>(),
    ) {
        let args: Vec<OwnedValue> = lens
            .iter()
            .map(|&n| OwnedValue::Str(std::iter::repeat_n(c, n / c.len_utf8()).collect()))
            .collect();
        check_roundtrip(h, &args).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn roundtrip_every_variant_and_edge() {
    let args = vec![
        OwnedValue::U8(u8::MAX),
        OwnedValue::U16(u16::MAX),
        OwnedValue::U32(u32::MAX),
        OwnedValue::U64(u64::MAX),
        OwnedValue::U128(u128::MAX),
        OwnedValue::I8(i8::MIN),
        OwnedValue::I16(i16::MIN),
        OwnedValue::I32(i32::MIN),
        OwnedValue::I64(i64::MIN),
        OwnedValue::I128(i128::MIN),
        OwnedValue::F32(f32::NAN),
        OwnedValue::F64(f64::MIN_POSITIVE),
        OwnedValue::Bool(false),
        OwnedValue::Char(char::MAX),
        OwnedValue::Str(String::new()),
        OwnedValue::Str("ünïcødé ✓ 🦀".into()),
    ];
    for level in 0..5 {
        let h = RecordHeader {
            level,
            ..Default::default()
        };
        check_roundtrip(h, &args).unwrap();
    }
    check_roundtrip(RecordHeader::default(), &[]).unwrap();
    check_roundtrip(
        RecordHeader::default(),
        &vec![OwnedValue::U128(1); 300], // capped at 255
    )
    .unwrap();
}

#[test]
fn largest_record_roundtrips_and_one_more_byte_does_not() {
    // header 32 + 4 tags + 4 * (4 + n); choose strings summing to the max.
    let per = (MAX_RECORD_LEN - HEADER_LEN - 4) / 4 - 4;
    assert!(per <= DEFAULT_STR_LIMIT);
    let args = vec![OwnedValue::Str("a".repeat(per)); 4];
    let mut buf = Vec::new();
    encode_record(&mut buf, RecordHeader::default(), &args);
    assert_eq!(buf.len(), MAX_RECORD_LEN);
    check_roundtrip(RecordHeader::default(), &args).unwrap();

    let mut args = args;
    args.push(OwnedValue::Bool(true));
    let mut buf = Vec::new();
    encode_record(&mut buf, RecordHeader::default(), &args);
    assert!(buf.len() > MAX_RECORD_LEN);
    assert!(matches!(decode(&buf), Err(DecodeError::BadLength { .. })));
    check_roundtrip(RecordHeader::default(), &args).unwrap();
}

#[test]
fn largest_compact_record_roundtrips_and_one_more_byte_does_not() {
    // header 16 + 4 * (4 + n).
    let per = (MAX_RECORD_LEN - 16) / 4 - 4;
    assert!(per <= DEFAULT_STR_LIMIT);
    let args = vec![OwnedValue::Str("a".repeat(per)); 4];
    let sig = signature_of(&args);
    let mut buf = Vec::new();
    encode_compact(&mut buf, CompactHeader::default(), &args);
    assert_eq!(buf.len(), MAX_RECORD_LEN);
    assert!(ul_ring::record::decode_with(&buf, Some(&sig)).is_ok());
    let mut args = args;
    args.push(OwnedValue::Bool(true));
    let sig = signature_of(&args);
    let mut buf = Vec::new();
    encode_compact(&mut buf, CompactHeader::default(), &args);
    assert!(buf.len() > MAX_RECORD_LEN);
    assert!(matches!(
        ul_ring::record::decode_with(&buf, Some(&sig)),
        Err(DecodeError::BadLength { .. })
    ));
    check_roundtrip(RecordHeader::default(), &args).unwrap();
}

#[test]
fn errors_name_what_and_where() {
    let mut buf = Vec::new();
    encode_record(
        &mut buf,
        RecordHeader::default(),
        &[OwnedValue::U8(1), OwnedValue::Str("xyz".into())],
    );
    let mut bad = buf.clone();
    bad[HEADER_LEN + 1] = 0xEE;
    assert_eq!(
        decode(&bad).unwrap_err().to_string(),
        "unknown argument tag 238 at offset 33"
    );
    let mut bad = buf.clone();
    bad[HEADER_LEN + 2 + 1 + 4] = 0xC0; // 'x' at 39 → lone lead byte
    assert_eq!(
        decode(&bad).unwrap_err().to_string(),
        "string argument at offset 39 is not valid UTF-8"
    );
    let mut bad = buf.clone();
    bad[HEADER_LEN + 3..HEADER_LEN + 7].copy_from_slice(&10u32.to_le_bytes());
    assert_eq!(
        decode(&bad).unwrap_err().to_string(),
        "argument at offset 35 needs 14 bytes, past the record's end at 48"
    );
    assert_eq!(
        decode(&buf[..40]).unwrap_err().to_string(),
        "record cut off: 48 bytes needed at offset 0, 40 available"
    );
    let mut bad = buf;
    bad[5] = 7;
    assert_eq!(
        decode(&bad).unwrap_err().to_string(),
        "unknown level 7 at offset 5"
    );
    assert!("nope"
        .parse::<Level>()
        .unwrap_err()
        .to_string()
        .contains("trace, debug, info, warn or error"));
}

// ---- fuzz corpus replay -------------------------------------------------

#[cfg(feature = "arbitrary")]
mod roundtrip_input {
    use super::*;
    use arbitrary::{Arbitrary, Unstructured};

    include!("../../fuzz/src/roundtrip_input.rs");

    /// The `roundtrip` fuzz target's body.
    pub fn run(data: &[u8]) -> Result<(), String> {
        let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
            return Ok(());
        };
        check_roundtrip(input.header(), &input.args)
    }
}

#[test]
fn corpus_replay() {
    let mut n = 0;
    for p in corpus("decode_record") {
        let data = std::fs::read(&p).unwrap();
        check_decode(&data);
        n += 1;
    }
    for p in corpus("roundtrip") {
        let data = std::fs::read(&p).unwrap();
        // Whatever else they are, they are bytes a decoder must survive.
        check_decode(&data);
        #[cfg(feature = "arbitrary")]
        if let Err(e) = roundtrip_input::run(&data) {
            panic!("{}: {e}", p.display());
        }
        n += 1;
    }
    eprintln!("replayed {n} corpus files");
}

/// Writes the seed corpora under `fuzz/corpus/`. Run once by hand:
/// `cargo test -p ul-ring --features arbitrary --test codec -- --ignored write_seed_corpus`
#[test]
#[ignore = "writes files into fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    let seeds: Vec<(RecordHeader, Vec<OwnedValue>)> = vec![
        (RecordHeader::default(), vec![]),
        (
            RecordHeader {
                level: 2,
                callsite: 1,
                ..Default::default()
            },
            vec![OwnedValue::U64(42)],
        ),
        (
            RecordHeader {
                level: 3,
                timestamp: 1_700_000_000_000_000_000,
                ..Default::default()
            },
            vec![OwnedValue::Str("hello".into()), OwnedValue::I32(-1)],
        ),
        (
            RecordHeader {
                level: 4,
                flags: ul_ring::record::FLAG_TSC,
                ..Default::default()
            },
            vec![
                OwnedValue::U8(1),
                OwnedValue::U16(2),
                OwnedValue::U32(3),
                OwnedValue::U64(4),
                OwnedValue::U128(5),
            ],
        ),
        (
            RecordHeader::default(),
            vec![
                OwnedValue::I8(-1),
                OwnedValue::I16(-2),
                OwnedValue::I32(-3),
                OwnedValue::I64(-4),
                OwnedValue::I128(-5),
            ],
        ),
        (
            RecordHeader::default(),
            vec![OwnedValue::F32(1.5), OwnedValue::F64(-2.25)],
        ),
        (
            RecordHeader::default(),
            vec![
                OwnedValue::Bool(true),
                OwnedValue::Bool(false),
                OwnedValue::Char('é'),
            ],
        ),
        (
            RecordHeader::default(),
            vec![OwnedValue::Str("ünïcødé 🦀".into())],
        ),
        (
            RecordHeader::default(),
            vec![OwnedValue::Str(String::new())],
        ),
        (
            RecordHeader::default(),
            vec![
                OwnedValue::Str("x".repeat(200)),
                OwnedValue::Char('\u{10FFFF}'),
            ],
        ),
        (
            RecordHeader {
                level: 1,
                context: 7,
                seq: 99,
                ..Default::default()
            },
            (0..20).map(|i| OwnedValue::U8(i as u8)).collect(),
        ),
        (
            RecordHeader::default(),
            vec![
                OwnedValue::Str("a\0b\nc\"d\\".into()),
                OwnedValue::F64(f64::NAN),
            ],
        ),
    ];
    let dir = fuzz_dir().join("corpus").join("decode_record");
    std::fs::create_dir_all(&dir).unwrap();
    let mut frames = Vec::new();
    for (i, (h, args)) in seeds.iter().enumerate() {
        let mut buf = Vec::new();
        encode_record(&mut buf, *h, args);
        frames.extend_from_slice(&buf);
        std::fs::write(dir.join(format!("seed-{i:02}")), &buf).unwrap();
    }
    // Compact records whose signatures are among those the target tries,
    // with and without a context.
    use ul_ring::args::tag;
    let example = |t: u8| match t {
        tag::U8 => OwnedValue::U8(7),
        tag::U16 => OwnedValue::U16(700),
        tag::U32 => OwnedValue::U32(70_000),
        tag::U64 => OwnedValue::U64(7 << 40),
        tag::U128 => OwnedValue::U128(u128::MAX),
        tag::I64 => OwnedValue::I64(-7),
        tag::I128 => OwnedValue::I128(i128::MIN),
        tag::F32 => OwnedValue::F32(0.5),
        tag::F64 => OwnedValue::F64(-2.25),
        tag::BOOL => OwnedValue::Bool(true),
        tag::CHAR => OwnedValue::Char('é'),
        tag::TEXT => OwnedValue::Text("P { x: 1 }".into()),
        _ => OwnedValue::Str("ünïcødé".into()),
    };
    for (i, sig) in codec_checks::SIGNATURES.iter().enumerate() {
        let args: Vec<OwnedValue> = sig.iter().map(|&t| example(t)).collect();
        for (j, context) in [0u32, 9].into_iter().enumerate() {
            let mut buf = Vec::new();
            let h = CompactHeader {
                flags: ul_ring::record::FLAG_TSC,
                timestamp: 1_700_000_000_000_000_000,
                callsite: 1 + i as u32,
                context,
            };
            encode_compact(&mut buf, h, &args);
            assert!(ul_ring::record::decode_with(&buf, Some(sig)).is_ok());
            frames.extend_from_slice(&buf);
            std::fs::write(dir.join(format!("seed-compact-{i:02}-{j}")), &buf).unwrap();
        }
    }
    // A padding frame, a short padding frame with garbage, and a record
    // followed by more records (the decoder reads the first frame).
    let mut pad = vec![0xEEu8; 24];
    pad[..4].copy_from_slice(&24u32.to_le_bytes());
    pad[4] = RecordKind::Padding as u8;
    std::fs::write(dir.join("seed-padding"), &pad).unwrap();
    std::fs::write(dir.join("seed-padding-8"), &pad[..8]).unwrap();
    std::fs::write(dir.join("seed-stream"), &frames).unwrap();

    #[cfg(feature = "arbitrary")]
    {
        use arbitrary::{Arbitrary, Unstructured};
        // Deterministic pseudo-random inputs, kept if they decode to
        // argument lists that cover variants not yet seen.
        let dir = fuzz_dir().join("corpus").join("roundtrip");
        std::fs::create_dir_all(&dir).unwrap();
        let mut rng = ul_test_support::Rng::from_state(0x9E37_79B9_7F4A_7C15);
        let mut next = || rng.next_u64();
        let mut seen = std::collections::BTreeSet::new();
        let mut kept = 0;
        for _ in 0..20_000 {
            if kept >= 16 {
                break;
            }
            let len = 16 + (next() % 200) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let Ok(input) = roundtrip_input::Input::arbitrary_take_rest(Unstructured::new(&data))
            else {
                continue;
            };
            let kinds: std::collections::BTreeSet<_> = input
                .args
                .iter()
                .map(std::mem::discriminant)
                .map(|d| format!("{d:?}"))
                .collect();
            if kinds.is_empty() || kinds.is_subset(&seen) && kept >= 8 {
                continue;
            }
            if kinds.is_subset(&seen) && input.args.len() < 3 {
                continue;
            }
            seen.extend(kinds);
            roundtrip_input::run(&data).unwrap();
            std::fs::write(dir.join(format!("seed-{kept:02}")), &data).unwrap();
            kept += 1;
        }
        assert!(kept >= 8, "only {kept} roundtrip seeds");
    }
}
