//! Stable replay of the `drain_lane` and `format_record` fuzz corpora.
//!
//! Every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
//! goes through the target's own body, `fuzz/src/checks.rs`, included here
//! as it is included by the fuzz targets: CI guards the corpora and past
//! crashes without nightly or libFuzzer.
//!
//! The seeds are made from real records by the ignored `write_seed_corpus`
//! (the lanes are filled by the real `Producer`):
//!
//! ```sh
//! cargo test -p ul-writer --test fuzz_replay -- --ignored write_seed_corpus
//! ```

use std::path::{Path, PathBuf};

use ul_ring::args::{encode_compact, encode_record, CompactHeader, OwnedValue};
use ul_ring::bytes::{ByteStore, HeapBytes};
use ul_ring::lane::{Consumer, LaneControl, Producer};
use ul_ring::record::{RecordHeader, RecordKind, FLAG_TSC};

mod checks {
    include!("../../fuzz/src/checks.rs");
}
/// The `decode_ulog` target's body.
mod ulog_checks {
    include!("../../fuzz/src/decode_ulog.rs");
}
/// Where the corpora are.
mod corpus_files {
    include!("../../fuzz/src/corpus_files.rs");
}

use corpus_files::{corpus, fuzz_dir};

use checks::format_record::Arg;

/// Regression files that still fail because of a bug not yet fixed:
/// `(target, file name, what is wrong)`. The corpus replay skips them; the
/// ignored `known_bugs` test replays them.
const KNOWN_BUGS: &[(&str, &str, &str)] = &[];

fn is_known_bug(target: &str, p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    KNOWN_BUGS.iter().any(|&(t, f, _)| t == target && f == name)
}

/// Runs `check` on every file, reporting each failing file by name.
fn replay(target: &str, files: &[PathBuf], check: fn(&[u8])) {
    let _cleanup = checks::engine_drain::RemoveDirsOnDrop;
    let mut failed = Vec::new();
    for p in files {
        let data = std::fs::read(p).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failed.push(p.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} files fail (messages above): {failed:#?}",
        failed.len(),
        files.len()
    );
    eprintln!("{target}: replayed {} files", files.len());
}

fn replay_target(target: &str, check: fn(&[u8])) {
    let files: Vec<PathBuf> = corpus(target)
        .into_iter()
        .filter(|p| !is_known_bug(target, p))
        .collect();
    assert!(
        files.len() >= 8,
        "{target}: only {} corpus files; run write_seed_corpus",
        files.len()
    );
    replay(target, &files, check);
}

#[test]
fn drain_lane_corpus_replay() {
    replay_target("drain_lane", checks::drain_lane::run);
}

#[test]
fn format_record_corpus_replay() {
    replay_target("format_record", checks::format_record::run);
}

#[test]
fn decode_ulog_corpus_replay() {
    replay_target("decode_ulog", ulog_checks::decode_ulog::run);
}

#[test]
#[ignore = "replays regressions of bugs not yet fixed (see KNOWN_BUGS)"]
fn known_bugs() {
    for &(target, file, why) in KNOWN_BUGS {
        eprintln!("{target}/{file}: {why}");
        let p = fuzz_dir().join("regressions").join(target).join(file);
        let check: fn(&[u8]) = match target {
            "drain_lane" => checks::drain_lane::run,
            "decode_ulog" => ulog_checks::decode_ulog::run,
            _ => checks::format_record::run,
        };
        replay(target, &[p], check);
    }
}

// ---- seeds ----------------------------------------------------------------

fn hdr(level: u8, seq: u32) -> RecordHeader {
    RecordHeader {
        level,
        seq,
        callsite: 1 + seq,
        context: seq % 3,
        timestamp: 1_735_689_600_000_000_123 + u64::from(seq) * 1_000_000_007,
        ..Default::default()
    }
}

fn record(h: RecordHeader, args: &[OwnedValue]) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_record(&mut buf, h, args);
    buf
}

/// A compact record naming call site `callsite` (see `checks::sites`).
fn compact(callsite: u32, context: u32, args: &[OwnedValue]) -> Vec<u8> {
    let mut buf = Vec::new();
    let h = CompactHeader {
        flags: FLAG_TSC,
        timestamp: 1_000_000 + u64::from(callsite),
        callsite,
        context,
    };
    encode_compact(&mut buf, h, args);
    buf
}

/// A lane of `capacity` bytes whose cursors start at `start`, filled by the
/// real producer with `records`; when the lane is full the consumer drains
/// it (as the writer would) and the push is retried. Returns the fuzz input
/// for what is left unconsumed.
fn lane_seed(capacity: usize, start: u64, records: &[Vec<u8>], batch_index: u8) -> Vec<u8> {
    let ctrl = LaneControl::starting_at(start);
    let bytes = HeapBytes::new(capacity);
    // SAFETY: one producer and one consumer, used in turn by this thread;
    // the capacity is a power of two of at least 16.
    let mut p = unsafe { Producer::attach(&ctrl, &bytes) };
    // SAFETY: as above.
    let c = unsafe { Consumer::attach(&ctrl, &bytes) };
    let mut scratch = Vec::new();
    for rec in records {
        let push =
            |p: &mut Producer<'_, &HeapBytes>| p.try_push(rec.len(), |enc| enc.put_bytes(rec));
        if push(&mut p).is_err() {
            let b = c.read_batch(c.tail(), c.head(), usize::MAX, &mut scratch, |_, _| {});
            assert!(b.corrupt.is_none());
            c.commit(b.new_tail);
            push(&mut p).expect("record does not fit an empty lane");
        }
    }
    let mut lane = vec![0u8; capacity];
    bytes.read(0, &mut lane);
    let sel = checks::drain_lane::selector(capacity, batch_index, false);
    checks::drain_lane::encode(c.tail(), c.head(), sel, &lane)
}

fn drain_lane_seeds() -> Vec<(String, Vec<u8>)> {
    use checks::drain_lane::{encode, selector};
    use OwnedValue as V;
    let mixed: Vec<Vec<u8>> = vec![
        record(hdr(2, 0), &[V::U64(42)]),
        record(hdr(3, 1), &[V::Str("hello".into()), V::I32(-1)]),
        record(hdr(4, 2), &[V::F32(1.5), V::F64(-2.25), V::Bool(true)]),
        record(hdr(0, 3), &[]),
        record(
            hdr(1, 4),
            &[V::Char('é'), V::U128(u128::MAX), V::I128(i128::MIN)],
        ),
    ];
    let hostile: Vec<Vec<u8>> = vec![
        record(
            hdr(2, 5),
            &[
                V::Str("a\0b\nc\"d\\ \u{1b}[31m \u{85} \u{2028}".into()),
                V::F64(f64::NAN),
                V::F32(f32::NEG_INFINITY),
                V::Str("ünïcødé 🦀".into()),
            ],
        ),
        record(
            RecordHeader {
                flags: FLAG_TSC,
                timestamp: u64::MAX,
                ..hdr(4, 6)
            },
            &(0..20).map(|i| V::U8(i as u8)).collect::<Vec<_>>(),
        ),
    ];
    let small: Vec<Vec<u8>> = (0..40u32)
        .map(|i| record(hdr((i % 5) as u8, i), &[V::U32(i)]))
        .collect();
    // 48-byte records in a 128-byte lane: wraps with padding.
    let wrap: Vec<Vec<u8>> = (0..7u32)
        .map(|i| record(hdr(2, i), &[V::U64(u64::from(i))]))
        .collect();
    assert!(wrap.iter().all(|r| r.len() == 48));

    // Compact records of each call site of `checks::sites`, read by its
    // signature; then ones the writer must skip: a call site without a
    // signature, an id naming nothing, a length the signature does not
    // give, a string running past the record.
    let ids = checks::sites::with_table(|_, ids| ids.to_vec());
    let compact_ok: Vec<Vec<u8>> = vec![
        compact(ids[0], 0, &[]),
        compact(ids[1], 0, &[V::U64(7), V::Str("str".into()), V::F64(0.25)]),
        record(hdr(2, 0), &[V::U64(42)]),
        compact(
            ids[3],
            5,
            &[V::Str("k\"ey".into()), V::U32(255), V::Bool(true)],
        ),
        compact(ids[4], 0, &[V::U64(1), V::U32(2), V::F64(3.5)]),
        compact(ids[4], 0, &[V::U64(4), V::U32(5), V::F64(6.5)]),
    ];
    let mut too_long = compact(ids[4], 0, &[V::U64(1), V::U32(2), V::F64(3.5), V::U64(9)]);
    too_long[8] ^= 1; // not the same bytes as a good one
    let mut overrun = compact(ids[1], 0, &[V::U64(7), V::Str("str".into()), V::F64(0.25)]);
    overrun[24..28].copy_from_slice(&999u32.to_le_bytes());
    let compact_bad: Vec<Vec<u8>> = vec![
        compact(ids[2], 0, &[V::U64(1)]),
        compact(4000, 0, &[V::U64(1)]),
        compact(1_000_000, 0, &[]),
        too_long,
        compact(ids[0], 0, &[]),
        overrun,
    ];

    let mut seeds = vec![
        ("empty-64".into(), lane_seed(64, 0, &[], 0)),
        ("compact-1024".into(), lane_seed(1024, 0, &compact_ok, 7)),
        (
            "compact-1024-batch2".into(),
            lane_seed(1024, 0, &compact_ok, 1),
        ),
        (
            "compact-mismatch-1024".into(),
            lane_seed(1024, 0, &compact_bad, 7),
        ),
        ("mixed-256".into(), lane_seed(256, 0, &mixed, 7)),
        ("mixed-1024-batch2".into(), lane_seed(1024, 0, &mixed, 1)),
        (
            "hostile-values-1024".into(),
            lane_seed(1024, 0, &hostile, 7),
        ),
        ("wrap-padding-128".into(), lane_seed(128, 0, &wrap, 7)),
        (
            "wrap-padding-128-batch1".into(),
            lane_seed(128, 0, &wrap, 0),
        ),
        (
            "cursors-cross-u64-max-256".into(),
            lane_seed(256, u64::MAX - 127, &mixed, 7),
        ),
        (
            "many-small-4096-batch3".into(),
            lane_seed(4096, 0, &small, 2),
        ),
        ("many-small-4096".into(), lane_seed(4096, 0, &small, 6)),
    ];

    // Lanes the producer would never write.
    let mut lane = vec![0u8; 256];
    let good = &mixed[1];
    lane[..good.len()].copy_from_slice(good);
    let bad_at = good.len();
    lane[bad_at..bad_at + 4].copy_from_slice(&12u32.to_le_bytes()); // not a multiple of 8
    lane[bad_at + 4] = RecordKind::Log as u8;
    let sel = selector(256, 7, false);
    seeds.push((
        "record-then-bad-length-256".into(),
        encode(0, 128, sel, &lane),
    ));
    let mut long = lane.clone();
    long[bad_at..bad_at + 4].copy_from_slice(&4096u32.to_le_bytes()); // past the head
    seeds.push((
        "record-then-frame-past-head-256".into(),
        encode(0, 128, sel, &long),
    ));
    seeds.push(("tail-after-head-256".into(), encode(64, 56, sel, &lane)));
    seeds.push(("unaligned-head-256".into(), encode(0, 60, sel, &lane)));
    seeds.push((
        "cursors-further-apart-than-capacity-256".into(),
        encode(0, 512, sel, &lane),
    ));
    // Frames that are fine but records that are not: bad level, bad UTF-8.
    let mut undecodable = vec![0u8; 128];
    let mut r1 = record(hdr(2, 0), &[V::Str("abc".into())]);
    r1[5] = 9; // level
    let mut r2 = record(hdr(2, 1), &[V::Str("abc".into())]);
    r2[32 + 5] = 0xff; // the string's first byte
    undecodable[..r1.len()].copy_from_slice(&r1);
    undecodable[r1.len()..r1.len() + r2.len()].copy_from_slice(&r2);
    seeds.push((
        "undecodable-records-128".into(),
        encode(
            0,
            (r1.len() + r2.len()) as u64,
            selector(128, 7, false),
            &undecodable,
        ),
    ));
    // A head given relative to the tail (selector bit 7).
    let rel = lane_seed(256, 1 << 40, &mixed, 7);
    let (tail, head) = {
        let p = checks::drain_lane::parse(&rel);
        (p.tail, p.head)
    };
    seeds.push((
        "relative-head-256".into(),
        encode(
            tail,
            head - tail,
            selector(256, 7, true),
            &rel[checks::drain_lane::PREFIX..],
        ),
    ));
    seeds
}

fn format_record_seeds() -> Vec<(String, Vec<u8>)> {
    use checks::format_record::encode;
    let s = |x: &str| Arg::Str(x.into());
    let mut seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "doc-example",
            encode(b"user {} did {:?}", &[Arg::U64(7), s("login")]),
        ),
        (
            "numbers",
            encode(
                b"{} {} {} {}",
                &[
                    Arg::I64(-5),
                    Arg::F64(0.5),
                    Arg::F32(0.1),
                    Arg::U64(u64::MAX),
                ],
            ),
        ),
        ("escapes", encode(b"{{}} {} }}{{", &[Arg::Bool(true)])),
        (
            "specs",
            encode(
                b"{:>8.3} {:#x} {:+e} {:05} {:<5}|{:^5}|{:*^7}|{:.2}|{:+}",
                &[
                    Arg::F64(1234.56789),
                    Arg::U64(255),
                    Arg::I64(-12345),
                    Arg::I64(-7),
                    Arg::Bool(false),
                    Arg::Char('c'),
                    s("mid"),
                    s("truncate"),
                    Arg::F32(2.5),
                ],
            ),
        ),
        (
            "unicode",
            encode(
                "héllo {} wörld {:é>4} ✓{{}}".as_bytes(),
                &[s("日本"), Arg::Char('語')],
            ),
        ),
        (
            "debug",
            encode(
                b"{:#?} {:08?} {:.1?} {:>6?} {:?} {:?}",
                &[
                    Arg::F64(1.0),
                    Arg::Bool(true),
                    Arg::F32(0.25),
                    Arg::Char('\''),
                    s("a\"\n\u{1}é"),
                    Arg::F64(1e20),
                ],
            ),
        ),
        (
            "radix",
            encode(
                b"{:X} {:o} {:#b} {:+x} {:#010x} {:x}",
                &[
                    Arg::U64(0xbeef),
                    Arg::U64(8),
                    Arg::I64(5),
                    Arg::U64(5),
                    Arg::U64(255),
                    Arg::I64(-1),
                ],
            ),
        ),
        (
            "exp",
            encode(
                b"{:E} {:.3e} {:012.2e} {:e}",
                &[
                    Arg::F64(1234.5),
                    Arg::U64(98765),
                    Arg::I64(-42),
                    Arg::U128(u128::MAX),
                ],
            ),
        ),
        (
            "non-finite-and-wide",
            encode(
                b"{} {} {} {} {:05}",
                &[
                    Arg::F64(f64::NAN),
                    Arg::F32(f32::NEG_INFINITY),
                    Arg::U128(u128::MAX),
                    Arg::I128(i128::MIN),
                    Arg::F64(f64::INFINITY),
                ],
            ),
        ),
        (
            "positional",
            encode(b"{0} {1} {0} {1:>3}", &[Arg::U64(1), Arg::U64(2)]),
        ),
        ("missing", encode(b"missing {} {:?} {}", &[Arg::U64(1)])),
        (
            "extra",
            encode(
                b"extra {}",
                &[Arg::U64(1), s("x"), Arg::F32(2.5), Arg::Char('z')],
            ),
        ),
        (
            "controls",
            encode(
                b"ctl\t{}\n{:?} \x1b[0m",
                &[s("a\nb\t\u{1b}\"\\\u{85}\u{2028}"), Arg::Char('\n')],
            ),
        ),
        (
            "bad-specs",
            encode(
                b"{:99999} {:x?} {name} {:*} { {} {",
                &[Arg::U64(1), Arg::U64(2)],
            ),
        ),
        (
            "type-mismatch",
            encode(
                b"{:>6x}|{:#x}|{:e}",
                &[Arg::F64(1.5), s("ab"), Arg::Bool(true)],
            ),
        ),
        (
            "invalid-utf8-format",
            encode(b"\xff{}\xc3 {}\xe2\x82", &[Arg::U64(1), s("ok")]),
        ),
        ("no-args", encode(b"plain text only", &[])),
        ("empty", encode(b"", &[])),
    ];
    let twenty: Vec<Arg> = (0..20).map(|i| Arg::I64(i - 10)).collect();
    seeds.push(("twenty-args", encode("{} ".repeat(20).as_bytes(), &twenty)));
    let many: Vec<Arg> = (0..140).map(Arg::U64).collect();
    seeds.push(("over-128-args", encode("{}".repeat(130).as_bytes(), &many)));
    seeds.into_iter().map(|(n, d)| (n.to_string(), d)).collect()
}

/// The seeds pass the checks (so the corpus replay is not vacuous even
/// before the seeds are written), and they exercise what they are for.
#[test]
fn seeds_pass_the_checks() {
    let _cleanup = checks::engine_drain::RemoveDirsOnDrop;
    let lanes = drain_lane_seeds();
    for (name, data) in &lanes {
        eprintln!("drain_lane/{name}");
        checks::drain_lane::run(data);
    }
    let with_records = lanes
        .iter()
        .filter(|(_, d)| {
            let i = checks::drain_lane::parse(d);
            let mut lane = vec![0u8; i.capacity];
            lane[..i.lane.len()].copy_from_slice(i.lane);
            !checks::drain_lane::reference(&lane, i.tail, i.head)
                .0
                .is_empty()
        })
        .count();
    assert!(with_records >= 8, "{with_records}");
    // Compact records, some the writer reads and some it must skip.
    let (mut readable, mut skipped) = (0, 0);
    for (_, d) in &lanes {
        let i = checks::drain_lane::parse(d);
        let mut lane = vec![0u8; i.capacity];
        lane[..i.lane.len()].copy_from_slice(i.lane);
        for (pos, len) in checks::drain_lane::reference(&lane, i.tail, i.head).0 {
            let off = (pos % i.capacity as u64) as usize;
            let rec = &lane[off..off + len];
            if rec[4] & !ul_ring::record::COMPACT_FLAGS == ul_ring::record::KIND_COMPACT {
                if checks::sites::decodable(rec) {
                    readable += 1;
                } else {
                    skipped += 1;
                }
            }
        }
    }
    assert!(readable >= 8 && skipped >= 5, "{readable} {skipped}");
    let wrap = lanes.iter().find(|(n, _)| n == "wrap-padding-128").unwrap();
    let i = checks::drain_lane::parse(&wrap.1);
    assert!(i.tail % 128 > i.head % 128, "the wrap seed does not wrap");

    let formats = format_record_seeds();
    let mut modelled = 0;
    for (name, data) in &formats {
        eprintln!("format_record/{name}");
        let (fmt, args) = checks::format_record::parse(data);
        modelled += usize::from(checks::format_record::expected(&fmt, &args).is_some());
        checks::format_record::run(data);
    }
    assert!(modelled >= 10, "only {modelled} seeds in the format! model");
}

/// Binary logs: a well-formed one with every block type (call sites with
/// and without signatures, a context, compact and tagged records, the
/// shared lane, a clock change, a writer line, a second session), and
/// damaged ones: cut, garbage, a record off its signature, an entry
/// missing, no session, an unknown block type.
fn decode_ulog_seeds() -> Vec<(String, Vec<u8>)> {
    use ul_ring::args::tag;
    use ul_ring::callsite::{Entry, EntryKind};
    use ul_ring::clock::Calibration;
    use ul_ring::record::Level;
    use ul_writer::binlog::*;
    use ul_writer::internals::batch_lines::Origin;
    use OwnedValue as V;
    let clock = Calibration {
        tsc_base: 1_000,
        ns_base: 1_735_689_600_000_000_000,
        ticks_per_ns: 2.5,
    };
    let site = |format: &str, level: Level, sig: Option<Vec<u8>>| Entry {
        kind: EntryKind::Callsite,
        level: level as u8,
        line: 12,
        strings: vec![format.into(), "".into(), "src/main.rs".into(), "app".into()],
        signature: sig,
    };
    let three = site(
        "Logging int: {}, int: {}, double: {}",
        Level::Info,
        Some(vec![tag::U64, tag::U32, tag::F64]),
    );
    let mut keyed = site(
        "user {} said {}",
        Level::Warn,
        Some(vec![tag::STR, tag::STR, tag::U64]),
    );
    keyed.strings.push("n".into());
    let unsigned = site("tagged {} {:?}", Level::Error, None);
    let ctx = Entry {
        kind: EntryKind::Context,
        level: 0,
        line: 0,
        strings: vec!["UserService".into(), "session".into(), "abc\"123".into()],
        signature: None,
    };
    let c = |callsite: u32, context: u32, args: &[OwnedValue]| {
        let mut buf = Vec::new();
        let h = CompactHeader {
            flags: FLAG_TSC,
            timestamp: 5_000_000 + u64::from(callsite),
            callsite,
            context,
        };
        encode_compact(&mut buf, h, args);
        buf
    };
    let lane = Origin {
        lane: Some(3),
        pid: 4242,
        tid: 4243,
    };
    let shared = Origin {
        lane: None,
        pid: 4250,
        tid: 4251,
    };
    let mut good = Vec::new();
    put_session(&mut good, 99, 0, &clock);
    put_entry(&mut good, 1, &three);
    put_entry(&mut good, 5, &keyed);
    put_entry(&mut good, 9, &unsigned);
    put_entry(&mut good, 13, &ctx);
    let run = |out: &mut Vec<u8>, origin: Origin, pos: u64, records: &[Vec<u8>]| {
        let at = out.len();
        put_run_header(out, origin, pos);
        for r in records {
            out.extend_from_slice(r);
        }
        set_len(out, at);
    };
    let r1 = c(1, 0, &[V::U64(42), V::U32(7), V::F64(3.25)]);
    let r2 = c(
        5,
        13,
        &[
            V::Str("ann".into()),
            V::Str("say \"hi\"\n".into()),
            V::U64(3),
        ],
    );
    let r3 = record(
        RecordHeader {
            level: 4,
            callsite: 9,
            context: 13,
            ..hdr(4, 0)
        },
        &[V::Str("x".into()), V::Char('é')],
    );
    run(
        &mut good,
        lane,
        1 << 20,
        &[r1.clone(), r2.clone(), r3.clone()],
    );
    put_clock_block(
        &mut good,
        &Calibration {
            ticks_per_ns: 3.0,
            ..clock
        },
    );
    run(&mut good, shared, 77, std::slice::from_ref(&r1));
    put_writer_line(
        &mut good,
        1_735_689_600_123_456_789,
        99,
        Level::Warn,
        "3 records dropped by pid 4242",
    );
    let mut second = Vec::new();
    put_session(&mut second, 100, FLAG_TEXT_LOCATION, &clock);
    put_entry(&mut second, 1, &three);
    run(&mut second, lane, 0, &[r1.clone(), r1.clone()]);

    let mut seeds: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("good".into(), good.clone()),
        ("two-sessions".into(), [&good[..], &second[..]].concat()),
        ("cut".into(), good[..good.len() - 11].to_vec()),
        ("cut-in-header".into(), good[..60].to_vec()),
    ];
    let mut garbage = good.clone();
    let mid = (good.len() / 2) & !7;
    garbage.splice(mid..mid, (0..64u8).map(|i| i.wrapping_mul(37)));
    seeds.push(("garbage".into(), garbage));
    // A record eight bytes longer than its signature gives.
    let mut long = r1.clone();
    long.extend_from_slice(&[0; 8]);
    let n = long.len() as u32;
    long[..4].copy_from_slice(&n.to_le_bytes());
    let mut off_signature = Vec::new();
    put_session(&mut off_signature, 99, 0, &clock);
    put_entry(&mut off_signature, 1, &three);
    run(&mut off_signature, lane, 0, &[r1.clone(), long, r1.clone()]);
    seeds.push(("off-signature".into(), off_signature));
    // Records whose entries the file never gave.
    let mut no_entry = Vec::new();
    put_session(&mut no_entry, 99, 0, &clock);
    run(&mut no_entry, lane, 0, &[r1.clone(), r3.clone()]);
    seeds.push(("no-entry".into(), no_entry));
    seeds.push(("no-session".into(), good[SESSION_LEN..].to_vec()));
    let mut unknown = good.clone();
    unknown.splice(
        SESSION_LEN..SESSION_LEN,
        [16u8, 0, 0, 0, 0x42, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    seeds.push(("unknown-block".into(), unknown));
    let mut bad_clock = good.clone();
    // The session's ticks_per_ns: NaN.
    bad_clock[SESSION_LEN - 8..SESSION_LEN].copy_from_slice(&f64::NAN.to_bits().to_le_bytes());
    seeds.push(("bad-clock".into(), bad_clock));
    seeds
}

/// The binary-log seeds pass the checks, and decode to what they are
/// for: the good ones cleanly, the damaged ones with damage reported.
#[test]
fn decode_ulog_seeds_pass_the_checks() {
    use ul_writer::internals::outputs::Format;
    for (name, data) in decode_ulog_seeds() {
        eprintln!("decode_ulog/{name}");
        ulog_checks::decode_ulog::run(&data);
        let (text, damage) = ulog_checks::decode_ulog::decode(&data, Format::Text);
        let text = String::from_utf8(text).unwrap();
        let clean = matches!(name.as_str(), "empty" | "good" | "two-sessions");
        assert_eq!(damage.is_empty(), clean, "{name}: {damage:?}");
        match name.as_str() {
            "good" => {
                assert_eq!(text.lines().count(), 5, "{text}");
                assert!(
                    text.contains("Logging int: 42, int: 7, double: 3.25"),
                    "{text}"
                );
                assert!(text.contains("[UserService] WARN: user ann said"), "{text}");
                assert!(
                    text.contains("[ul-writer] WARN: 3 records dropped by pid 4242"),
                    "{text}"
                );
            }
            "two-sessions" => {
                assert_eq!(text.lines().count(), 7, "{text}");
                assert!(text.contains("src/main.rs:12: Logging"), "{text}");
            }
            "off-signature" => assert_eq!(text.lines().count(), 2, "{text}"),
            _ => {}
        }
    }
}

/// The drain check's output directories (in /dev/shm) do not outlive the
/// test that made them.
#[test]
fn drain_check_leaves_no_directories_behind() {
    let (_, data) = drain_lane_seeds().into_iter().next().unwrap();
    replay_one(&data);
    let dirs = checks::engine_drain::dirs_of_this_thread();
    assert!(!dirs.is_empty(), "the drain check made no rig");
    let left: Vec<_> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn replay_one(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!("ul-fuzz-replay-one-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("seed");
    std::fs::write(&p, data).unwrap();
    replay("drain_lane", &[p], checks::drain_lane::run);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The model refuses what it does not cover and counts what
/// `format_message` counts.
#[test]
fn format_model_examples() {
    use checks::format_record::expected;
    let (s, o) = expected("a {} b {:?} c {}", &[Arg::U64(1), Arg::Str("x".into())]).unwrap();
    assert_eq!(s, "a 1 b \"x\" c {}");
    assert_eq!(o.missing, 1);
    let (s, o) = expected("{{{}}}", &[Arg::Bool(true), Arg::Char('c')]).unwrap();
    assert_eq!(s, "{true} c");
    assert_eq!(o.extra, 1);
    assert!(expected("{:x}", &[Arg::F64(1.0)]).is_none());
    assert!(expected("{0}", &[Arg::U64(1)]).is_none());
    assert!(expected("}", &[]).is_none());
    assert!(expected("{", &[]).is_none());
}

/// Writes the seed corpora under `fuzz/corpus/{drain_lane,format_record}/`
/// (overwrites `seed-*` files). Run once by hand:
/// `cargo test -p ul-writer --test fuzz_replay -- --ignored write_seed_corpus`
#[test]
#[ignore = "writes files into fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    for (target, seeds) in [
        ("drain_lane", drain_lane_seeds()),
        ("format_record", format_record_seeds()),
        ("decode_ulog", decode_ulog_seeds()),
    ] {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
        }
    }
}
