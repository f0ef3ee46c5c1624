// The body of `checks::drain_lane` (documented in `fuzz/src/checks.rs`, which
// includes this file inside `pub mod drain_lane { ... }`; see there why the
// checks are included rather than a crate of their own).

use std::sync::atomic::Ordering;

use ul_ring::args::Value;
use ul_ring::bytes::{ByteStore, HeapBytes};
use ul_ring::lane::{Consumer, LaneControl};
use ul_ring::record::{decode, decode_with, peek, Form, RecordKind, MAX_RECORD_LEN};
use ul_writer::internals::format::{format_message, ContextValue, LineRecord, TimestampFormatter};

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
