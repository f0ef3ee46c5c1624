//! Any bytes through the record decoder: it must never panic, and whatever
//! it accepts must keep the promises `decode` documents.
//!
//! `ring/tests/codec.rs` (`check_decode`) replays this corpus with the same
//! checks on stable Rust; keep the two in step.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ul_ring::args::Value;
use ul_ring::record::{decode, read_frame, RecordKind, HEADER_LEN, MAX_RECORD_LEN};

fn one(bytes: &[u8]) {
    if let Ok(rec) = decode(bytes) {
        assert_eq!(rec.header.len as usize, bytes.len());
        assert!(bytes.len() >= HEADER_LEN && bytes.len() <= MAX_RECORD_LEN);
        assert_eq!(rec.header.kind, RecordKind::Log as u8);
        assert_eq!(rec.level as u8, rec.header.level);
        assert_eq!(rec.args.len(), usize::from(rec.header.nargs));
        let mut n = 0;
        for v in rec.args.iter() {
            if let Value::Str(s) = v {
                assert!(s.len() <= bytes.len());
            }
            n += 1;
        }
        assert_eq!(n, rec.args.len(), "iteration ended early");
    }
}

fuzz_target!(|data: &[u8]| {
    one(data);
    // Random bytes rarely have a length field equal to their length: also
    // decode the prefix the frame claims, as the writer does.
    if let Ok(f) = read_frame(data) {
        assert!(f.len >= 8 && f.len % 8 == 0 && f.len <= data.len().min(MAX_RECORD_LEN));
        if let Some(rec) = data.get(..f.len) {
            one(rec);
        }
    }
});
