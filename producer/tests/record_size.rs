//! The records the macros write are compact: a call site's level and
//! argument types are registered once with it, so the record carries the
//! frame word, the timestamp and the values. Checked on the bytes a real
//! call puts in its lane, decoded by the signature the call site
//! registered.

use ul_ring::args::{tag, Value};
use ul_ring::record::{decode_with, peek, Form};
use ul_ring::region::{Region, RegionOptions};

#[test]
fn the_three_argument_call_writes_40_bytes_and_a_static_one_16() {
    let path = std::env::temp_dir().join(format!("ul-record-size-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    ul::init(&path).expect("init");
    let (i, j, x) = (7u64, 8u32, 0.5f64);
    ul::info!("Logging int: {}, int: {}, double: {}", i, j, x);
    let lane = ul::current_lane().expect("a lane of its own");
    ul::info!("Static message without arguments");
    ul::info!(source: "Svc", "with a context {}", 1u8; user = "ann");

    let region = Region::open(
        &path,
        &RegionOptions {
            create: false,
            ..Default::default()
        },
    )
    .expect("open");
    let ctrl = region.lane_control(lane);
    let (tail, head) = (ctrl.tail(), ctrl.head());
    let mut bytes = vec![0u8; (head - tail) as usize];
    // SAFETY: this thread is the lane's only producer and is not logging
    // while it reads; nothing else consumes the lane (no writer runs).
    let store = unsafe { region.lane_bytes(lane) };
    let cap = ul_ring::bytes::ByteStore::capacity(&store) as u64;
    assert!(tail % cap + (head - tail) <= cap, "the records wrap");
    ul_ring::bytes::ByteStore::read(&store, (tail % cap) as usize, &mut bytes);

    let table = region.callsites();
    let mut at = 0;
    let mut seen = Vec::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let rec = &bytes[at..at + len];
        let head = peek(rec).expect("a record");
        assert_eq!(head.form, Form::Compact);
        let entry = table.read(head.callsite).expect("its call site");
        let sig = entry.signature.expect("a signature");
        let decoded = decode_with(rec, Some(&sig)).expect("decodes by its signature");
        let values: Vec<Value<'_>> = decoded.args.iter().collect();
        seen.push((
            head.len,
            sig.clone(),
            format!("{values:?}"),
            entry.strings[0].clone(),
        ));
        at += head.len;
    }
    let _ = std::fs::remove_file(&path);
    assert_eq!(seen.len(), 3, "{seen:?}");
    // 8 (frame word) + 8 (timestamp) + 8 + 4 + 8 = 36, padded to 40.
    assert_eq!(seen[0].0, 40, "{seen:?}");
    assert_eq!(seen[0].1, [tag::U64, tag::U32, tag::F64]);
    assert_eq!(
        seen[0].2,
        format!("{:?}", [Value::U64(7), Value::U64(8), Value::F64(0.5)])
    );
    // The frame word and the timestamp alone.
    assert_eq!(seen[1].0, 16, "{seen:?}");
    assert!(seen[1].1.is_empty());
    // A key-value pair is one more argument; a u8 and a str of 3 bytes:
    // 16 + 1 + 4 + 3 = 24.
    assert_eq!(seen[2].0, 24, "{seen:?}");
    assert_eq!(seen[2].1, [tag::U8, tag::STR]);
}
