//! A line of the writer's own (a drop report, reclaimed lanes) is added to
//! a batch without a room check; when the allocator refuses to grow the
//! buffer for it, the writer must not abort (`memory allocation of N bytes
//! failed`). This test binary's allocator is `ul_writer::fail_alloc`'s,
//! armed to refuse blocks over 64 KiB while writer lines are added until
//! the buffers would pass that: every line is either in the batch or, when
//! refused, on the diagnostics, and the process lives.
//!
//! One test only: the allocator is the whole process's.

use std::sync::{Arc, Mutex};

use ul_ring::clock::Calibration;
use ul_ring::record::Level;
use ul_writer::fail_alloc::FailAlloc;
use ul_writer::internals::batch_lines::BatchLines;
use ul_writer::internals::outputs::{Format, TEXT};

#[global_allocator]
static ALLOC: FailAlloc = FailAlloc::new();

#[test]
fn writer_lines_the_allocator_refuses_go_to_diagnostics_not_abort() {
    const LINES: usize = 2_000;
    const CAP: usize = 64 << 10;
    let calib = Calibration::from_anchors((0, 0), (1, 1));
    let mut text = BatchLines::new(Format::Text, calib);
    let mut both = BatchLines::new(Format::Both, calib);
    let seen = Arc::new(Mutex::new(Vec::<String>::with_capacity(2 * LINES)));
    let keep = seen.clone();
    let before = ul_writer::internals::diag::set_sink(Some(Box::new(move |l: &str| {
        if let Ok(mut v) = keep.lock() {
            v.push(l.to_owned());
        }
    })));
    let messages: Vec<String> = (0..LINES)
        .map(|k| {
            format!("#{k:05} records dropped by pid 4242 (lane 3, thread 4243) since the start")
        })
        .collect();
    ALLOC.arm(CAP);
    for m in &messages {
        text.writer_line(Level::Warn, m);
        both.writer_line(Level::Warn, m);
    }
    ALLOC.arm(usize::MAX);
    ul_writer::internals::diag::set_sink(before);
    let refused = ALLOC.refused();
    let seen = seen.lock().unwrap();
    // The test is void unless the buffers reached the cap.
    assert!(refused > 0, "nothing was refused");
    assert!(!seen.is_empty(), "no line was refused");
    for (maker, bufs) in [
        ("text", vec![TEXT]),
        ("both", vec![TEXT, 1 + Level::Warn as usize]),
    ] {
        let m = if maker == "text" { &text } else { &both };
        for i in bufs {
            let buf = String::from_utf8(m.bufs[i].clone()).expect("UTF-8 lines");
            assert!(
                m.bufs[i].capacity() <= CAP,
                "{maker} buffer {i} grew past the cap"
            );
            // Each message once: in the buffer, or on the diagnostics.
            for msg in &messages {
                let inside = buf.matches(msg.as_str()).count();
                let told = seen
                    .iter()
                    .filter(|l| l.ends_with(&format!("it was: Warn {msg}")))
                    .count();
                assert!(inside <= 1, "{maker} buffer {i}: {msg:?} twice");
                assert!(
                    inside == 1 || told >= 1,
                    "{maker} buffer {i}: {msg:?} neither written nor reported"
                );
            }
        }
    }
}
