//! The `tracing` backend's spans against the real writer: a span's fields
//! (given at creation or recorded later) ride on every event inside it,
//! keyed `<span name>.<field>`, nested spans' fields each under their own
//! span's name, from several threads at once; and a field whose key is
//! taken (an event field named `span`, two nested spans of one name) is
//! renamed `field.<key>` the same way every time, in both outputs, so a
//! JSON line never has a key twice. One process, one global subscriber:
//! this file holds a single test.

mod common;

use common::*;
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

fn json_lines(s: &Scratch, level: &str) -> Vec<(String, Value)> {
    s.json(level)
        .lines()
        .map(|l| {
            (
                l.to_owned(),
                serde_json::from_str(l).expect("each line is JSON"),
            )
        })
        .collect()
}

fn find<'a>(lines: &'a [(String, Value)], message: &str) -> Vec<&'a (String, Value)> {
    let found: Vec<_> = lines.iter().filter(|v| v.1["message"] == message).collect();
    assert!(!found.is_empty(), "no record {message:?} in {lines:#?}");
    found
}

/// The keys of a line's `"context"` in written order: serde_json keeps
/// one of duplicate keys, so the line's text is read.
fn raw_context_keys(line: &str) -> Vec<String> {
    let start = line.find(r#""context":{"#).expect("a context") + r#""context":{"#.len();
    let end = line[start..].find("},\"").expect("context end") + start;
    let obj: serde_json::Map<String, Value> =
        serde_json::from_str(&format!("{{{}}}", &line[start..end])).expect("context parses");
    // Keys at the start of each `"key":` in the raw text (values here hold
    // no `":` of their own).
    let keys: Vec<String> = line[start..end]
        .split(',')
        .filter_map(|kv| {
            kv.split_once("\":")
                .map(|(k, _)| k.trim_start_matches('"').to_owned())
        })
        .collect();
    assert_eq!(keys.len(), obj.len(), "a key twice in {line}");
    keys
}

#[test]
fn span_fields_ride_on_events_under_their_spans_names() {
    let s = Scratch::new("tracingspans");
    let w = Writer::start(&s, &[]);
    ul::init(&s.shm).expect("ul::init");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(ul::tracing_layer::UlLayer::new()),
    )
    .expect("install the subscriber");

    // No span: unchanged.
    tracing::info!(user = "ann", "plain");
    {
        let req = tracing::info_span!(
            "req",
            id = 7u64,
            path = "/login",
            later = tracing::field::Empty
        );
        let _r = req.enter();
        tracing::info!(user = "ann", "in req");
        // Recorded after creation: on the events that follow.
        req.record("later", true);
        let db = tracing::info_span!("db", table = "users", ms = 1.5);
        let _d = db.enter();
        tracing::warn!(rows = 3u64, "in db");
        // A field named like the layer's own `span` key, and one named
        // like a span field: renamed, the same way every time.
        for _ in 0..2 {
            tracing::error!(span = "user-span-field", "req.id" = 99u64, "collide");
        }
    }
    {
        // Two nested spans of one name: the inner one's field is renamed.
        let a = tracing::info_span!("job", n = 1u64);
        let _a = a.enter();
        let b = tracing::info_span!("job", n = 2u64);
        let _b = b.enter();
        tracing::info!("nested twins");
    }
    // Several threads, each in its own span with its own field values.
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                let span = tracing::info_span!("worker", t, name = format!("w{t}"));
                let _g = span.enter();
                for i in 0..200u64 {
                    let step = tracing::debug_span!("step", i);
                    let _s = step.enter();
                    tracing::info!(x = i * 2, "tick");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    ul::flush().expect("flush");
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");

    let text = s.text();
    let has = |needle: &str| text.lines().any(|l| l.ends_with(needle));
    assert!(has("INFO: plain [user:ann]"), "{text}");
    assert!(
        has("INFO: in req [user:ann] [span:req] [req.id:7] [req.path:/login]"),
        "{text}"
    );
    assert!(
        has("WARN: in db [rows:3] [span:req:db] [req.id:7] [req.path:/login] [req.later:true] [db.table:users] [db.ms:1.5]"),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.ends_with("ERROR: collide [field.span:user-span-field] [field.req.id:99] [span:req:db] [req.id:7] [req.path:/login] [req.later:true] [db.table:users] [db.ms:1.5]"))
            .count(),
        2,
        "{text}"
    );
    assert!(
        has("INFO: nested twins [span:job:job] [job.n:1] [field.job.n:2]"),
        "{text}"
    );

    let info = json_lines(&s, "info");
    let (_, v) = find(&info, "in req")[0];
    assert_eq!(
        v["context"],
        json!({"user": "ann", "span": "req", "req.id": 7, "req.path": "/login"})
    );
    let warn = json_lines(&s, "warn");
    let (_, v) = find(&warn, "in db")[0];
    assert_eq!(
        v["context"],
        json!({"rows": 3, "span": "req:db", "req.id": 7, "req.path": "/login",
               "req.later": true, "db.table": "users", "db.ms": 1.5})
    );
    let error = json_lines(&s, "error");
    for (line, v) in find(&error, "collide") {
        assert_eq!(
            raw_context_keys(line),
            [
                "field.span",
                "field.req.id",
                "span",
                "req.id",
                "req.path",
                "req.later",
                "db.table",
                "db.ms"
            ]
        );
        assert_eq!(v["context"]["span"], "req:db");
        assert_eq!(v["context"]["field.span"], "user-span-field");
        assert_eq!(v["context"]["req.id"], 7);
        assert_eq!(v["context"]["field.req.id"], 99);
    }
    let (line, _) = find(&info, "nested twins")[0];
    assert_eq!(raw_context_keys(line), ["span", "job.n", "field.job.n"]);

    // Every thread's events carry its own span's values, in order.
    for t in 0..4u64 {
        let got: Vec<u64> = info
            .iter()
            .filter(|(_, v)| v["message"] == "tick" && v["context"]["worker.t"] == t)
            .map(|(line, v)| {
                assert_eq!(v["context"]["worker.name"], format!("w{t}"), "{line}");
                assert_eq!(v["context"]["span"], "worker:step", "{line}");
                let i = v["context"]["step.i"].as_u64().expect("step.i");
                assert_eq!(v["context"]["x"], i * 2, "{line}");
                i
            })
            .collect();
        assert_eq!(got, (0..200).collect::<Vec<_>>(), "thread {t}");
    }
}
