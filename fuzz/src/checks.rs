// The bodies of the `drain_lane` and `format_record` fuzz targets.
//
// This file is not a module of its own: it is `include!`d by
// `fuzz/fuzz_targets/drain_lane.rs`, `fuzz/fuzz_targets/format_record.rs`
// and `writer/tests/fuzz_replay.rs` (which replays the corpora on stable
// Rust), so the fuzzer and CI run the very same checks. It may use only
// `std`, `ul_ring`, `ul_writer` and `serde_json`, all of which both places
// have. Every check panics on failure.

/// The checks both targets make on the output lines of a record.
pub mod lines {
    use ul_ring::args::Value;
    use ul_writer::format::{write_json, write_text, ContextValue, LineRecord, TimestampFormatter};

    /// `Display` of a decoded value, as `format!("{}", v)` writes it for the
    /// value's own type.
    pub fn display(v: &Value<'_>) -> String {
        match *v {
            Value::U64(x) => format!("{x}"),
            Value::I64(x) => format!("{x}"),
            Value::U128(x) => format!("{x}"),
            Value::I128(x) => format!("{x}"),
            Value::F32(x) => format!("{x}"),
            Value::F64(x) => format!("{x}"),
            Value::Bool(x) => format!("{x}"),
            Value::Char(x) => format!("{x}"),
            Value::Str(x) | Value::Text(x) => x.to_string(),
            Value::Cut { kept, omitted, .. } => format!("{kept}…[+{omitted} bytes]"),
        }
    }

    /// True if `got` (a JSON number) is `want` up to a few ULPs: the writer
    /// prints the shortest round-tripping decimal, and serde_json (without
    /// `float_roundtrip`) may parse it one ULP off.
    fn close(got: f64, want: f64, eps: f64, tiny: f64) -> bool {
        got == want || (got - want).abs() <= (want.abs() * 4.0 * eps).max(tiny)
    }

    /// A `context` value in the JSON line holds what `cv` holds, typed as
    /// `ContextValue` documents.
    fn check_json_value(key: &str, j: &serde_json::Value, cv: &ContextValue<'_>) {
        let ok = match cv {
            ContextValue::Str(s)
            | ContextValue::Value(Value::Str(s))
            | ContextValue::Value(Value::Text(s)) => j.as_str() == Some(*s),
            ContextValue::Value(v @ Value::Cut { .. }) => j.as_str() == Some(display(v).as_str()),
            ContextValue::Value(Value::Char(c)) => j.as_str() == Some(c.to_string().as_str()),
            ContextValue::Value(Value::Bool(b)) => j.as_bool() == Some(*b),
            ContextValue::Value(Value::U64(x)) => j.as_u64() == Some(*x),
            ContextValue::Value(Value::I64(x)) => j.as_i64() == Some(*x),
            // Numbers, exact in the line; serde_json reads those past 64
            // bits as an f64.
            ContextValue::Value(Value::U128(x)) => j
                .as_f64()
                .is_some_and(|g| close(g, *x as f64, f64::EPSILON, 0.0)),
            ContextValue::Value(Value::I128(x)) => j
                .as_f64()
                .is_some_and(|g| close(g, *x as f64, f64::EPSILON, 0.0)),
            ContextValue::Value(Value::F64(x)) if !x.is_finite() => {
                j.as_str() == Some(x.to_string().as_str())
            }
            ContextValue::Value(Value::F32(x)) if !x.is_finite() => {
                j.as_str() == Some(x.to_string().as_str())
            }
            ContextValue::Value(Value::F64(x)) => j
                .as_f64()
                .is_some_and(|g| close(g, *x, f64::EPSILON, f64::MIN_POSITIVE)),
            ContextValue::Value(Value::F32(x)) => j
                .as_f64()
                .is_some_and(|g| close(g, f64::from(*x), f64::from(f32::EPSILON), 1e-44)),
        };
        assert!(ok, "JSON context {key:?} is {j}, want {cv:?}");
    }

    /// Writes `r` with `write_text` and `write_json` (through `ts`, whose
    /// per-second cache carries over between calls) and checks both lines.
    /// The keys of `r.context` must be distinct.
    pub fn check(ts: &mut TimestampFormatter, r: &LineRecord<'_>) {
        let mut stamp = Vec::new();
        TimestampFormatter::new().write(&mut stamp, r.timestamp_ns);
        let stamp = String::from_utf8(stamp).expect("timestamp is not UTF-8");

        let mut text = Vec::new();
        write_text(&mut text, ts, r);
        let text = String::from_utf8(text).expect("text line is not UTF-8");
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "text line must end in its only newline: {text:?}"
        );
        let body = &text[..text.len() - 1];
        assert!(
            !body
                .chars()
                .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
            "text line holds a control character or line separator: {text:?}"
        );
        assert!(
            text.starts_with(&format!("UL: [{stamp}] [")),
            "text line {text:?} does not start with the timestamp {stamp}"
        );
        assert!(
            text.contains(&format!("] {}: ", r.level.as_upper())),
            "text line {text:?} lacks the level"
        );

        let mut json = Vec::new();
        write_json(&mut json, ts, r);
        assert!(
            json.ends_with(b"\n") && json.iter().filter(|&&b| b == b'\n').count() == 1,
            "JSON line must end in its only newline: {:?}",
            String::from_utf8_lossy(&json)
        );
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap_or_else(|e| {
            panic!(
                "JSON line does not parse ({e}): {:?}",
                String::from_utf8_lossy(&json)
            )
        });
        let message = String::from_utf8_lossy(r.message);
        assert_eq!(v["level"].as_str(), Some(r.level.as_str()), "{v}");
        assert_eq!(v["message"].as_str(), Some(message.as_ref()), "{v}");
        assert_eq!(v["timestamp"].as_str(), Some(stamp.as_str()), "{v}");
        assert_eq!(v["source"].as_str(), Some(r.source), "{v}");
        assert_eq!(v["pid"].as_u64(), Some(u64::from(r.pid)), "{v}");
        assert_eq!(v["tid"].as_u64(), Some(u64::from(r.tid)), "{v}");
        assert_eq!(v["seq"].as_u64(), Some(r.seq), "{v}");
        let ctx = v["context"].as_object().expect("context is not an object");
        assert_eq!(ctx.len(), r.context.len(), "{v}");
        for (k, cv) in r.context {
            let j = ctx
                .get(*k)
                .unwrap_or_else(|| panic!("context key {k:?} missing: {v}"));
            check_json_value(k, j, cv);
        }
    }
}

/// The call sites `drain_lane` inputs are read against, registered in this
/// order both in the engine rig's region and in a scratch table of the same
/// size for the in-memory half, so an id names the same entry in both.
/// Records name them by id (the first is 1); a compact record is read by
/// its call site's signature, where it has one.
pub mod sites {
    use std::cell::RefCell;

    use ul_ring::args::tag;
    use ul_ring::callsite::{CallsiteTable, EntryKind};
    use ul_ring::layout::ArenaHead;
    use ul_ring::record::Level;

    /// Bytes of the callsite arena (the smallest a region allows).
    pub const ARENA: usize = 4096;

    /// `(strings, signature)` of each call site, level info.
    pub const SITES: &[(&[&str], Option<&[u8]>)] = &[
        (&["plain message", "", "f.rs", "app"], Some(&[])),
        (
            &["int {} str {:>6} float {:.3}", "Src", "f.rs", "app::m"],
            Some(&[tag::U64, tag::STR, tag::F64]),
        ),
        // Tagged records only.
        (&["{}{}{}", "", "g.rs", "app", "k1", "k2"], None),
        (
            &["key {:?} hex {:#x}", "Über \"q\"", "h.rs", "a\tb", "user_id"],
            Some(&[tag::STR, tag::U32, tag::BOOL]),
        ),
        // Plain `{}`s of fixed-size values: the writer plans these.
        (&["{} {} {}", "", "p.rs", "app"], Some(&[tag::U64, tag::U32, tag::F64])),
    ];

    /// Registers [`SITES`] in `table` and returns their ids.
    pub fn register(table: &CallsiteTable<'_>) -> Vec<u32> {
        SITES
            .iter()
            .map(|(strings, sig)| {
                table
                    .register_signed(EntryKind::Callsite, 2, 1, strings, *sig)
                    .expect("register a callsite")
            })
            .collect()
    }

    thread_local! {
        /// The scratch table (leaked: it lives as long as the thread).
        static TABLE: RefCell<Option<(CallsiteTable<'static>, Vec<u32>)>> = const { RefCell::new(None) };
    }

    /// Runs `f` with the scratch table and the ids of [`SITES`] in it.
    pub fn with_table<R>(f: impl FnOnce(&CallsiteTable<'static>, &[u32]) -> R) -> R {
        TABLE.with(|t| {
            let mut t = t.borrow_mut();
            let (table, ids) = t.get_or_insert_with(|| {
                let head: &'static ArenaHead = Box::leak(Box::new(ArenaHead::new()));
                let mem: &'static mut [u64] = Box::leak(vec![0u64; ARENA / 8].into_boxed_slice());
                // SAFETY: `mem` is 8-aligned, `ARENA` bytes, leaked (it
                // outlives the table) and reached only through it.
                let table = unsafe { CallsiteTable::new(head, mem.as_mut_ptr().cast(), ARENA) };
                let ids = register(&table);
                (table, ids)
            });
            f(table, ids)
        })
    }

    /// What the writer reads a compact record naming `id` by: the call
    /// site's level and signature, if `id` names a committed call site
    /// entry (with its four strings) that has both.
    pub fn compact_site(id: u32) -> Option<(Level, Vec<u8>)> {
        with_table(|table, _| {
            let e = table.read(id).ok()?;
            if e.kind != EntryKind::Callsite || e.strings.len() < 4 {
                return None;
            }
            Some((Level::try_from(e.level).ok()?, e.signature?))
        })
    }

    /// True if the writer can write the record `rec` (either form) as a
    /// line rather than skip it.
    pub fn decodable(rec: &[u8]) -> bool {
        match ul_ring::record::peek(rec) {
            Ok(h) if h.form == ul_ring::record::Form::Compact => compact_site(h.callsite)
                .is_some_and(|(_, sig)| ul_ring::record::decode_with(rec, Some(&sig)).is_ok()),
            _ => ul_ring::record::decode(rec).is_ok(),
        }
    }
}

/// `drain_lane`: arbitrary lane bytes and cursors through the real
/// `Consumer::read_batch`, each record decoded and formatted into in-memory
/// sinks.
///
/// Input layout (short inputs are zero-padded to 17 bytes):
///
/// | bytes | meaning |
/// |---|---|
/// | 0..8 | tail, u64 little-endian |
/// | 8..16 | head, u64 little-endian (see bit 7 below) |
/// | 16 | bits 0-2: capacity `CAPACITIES[b % 5]`; bits 3-5: records per call `BATCH_SIZES[b]`; bit 7: head is `tail + (field mod 2 * capacity)` |
/// | 17.. | the lane's bytes from offset 0 (cut to the capacity, the rest zero) |
pub mod drain_lane {
    use std::sync::atomic::Ordering;

    use ul_ring::args::Value;
    use ul_ring::bytes::{ByteStore, HeapBytes};
    use ul_ring::lane::{Consumer, LaneControl};
    use ul_ring::record::{decode, decode_with, peek, Form, RecordKind, MAX_RECORD_LEN};
    use ul_writer::format::{format_message, ContextValue, LineRecord, TimestampFormatter};

    /// Lane capacities the selector byte chooses from.
    pub const CAPACITIES: [usize; 5] = [64, 128, 256, 1024, 4096];
    /// `max_records` per `read_batch` call (the writer's batch size).
    pub const BATCH_SIZES: [usize; 8] = [1, 2, 3, 5, 8, 64, 1024, 1 << 20];
    /// Selector bit: the head field is an offset from the tail.
    pub const RELATIVE_HEAD: u8 = 0x80;
    /// Bytes before the lane's bytes.
    pub const PREFIX: usize = 17;

    /// A decoded input.
    #[derive(Debug)]
    pub struct Input<'a> {
        pub tail: u64,
        pub head: u64,
        pub capacity: usize,
        pub max_records: usize,
        pub lane: &'a [u8],
    }

    pub fn parse(data: &[u8]) -> Input<'_> {
        let mut fixed = [0u8; PREFIX];
        let n = data.len().min(PREFIX);
        fixed[..n].copy_from_slice(&data[..n]);
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&fixed[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let (tail, head_field, sel) = (word(0), word(8), fixed[16]);
        let capacity = CAPACITIES[usize::from(sel & 7) % CAPACITIES.len()];
        let max_records = BATCH_SIZES[usize::from((sel >> 3) & 7)];
        let head = if sel & RELATIVE_HEAD != 0 {
            tail.wrapping_add(head_field & (2 * capacity as u64 - 1))
        } else {
            head_field
        };
        let lane = &data[n..];
        Input {
            tail,
            head,
            capacity,
            max_records,
            lane: &lane[..lane.len().min(capacity)],
        }
    }

    /// The input that [`parse`] reads back as these fields.
    pub fn encode(tail: u64, head: u64, sel: u8, lane: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(PREFIX + lane.len());
        v.extend_from_slice(&tail.to_le_bytes());
        v.extend_from_slice(&head.to_le_bytes());
        v.push(sel);
        v.extend_from_slice(lane);
        v
    }

    /// The selector byte for a capacity, a batch-size index and whether the
    /// head is relative.
    pub fn selector(capacity: usize, batch_index: u8, relative: bool) -> u8 {
        let c = CAPACITIES
            .iter()
            .position(|&c| c == capacity)
            .expect("not one of CAPACITIES") as u8;
        c | (batch_index & 7) << 3 | if relative { RELATIVE_HEAD } else { 0 }
    }

    /// What the consumer must find in `[tail, head)` of `lane`, worked out
    /// independently of it: the `(position, length)` of every record that
    /// is not padding, and the position of the first byte that cannot be
    /// framed (`None`: the lane drains cleanly to `head`).
    pub fn reference(lane: &[u8], tail: u64, head: u64) -> (Vec<(u64, usize)>, Option<u64>) {
        let cap = lane.len() as u64;
        let avail = head.wrapping_sub(tail);
        if avail > cap || avail % 8 != 0 || tail % 8 != 0 {
            return (Vec::new(), Some(tail));
        }
        let mut out = Vec::new();
        let mut pos = tail;
        while pos != head {
            let off = (pos % cap) as usize;
            // Up to the buffer's end or the head, whichever is first.
            let room = (cap - off as u64).min(head.wrapping_sub(pos));
            let len = u64::from(u32::from_le_bytes([
                lane[off],
                lane[off + 1],
                lane[off + 2],
                lane[off + 3],
            ]));
            if len < 8 || len % 8 != 0 || len > room || len > MAX_RECORD_LEN as u64 {
                return (out, Some(pos));
            }
            if lane[off + 4] != RecordKind::Padding as u8 {
                out.push((pos, len as usize));
            }
            pos = pos.wrapping_add(len);
        }
        (out, None)
    }

    /// Decodes one record (a compact one by its call site's signature, see
    /// [`super::sites`]) and, if it decodes, formats it as the writer
    /// would: message (`"{} "` per argument), text and JSON lines.
    fn format_one(ts: &mut TimestampFormatter, pos: u64, rec: &[u8]) {
        let site = peek(rec)
            .ok()
            .filter(|h| h.form == Form::Compact)
            .and_then(|h| super::sites::compact_site(h.callsite));
        let decoded = match &site {
            Some((_, sig)) => decode_with(rec, Some(sig)),
            None => decode(rec),
        };
        let Ok(r) = decoded else {
            return;
        };
        assert!(super::sites::decodable(rec), "record at {pos}");
        let level = match (r.level, &site) {
            (Some(l), _) => l,
            (None, Some((l, _))) => *l,
            (None, None) => panic!("a compact record decoded without a signature"),
        };
        let args: Vec<Value<'_>> = r.args.iter().collect();
        assert_eq!(args.len(), r.args.len());
        let fmt = "{} ".repeat(args.len());
        let mut msg = Vec::new();
        let outcome = format_message(&mut msg, &fmt, args.iter().copied());
        assert!(outcome.is_clean(), "{fmt:?} with {args:?}: {outcome:?}");
        let want: String = args
            .iter()
            .map(|v| super::lines::display(v) + " ")
            .collect();
        assert_eq!(
            std::str::from_utf8(&msg).ok(),
            Some(want.as_str()),
            "record at {pos}: {args:?}"
        );
        let keys: Vec<String> = (0..args.len().min(32)).map(|i| format!("a{i}")).collect();
        let context: Vec<(&str, ContextValue<'_>)> = keys
            .iter()
            .zip(&args)
            .map(|(k, v)| (k.as_str(), ContextValue::Value(*v)))
            .collect();
        let line = LineRecord {
            timestamp_ns: r.timestamp,
            level,
            source: "lane",
            message: &msg,
            context: &context,
            location: None,
            pid: r.callsite,
            tid: r.context,
            seq: pos,
            truncated: false,
        };
        super::lines::check(ts, &line);
    }

    /// The `drain_lane` target's body.
    pub fn run(data: &[u8]) {
        let input = parse(data);
        let Input {
            tail,
            head,
            capacity,
            max_records,
            lane,
        } = input;
        let cap = capacity as u64;
        let mut bytes = HeapBytes::new(capacity);
        bytes.fill(0, lane);
        let mut flat = vec![0u8; capacity];
        bytes.read(0, &mut flat);
        assert_eq!(&flat[..lane.len()], lane, "HeapBytes::fill");
        let (want_records, want_corrupt) = reference(&flat, tail, head);

        // Hostile cursors: forged, not pushed.
        let ctrl = LaneControl::new();
        ctrl.head_raw().store(head, Ordering::Release);
        ctrl.tail_raw().store(tail, Ordering::Release);
        // SAFETY: this is the lane's only consumer (and there is no
        // producer); every capacity is a power of two of at least 16.
        let consumer = unsafe { Consumer::attach(&ctrl, &bytes) };
        let mut ts = TimestampFormatter::new();
        let mut scratch = Vec::new();
        let mut got: Vec<(u64, usize)> = Vec::new();
        let mut corrupt = None;
        // Every call but the last consumes at least one 8-byte frame.
        let max_calls = capacity / 8 + 1;
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(calls <= max_calls, "no end after {max_calls} calls");
            let cur = consumer.tail();
            assert_eq!(consumer.head(), head);
            let avail = head.wrapping_sub(cur);
            let mut seen = 0usize;
            let mut last: Option<u64> = None;
            let batch = consumer.read_batch(cur, head, max_records, &mut scratch, |pos, rec| {
                seen += 1;
                let at = pos.wrapping_sub(cur);
                assert!(at < avail, "record at {pos} outside [{cur}, {head})");
                if let Some(l) = last {
                    assert!(at > l.wrapping_sub(cur), "record at {pos} not after {l}");
                }
                last = Some(pos);
                assert!(
                    rec.len() >= 8 && rec.len() % 8 == 0 && rec.len() <= MAX_RECORD_LEN,
                    "record of {} bytes",
                    rec.len()
                );
                assert!(
                    rec.len() as u64 <= avail - at,
                    "record at {pos} of {} bytes runs past head {head}",
                    rec.len()
                );
                let off = (pos & (cap - 1)) as usize;
                assert!(
                    off + rec.len() <= capacity,
                    "record at {pos} straddles the end"
                );
                assert_eq!(
                    rec,
                    &flat[off..off + rec.len()],
                    "record at {pos} miscopied"
                );
                assert_eq!(rec[..4], (rec.len() as u32).to_le_bytes());
                assert_ne!(rec[4], RecordKind::Padding as u8, "padding handed out");
                got.push((pos, rec.len()));
                format_one(&mut ts, pos, rec);
            });
            assert_eq!(batch.records, seen);
            assert!(seen <= max_records, "{seen} records, at most {max_records}");
            let moved = batch.new_tail.wrapping_sub(cur);
            assert!(
                moved <= avail,
                "new_tail {} past head {head} (tail {cur})",
                batch.new_tail
            );
            consumer.commit(batch.new_tail);
            if let Some(c) = batch.corrupt {
                assert_eq!(batch.new_tail, head, "corrupt lane not skipped to head");
                assert!(c.pos.wrapping_sub(cur) <= avail, "{c:?}");
                assert_eq!(c.skipped, head.wrapping_sub(c.pos), "{c:?}");
                assert!(!c.reason.is_empty());
                corrupt = Some(c.pos);
                break;
            }
            if batch.new_tail == head {
                break;
            }
            assert_ne!(batch.new_tail, cur, "no progress and not at head");
            // Lanes here are far below COPY_CHUNK, so only the batch size
            // stops a clean call short of the head.
            assert_eq!(
                seen, max_records,
                "stopped short of head at {}",
                batch.new_tail
            );
        }
        assert_eq!(consumer.tail(), head);
        assert_eq!(got, want_records, "records differ from the reference");
        assert_eq!(
            corrupt, want_corrupt,
            "corruption differs from the reference"
        );

        super::engine_drain::run(tail, head, &data[data.len().min(PREFIX)..]);
    }
}

/// The second half of `drain_lane`: the same cursors and bytes put into a
/// lane of a real region, drained by the writer's own `Engine::pass` into
/// real output files (on tmpfs), whose new lines are then checked.
///
/// One region and engine serve many inputs (a region cannot be unmapped
/// while the engine lives); they are replaced every [`RENEW_EVERY`] inputs.
/// The region holds the call sites of [`super::sites`] (formats, sources,
/// keys, signatures) so that ids in the records can name real entries: a
/// compact record is written only if it names one with a signature it
/// matches, and is otherwise skipped with an error line.
pub mod engine_drain {
    use std::cell::RefCell;
    use std::mem::ManuallyDrop;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use ul_ring::bytes::ByteStore;
    use ul_ring::layout::Sizes;
    use ul_ring::region::{Region, RegionOptions};
    use ul_writer::engine::Engine;
    use ul_writer::outputs::{Format, Outputs};

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
                mpsc_slots: 2,
                mpsc_slot_len: 64,
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
}

/// `format_record`: an arbitrary format string and arguments through
/// `format_message`, compared with `format!`, then through `write_text` and
/// `write_json`.
///
/// Input layout: a u16 little-endian length `n` (short inputs zero-padded),
/// then the format string (the next `n` bytes, or all there are, as lossy
/// UTF-8), then arguments, each a tag byte and its value (missing bytes read
/// as zero), at most [`MAX_ARGS`]:
///
/// | tag % 9 | value |
/// |---|---|
/// | 0 | u64, 8 bytes LE |
/// | 1 | i64, 8 bytes LE |
/// | 2 | f64, 8 bytes LE (IEEE bits) |
/// | 3 | f32, 4 bytes LE (IEEE bits) |
/// | 4 | bool, 1 byte (low bit) |
/// | 5 | char, 4 bytes LE, mod 0x110000 (surrogates become U+FFFD) |
/// | 6 | str, 1 length byte then that many bytes (lossy UTF-8) |
/// | 7 | u128, 16 bytes LE |
/// | 8 | i128, 16 bytes LE |
pub mod format_record {
    use std::fmt::{Debug, Display, LowerExp, LowerHex, Octal, UpperExp, UpperHex};

    use ul_ring::args::{encode_compact, encode_record, signature_of, CompactHeader, OwnedValue, Value};
    use ul_ring::record::Level;
    use ul_writer::format::{
        format_message, ContextValue, Escape, FormatOutcome, LineRecord, ParsedFormat, Plan,
        TimestampFormatter,
    };

    /// Most arguments decoded (enough to pass 128, where the formatter
    /// changes how it tracks used arguments).
    pub const MAX_ARGS: usize = 300;

    /// An argument as the input encodes it.
    #[derive(Clone, Debug, PartialEq)]
    pub enum Arg {
        U64(u64),
        I64(i64),
        F64(f64),
        F32(f32),
        Bool(bool),
        Char(char),
        Str(String),
        U128(u128),
        I128(i128),
    }

    impl Arg {
        pub fn to_owned_value(&self) -> OwnedValue {
            match self {
                Arg::U64(x) => OwnedValue::U64(*x),
                Arg::I64(x) => OwnedValue::I64(*x),
                Arg::F64(x) => OwnedValue::F64(*x),
                Arg::F32(x) => OwnedValue::F32(*x),
                Arg::Bool(x) => OwnedValue::Bool(*x),
                Arg::Char(x) => OwnedValue::Char(*x),
                Arg::Str(x) => OwnedValue::Str(x.clone()),
                Arg::U128(x) => OwnedValue::U128(*x),
                Arg::I128(x) => OwnedValue::I128(*x),
            }
        }

        pub fn as_value(&self) -> Value<'_> {
            match self {
                Arg::U64(x) => Value::U64(*x),
                Arg::I64(x) => Value::I64(*x),
                Arg::F64(x) => Value::F64(*x),
                Arg::F32(x) => Value::F32(*x),
                Arg::Bool(x) => Value::Bool(*x),
                Arg::Char(x) => Value::Char(*x),
                Arg::Str(x) => Value::Str(x),
                Arg::U128(x) => Value::U128(*x),
                Arg::I128(x) => Value::I128(*x),
            }
        }
    }

    struct Reader<'a>(&'a [u8]);

    impl Reader<'_> {
        fn byte(&mut self) -> Option<u8> {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            Some(b)
        }
        fn take(&mut self, n: usize) -> &[u8] {
            let (a, b) = self.0.split_at(n.min(self.0.len()));
            self.0 = b;
            a
        }
        fn arr<const N: usize>(&mut self) -> [u8; N] {
            let mut a = [0u8; N];
            let src = self.take(N);
            a[..src.len()].copy_from_slice(src);
            a
        }
    }

    pub fn parse(data: &[u8]) -> (String, Vec<Arg>) {
        let mut r = Reader(data);
        let fmt_len = usize::from(u16::from_le_bytes(r.arr()));
        let fmt = String::from_utf8_lossy(r.take(fmt_len)).into_owned();
        let mut args = Vec::new();
        while args.len() < MAX_ARGS {
            let Some(tag) = r.byte() else { break };
            args.push(match tag % 9 {
                0 => Arg::U64(u64::from_le_bytes(r.arr())),
                1 => Arg::I64(i64::from_le_bytes(r.arr())),
                2 => Arg::F64(f64::from_le_bytes(r.arr())),
                3 => Arg::F32(f32::from_le_bytes(r.arr())),
                4 => Arg::Bool(r.byte().unwrap_or(0) & 1 == 1),
                5 => Arg::Char(
                    char::from_u32(u32::from_le_bytes(r.arr()) % 0x11_0000)
                        .unwrap_or(char::REPLACEMENT_CHARACTER),
                ),
                6 => {
                    let n = usize::from(r.byte().unwrap_or(0));
                    Arg::Str(String::from_utf8_lossy(r.take(n)).into_owned())
                }
                7 => Arg::U128(u128::from_le_bytes(r.arr())),
                _ => Arg::I128(i128::from_le_bytes(r.arr())),
            });
        }
        (fmt, args)
    }

    /// The input that [`parse`] reads back as `fmt` and `args` (strings
    /// must be at most 255 bytes; chars other than U+FFFD come back as
    /// they are).
    pub fn encode(fmt: &[u8], args: &[Arg]) -> Vec<u8> {
        let n = u16::try_from(fmt.len()).expect("format string too long");
        let mut v = n.to_le_bytes().to_vec();
        v.extend_from_slice(fmt);
        for a in args {
            match a {
                Arg::U64(x) => {
                    v.push(0);
                    v.extend_from_slice(&x.to_le_bytes());
                }
                Arg::I64(x) => {
                    v.push(1);
                    v.extend_from_slice(&x.to_le_bytes());
                }
                Arg::F64(x) => {
                    v.push(2);
                    v.extend_from_slice(&x.to_le_bytes());
                }
                Arg::F32(x) => {
                    v.push(3);
                    v.extend_from_slice(&x.to_le_bytes());
                }
                Arg::Bool(x) => v.extend_from_slice(&[4, u8::from(*x)]),
                Arg::Char(x) => {
                    v.push(5);
                    v.extend_from_slice(&u32::from(*x).to_le_bytes());
                }
                Arg::Str(s) => {
                    let n = u8::try_from(s.len()).expect("string argument too long");
                    v.extend_from_slice(&[6, n]);
                    v.extend_from_slice(s.as_bytes());
                }
                Arg::U128(x) => {
                    v.push(7);
                    v.extend_from_slice(&x.to_le_bytes());
                }
                Arg::I128(x) => {
                    v.push(8);
                    v.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        v
    }

    /// Declares the placeholders of one trait family and a function that
    /// applies one with `format!` (which needs it as a literal).
    macro_rules! family {
        ($list:ident, $func:ident, [$($bound:path),+], [$($spec:literal),+ $(,)?]) => {
            pub const $list: &[&str] = &[$($spec),+];
            fn $func<T: $($bound +)+>(spec: &str, v: T) -> Option<String> {
                match spec {
                    $($spec => Some(format!($spec, v)),)+
                    _ => None,
                }
            }
        };
    }

    family!(
        DISPLAY,
        display_as,
        [Display],
        [
            "{}", "{:5}", "{:<5}", "{:>5}", "{:^5}", "{:*^7}", "{:é>4}", "{:.2}", "{:.0}", "{:+}",
            "{:05}", "{:>8.3}", "{:+08.1}",
        ]
    );
    family!(
        DEBUG,
        debug_as,
        [Debug],
        ["{:?}", "{:>6?}", "{:.1?}", "{:#?}", "{:08?}"]
    );
    family!(
        RADIX,
        radix_as,
        [LowerHex, UpperHex, Octal, std::fmt::Binary],
        ["{:x}", "{:#x}", "{:X}", "{:#010x}", "{:o}", "{:#b}", "{:+x}"]
    );
    family!(
        EXP,
        exp_as,
        [LowerExp, UpperExp],
        ["{:e}", "{:E}", "{:.3e}", "{:+e}", "{:012.2e}"]
    );

    /// `format!(spec, a)` for `a`'s own type; `None` if that type does not
    /// implement the placeholder's trait (`format!` would not compile).
    pub fn expect(spec: &str, a: &Arg) -> Option<String> {
        fn int<T>(spec: &str, x: T) -> Option<String>
        where
            T: Display
                + Debug
                + LowerHex
                + UpperHex
                + Octal
                + std::fmt::Binary
                + LowerExp
                + UpperExp
                + Copy,
        {
            display_as(spec, x)
                .or_else(|| debug_as(spec, x))
                .or_else(|| radix_as(spec, x))
                .or_else(|| exp_as(spec, x))
        }
        fn float<T: Display + Debug + LowerExp + UpperExp + Copy>(
            spec: &str,
            x: T,
        ) -> Option<String> {
            display_as(spec, x)
                .or_else(|| debug_as(spec, x))
                .or_else(|| exp_as(spec, x))
        }
        fn text<T: Display + Debug + Copy>(spec: &str, x: T) -> Option<String> {
            display_as(spec, x).or_else(|| debug_as(spec, x))
        }
        match a {
            Arg::U64(x) => int(spec, *x),
            Arg::I64(x) => int(spec, *x),
            Arg::U128(x) => int(spec, *x),
            Arg::I128(x) => int(spec, *x),
            Arg::F64(x) => float(spec, *x),
            Arg::F32(x) => float(spec, *x),
            Arg::Bool(x) => text(spec, *x),
            Arg::Char(x) => text(spec, *x),
            Arg::Str(x) => text(spec, x.as_str()),
        }
    }

    fn known(spec: &str) -> bool {
        [DISPLAY, DEBUG, RADIX, EXP]
            .iter()
            .any(|l| l.contains(&spec))
    }

    /// What `format_message` must give for `fmt` and `args`, built with
    /// `format!`, when `fmt` is in the modelled subset: literal text, `{{`,
    /// `}}`, and placeholders without a position drawn from the families
    /// above, each applicable to its argument's type. Placeholders past the
    /// last argument stay verbatim (`missing`); arguments past the last
    /// placeholder are appended, each after a space, as `{}` (`extra`).
    /// `None` for anything else.
    pub fn expected(fmt: &str, args: &[Arg]) -> Option<(String, FormatOutcome)> {
        let b = fmt.as_bytes();
        let mut out = String::new();
        let mut outcome = FormatOutcome::default();
        let mut next = 0;
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'{' if b.get(i + 1) == Some(&b'{') => {
                    out.push('{');
                    i += 2;
                }
                b'}' if b.get(i + 1) == Some(&b'}') => {
                    out.push('}');
                    i += 2;
                }
                b'{' => {
                    let close = i + 1 + b[i + 1..].iter().position(|&c| c == b'}' || c == b'{')?;
                    if b[close] != b'}' {
                        return None;
                    }
                    let spec = &fmt[i..=close];
                    if !known(spec) {
                        return None;
                    }
                    match args.get(next) {
                        Some(a) => out.push_str(&expect(spec, a)?),
                        None => {
                            out.push_str(spec);
                            outcome.missing += 1;
                        }
                    }
                    next += 1;
                    i = close + 1;
                }
                // A lone `}`: `format!` refuses it.
                b'}' => return None,
                _ => {
                    let end = b[i..]
                        .iter()
                        .position(|&c| c == b'{' || c == b'}')
                        .map_or(b.len(), |p| i + p);
                    out.push_str(&fmt[i..end]);
                    i = end;
                }
            }
        }
        for a in args.iter().skip(next) {
            out.push(' ');
            out.push_str(&super::lines::display(&a.as_value()));
            outcome.extra += 1;
        }
        Some((out, outcome))
    }

    /// The `format_record` target's body.
    pub fn run(data: &[u8]) {
        let (fmt, args) = parse(data);
        let values: Vec<Value<'_>> = args.iter().map(Arg::as_value).collect();
        let mut out = Vec::new();
        let outcome = format_message(&mut out, &fmt, values.iter().copied());
        let msg = String::from_utf8(out)
            .unwrap_or_else(|e| panic!("{fmt:?} with {args:?} gave bad UTF-8: {e}"));
        assert!(outcome.extra <= args.len(), "{outcome:?}");
        if let Some((want, want_outcome)) = expected(&fmt, &args) {
            assert_eq!(msg, want, "{fmt:?} with {args:?}");
            assert_eq!(outcome, want_outcome, "{fmt:?} with {args:?}");
        }
        // The writer's direct path, where it applies, gives the message
        // escaped for each output exactly as escaping it afterwards does.
        let parsed = ParsedFormat::new(&fmt);
        for esc in [Escape::Text, Escape::Json] {
            let mut direct = b"prefix ".to_vec();
            let mut scratch = Vec::new();
            let args_iter = values.iter().copied();
            if let Some(o) =
                parsed.format_escaped(&mut direct, args_iter, values.len(), esc, &mut scratch)
            {
                let mut want = b"prefix ".to_vec();
                esc.escape(&mut want, msg.as_bytes());
                assert_eq!(direct, want, "{esc:?}: {fmt:?} with {args:?}");
                assert_eq!(o, outcome, "{esc:?}: {fmt:?} with {args:?}");
            } else {
                assert_eq!(direct, b"prefix ", "declined but wrote: {fmt:?}");
            }
        }
        // A plan, where the format and the arguments allow one, writes the
        // message from the record's bytes exactly as the general path does.
        let owned: Vec<OwnedValue> = args.iter().map(Arg::to_owned_value).collect();
        let mut record = Vec::new();
        encode_record(&mut record, Default::default(), &owned);
        // A string that an output escapes is the general path's.
        let escaped = owned
            .iter()
            .any(|v| matches!(v, OwnedValue::Str(s) if !Escape::Json.is_plain(s.as_bytes())));
        if owned.len() <= 255 {
            if let Some(plan) = Plan::new(&parsed, &record) {
                assert_eq!(plan.fits(&record), !escaped, "{fmt:?} with {args:?}");
                if !escaped {
                    let mut planned = Vec::new();
                    plan.write(&mut planned, &record);
                    assert_eq!(planned, msg.as_bytes(), "plan: {fmt:?} with {args:?}");
                }
            }
        }
        // The same for a compact record by its signature; the general
        // decoder reads it as the tagged one.
        let sig = signature_of(&owned);
        let mut compact = Vec::new();
        encode_compact(&mut compact, CompactHeader::default(), &owned);
        if let Ok(rec) = ul_ring::record::decode_with(&compact, Some(&sig)) {
            let got: Vec<Value<'_>> = rec.args.iter().collect();
            let mut again = Vec::new();
            format_message(&mut again, &fmt, got.iter().copied());
            assert_eq!(again, msg.as_bytes(), "compact: {fmt:?} with {args:?}");
        } else {
            assert!(compact.len() > ul_ring::record::MAX_RECORD_LEN, "{fmt:?} with {args:?}");
        }
        if let Some(plan) = Plan::compact(&parsed, &sig) {
            assert!(!plan.fits(&record), "a compact plan took a tagged record");
            assert_eq!(plan.fits(&compact), !escaped, "compact: {fmt:?} with {args:?}");
            if !escaped {
                let mut planned = Vec::new();
                plan.write(&mut planned, &compact);
                assert_eq!(planned, msg.as_bytes(), "compact plan: {fmt:?} with {args:?}");
            }
        }

        // A timestamp, level and ids that vary with the input.
        let h = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let keys: Vec<String> = (0..values.len().min(32)).map(|i| format!("a{i}")).collect();
        let mut context = vec![("fmt", ContextValue::Str(&fmt))];
        context.extend(
            keys.iter()
                .zip(&values)
                .map(|(k, v)| (k.as_str(), ContextValue::Value(*v))),
        );
        let line = LineRecord {
            timestamp_ns: h,
            level: Level::ALL[(h % 5) as usize],
            source: "format_record",
            message: msg.as_bytes(),
            context: &context,
            location: None,
            pid: (h >> 32) as u32,
            tid: h as u32,
            seq: args.len() as u64,
            truncated: false,
        };
        super::lines::check(&mut TimestampFormatter::new(), &line);
    }
}
