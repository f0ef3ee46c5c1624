//! What `ul::info!` logs is what `format!` gives for the same call, in the
//! text line and in the JSON `message`, through the real writer.
//!
//! The calls come from `ul-fidelity`, whose build script draws
//! random format strings (implicit, positional, named and captured
//! arguments; fill, alignment, sign, `#`, `0`, width, precision, `$` and
//! `.*` counts; every trait) and random values of every raw type and some
//! that are formatted at the call site. The values are drawn here, from a
//! seed that changes each run (`UL_FIDELITY_VALUES_SEED` replays one).

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Scratch, Writer};

/// `c<case>.<round>|...` -> (case, round).
fn key(message: &str) -> Option<(usize, u64)> {
    let rest = message.strip_prefix('c')?;
    let (case, rest) = rest.split_once('.')?;
    let (round, _) = rest.split_once('|')?;
    Some((case.parse().ok()?, round.parse().ok()?))
}

#[test]
fn every_call_logs_what_format_gives_in_both_outputs() {
    let seed = std::env::var("UL_FIDELITY_VALUES_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let replay = format!(
        "replay with UL_FIDELITY_VALUES_SEED={seed} (calls drawn with UL_FIDELITY_SEED={})",
        ul_fidelity::CALL_SEED
    );
    let s = Scratch::new("fidelity");
    let w = Writer::start(&s, &[]);
    ul::Options::new(&s.shm)
        .overflow(ul::Overflow::Block {
            timeout: Duration::from_secs(10),
        })
        .init()
        .unwrap();
    let rounds = 4;
    let expected = ul_fidelity::run(seed, rounds);
    assert_eq!(expected.len(), ul_fidelity::CASES * rounds as usize);
    ul::flush().unwrap();
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");

    let text = s.text();
    let mut text_by_key = HashMap::new();
    for line in text.lines() {
        let Some((_, message)) = line.split_once("] INFO: ") else {
            continue;
        };
        if let Some(k) = key(message) {
            assert!(
                text_by_key.insert(k, message.to_owned()).is_none(),
                "twice: {line}"
            );
        }
    }
    let mut json_by_key = HashMap::new();
    for line in s.json("info").lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let message = v["message"].as_str().expect("message").to_owned();
        if let Some(k) = key(&message) {
            assert!(json_by_key.insert(k, message).is_none(), "twice: {line}");
        }
    }

    let mut wrong = Vec::new();
    for e in &expected {
        let k = (e.case, e.round);
        let want_text = common::text_escape(&e.message);
        match text_by_key.get(&k) {
            Some(got) if *got == want_text => {}
            got => wrong.push(format!(
                "case {} round {} text:\n  want {want_text:?}\n  got  {got:?}",
                e.case, e.round
            )),
        }
        match json_by_key.get(&k) {
            Some(got) if *got == e.message => {}
            got => wrong.push(format!(
                "case {} round {} JSON:\n  want {:?}\n  got  {got:?}",
                e.case, e.round, e.message
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} lines differ from format! ({replay}); the first ones:\n{}",
        wrong.len(),
        2 * expected.len(),
        wrong
            .iter()
            .take(12)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
