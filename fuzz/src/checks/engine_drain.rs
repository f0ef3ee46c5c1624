// The body of `checks::engine_drain` (documented in `fuzz/src/checks.rs`, which
// includes this file inside `pub mod engine_drain { ... }`; see there why the
// checks are included rather than a crate of their own).

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ul_ring::bytes::ByteStore;
use ul_ring::layout::Sizes;
use ul_ring::region::{Region, RegionOptions};
use ul_writer::internals::engine::Engine;
use ul_writer::internals::outputs::{Format, Outputs};

/// Bytes in the region's one lane (the smallest a region allows).
pub const LANE: usize = 4096;
/// Inputs served by one region and engine.
pub const RENEW_EVERY: u32 = 2048;
struct Rig {
    engine: Engine,
    /// Holds the lane's lock, so the engine's dead-owner scan leaves
    /// the lane alone.
    _lane: ul_ring::ownership::ClaimedLane,
    dir: PathBuf,
    /// Bytes of each output file already checked.
    seen: Vec<(PathBuf, u64)>,
    served: u32,
}

thread_local! {
    /// The rig in use, and the rigs it replaced. An engine never unmaps
    /// its region (it holds it as `'static`), so dropping one would
    /// leak the region's box: the rigs are kept, never dropped (not at
    /// thread exit either), so LeakSanitizer sees them reachable. Each
    /// costs a few pages.
    static RIGS: ManuallyDrop<RefCell<Vec<Rig>>> = const { ManuallyDrop::new(RefCell::new(Vec::new())) };
}

/// A path prefix no other rig (thread, process) uses.
fn base() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!("/dev/shm/ul-fuzz-drain-{}-{n}", std::process::id()))
}

/// Removes the output dirs of rigs whose process has exited (a fuzzer
/// exits without running destructors).
fn remove_stale() {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("ul-fuzz-drain-")) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn new_rig(old: Option<&Rig>) -> Rig {
    match old {
        Some(old) => {
            let _ = std::fs::remove_dir_all(&old.dir);
        }
        None => remove_stale(),
    }
    let base = base();
    let shm = base.with_extension("region");
    let dir = base.with_extension("logs");
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_dir_all(&dir);
    let opts = RegionOptions {
        sizes: Sizes {
            lanes: 1,
            lane_capacity: LANE as u32,
            shared_lane_slots: 2,
            shared_lane_slot_len: 64,
            callsite_len: super::sites::ARENA as u32,
        },
        ..Default::default()
    };
    let region = Region::open(&shm, &opts).expect("create the fuzz region");
    // The mapping and descriptor keep it alive; nothing else may open it.
    let _ = std::fs::remove_file(&shm);
    let ids = super::sites::register(&region.callsites());
    let scratch = super::sites::with_table(|_, ids| ids.to_vec());
    assert_eq!(ids, scratch, "the rig's call sites are not the scratch table's");
    // Own the lane as this live process, as a producer would, so the
    // engine's dead-owner scan leaves it alone.
    let lane = ul_ring::ownership::claim_lane(&region, std::process::id(), 0, 0)
        .expect("claim the region's one lane");
    let outputs = Outputs::new(&dir, "server").expect("create the outputs");
    let engine = Engine::new(region, outputs, Format::Both, Duration::from_secs(30))
        .expect("start the engine");
    Rig {
        engine,
        _lane: lane,
        dir,
        seen: Vec::new(),
        served: 0,
    }
}

/// The output directories of this thread's rigs.
pub fn dirs_of_this_thread() -> Vec<PathBuf> {
    RIGS.with(|rigs| rigs.borrow().iter().map(|r| r.dir.clone()).collect())
}

/// Removes this thread's rigs' output directories when dropped (a
/// test's end, or its panic). The rigs stay (see `RIGS`); a rig that
/// drains again recreates its directory's files. A fuzzer never drops
/// it: `remove_stale` cleans up after fuzzers instead.
pub struct RemoveDirsOnDrop;

impl Drop for RemoveDirsOnDrop {
    fn drop(&mut self) {
        for d in dirs_of_this_thread() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// New lines of every output file since the last call.
fn new_lines(rig: &mut Rig) -> (Vec<String>, Vec<String>) {
    let mut text = Vec::new();
    let mut json = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&rig.dir)
        .expect("read the output dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let bytes = std::fs::read(&path).expect("read an output file");
        let from = rig
            .seen
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(0, |(_, n)| *n as usize);
        assert!(from <= bytes.len(), "{} shrank", path.display());
        let new = &bytes[from..];
        assert!(
            new.is_empty() || new.ends_with(b"\n"),
            "{}: a partial line",
            path.display()
        );
        let s = std::str::from_utf8(new).expect("output is UTF-8");
        let lines = s.lines().map(str::to_owned);
        if path.extension().is_some_and(|e| e == "json") {
            json.extend(lines);
        } else {
            text.extend(lines);
        }
        rig.seen.retain(|(p, _)| *p != path);
        rig.seen.push((path, bytes.len() as u64));
    }
    (text, json)
}

/// Drains `[tail, head)` of a lane whose bytes start with `bytes`.
pub fn run(tail: u64, head: u64, bytes: &[u8]) {
    let mut img = vec![0u8; LANE];
    let n = bytes.len().min(LANE);
    img[..n].copy_from_slice(&bytes[..n]);
    let (want, corrupt) = super::drain_lane::reference(&img, tail, head);
    // The engine does not look at a lane with nothing in it, even at a
    // misaligned tail.
    let corrupt = corrupt.filter(|_| head != tail);
    let decodable = want
        .iter()
        .filter(|&&(pos, len)| {
            let off = (pos % LANE as u64) as usize;
            super::sites::decodable(&img[off..off + len])
        })
        .count();
    let undecodable = want.len() - decodable;

    RIGS.with(|rigs| {
        let mut rigs = rigs.borrow_mut();
        if rigs.last().is_none_or(|r| r.served >= RENEW_EVERY) {
            let rig = new_rig(rigs.last());
            rigs.push(rig);
        }
        let rig = rigs.last_mut().expect("a rig");
        rig.served += 1;
        let region = rig.engine.region();
        // SAFETY: the engine is not running (it runs only inside
        // `pass`, on this thread), so nothing else touches the lane;
        // the region outlives this use (the engine leaks it).
        let bytes = unsafe { region.lane_bytes(0) };
        bytes.write_with(0, LANE, |e| e.put_bytes(&img));
        let ctrl = region.lane_control(0);
        ctrl.tail_raw().store(tail, Ordering::Release);
        ctrl.head_raw().store(head, Ordering::Release);
        // The files stand at the forged tail too (the last run left them
        // at its head, which may lie inside this run's range).
        ctrl.commit_files(tail);

        // Each pass takes a batch (the region's batch size) or skips a
        // corrupt lane to its head; it must end.
        let mut passes = 0;
        loop {
            passes += 1;
            assert!(passes <= LANE / 8 + 2, "the engine never finished");
            if rig.engine.pass().expect("write to tmpfs") == 0 {
                break;
            }
        }
        assert_eq!(
            ctrl.tail(),
            head,
            "the engine left the lane undrained"
        );

        let (text, json) = new_lines(rig);
        // `UL: [<time>] [<source>] ...`: the time holds no "] [".
        let mine = |l: &&String| {
            !l.split_once("] [")
                .is_some_and(|(_, rest)| rest.starts_with("ul-writer] "))
        };
        let records: Vec<&String> = text.iter().filter(mine).collect();
        let writer: Vec<&String> = text.iter().filter(|l| !mine(l)).collect();
        for l in &text {
            assert!(l.starts_with("UL: ["), "malformed text line {l:?}");
        }
        assert_eq!(
            records.len(),
            decodable,
            "one text line per decodable record: {text:#?}"
        );
        let skipped = writer.iter().filter(|l| l.contains("skipped a record")).count();
        assert_eq!(skipped, undecodable, "one error line per undecodable record");
        let corrupt_lines = writer
            .iter()
            .filter(|l| l.contains("holds bytes that are not records"))
            .count();
        assert_eq!(corrupt_lines, usize::from(corrupt.is_some()), "{writer:#?}");
        assert_eq!(json.len(), text.len(), "text and JSON line counts differ");
        for l in &json {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}"));
            assert!(v.get("level").is_some() && v.get("message").is_some(), "{l}");
        }
    });
}
