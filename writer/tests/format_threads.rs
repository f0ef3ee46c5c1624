//! Format helper threads (`--format-threads`): a long run of one lane's
//! records is split among threads, and the files must be exactly what one
//! thread writes: every record once, in lane order, with bytes that are not
//! records reported and skipped the same way.
//!
//! Each case fills identical regions with the same records (fixed
//! timestamps, so the lines are byte-identical) and drains one with each
//! thread count through the real `Engine::pass`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ul_ring::args::{encode_record, OwnedValue};
use ul_ring::bytes::ByteStore;
use ul_ring::layout::Sizes;
use ul_ring::record::{Level, RecordHeader, RecordKind};
use ul_ring::region::{Region, RegionOptions};
use ul_writer::internals::engine::{Engine, Totals};
use ul_writer::internals::outputs::{Format, Outputs};

/// What goes into the lane, in order.
#[derive(Clone, Copy)]
enum Item {
    /// A log record carrying its number.
    Record(u64),
    /// A frame whose length lies: the lane is unreadable from there on.
    BadFrame,
    /// A well-framed record with an unknown argument tag: skipped alone.
    BadTag,
    /// A log record carrying its number, of a call site with a file and
    /// line (`src/lane.rs:7`).
    Located(u64),
    /// A log record carrying its number and 60 more large numbers.
    Long(u64),
}

struct Case {
    dir: PathBuf,
    /// What the engine writes (`--format both` unless a test says).
    format: Format,
    /// The output directory of the last drain.
    last_out: std::cell::RefCell<PathBuf>,
}

impl Case {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ul-format-threads-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Case {
            dir,
            format: Format::Both,
            last_out: Default::default(),
        }
    }

    /// Fills a fresh region with `items` in lane 0 (4 lanes of 1 MiB),
    /// drains it on `threads` format threads with `batch` records per
    /// pass, and returns `server.log` and `server.info.json`, and the
    /// lane parts helpers formatted (all, and prefetched ones).
    fn drain(&self, items: &[Item], threads: usize, batch: u32) -> (String, String, (u64, u64)) {
        let (text, json, totals) = self.drain_with(items, threads, batch, |_, _| {});
        (text, json, (totals.helper_parts, totals.prefetched_parts))
    }

    /// [`drain`](Self::drain), calling `before(engine, pass)` before each
    /// pass (0, 1, ...); returns the engine's totals.
    fn drain_with(
        &self,
        items: &[Item],
        threads: usize,
        batch: u32,
        before: impl FnMut(&mut Engine, usize),
    ) -> (String, String, Totals) {
        self.drain_lanes(&[(items.to_vec(), 0)], threads, batch, before)
    }

    /// [`drain_with`](Self::drain_with) of several lanes: lane `k` holds
    /// `lanes[k].0` and counts `lanes[k].1` records dropped (more than 4
    /// lanes: lanes of 256 KiB).
    fn drain_lanes(
        &self,
        lanes: &[(Vec<Item>, u64)],
        threads: usize,
        batch: u32,
        mut before: impl FnMut(&mut Engine, usize),
    ) -> (String, String, Totals) {
        // A fresh region and output directory for every drain.
        static DRAINS: AtomicUsize = AtomicUsize::new(0);
        let n = DRAINS.fetch_add(1, Ordering::Relaxed);
        let shm = self.dir.join(format!("region-{threads}-{n}"));
        let out = self.dir.join(format!("out-{threads}-{n}"));
        std::fs::create_dir_all(&out).unwrap();
        let region = Region::open(
            &shm,
            &RegionOptions {
                sizes: Sizes {
                    lanes: lanes.len().max(4) as u32,
                    lane_capacity: if lanes.len() > 4 { 1 << 18 } else { 1 << 20 },
                    ..Sizes::default()
                },
                batch_size: batch,
                ..RegionOptions::default()
            },
        )
        .unwrap();
        let _lanes: Vec<_> = lanes
            .iter()
            .enumerate()
            .map(|(k, (items, drops))| fill_lane(&region, k, items, *drops))
            .collect();
        let outputs = Outputs::new(&out, "server").unwrap();
        let mut engine =
            Engine::new(region, outputs, self.format, Duration::from_secs(30)).unwrap();
        engine.set_format_threads(threads).unwrap();
        let mut passes = 0;
        loop {
            before(&mut engine, passes);
            if engine.pass().unwrap() == 0 {
                break;
            }
            passes += 1;
            assert!(passes < 10_000, "the engine never finished draining");
        }
        let _ = std::fs::remove_file(&shm);
        *self.last_out.borrow_mut() = out.clone();
        (
            read(&out.join("server.log")),
            read(&out.join("server.info.json")),
            engine.totals,
        )
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The last run's `server.ulog`, decoded, equals its text and JSON files
/// (`text` and `json`: every record line is at level info, or error for a
/// skipped record, so the decoded info JSON is `server.info.json`).
fn assert_ulog_decodes_to(case: &Case, text: &str, json: &str, what: &str) {
    use ul_writer::binlog::Decoder;
    let out = case.last_out.borrow().clone();
    let file = std::fs::read(out.join("server.ulog")).unwrap();
    for (format, want) in [(Format::Text, text), (Format::Json, json)] {
        let mut d = Decoder::new(format);
        let mut got = Vec::new();
        let mut damage = Vec::new();
        assert_eq!(
            d.feed(&file, true, &mut got, &mut |e| damage.push(e)),
            file.len()
        );
        assert!(damage.is_empty(), "{what}: {damage:?}");
        let got = String::from_utf8(got).unwrap();
        let got: String = if format == Format::Json {
            got.lines()
                .filter(|l| l.starts_with("{\"level\":\"info\""))
                .map(|l| format!("{l}\n"))
                .collect()
        } else {
            got
        };
        assert!(
            got == want,
            "{what}: the decoded {format:?} differs from the file"
        );
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Writes `items` into lane `lane` (the next free one) as a producer
/// would (thread `lane`, claimed by this live process), counts `drops`
/// records dropped, and publishes them. Keep the claim while the engine
/// runs: it holds the lock that tells the engine the lane's owner lives.
fn fill_lane(
    region: &Region,
    lane: usize,
    items: &[Item],
    drops: u64,
) -> ul_ring::ownership::ClaimedLane {
    let claim = ul_ring::ownership::claim_lane(region, std::process::id(), lane as u32, 0)
        .expect("a free lane in a new region");
    assert_eq!(claim.index(), lane, "lanes are claimed in order");
    let ctrl = region.lane_control(lane);
    // SAFETY: the claim makes us the lane's one producer, and no engine
    // runs yet; `region` outlives `bytes`.
    let bytes = unsafe { region.lane_bytes(lane) };
    if drops > 0 {
        // SAFETY: as above; this producer only counts drops.
        let p = unsafe { ul_ring::lane::Producer::attach(ctrl, &bytes) };
        for _ in 0..drops {
            p.count_drop();
        }
    }
    let cap = bytes.capacity() as u64;
    let located = region
        .callsites()
        .register(
            ul_ring::callsite::EntryKind::Callsite,
            Level::Info as u8,
            7,
            &["n={} x={}", "", "src/lane.rs", "app"],
        )
        .expect("register a call site");
    let mut head = 0u64;
    let mut rec = Vec::new();
    for item in items {
        rec.clear();
        let hdr = RecordHeader {
            kind: RecordKind::Log as u8,
            level: Level::Info as u8,
            timestamp: 1_700_000_000_000_000_000,
            callsite: 0,
            ..Default::default()
        };
        match *item {
            Item::Record(i) => encode_record(
                &mut rec,
                RecordHeader {
                    seq: i as u32,
                    ..hdr
                },
                &[OwnedValue::U64(i), OwnedValue::F64(i as f64 / 4.0)],
            ),
            Item::Located(i) => encode_record(
                &mut rec,
                RecordHeader {
                    seq: i as u32,
                    callsite: located,
                    ..hdr
                },
                &[OwnedValue::U64(i), OwnedValue::F64(i as f64 / 4.0)],
            ),
            Item::Long(i) => encode_record(
                &mut rec,
                RecordHeader {
                    seq: i as u32,
                    ..hdr
                },
                &std::iter::once(OwnedValue::U64(i))
                    .chain((0..60).map(|_| OwnedValue::U64(u64::MAX)))
                    .collect::<Vec<_>>(),
            ),
            Item::BadTag => {
                encode_record(&mut rec, hdr, &[OwnedValue::U64(0)]);
                rec[32] = 200;
            }
            Item::BadFrame => {
                rec.extend_from_slice(&9u32.to_le_bytes());
                rec.extend_from_slice(&[1, 0, 0, 0]);
            }
        }
        assert!(
            head + rec.len() as u64 <= cap,
            "the test's records fit the lane"
        );
        bytes.write_with(head as usize, rec.len(), |e| e.put_bytes(&rec));
        head += rec.len() as u64;
    }
    ctrl.head_raw().store(head, Ordering::Release);
    claim
}

/// The record numbers in `text`'s lines, in order.
fn numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter(|l| !l.contains("ul-writer"))
        .map(|l| {
            let args = l.rsplit("<unknown callsite>").next().unwrap();
            args.split_whitespace().next().unwrap().parse().unwrap()
        })
        .collect()
}

/// The lines not written by the writer itself (those carry wall time).
fn record_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.contains("ul-writer")).collect()
}

#[test]
fn a_split_run_is_written_as_one_thread_writes_it() {
    let case = Case::new("clean");
    let items: Vec<Item> = (0..12_000).map(Item::Record).collect();
    let (text1, json1, parts) = case.drain(&items, 1, 4096);
    assert_eq!(parts, (0, 0));
    assert_eq!(numbers(&text1), (0..12_000).collect::<Vec<_>>());
    assert_eq!(json1.lines().count(), 12_000);
    for threads in [2, 3, 4] {
        let (text, json, (helped, prefetched)) = case.drain(&items, threads, 4096);
        assert_eq!(text, text1, "server.log with {threads} format threads");
        assert_eq!(
            json, json1,
            "server.info.json with {threads} format threads"
        );
        // The first pass splits as it reads; the next ones use parts
        // handed out while the previous batch was written.
        assert!(
            helped > prefetched && prefetched > 0,
            "{threads} threads: {helped} parts, {prefetched} prefetched"
        );
    }
}

/// `--text-location` reaches the helpers: every part shows file and line.
#[test]
fn helpers_show_the_location_when_asked() {
    let case = Case::new("located");
    let items: Vec<Item> = (0..12_000).map(Item::Located).collect();
    let on = |engine: &mut Engine, pass| {
        if pass == 0 {
            engine.set_text_location(true);
        }
    };
    let (text1, json1, _) = case.drain_with(&items, 1, 4096, on);
    let lines = record_lines(&text1);
    assert_eq!(lines.len(), 12_000);
    for (i, l) in lines.iter().enumerate() {
        let want = format!("[app] INFO: src/lane.rs:7: n={i} x=");
        assert!(l.contains(&want), "{l}");
    }
    let first: serde_json::Value = serde_json::from_str(json1.lines().next().unwrap()).unwrap();
    assert_eq!(
        (&first["file"], &first["line"]),
        (&"src/lane.rs".into(), &7.into())
    );
    for threads in [2, 3] {
        let (text, json, totals) = case.drain_with(&items, threads, 4096, on);
        assert!(totals.helper_parts > 0, "{threads} threads: no helper part");
        assert_eq!(text, text1, "server.log with {threads} format threads");
        assert_eq!(
            json, json1,
            "server.info.json with {threads} format threads"
        );
    }
}

#[test]
fn bad_bytes_in_a_helper_part_are_skipped_as_one_thread_skips_them() {
    let case = Case::new("bad");
    // 2 threads, 4096 per pass: parts of 2048. A bad tag in the second
    // part of the first pass, a lying frame in the second pass.
    let mut items: Vec<Item> = (0..3000).map(Item::Record).collect();
    items.push(Item::BadTag);
    items.extend((3000..7000).map(Item::Record));
    items.push(Item::BadFrame);
    items.extend((7000..9000).map(Item::Record));
    let (text1, json1, _) = case.drain(&items, 1, 4096);
    let n1 = numbers(&text1);
    // One thread: the bad tag costs only its record; the lying frame
    // makes the rest of what was published unreadable.
    assert_eq!(n1, (0..7000).collect::<Vec<_>>());
    assert!(text1.contains("skipped a record"), "{text1}");
    assert!(
        text1.contains("holds bytes that are not records"),
        "{text1}"
    );
    for threads in [2, 3] {
        let (text, json, (helped, _)) = case.drain(&items, threads, 4096);
        assert!(helped > 0, "{threads} threads: no part went to a helper");
        assert_eq!(
            record_lines(&text),
            record_lines(&text1),
            "{threads} threads"
        );
        assert_eq!(json.lines().count(), json1.lines().count());
        assert!(text.contains("skipped a record"), "{text}");
        assert!(text.contains("holds bytes that are not records"), "{text}");
    }
}

#[test]
fn small_batches_are_not_split_and_lose_nothing() {
    let case = Case::new("small");
    let items: Vec<Item> = (0..5000).map(Item::Record).collect();
    // 300 records per pass: parts would hold fewer than MIN_PART_RECORDS.
    let (text, _, parts) = case.drain(&items, 2, 300);
    assert_eq!(numbers(&text), (0..5000).collect::<Vec<_>>());
    assert_eq!(parts, (0, 0));
}

#[test]
fn a_helper_that_dies_loses_nothing() {
    let case = Case::new("dies");
    let items: Vec<Item> = (0..12_000).map(Item::Record).collect();
    let (text1, json1, _) = case.drain(&items, 1, 2048);
    assert_eq!(numbers(&text1), (0..12_000).collect::<Vec<_>>());
    // Pass 0 splits as it reads: a helper that panics there. Before pass 2
    // the parts handed out ahead (during pass 1) are already running, so
    // the failure lands in a prefetched part (handed out during pass 2).
    for (threads, fail_before) in [(2, 0), (3, 0), (2, 2), (3, 2)] {
        let mut left = threads;
        let (text, json, totals) = case.drain_with(&items, threads, 2048, |engine, pass| {
            if pass == fail_before {
                engine.fail_format_thread_part(0);
            }
            left = engine.format_threads();
        });
        let what = format!("{threads} threads, failing before pass {fail_before}");
        assert_eq!(totals.helpers_lost, 1, "{what}");
        assert_eq!(left, threads - 1, "{what}: the dead helper was not dropped");
        let (got, want) = (record_lines(&text), record_lines(&text1));
        if let Some(at) = (0..got.len().max(want.len())).find(|&k| got.get(k) != want.get(k)) {
            let nums = numbers(&text);
            let mut runs = Vec::new();
            let mut start = 0;
            for k in 1..=nums.len() {
                if k == nums.len() || nums[k] != nums[k - 1] + 1 {
                    runs.push(format!("{}..={}", nums[start], nums[k - 1]));
                    start = k;
                }
            }
            panic!(
                "{what}: line {at} of {} differs: {:?} where one thread wrote {:?}; runs of numbers: {runs:?}",
                want.len(),
                got.get(at),
                want.get(at)
            );
        }
        assert_eq!(json.lines().count(), json1.lines().count(), "{what}");
        let warned = text
            .lines()
            .filter(|l| l.contains("ul-writer") && l.contains("format helper thread(s) stopped"))
            .count();
        assert_eq!(warned, 1, "{what}: the loss is reported once:\n{text}");
        if threads == 3 {
            // The surviving helper keeps formatting parts.
            assert!(totals.helper_parts > 0, "{what}");
        }
    }
}

/// `--format all` on several threads: the helpers' parts carry their
/// binary records (the engine writes the entries they name before them),
/// so the binary log decodes to the very `server.log` and JSON lines the
/// engine wrote, and those are one thread's, bad record included.
#[test]
fn helpers_format_all_three_outputs_and_the_binary_log_decodes_to_them() {
    let mut case = Case::new("all");
    case.format = Format::All;
    // Records of a call site (an entry in the binary log) and of an
    // unknown one, and a record that is skipped, in helper parts too.
    let mut items: Vec<Item> = Vec::new();
    for i in 0..9000 {
        items.push(if i % 3 == 0 {
            Item::Record(i)
        } else {
            Item::Located(i)
        });
        if i == 5000 {
            items.push(Item::BadTag);
        }
    }
    let (text1, json1, _) = case.drain(&items, 1, 4096);
    assert_eq!(record_lines(&text1).len(), 9000);
    assert!(text1.contains("skipped a record"), "{text1}");
    for threads in [1, 2, 3] {
        let (text, json, (helped, _)) = case.drain(&items, threads, 4096);
        if threads > 1 {
            assert!(helped > 0, "{threads} threads: no part went to a helper");
        }
        assert_eq!(
            record_lines(&text),
            record_lines(&text1),
            "{threads} threads"
        );
        assert_eq!(record_lines(&json), record_lines(&json1));
        let what = format!("{threads} threads");
        assert_ulog_decodes_to(&case, &text, &json, &what);
    }
}

/// Batches bounded by their byte budget (not by the 65,536 records a pass
/// may take), with both outputs: each helper part is sized to what the
/// batch has room for, so it is taken, not refused and formatted again by
/// the engine. Before, the budget counted the capacity the text and JSON
/// buffers kept from earlier batches (each grows by doubling): with some
/// line sizes a part whose lines fit was refused "no room" in every pass.
/// Which budgets did that depends on the lines' sizes, so several are
/// tried.
#[test]
fn helper_parts_that_fit_the_byte_budget_are_taken() {
    let case = Case::new("budget");
    let items: Vec<Item> = (0..14_000).map(Item::Record).collect();
    let budget = |kib: usize| {
        move |e: &mut Engine, pass| {
            if pass == 0 {
                e.set_batch_bytes(kib << 10);
            }
        }
    };
    let mut short = Vec::new();
    for kib in (384..=1024).step_by(64) {
        let (text1, json1, one) = case.drain_with(&items, 1, 65_536, budget(kib));
        assert_eq!(numbers(&text1), (0..14_000).collect::<Vec<_>>());
        assert!(one.batches >= 4, "{kib} KiB: {} batches", one.batches);
        for threads in [2, 3] {
            let (text, json, t) = case.drain_with(&items, threads, 65_536, budget(kib));
            let what = format!("{kib} KiB, {threads} format threads");
            assert_eq!(text, text1, "server.log, {what}");
            assert_eq!(json, json1, "server.info.json, {what}");
            // Every pass but the last (what is left may be too short to
            // split) takes a part from each helper.
            let want = (t.batches - 1) * (threads as u64 - 1);
            if t.helper_parts < want {
                short.push(format!(
                    "{what}: {} helper parts taken in {} batches (one thread: {} batches)",
                    t.helper_parts, t.batches, one.batches
                ));
            }
        }
    }
    assert!(short.is_empty(), "parts refused:\n{}", short.join("\n"));
}

/// `lanes` lanes of `per` records each; lane `k`'s are numbered from
/// `k * 1000`; `drops[k]` records dropped in lane `k`.
fn short_runs(lanes: usize, per: u64, drops: &[(usize, u64)]) -> Vec<(Vec<Item>, u64)> {
    (0..lanes)
        .map(|k| {
            let items = (0..per)
                .map(|j| Item::Record(k as u64 * 1000 + j))
                .collect();
            let d = drops.iter().find(|d| d.0 == k).map_or(0, |d| d.1);
            (items, d)
        })
        .collect()
}

/// Each lane's numbers, in the order written.
fn by_lane(text: &str) -> Vec<Vec<u64>> {
    let mut lanes: Vec<Vec<u64>> = Vec::new();
    for n in numbers(text) {
        let k = (n / 1000) as usize;
        if lanes.len() <= k {
            lanes.resize(k + 1, Vec::new());
        }
        lanes[k].push(n);
    }
    lanes
}

/// Many producer threads: every lane holds a short run (too short to be
/// split alone), and the helpers format runs of other lanes. A batch that
/// takes them all is one thread's, byte for byte, drop reports in their
/// place included.
#[test]
fn short_runs_of_many_lanes_are_shared_among_the_threads() {
    let case = Case::new("lanes");
    let lanes = short_runs(32, 150, &[(5, 3), (20, 7)]);
    let big = |e: &mut Engine, pass| {
        if pass == 0 {
            e.set_batch_bytes(16 << 20);
        }
    };
    let (text1, json1, one) = case.drain_lanes(&lanes, 1, 65_536, big);
    assert_eq!(one.helper_parts, 0);
    let want: Vec<u64> = (0..32u64)
        .flat_map(|k| (0..150).map(move |j| k * 1000 + j))
        .collect();
    assert_eq!(numbers(&text1), want);
    for threads in [2, 3, 4] {
        let what = format!("{threads} format threads");
        let (text, json, t) = case.drain_lanes(&lanes, threads, 65_536, big);
        assert_eq!(
            record_lines(&text),
            record_lines(&text1),
            "server.log, {what}"
        );
        assert_eq!(json, json1, "server.info.json, {what}");
        assert_eq!(
            t.helper_parts,
            threads as u64 - 1,
            "{what}: every helper formats a part of the one batch"
        );
        // Each drop report right before its lane's records.
        let lines: Vec<&str> = text.lines().collect();
        for (lane, n) in [(5u64, 3), (20, 7)] {
            let at = lines
                .iter()
                .position(|l| l.contains(&format!(" {} ", lane * 1000)))
                .unwrap();
            let before = lines[at - 1];
            assert!(
                before.contains("ul-writer")
                    && before.contains(&format!("{n} records dropped"))
                    && before.contains(&format!("lane {lane},")),
                "{what}: before lane {lane}'s records: {before}"
            );
        }
        let reports = lines.iter().filter(|l| l.contains("dropped by")).count();
        assert_eq!(reports, 2, "{what}: each drop reported once:\n{text}");
    }
}

/// The same lanes in batches of a few hundred KiB: every record once, in
/// its lane's order, and the helpers still take parts.
#[test]
fn short_runs_of_many_lanes_in_small_batches_lose_nothing() {
    let case = Case::new("lanes-small");
    let lanes = short_runs(48, 120, &[]);
    let want: Vec<Vec<u64>> = (0..48u64)
        .map(|k| (0..120).map(|j| k * 1000 + j).collect())
        .collect();
    for kib in [64, 192, 384, 1024] {
        let budget = move |e: &mut Engine, pass| {
            if pass == 0 {
                e.set_batch_bytes(kib << 10);
            }
        };
        for threads in [1, 2, 3] {
            let what = format!("{kib} KiB, {threads} format threads");
            let (text, json, t) = case.drain_lanes(&lanes, threads, 65_536, budget);
            assert_eq!(by_lane(&text), want, "{what}");
            assert_eq!(json.lines().count(), 48 * 120, "{what}");
            if threads > 1 && kib >= 192 {
                assert!(
                    t.helper_parts >= t.batches - 1,
                    "{what}: {} helper parts in {} batches",
                    t.helper_parts,
                    t.batches
                );
            }
        }
    }
}

/// A helper that dies on a part of other lanes: the engine formats the
/// part itself, nothing is lost, and the batch is still one thread's.
#[test]
fn a_helper_that_dies_on_many_lanes_loses_nothing() {
    let case = Case::new("lanes-dies");
    let lanes = short_runs(32, 150, &[]);
    let big = |e: &mut Engine, pass| {
        if pass == 0 {
            e.set_batch_bytes(16 << 20);
        }
    };
    let (text1, _, _) = case.drain_lanes(&lanes, 1, 65_536, big);
    for threads in [2, 3] {
        let what = format!("{threads} format threads");
        let (text, _, t) = case.drain_lanes(&lanes, threads, 65_536, |e, pass| {
            big(e, pass);
            if pass == 0 {
                e.fail_format_thread_part(0);
            }
        });
        assert_eq!(t.helpers_lost, 1, "{what}");
        assert_eq!(record_lines(&text), record_lines(&text1), "{what}");
        assert_eq!(t.helper_parts, threads as u64 - 2, "{what}");
    }
}

/// Lines far longer than the writer's estimate (it starts at 256 bytes a
/// record): the first pass plans more than the batch can take, so a
/// helper's part finds no room; it is read again next pass and nothing is
/// lost or reordered within a lane. (Lines this long leave too few
/// records a batch for parts after that.)
#[test]
fn a_part_of_many_lanes_without_room_is_read_again() {
    let case = Case::new("lanes-room");
    let lanes: Vec<(Vec<Item>, u64)> = (0..16u64)
        .map(|k| ((0..32).map(|j| Item::Long(k * 1000 + j)).collect(), 0))
        .collect();
    let want: Vec<Vec<u64>> = (0..16u64)
        .map(|k| (0..32).map(|j| k * 1000 + j).collect())
        .collect();
    let (text1, _, _) = case.drain_lanes(&lanes, 1, 65_536, |_, _| {});
    assert_eq!(by_lane(&text1), want);
    for threads in [2, 3] {
        let what = format!("{threads} format threads");
        let (text, json, t) = case.drain_lanes(&lanes, threads, 65_536, |e, pass| {
            if pass == 0 {
                e.set_batch_bytes(1 << 20);
            }
        });
        assert_eq!(by_lane(&text), want, "{what}");
        assert_eq!(json.lines().count(), 16 * 32, "{what}");
        assert!(t.parts_refused > 0, "{what}: no part was refused");
        // Each pass resumes where the last stopped: lane by lane.
        assert_eq!(numbers(&text), numbers(&text1), "{what}");
    }
}

/// `--format all` over many lanes: the helpers' parts carry binary
/// records of several lanes and a drop report, and the binary log decodes
/// to the very text and JSON lines written, which are one thread's.
#[test]
fn parts_of_many_lanes_carry_the_binary_log() {
    let mut case = Case::new("lanes-all");
    case.format = Format::All;
    let lanes: Vec<(Vec<Item>, u64)> = (0..24u64)
        .map(|k| {
            let items = (0..100)
                .map(|j| {
                    let n = k * 1000 + j;
                    if (k + j) % 3 == 0 {
                        Item::Record(n)
                    } else {
                        Item::Located(n)
                    }
                })
                .collect();
            (items, if k == 17 { 4 } else { 0 })
        })
        .collect();
    let big = |e: &mut Engine, pass| {
        if pass == 0 {
            e.set_batch_bytes(16 << 20);
        }
    };
    let (text1, json1, _) = case.drain_lanes(&lanes, 1, 65_536, big);
    assert_eq!(record_lines(&text1).len(), 2400);
    for threads in [2, 3] {
        let what = format!("{threads} format threads");
        let (text, json, t) = case.drain_lanes(&lanes, threads, 65_536, big);
        assert_eq!(t.helper_parts, threads as u64 - 1, "{what}");
        assert_eq!(record_lines(&text), record_lines(&text1), "{what}");
        assert_eq!(json, json1, "{what}");
        assert_eq!(
            text.lines()
                .filter(|l| l.contains("4 records dropped"))
                .count(),
            1,
            "{what}"
        );
        assert_ulog_decodes_to(&case, &text, &json, &what);
    }
}
