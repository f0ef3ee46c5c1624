//! The `log` backend against the real writer: `log::info!` and friends go
//! through ul with the target as source, static messages printed as they
//! are, formatted ones intact, each with its file and line in JSON,
//! `log`'s maximum level following ul's, and
//! `log::logger().flush()` waiting for the writer. One process, one `log`
//! logger: this file holds a single test.

mod common;

use std::fmt;

use common::*;

/// A `Display` that logs while it is being formatted.
struct Nosy;

impl fmt::Display for Nosy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        log::info!(target: "inner", "logged from inside Display {}", 7);
        f.write_str("nosy")
    }
}

#[test]
fn log_facade_goes_through_ul() {
    let s = Scratch::new("logfacade");
    let w = Writer::start(&s, &[]);
    ul::log_compat::init(&s.shm).expect("install the log backend");
    assert!(
        ul::log_compat::init(&s.shm).is_err(),
        "a second logger is refused"
    );
    assert_eq!(log::max_level(), log::LevelFilter::Trace);

    log::info!(target: "AuthService", "static message with {{braces}}");
    let static_line = line!() - 1;
    log::warn!("user {} failed to log in, attempt {}", "ann", 3);
    let warn_line = line!() - 1;
    log::error!(target: "Db", "query took {:.1} ms", 12.25);
    log::info!("value: {}", Nosy);

    // Many threads, static and formatted, each in order.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..500 {
                    log::debug!(target: "worker", "tick");
                    log::debug!(target: "worker", "t{t} i{i}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // ul's minimum level drives log's maximum level.
    ul::configure(ul::Config {
        min_level: Some(ul::Level::Warn),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(log::max_level(), log::LevelFilter::Warn);
    log::info!("filtered out at the call");
    ul::configure(ul::Config {
        min_level: Some(ul::Level::Trace),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(log::max_level(), log::LevelFilter::Trace);
    log::trace!("trace after lowering the level");

    log::logger().flush();
    let text = s.text();
    let has = |needle: &str| text.lines().any(|l| l.ends_with(needle));
    assert!(
        has("[AuthService] INFO: static message with {braces}"),
        "{text}"
    );
    assert!(
        has("[log_backend] WARN: user ann failed to log in, attempt 3"),
        "{text}"
    );
    assert!(has("[Db] ERROR: query took 12.2 ms"), "{text}");
    assert!(has("[log_backend] INFO: value: nosy"), "{text}");
    assert!(has("[inner] INFO: logged from inside Display 7"), "{text}");
    assert!(
        has("[log_backend] TRACE: trace after lowering the level"),
        "{text}"
    );
    assert!(!text.contains("filtered out at the call"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.ends_with("[worker] DEBUG: tick"))
            .count(),
        2000
    );
    for t in 0..4 {
        let got: Vec<u32> = text
            .lines()
            .filter_map(|l| l.split(&format!("[worker] DEBUG: t{t} i")).nth(1))
            .map(|i| i.parse().unwrap())
            .collect();
        assert_eq!(got, (0..500).collect::<Vec<_>>(), "thread {t}");
    }

    let warn: serde_json::Value = s
        .json("warn")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .find(|v: &serde_json::Value| v["message"] == "user ann failed to log in, attempt 3")
        .expect("the warning in server.warn.json");
    assert_eq!(warn["source"], "log_backend");
    assert_eq!(warn["level"], "warn");
    // The call's file and line, in JSON always (text only when asked:
    // tests/log_location.rs).
    assert_eq!(warn["file"], file!());
    assert_eq!(warn["line"], warn_line);
    let info: serde_json::Value = s
        .json("info")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .find(|v: &serde_json::Value| v["message"] == "static message with {braces}")
        .expect("the static message in server.info.json");
    assert_eq!(
        (&info["file"], &info["line"]),
        (&file!().into(), &static_line.into())
    );
    assert!(!text.contains(file!()), "{text}");
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");
    // Nothing was dropped or undecodable.
    assert!(!err.contains("error"), "{err}");
}
