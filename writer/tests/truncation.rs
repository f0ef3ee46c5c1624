//! A string over the producer's limit is cut, never silently: the text
//! line and the JSON message show `…[+N bytes]` after what was kept, and
//! the JSON record says `"truncated":true`.

mod common;

use std::time::Duration;

use common::{Scratch, Writer};

#[test]
fn cut_values_are_marked_in_both_outputs_at_the_configured_limit() {
    let s = Scratch::new("truncation");
    let w = Writer::start(&s, &[]);
    ul::Options::new(&s.shm)
        .max_string_len(1000)
        .overflow(ul::Overflow::Block {
            timeout: Duration::from_secs(10),
        })
        .init()
        .unwrap();

    let big = "x".repeat(2_000_000);
    ul::info!("big {}", big);
    let exact = "y".repeat(1000);
    ul::info!("exact {exact}");
    // A multi-byte character straddling the limit: cut before it.
    let straddle = format!("{}é and more", "z".repeat(999));
    ul::info!("straddle {straddle:?}");
    #[derive(Debug)]
    struct Wide(#[allow(dead_code)] String);
    ul::info!("debug {:?}", Wide("w".repeat(1500)));
    ul::info!("field"; note = "n".repeat(1200));
    ul::flush().unwrap();
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");

    let text = s.text();
    let line = |prefix: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once(" INFO: ")
                    .map(|x| x.1)
                    .filter(|m| m.starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("no {prefix:?} line in {text}"))
            .to_owned()
    };
    assert_eq!(
        line("big "),
        format!("big {}…[+1999000 bytes]", "x".repeat(1000))
    );
    assert_eq!(line("exact "), format!("exact {exact}"));
    assert_eq!(
        line("straddle "),
        format!("straddle \"{}\"…[+11 bytes]", "z".repeat(999))
    );
    let want_debug = format!("{:?}", Wide("w".repeat(1500)));
    assert_eq!(
        line("debug "),
        format!(
            "debug {}…[+{} bytes]",
            &want_debug[..1000],
            want_debug.len() - 1000
        )
    );
    assert!(line("field").ends_with(&format!("[note:{}…[+200 bytes]]", "n".repeat(1000))));

    let json: Vec<serde_json::Value> = s
        .json("info")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let rec = |prefix: &str| {
        json.iter()
            .find(|v| v["message"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} record"))
    };
    assert_eq!(
        rec("big ")["message"],
        format!("big {}…[+1999000 bytes]", "x".repeat(1000))
    );
    assert_eq!(rec("big ")["truncated"], true);
    assert!(
        rec("exact ").get("truncated").is_none(),
        "an uncut record has no mark"
    );
    assert_eq!(rec("straddle ")["truncated"], true);
    assert_eq!(rec("debug ")["truncated"], true);
    let field = rec("field");
    assert_eq!(field["truncated"], true);
    assert_eq!(
        field["context"]["note"],
        format!("{}…[+200 bytes]", "n".repeat(1000))
    );
}
