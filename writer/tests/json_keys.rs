//! A JSON line never has the same key twice, whatever a record carries: a
//! thread's context and a call's `key = value` pairs that name the same
//! key, through the real writer. The later one is renamed `field.<key>`
//! (`ul_writer::internals::format::RENAME_PREFIX`). One process, one region: this
//! file holds a single test.

mod common;

use common::*;
use serde_json::{json, Value};

#[test]
fn a_key_in_both_the_thread_context_and_the_call_is_renamed_in_json() {
    let s = Scratch::new("jsonkeys");
    let w = Writer::start(&s, &[]);
    ul::init(&s.shm).expect("ul::init");
    ul::set_thread_context(ul::Context::new().with("user", "from-context"));
    ul::info!("who"; user = "from-call", n = 1u64);
    ul::flush().expect("flush");
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");

    let line = s.json("info");
    let line = line
        .lines()
        .find(|l| l.contains(r#""message":"who""#))
        .unwrap_or_else(|| panic!("no record in {line}"));
    assert!(
        line.contains(r#""context":{"user":"from-context","field.user":"from-call","n":1}"#),
        "{line}"
    );
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        v["context"],
        json!({"user": "from-context", "field.user": "from-call", "n": 1})
    );
    // Text shows both as recorded.
    let text = s.text();
    assert!(
        text.lines()
            .any(|l| l.ends_with("INFO: who [user:from-context] [user:from-call] [n:1]")),
        "{text}"
    );
}
