//! Recovery of a half-written batch, driven state by state through real
//! engines over a real region and real files: the write-ahead intent names
//! its files by identity, so recovery cuts back only those files (found
//! even after a rename) and leaves alone an intent that names none of the
//! writer's files.

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ul_ring::args::{encode_record, OwnedValue};
use ul_ring::bytes::ByteStore;
use ul_ring::layout::{IntentFile, Sizes};
use ul_ring::ownership::{claim_lane, ClaimedLane};
use ul_ring::record::{Level, RecordHeader, RecordKind};
use ul_ring::region::{Region, RegionOptions};
use ul_writer::internals::engine::Engine;
use ul_writer::internals::outputs::{Format, Outputs};

fn options(create: bool) -> RegionOptions {
    RegionOptions {
        create,
        sizes: Sizes {
            lanes: 2,
            lane_capacity: 1 << 16,
            ..Sizes::default()
        },
        ..RegionOptions::default()
    }
}

/// Pushes records numbered `from..to` into the claimed lane, as a producer
/// would (a callsite the region does not know: the writer prints
/// `<unknown callsite>` and the number).
fn push(region: &Region, claim: &ClaimedLane, from: u64, to: u64) {
    let i = claim.index();
    let ctrl = region.lane_control(i);
    // SAFETY: the claim makes this thread the lane's one producer, and no
    // engine runs while it pushes; `region` outlives `bytes`.
    let bytes = unsafe { region.lane_bytes(i) };
    let mut head = ctrl.head();
    let mut rec = Vec::new();
    for n in from..to {
        rec.clear();
        let hdr = RecordHeader {
            kind: RecordKind::Log as u8,
            level: Level::Info as u8,
            timestamp: 1_700_000_000_000_000_000,
            seq: n as u32,
            ..Default::default()
        };
        encode_record(&mut rec, hdr, &[OwnedValue::U64(n)]);
        let at = (head % bytes.capacity() as u64) as usize;
        assert!(at + rec.len() <= bytes.capacity(), "the test's records fit");
        bytes.write_with(at, rec.len(), |e| e.put_bytes(&rec));
        head += rec.len() as u64;
    }
    ctrl.head_raw().store(head, Ordering::Release);
}

fn drain(engine: &mut Engine) {
    for _ in 0..1000 {
        if engine.pass().unwrap() == 0 {
            return;
        }
    }
    panic!("the engine never finished draining");
}

fn engine(dir: &Path, region: Region) -> Engine {
    Engine::new(
        region,
        Outputs::new(dir, "server").unwrap(),
        Format::Text,
        Duration::from_secs(30),
    )
    .unwrap()
}

/// The record numbers in a text file, in order; panics on a torn line.
fn numbers(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends with a torn line: {:?}",
        path.display(),
        text.lines().last()
    );
    text.lines()
        .filter(|l| l.contains("<unknown callsite>"))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a numbered line: {l:?}"))
        })
        .collect()
}

/// Leaves the region as a writer killed mid-batch would: the intent says
/// WRITING and names `server.log` as it is now (identity and length), and
/// half a line of the batch is in the file.
fn crash_mid_batch(region: &Region, log: &Path) {
    let h = region.header();
    let m = std::fs::metadata(log).unwrap();
    for i in 0..ul_ring::layout::INTENT_SLOTS {
        h.set_intent_file(i, IntentFile::default());
    }
    h.set_intent_file(
        0,
        IntentFile {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
        },
    );
    let (b, _) = h.writer.intent();
    h.writer.begin_batch(b + 1);
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    f.write_all(b"UL: [2023-11-14T22:13:20.000000000Z] [x] INFO: <unknown call")
        .unwrap();
}

/// logrotate's set-up (rename, then `kill -HUP`) meets a writer killed
/// mid-batch: the half batch went into the file now called `server.log.1`.
/// The restarted writer must cut it out of `server.log.1` (not cut the new
/// `server.log` by its path) and write the batch once, into `server.log`.
#[test]
fn a_batch_half_written_before_a_rotation_is_cut_from_the_rotated_file() {
    let s = Scratch::new("rotcrash");
    let region = Region::open(&s.shm, &options(true)).unwrap();
    let claim = claim_lane(&region, std::process::id(), 1, 0).unwrap();
    push(&region, &claim, 0, 100);
    let mut first = engine(&s.dir, region);
    drain(&mut first);
    let region = first.region();
    drop(first);
    let log = s.dir.join("server.log");
    assert_eq!(numbers(&log), (0..100).collect::<Vec<_>>());
    push(region, &claim, 100, 200);
    crash_mid_batch(region, &log);
    // logrotate: rename; the HUP finds no writer.
    std::fs::rename(&log, s.dir.join("server.log.1")).unwrap();
    let mut second = engine(&s.dir, Region::open(&s.shm, &options(false)).unwrap());
    drain(&mut second);
    assert_eq!(
        numbers(&s.dir.join("server.log.1")),
        (0..100).collect::<Vec<_>>(),
        "the rotated file keeps exactly what was written before the batch"
    );
    assert_eq!(
        numbers(&log),
        (100..200).collect::<Vec<_>>(),
        "the batch is written once, into the new file"
    );
    drop(claim);
}

/// The same without a rotation: the half batch is cut from `server.log`
/// itself and written again.
#[test]
fn a_batch_half_written_is_cut_back_and_written_once() {
    let s = Scratch::new("halfbatch");
    let region = Region::open(&s.shm, &options(true)).unwrap();
    let claim = claim_lane(&region, std::process::id(), 1, 0).unwrap();
    push(&region, &claim, 0, 50);
    let mut first = engine(&s.dir, region);
    drain(&mut first);
    let region = first.region();
    drop(first);
    let log = s.dir.join("server.log");
    push(region, &claim, 50, 80);
    crash_mid_batch(region, &log);
    let mut second = engine(&s.dir, Region::open(&s.shm, &options(false)).unwrap());
    drain(&mut second);
    assert_eq!(numbers(&log), (0..80).collect::<Vec<_>>());
    drop(claim);
}

/// Anything that can write the region can forge an intent: WRITING with
/// zero lengths. Naming no file of the writer's (here: identity zero, a
/// file outside its directory, and another application's file inside
/// it), it is reported and left alone; every file keeps every byte.
#[test]
fn a_forged_intent_truncates_nothing() {
    let s = Scratch::new("forged");
    let region = Region::open(&s.shm, &options(true)).unwrap();
    let claim = claim_lane(&region, std::process::id(), 1, 0).unwrap();
    push(&region, &claim, 0, 40);
    let mut first = engine(&s.dir, region);
    drain(&mut first);
    let region = first.region();
    drop(first);
    let log = s.dir.join("server.log");
    let before = std::fs::read(&log).unwrap();
    assert!(!before.is_empty());
    let outside = std::env::temp_dir().join(format!("ul-forged-outside-{}", std::process::id()));
    std::fs::write(&outside, b"not the writer's\n").unwrap();
    let outside_id = std::fs::metadata(&outside).unwrap();
    // Another application's file in the log directory.
    let neighbour = s.dir.join("other-app.log");
    std::fs::write(&neighbour, b"another application's line\n").unwrap();
    let neighbour_id = std::fs::metadata(&neighbour).unwrap();
    for forged in [
        (0, 0),
        (outside_id.dev(), outside_id.ino()),
        (neighbour_id.dev(), neighbour_id.ino()),
    ] {
        let h = region.header();
        for i in 0..ul_ring::layout::INTENT_SLOTS {
            h.set_intent_file(
                i,
                IntentFile {
                    dev: forged.0,
                    ino: forged.1,
                    len: 0,
                },
            );
        }
        // The batch number as it is: only the state is forged.
        let (b, _) = h.writer.intent();
        h.writer.begin_batch(b);
        let mut again = engine(&s.dir, Region::open(&s.shm, &options(false)).unwrap());
        drain(&mut again);
        let after = std::fs::read(&log).unwrap();
        assert!(
            after == before,
            "a forged intent {forged:?} changed server.log: {} bytes before, {} after",
            before.len(),
            after.len()
        );
    }
    assert_eq!(std::fs::read(&outside).unwrap(), b"not the writer's\n");
    assert_eq!(
        std::fs::read(&neighbour).unwrap(),
        b"another application's line\n",
        "a forged intent cut another application's file in the log directory"
    );
    let _ = std::fs::remove_file(&outside);
    drop(claim);
}

fn engine_all(dir: &Path, region: Region) -> Engine {
    Engine::new(
        region,
        Outputs::new(dir, "server").unwrap(),
        Format::All,
        Duration::from_secs(30),
    )
    .unwrap()
}

/// The binary log is covered by the intent like the text file: a writer
/// killed with half a batch in both is cut back in both, and the batch
/// written once. The restarted writer's part of the file starts with a
/// session of its own, and the whole file decodes to `server.log`.
#[test]
fn a_binary_batch_half_written_is_cut_back_and_written_once() {
    use ul_writer::internals::outputs::{BINARY, TEXT};
    let s = Scratch::new("halfbin");
    let region = Region::open(&s.shm, &options(true)).unwrap();
    let claim = claim_lane(&region, std::process::id(), 1, 0).unwrap();
    push(&region, &claim, 0, 50);
    let mut first = engine_all(&s.dir, region);
    drain(&mut first);
    let region = first.region();
    drop(first);
    let log = s.dir.join("server.log");
    let ulog = s.dir.join("server.ulog");
    push(region, &claim, 50, 80);
    // Killed mid-batch: the intent names both files, both hold half.
    let h = region.header();
    for i in 0..ul_ring::layout::INTENT_SLOTS {
        h.set_intent_file(i, IntentFile::default());
    }
    for (slot, path) in [(TEXT, &log), (BINARY, &ulog)] {
        let m = std::fs::metadata(path).unwrap();
        h.set_intent_file(
            slot,
            IntentFile {
                dev: m.dev(),
                ino: m.ino(),
                len: m.len(),
            },
        );
    }
    let (b, _) = h.writer.intent();
    h.writer.begin_batch(b + 1);
    for (path, half) in [
        (
            &log,
            &b"UL: [2023-11-14T22:13:20.000000000Z] [x] INFO: <unknown call"[..],
        ),
        (&ulog, &[0x58, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3][..]),
    ] {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(half).unwrap();
    }
    let mut second = engine_all(&s.dir, Region::open(&s.shm, &options(false)).unwrap());
    drain(&mut second);
    drop(second);
    assert_eq!(numbers(&log), (0..80).collect::<Vec<_>>());
    let bytes = std::fs::read(&ulog).unwrap();
    let mut d = ul_writer::binlog::Decoder::new(Format::Text);
    let mut text = Vec::new();
    let mut damage = Vec::new();
    d.feed(&bytes, true, &mut text, &mut |e| damage.push(e));
    assert_eq!(damage, [], "the binary log holds no half batch");
    let decoded = s.dir.join("decoded.log");
    std::fs::write(&decoded, &text).unwrap();
    assert_eq!(numbers(&decoded), (0..80).collect::<Vec<_>>());
    assert!(
        text == std::fs::read(&log).unwrap(),
        "decoded binary log differs from server.log"
    );
    drop(claim);
}
