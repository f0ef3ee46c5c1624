//! Compact records are read only by their call site's signature. A
//! producer that writes one whose bytes do not match it (too short for the
//! signature's values, a longer length word, a string running past the
//! record, or a call site that registered no signature) has that record
//! skipped and reported by the real `ul-writer` process, counted as a
//! decode error, while the matching records around it are written.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ul_ring::args::{encode_compact, tag, CompactHeader, OwnedValue};
use ul_ring::bytes::ByteStore;
use ul_ring::callsite::EntryKind;

#[test]
fn a_compact_record_that_does_not_match_its_signature_is_skipped_and_reported() {
    let s = Scratch::new("compact-mismatch");
    let w = Writer::start(&s, &["--lanes", "4", "--lane-size", "65536"]);
    let region = common::attach(&s.shm);
    let table = region.callsites();
    let site = ["n={} m={} x={}", "Compact", "src/compact.rs", "compact"];
    let signed = table
        .register_signed(
            EntryKind::Callsite,
            2,
            7,
            &site,
            Some(&[tag::U64, tag::U32, tag::F64]),
        )
        .expect("register");
    let words = ["s={}", "Compact", "src/compact.rs", "compact"];
    let with_str = table
        .register_signed(EntryKind::Callsite, 3, 8, &words, Some(&[tag::STR]))
        .expect("register");
    let unsigned = table
        .register(EntryKind::Callsite, 2, 9, &site)
        .expect("register");

    let record = |callsite: u32, args: &[OwnedValue]| {
        let mut buf = Vec::new();
        let h = CompactHeader {
            flags: 0,
            timestamp: ul_ring::clock::wall_ns(),
            callsite,
            context: 0,
        };
        encode_compact(&mut buf, h, args);
        buf
    };
    let three = |n: u64| {
        [
            OwnedValue::U64(n),
            OwnedValue::U32(n as u32 + 1),
            OwnedValue::F64(0.5),
        ]
    };
    let mut records = vec![record(signed, &three(7))];
    // Fewer values than the signature's: the u32 and f64 are missing.
    records.push(record(signed, &[OwnedValue::U64(8)]));
    // The right values, and a length word one word longer.
    let mut long = record(signed, &three(9));
    long.extend_from_slice(&[0; 8]);
    let n = long.len() as u32;
    long[..4].copy_from_slice(&n.to_le_bytes());
    records.push(long);
    // A string whose length word runs past the record.
    let mut cut = record(with_str, &[OwnedValue::Str("abc".into())]);
    cut[16..20].copy_from_slice(&1000u32.to_le_bytes());
    records.push(cut);
    // A call site that registered no signature.
    records.push(record(unsigned, &three(10)));
    records.push(record(signed, &three(11)));
    records.push(record(with_str, &[OwnedValue::Str("fine".into())]));

    // Written into a lane of our own, as a producer would.
    let claim =
        ul_ring::ownership::claim_lane(&region, std::process::id(), 0, 0).expect("a free lane");
    let lane = claim.index();
    let ctrl = region.lane_control(lane);
    // SAFETY: we own the lane (claimed above) and only this thread of
    // this process writes it (the writer reading it is another process);
    // `region` outlives `bytes`.
    let bytes = unsafe { region.lane_bytes(lane) };
    let mut head = ctrl.head();
    for r in &records {
        let at = (head % bytes.capacity() as u64) as usize;
        assert!(at + r.len() <= bytes.capacity(), "the test's records wrap");
        bytes.write_with(at, r.len(), |e| e.put_bytes(r));
        head += r.len() as u64;
    }
    // Release: the bytes above happen before the writer's Acquire load.
    ctrl.head_raw().store(head, Ordering::Release);
    region.header().wake.kick();
    assert!(
        wait_for(Duration::from_secs(20), || ctrl.tail() == head),
        "the writer did not drain the lane"
    );
    let errors = region.header().stats.decode_errors.get();
    claim.retire(&region);
    let (st, err) = w.stop();
    assert!(st.success(), "writer exit {st:?}: {err}");
    assert!(!err.contains("panicked"), "writer panicked: {err}");

    let text = s.text();
    let written: Vec<&str> = text.lines().filter(|l| l.contains("[Compact]")).collect();
    assert_eq!(written.len(), 3, "{text}");
    assert!(written[0].ends_with("n=7 m=8 x=0.5"), "{text}");
    assert!(written[1].ends_with("n=11 m=12 x=0.5"), "{text}");
    assert!(written[2].ends_with("s=fine"), "{text}");
    let skipped: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[ul-writer]") && l.contains("skipped a record"))
        .collect();
    assert_eq!(skipped.len(), 4, "{text}");
    for (line, why) in skipped.iter().zip([
        "past the record",
        "does not match its call site's signature",
        "past the record",
        "which has no signature",
    ]) {
        assert!(line.contains(why), "{line:?} should say {why:?}");
        assert!(line.contains(&format!("in lane {lane}")), "{line}");
    }
    assert_eq!(errors, 4, "decode errors counted");
    // Nothing was misread as a message.
    assert!(!text.contains("n=8 "), "{text}");
    assert!(!text.contains("n=9 "), "{text}");
    assert!(!text.contains("n=10 "), "{text}");
}
