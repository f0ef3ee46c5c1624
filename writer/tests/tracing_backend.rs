//! The `tracing` backend against the real writer: events keep their
//! message, target (as source) and level; their fields become `[key:value]`
//! groups in server.log and typed keys of `"context"` in
//! server.<level>.json; the current span scope is the `span` key, and
//! its spans' fields `<span>.<field>` keys (more in tracing_spans.rs). One
//! process, one global subscriber: this file holds a single test.

mod common;

use common::*;
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

fn json_lines(s: &Scratch, level: &str) -> Vec<Value> {
    s.json(level)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn find<'a>(lines: &'a [Value], message: &str) -> &'a Value {
    lines
        .iter()
        .find(|v| v["message"] == message)
        .unwrap_or_else(|| panic!("no record {message:?} in {lines:#?}"))
}

/// A field value recorded with `?` (its `Debug`).
#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
struct Order {
    id: u32,
}

#[test]
fn tracing_events_carry_fields_and_spans() {
    let s = Scratch::new("tracing");
    let w = Writer::start(&s, &[]);
    ul::init(&s.shm).expect("ul::init");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(ul::tracing_layer::UlLayer::new()),
    )
    .expect("install the subscriber");

    tracing::info!(
        user = "ann",
        attempts = 3u64,
        delta = -2i64,
        ok = true,
        ratio = 0.5,
        "logged in"
    );
    {
        let outer = tracing::info_span!("outer", request = 9);
        let _o = outer.enter();
        let inner = tracing::debug_span!("inner");
        let _i = inner.enter();
        tracing::warn!(target: "Payments", order = ?Order { id: 42 }, code = %"E42",
            "charge failed: {}", "card declined");
        tracing::error!(big = u128::MAX, "literal {{braces}} kept");
    }
    tracing::debug!(only = 1u64);
    // A declared but empty field is not recorded.
    tracing::info!(a = 1u64, b = tracing::field::Empty, "partly empty");
    // Many events from several threads, each in order.
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            std::thread::spawn(move || {
                let span = tracing::info_span!("worker");
                let _g = span.enter();
                for i in 0..300u64 {
                    tracing::trace!(t, i, "tick");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    ul::flush().expect("flush");

    let text = s.text();
    let has = |needle: &str| text.lines().any(|l| l.ends_with(needle));
    assert!(
        has("[tracing_backend] INFO: logged in [user:ann] [attempts:3] [delta:-2] [ok:true] [ratio:0.5]"),
        "{text}"
    );
    assert!(
        has("[Payments] WARN: charge failed: card declined [order:Order { id: 42 }] [code:E42] [span:outer:inner] [outer.request:9]"),
        "{text}"
    );
    assert!(
        has(&format!(
            "[tracing_backend] ERROR: literal {{braces}} kept [big:{}] [span:outer:inner] [outer.request:9]",
            u128::MAX
        )),
        "{text}"
    );
    assert!(has("[tracing_backend] DEBUG:  [only:1]"), "{text}");
    assert!(has("[tracing_backend] INFO: partly empty [a:1]"), "{text}");
    for t in 0..3u64 {
        let got: Vec<u64> = text
            .lines()
            .filter_map(|l| l.split(&format!("TRACE: tick [t:{t}] [i:")).nth(1))
            .map(|r| r.trim_end_matches("] [span:worker]").parse().unwrap())
            .collect();
        assert_eq!(got, (0..300).collect::<Vec<_>>(), "thread {t}");
    }

    let info = json_lines(&s, "info");
    let v = find(&info, "logged in");
    assert_eq!(v["source"], "tracing_backend");
    assert_eq!(
        v["context"],
        json!({"user": "ann", "attempts": 3, "delta": -2, "ok": true, "ratio": 0.5})
    );
    let warn = json_lines(&s, "warn");
    let v = find(&warn, "charge failed: card declined");
    assert_eq!(v["source"], "Payments");
    assert_eq!(v["level"], "warn");
    assert_eq!(
        v["context"],
        json!({"order": "Order { id: 42 }", "code": "E42", "span": "outer:inner", "outer.request": 9})
    );
    let error = json_lines(&s, "error");
    let v = find(&error, "literal {braces} kept");
    // 128-bit integers are JSON numbers, written exactly (serde_json reads
    // one past 64 bits as an f64, so the check is on the line's text).
    assert!(v["context"]["big"].is_number());
    let raw = std::fs::read_to_string(s.dir.join("server.error.json")).unwrap();
    assert!(raw.contains(&format!("\"big\":{}", u128::MAX)), "{raw}");

    let (st, err) = w.stop();
    assert!(st.success(), "{err}");
}
