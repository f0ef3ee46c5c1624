//! `--format binary` copies records of numbers straight from the lane into
//! the batch (`BatchLines::direct`, `Consumer::copy_matching`): runs of them
//! broken by records of another call site, by one that does not match its
//! call site's signature, by tagged records and by the lane's wrap (its
//! padding) must give the binary log that decodes to the very lines a
//! text writer writes from the same lane, whatever the batch size.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use ul_ring::args::{encode_compact, encode_record, signature_of, CompactHeader, OwnedValue};
use ul_ring::bytes::ByteStore;
use ul_ring::callsite::EntryKind;
use ul_ring::layout::Sizes;
use ul_ring::record::{Level, RecordHeader, RecordKind};
use ul_ring::region::{Region, RegionOptions};
use ul_writer::binlog::Decoder;
use ul_writer::internals::engine::Engine;
use ul_writer::internals::outputs::{Format, Outputs};

const CAPACITY: u64 = 1 << 16;
/// Where the lane's cursors start: a little before its end, so the records
/// wrap (with padding) early on.
const START: u64 = CAPACITY - 1000;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lane's records, in order.
fn records(region: &Region) -> Vec<Vec<u8>> {
    let table = region.callsites();
    let a_args = |i: u64| vec![OwnedValue::U64(i), OwnedValue::F64(i as f64 / 4.0)];
    let b_args = |i: u64| vec![OwnedValue::U32(i as u32)];
    let a = table
        .register_signed(
            EntryKind::Callsite,
            Level::Info as u8,
            3,
            &["a n={} x={}", "svc", "src/a.rs", "app"],
            Some(&signature_of(&a_args(0))),
        )
        .unwrap();
    let b = table
        .register_signed(
            EntryKind::Callsite,
            Level::Warn as u8,
            4,
            &["b n={}", "svc", "src/b.rs", "app"],
            Some(&signature_of(&b_args(0))),
        )
        .unwrap();
    let tagged = table
        .register(
            EntryKind::Callsite,
            Level::Info as u8,
            5,
            &["t n={}", "svc", "src/t.rs", "app"],
        )
        .unwrap();
    let compact = |site: u32, i: u64, args: &[OwnedValue]| {
        let mut r = Vec::new();
        let h = CompactHeader {
            callsite: site,
            timestamp: 1_700_000_000_000_000_000 + i * 1_000_003,
            ..Default::default()
        };
        encode_compact(&mut r, h, args);
        r
    };
    let mut out = Vec::new();
    let mut i = 0u64;
    let mut run = |out: &mut Vec<Vec<u8>>, site: u32, n: u64| {
        for _ in 0..n {
            let args = if site == a { a_args(i) } else { b_args(i) };
            out.push(compact(site, i, &args));
            i += 1;
        }
    };
    run(&mut out, a, 60);
    run(&mut out, b, 3);
    run(&mut out, a, 200);
    // A's frame word but for its length: not A's signature, skipped.
    let mut long = compact(a, 999_999, &a_args(999_999));
    long.extend_from_slice(&[0; 8]);
    let n = long.len() as u32;
    long[..4].copy_from_slice(&n.to_le_bytes());
    out.push(long);
    run(&mut out, a, 300);
    for k in 0..2 {
        let mut r = Vec::new();
        encode_record(
            &mut r,
            RecordHeader {
                kind: RecordKind::Log as u8,
                level: Level::Info as u8,
                timestamp: 1_700_000_000_000_000_000 + k,
                callsite: tagged,
                ..Default::default()
            },
            &[OwnedValue::U64(k)],
        );
        out.push(r);
    }
    run(&mut out, a, 100);
    out
}

/// A region whose lane 0 holds `records()` from position [`START`] on,
/// with padding at the lane's end as a producer writes it.
fn filled(path: &Path, batch: u32) -> (Region, ul_ring::ownership::ClaimedLane) {
    let region = Region::open(
        path,
        &RegionOptions {
            sizes: Sizes {
                lanes: 2,
                lane_capacity: CAPACITY as u32,
                ..Sizes::default()
            },
            batch_size: batch,
            ..RegionOptions::default()
        },
    )
    .unwrap();
    let claim = ul_ring::ownership::claim_lane(&region, std::process::id(), 0, 0).unwrap();
    assert_eq!(claim.index(), 0);
    let ctrl = region.lane_control(0);
    // SAFETY: the claim makes us the lane's one producer, and no engine
    // runs yet; `region` outlives `bytes`.
    let bytes = unsafe { region.lane_bytes(0) };
    let mut head = START;
    let mut wrapped = false;
    for rec in records(&region) {
        let offset = head % CAPACITY;
        if offset + rec.len() as u64 > CAPACITY {
            let pad = (CAPACITY - offset) as usize;
            let mut p = vec![0u8; pad];
            p[..4].copy_from_slice(&(pad as u32).to_le_bytes());
            p[4] = RecordKind::Padding as u8;
            bytes.write_with(offset as usize, pad, |e| e.put_bytes(&p));
            head += pad as u64;
            wrapped = true;
        }
        bytes.write_with((head % CAPACITY) as usize, rec.len(), |e| e.put_bytes(&rec));
        head += rec.len() as u64;
    }
    assert!(wrapped && head - START < CAPACITY, "the records wrap once");
    ctrl.tail_raw().store(START, Ordering::Release);
    ctrl.head_raw().store(head, Ordering::Release);
    (region, claim)
}

/// Drains a filled region in `format`; returns the output directory.
fn drain(dir: &Path, tag: &str, format: Format, batch: u32) -> PathBuf {
    let out = dir.join(tag);
    std::fs::create_dir_all(&out).unwrap();
    let shm = dir.join(format!("region-{tag}"));
    let (region, _claim) = filled(&shm, batch);
    let outputs = Outputs::new(&out, "server").unwrap();
    let mut engine = Engine::new(region, outputs, format, Duration::from_secs(30)).unwrap();
    let mut passes = 0;
    while engine.pass().unwrap() > 0 {
        passes += 1;
        assert!(passes < 10_000, "the engine never finished draining");
    }
    let _ = std::fs::remove_file(&shm);
    out
}

/// The record lines of `text` (the writer's own carry its clock).
fn record_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.contains("[ul-writer]"))
        .collect()
}

#[test]
fn records_copied_straight_from_the_lane_decode_to_the_text_lines() {
    let dir = std::env::temp_dir().join(format!("ul-binary-direct-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Dir(dir.clone());
    let text_dir = drain(&dir, "text", Format::Text, 4096);
    let want = std::fs::read_to_string(text_dir.join("server.log")).unwrap();
    let want_records = record_lines(&want);
    assert_eq!(want_records.len(), 665, "{want}");
    assert_eq!(
        want.matches("does not match its call site's signature")
            .count(),
        1,
        "{want}"
    );
    for batch in [1, 7, 64, 4096] {
        let bin = drain(&dir, &format!("binary-{batch}"), Format::Binary, batch);
        let file = std::fs::read(bin.join("server.ulog")).unwrap();
        let mut d = Decoder::new(Format::Text);
        let mut got = Vec::new();
        let mut damage = Vec::new();
        assert_eq!(
            d.feed(&file, true, &mut got, &mut |e| damage.push(e)),
            file.len()
        );
        assert!(damage.is_empty(), "batch {batch}: {damage:?}");
        let got = String::from_utf8(got).unwrap();
        assert!(
            record_lines(&got) == want_records,
            "batch {batch}: the decoded records differ from the text writer's"
        );
        assert_eq!(
            got.matches("does not match its call site's signature")
                .count(),
            1,
            "batch {batch}: {got}"
        );
    }
}
