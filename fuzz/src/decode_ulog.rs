// The `decode_ulog` fuzz target's body: any bytes as a binary log through
// `ul_writer::binlog::Decoder`, the decoder `ul-decode` runs.
//
// `include!`d by `fuzz/fuzz_targets/decode_ulog.rs` and by the stable
// replay `writer/tests/fuzz_replay.rs`: one copy of the checks.

/// The checks (see `run`).
pub mod decode_ulog {
    use ul_writer::binlog::{Damage, Decoder};
    use ul_writer::internals::outputs::Format;

    /// Decodes `data` whole (as `ul-decode FILE` does), returning the lines
    /// and the damage reported.
    pub fn decode(data: &[u8], format: Format) -> (Vec<u8>, Vec<Damage>) {
        let mut d = Decoder::new(format);
        let mut out = Vec::new();
        let mut damage = Vec::new();
        let used = d.feed(data, true, &mut out, &mut |e| damage.push(e));
        assert_eq!(used, data.len(), "at the end every byte is used");
        assert_eq!(d.damaged as usize, damage.len());
        (out, damage)
    }

    /// Decodes `data` in two reads split at `cut`, as `ul-decode --follow`
    /// meets a file being written: a block cut by the first read waits for
    /// the second.
    pub fn decode_in_two(data: &[u8], cut: usize, format: Format) -> (Vec<u8>, Vec<Damage>) {
        let mut d = Decoder::new(format);
        let mut out = Vec::new();
        let mut damage = Vec::new();
        let cut = cut.min(data.len());
        let used = d.feed(&data[..cut], false, &mut out, &mut |e| damage.push(e));
        assert!(used <= cut);
        assert_eq!(d.offset, used as u64);
        let rest = d.feed(&data[used..], true, &mut out, &mut |e| damage.push(e));
        assert_eq!(used + rest, data.len());
        (out, damage)
    }

    /// Never a panic; every byte used; damage offsets inside the file; the
    /// text is UTF-8 lines, one per JSON line, each JSON line an object
    /// serde_json parses with a level and a message; a file read in two
    /// pieces (at a point the input picks) decodes exactly as read whole.
    pub fn run(data: &[u8]) {
        let (text, damage) = decode(data, Format::Text);
        for d in &damage {
            assert!(d.offset <= data.len() as u64, "{d:?} past the end");
            assert!(!d.what.is_empty());
        }
        let text = std::str::from_utf8(&text).expect("text lines are UTF-8");
        assert!(text.is_empty() || text.ends_with('\n'));
        let (json, json_damage) = decode(data, Format::Json);
        assert_eq!(damage, json_damage, "text and JSON see the same damage");
        let json = std::str::from_utf8(&json).expect("JSON lines are UTF-8");
        assert_eq!(
            text.lines().count(),
            json.lines().count(),
            "one text line per JSON line"
        );
        for line in json.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a JSON line does not parse: {e}: {line:?}"));
            assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
        }
        let cut = data
            .first_chunk::<2>()
            .map_or(0, |b| usize::from(u16::from_le_bytes(*b)))
            % (data.len() + 1);
        let (text2, damage2) = decode_in_two(data, cut, Format::Text);
        assert_eq!(
            (text.as_bytes(), &damage[..]),
            (&text2[..], &damage2[..]),
            "read in two at {cut}"
        );
    }
}
