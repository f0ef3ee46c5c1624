//! `ul-writer --text-location`: the text line shows the call's file and
//! line before the message (`writer/tests/log_location.rs:20: ready`) for
//! call sites that have them (`log`, `tracing`, the `ul::` macros), and
//! nothing for those that do not (`ul::log_dynamic`, the C API). JSON has
//! `"file"` and `"line"` with or without the flag. One process, one `log`
//! logger: this file holds a single test.

mod common;

use common::*;

#[test]
fn text_location_shows_file_and_line_before_the_message() {
    let s = Scratch::new("loglocation");
    let w = Writer::start(&s, &["--text-location"]);
    ul::log_compat::init(&s.shm).expect("install the log backend");
    log::info!(target: "App", "ready");
    let ready = line!() - 1;
    let threads: Vec<_> = (0..3)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..100 {
                    log::debug!("t{t} i{i}");
                }
            })
        })
        .collect();
    let tick = line!() - 5;
    for t in threads {
        t.join().unwrap();
    }
    ul::info!("from the macro {}", 1u32);
    let mac = line!() - 1;
    ul::log_dynamic(ul::Level::Warn, "cli", "no location");
    log::logger().flush();
    let (st, err) = w.stop();
    assert!(st.success(), "{err}");

    let text = s.text();
    let has = |needle: &str| text.lines().any(|l| l.ends_with(needle));
    let file = file!();
    assert!(has(&format!("[App] INFO: {file}:{ready}: ready")), "{text}");
    assert!(
        has(&format!(
            "[log_location] INFO: {file}:{mac}: from the macro 1"
        )),
        "{text}"
    );
    assert!(has("[cli] WARN: no location"), "{text}");
    for t in 0..3 {
        let got: Vec<u32> = text
            .lines()
            .filter_map(|l| l.split(&format!("DEBUG: {file}:{tick}: t{t} i")).nth(1))
            .map(|i| i.parse().unwrap())
            .collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>(), "thread {t}");
    }
    let json = |level: &str, message: &str| -> serde_json::Value {
        s.json(level)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .find(|v: &serde_json::Value| v["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} in server.{level}.json"))
    };
    let v = json("info", "ready");
    assert_eq!((&v["file"], &v["line"]), (&file.into(), &ready.into()));
    let v = json("info", "from the macro 1");
    assert_eq!((&v["file"], &v["line"]), (&file.into(), &mac.into()));
    let v = json("warn", "no location");
    assert!(v.get("file").is_none() && v.get("line").is_none(), "{v}");
}
