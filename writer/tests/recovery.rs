//! A writer restarting on a batch its predecessor left WRITTEN (on disk,
//! cursors not all moved) finishes moving the cursors. The states a killed
//! writer leaves are set by hand, so the tests are deterministic; the
//! engine runs in this process (`Engine::new` recovers, `Engine::pass`
//! drains).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use ul_ring::args::{encode_record, OwnedValue};
use ul_ring::callsite::EntryKind;
use ul_ring::layout::{IntentState, Sizes};
use ul_ring::record::{Level, RecordHeader, RecordKind};
use ul_ring::region::{Region, RegionOptions};
use ul_writer::internals::engine::Engine;
use ul_writer::internals::outputs::{Format, Outputs};

/// A scratch directory for one test, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ul-recovery-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A region with a two-slot shared lane (so a slot's next lap comes two
/// positions on).
fn region(path: &Path) -> Region {
    Region::open(
        path,
        &RegionOptions {
            sizes: Sizes {
                lanes: 1,
                lane_capacity: 4096,
                shared_lane_slots: 2,
                shared_lane_slot_len: 128,
                callsite_len: 4096,
            },
            ..RegionOptions::default()
        },
    )
    .unwrap()
}

/// Pushes the record "shared {n}" of call site `site` into the shared
/// lane, as a producer would; returns the position it took.
fn push(region: &Region, site: u32, n: u64) -> u64 {
    let mut rec = Vec::new();
    encode_record(
        &mut rec,
        RecordHeader {
            kind: RecordKind::Log as u8,
            level: Level::Info as u8,
            timestamp: 1_700_000_000_000_000_000,
            callsite: site,
            ..Default::default()
        },
        &[OwnedValue::U64(n)],
    );
    let shared_lane = region.shared_lane();
    let pos = shared_lane.control().head();
    shared_lane
        .try_push(std::process::id(), 1, rec.len(), |e| e.put_bytes(&rec))
        .unwrap_or_else(|e| panic!("push of record {n}: {e}"));
    pos
}

/// The previous writer wrote the batch of shared-lane positions 0 and 1,
/// freed slot 0 (the first store of `SharedLane::release(0)`) and was killed
/// before moving the shared tail. While no writer ran, a producer took
/// slot 0's next lap (position 2) and committed "shared 2". The new writer
/// completes the batch and must then write "shared 2": today's repeated
/// release rewound slot 0 under it, and the record was stuck as a claim
/// that never commits (abandoned, so lost, after the claim timeout).
#[test]
fn a_record_committed_after_the_writer_died_inside_a_release_is_written() {
    let dir = Dir::new("release");
    let shm = dir.0.join("region");
    let out = dir.0.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let region = region(&shm);
    let site = region
        .callsites()
        .register(EntryKind::Callsite, 2, 1, &["shared {}", "", "t.rs", "t"])
        .unwrap();
    assert_eq!(push(&region, site, 0), 0);
    assert_eq!(push(&region, site, 1), 1);

    // The dead writer: batch 7, [0, 2) of the shared lane on disk, state
    // WRITTEN, and release(0) stopped between its two stores.
    let w = &region.header().writer;
    w.stage_shared_release(2);
    w.begin_batch(7);
    w.batch_written();
    let shared_lane = region.shared_lane();
    shared_lane.release(0);
    shared_lane.control().tail_raw().store(0, Ordering::Release);

    assert_eq!(push(&region, site, 2), 2, "slot 0's next lap");

    let outputs = Outputs::new(&out, "server").unwrap();
    let mut engine = Engine::new(region, outputs, Format::Text, Duration::from_secs(30)).unwrap();
    let region = engine.region();
    assert_eq!(region.header().writer.intent().1, IntentState::Idle);
    let mut passes = 0;
    while engine.pass().unwrap() != 0 {
        passes += 1;
        assert!(passes < 100, "the engine never finished draining");
    }
    let text = std::fs::read_to_string(out.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("shared "))
        .map(|l| l.rsplit(": ").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        ["shared 2"],
        "the record committed at position 2 after the writer died was not written once; server.log:\n{text}"
    );
    assert_eq!(region.shared_lane().control().tail(), 3);
    let _ = std::fs::remove_file(&shm);
}

/// The previous writer abandoned a shared-lane claim whose producer died
/// (position 0: slot 0 freed for its next lap) and was killed before moving
/// the shared tail; no batch was in flight. Producers went on: "shared 1",
/// and "shared 2" in slot 0's next lap. The new writer must take the lane
/// over and write both, not wait for ever on position 0 as a claim that
/// never commits (which `abandon` cannot take: its slot is not "claimed
/// for 0" any more), with every later shared-lane record stuck behind it.
#[test]
fn a_writer_killed_inside_an_abandon_does_not_stick_the_shared_lane() {
    let dir = Dir::new("abandon");
    let shm = dir.0.join("region");
    let out = dir.0.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let region = region(&shm);
    let site = region
        .callsites()
        .register(EntryKind::Callsite, 2, 1, &["shared {}", "", "t.rs", "t"])
        .unwrap();
    let shared_lane = region.shared_lane();
    // A producer claimed 0 and died; the writer abandoned the claim and
    // was killed between the slot and the tail.
    assert_eq!(
        shared_lane
            .control()
            .head_raw()
            .fetch_add(1, Ordering::Relaxed),
        0
    );
    assert!(shared_lane.abandon(0));
    shared_lane.control().tail_raw().store(0, Ordering::Release);
    assert_eq!(push(&region, site, 1), 1);
    assert_eq!(push(&region, site, 2), 2, "slot 0's next lap");

    let outputs = Outputs::new(&out, "server").unwrap();
    let mut engine = Engine::new(region, outputs, Format::Text, Duration::from_secs(30)).unwrap();
    let mut passes = 0;
    while engine.pass().unwrap() != 0 {
        passes += 1;
        assert!(passes < 100, "the engine never finished draining");
    }
    let text = std::fs::read_to_string(out.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("shared "))
        .map(|l| l.rsplit(": ").next().unwrap())
        .collect();
    assert_eq!(
        lines,
        ["shared 1", "shared 2"],
        "the shared lane is stuck at the position the dead writer abandoned; server.log:\n{text}"
    );
    assert_eq!(engine.region().shared_lane().control().tail(), 3);
    let _ = std::fs::remove_file(&shm);
}
