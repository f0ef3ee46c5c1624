// The `roundtrip` fuzz target's input: header fields and an argument list.
//
// `include!`d by `fuzz/fuzz_targets/roundtrip.rs` and by
// `ring/tests/codec.rs` (feature `arbitrary`), so both read a corpus file
// the same way. Needs `arbitrary::Arbitrary`, `OwnedValue` and
// `RecordHeader` in scope.

/// Header fields and arguments, as `arbitrary` reads them from the bytes.
#[derive(Arbitrary, Debug)]
pub struct Input {
    pub level: u8,
    pub flags: u16,
    pub timestamp: u64,
    pub callsite: u32,
    pub seq: u32,
    pub context: u32,
    pub args: Vec<OwnedValue>,
}

impl Input {
    /// The record header (level reduced to a valid one).
    pub fn header(&self) -> RecordHeader {
        RecordHeader {
            level: self.level % 5,
            flags: self.flags,
            timestamp: self.timestamp,
            callsite: self.callsite,
            seq: self.seq,
            context: self.context,
            ..Default::default()
        }
    }
}
