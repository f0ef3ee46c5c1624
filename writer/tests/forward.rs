//! `ul-writer --forward`: the real writer sends to a real `rsyslogd`
//! (Debian's rsyslog and rsyslog-relp; `.ci/run` installs them), and what
//! the receiver wrote is compared with `server.log`.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{wait_for, Scratch, Stderr, Writer};
use ul_test_support::rsyslog::Rsyslogd;
use ul_writer::internals::forward::sink::JOB_RECORDS;
use ul_writer::internals::forward::url::DEFAULT_WINDOW;

/// The record lines of a text log (the writer's own lines left out: they
/// are not forwarded).
fn record_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.contains("] [ul-writer] "))
        .map(str::to_owned)
        .collect()
}

/// How often each line occurs.
fn counts(lines: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for l in lines {
        *m.entry(l.as_str()).or_insert(0) += 1;
    }
    m
}

/// `(pid, thread, i)` of a stress record line (`p=<pid> t=<thread> i=<i>`).
fn key(line: &str) -> Option<(u32, u32, u64)> {
    let rest = line.split("p=").nth(1)?;
    let mut it = rest.split_whitespace();
    let p = it.next()?.parse().ok()?;
    let t = it.next()?.strip_prefix("t=")?.parse().ok()?;
    let i = it.next()?.strip_prefix("i=")?.parse().ok()?;
    Some((p, t, i))
}

fn start_stress(shm: &std::path::Path, threads: u32, count: u64) -> std::process::Child {
    common::stress_command(shm, threads, count, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stress")
}

#[test]
fn relp_delivers_every_record_once_byte_for_byte_as_in_server_log() {
    let s = Scratch::new("fwd-relp");
    let rs = Rsyslogd::start(&s.dir.join("rsyslog")).expect("start rsyslogd");
    let url = format!("relp://127.0.0.1:{}", rs.relp_port());
    let w = Writer::start(&s, &["--forward", &url]);
    common::stress(&s.shm, 4, 5000, &[]);
    let (status, err) = w.stop();
    assert!(status.success(), "writer: {status:?}\n{err}");
    assert!(
        err.contains(&format!("forwarded 20000 records to {url}")),
        "{err}"
    );
    let files = record_lines(&s.text());
    assert_eq!(files.len(), 20000, "server.log");
    let got = rs.wait_lines("relp.out", files.len(), Duration::from_secs(10));
    // Every record once, each byte as in server.log.
    let want = counts(&files);
    let have = counts(&got);
    assert_eq!(have.len(), want.len(), "distinct lines");
    for (l, n) in &want {
        assert_eq!(have.get(l), Some(n), "{l:?}");
    }
    assert_eq!(got.len(), files.len());
    // Per thread, in the order logged.
    let mut last: HashMap<(u32, u32), u64> = HashMap::new();
    for l in &got {
        let (p, t, i) = key(l).expect("a stress line");
        if let Some(prev) = last.insert((p, t), i) {
            assert!(i > prev, "thread {t} of {p}: {i} after {prev}");
        }
    }
    // The identity travels in the structured data.
    let ids = rs.lines("relp.ids");
    assert_eq!(ids.len(), got.len());
    assert!(
        ids.iter()
            .all(|l| l.contains("[ul@32473 pid=\"") && l.contains(" seq=\"")),
        "{:?}",
        &ids[..3]
    );
}

#[test]
fn relp_loses_nothing_across_receiver_and_writer_kills() {
    let s = Scratch::new("fwd-kill");
    let mut rs = Rsyslogd::start(&s.dir.join("rsyslog")).expect("start rsyslogd");
    let url = format!("relp://127.0.0.1:{}", rs.relp_port());
    let err_file = |k: u32| s.dir.join(format!("writer-{k}.err"));
    let start = |k: u32| {
        let w = Writer::spawn(
            &s.shm,
            &s.dir,
            &["--flush-interval-ms", "20", "--forward", &url],
            Stderr::File(err_file(k)),
            None,
        );
        let pid = w.pid();
        assert!(wait_for(Duration::from_secs(10), || {
            ul_writer::stat::Snapshot::read(&s.shm).is_ok_and(|snap| snap.writer.pid == pid)
        }));
        w
    };
    let mut w = start(0);
    // Two producer processes, two threads each.
    let (threads, count) = (2u32, 40_000u64);
    let mut producers = [
        start_stress(&s.shm, threads, count),
        start_stress(&s.shm, threads, count),
    ];
    let total = 2 * u64::from(threads) * count;
    // Mid-stream: the receiver killed and restarted twice, the writer
    // killed and restarted twice, alternately.
    let mut kills = 0u32;
    for k in 1..=4u32 {
        let sent = rs.lines("relp.out").len() as u64;
        assert!(
            wait_for(Duration::from_secs(20), || {
                rs.lines("relp.out").len() as u64 >= sent + total / 8
            }),
            "kill {k}: forwarding did not go on ({sent} lines so far)"
        );
        if k % 2 == 1 {
            rs.kill9();
            std::thread::sleep(Duration::from_millis(300));
            rs.restart().expect("restart rsyslogd");
        } else {
            w.kill();
            w = start(k);
        }
        kills += 1;
    }
    for p in &mut producers {
        let st = p.wait().expect("stress");
        assert!(st.success(), "stress: {st:?}");
    }
    // Everything acknowledged: no lane holds a byte (a writer told to stop
    // waits only a few seconds for its receivers).
    let drained = wait_for(Duration::from_secs(60), || {
        ul_writer::stat::Snapshot::read(&s.shm)
            .is_ok_and(|snap| snap.lanes.iter().all(|l| l.used_bytes == 0))
    });
    let (status, err) = w.stop();
    let errs: String = (0..=4)
        .map(|k| std::fs::read_to_string(err_file(k)).unwrap_or_default())
        .collect();
    assert!(drained, "the lanes never drained:\n{errs}");
    assert!(status.success(), "writer: {status:?}\n{err}");

    let files = record_lines(&s.text());
    assert_eq!(
        files.len() as u64,
        total,
        "server.log holds every record once"
    );
    let want = counts(&files);
    assert_eq!(want.len() as u64, total, "no record twice in server.log");
    let got = rs.wait_lines("relp.out", files.len(), Duration::from_secs(20));
    let have = counts(&got);
    // Nothing lost: every record arrived, byte for byte.
    let missing: Vec<&&str> = want.keys().filter(|l| !have.contains_key(**l)).collect();
    if !missing.is_empty() {
        let mut per: HashMap<u32, Vec<u64>> = HashMap::new();
        for l in &missing {
            let (_, t, i) = key(l).expect("a stress line");
            per.entry(t).or_default().push(i);
        }
        for (t, mut v) in per {
            v.sort();
            let mut ranges = Vec::new();
            let mut start = v[0];
            let mut prev = v[0];
            for &i in &v[1..] {
                if i != prev + 1 {
                    ranges.push((start, prev));
                    start = i;
                }
                prev = i;
            }
            ranges.push((start, prev));
            eprintln!(
                "thread {t}: missing {} in ranges {:?}",
                v.len(),
                &ranges[..ranges.len().min(20)]
            );
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {total} records never arrived, e.g. {:?}\n{errs}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    assert!(
        have.keys().all(|l| want.contains_key(l)),
        "a line not in server.log"
    );
    // Repeats only of what was in flight at a kill: each record at most
    // once per kill more, and in all at most a sink job's records and a
    // RELP window per kill.
    let repeats: usize = have.values().map(|n| n - 1).sum();
    assert!(
        have.values().all(|&n| n <= 1 + kills as usize),
        "a record arrived more than 1 + {kills} times"
    );
    let bound = kills as usize * (JOB_RECORDS + DEFAULT_WINDOW);
    assert!(
        repeats <= bound,
        "{repeats} repeats after {kills} kills (at most {bound})"
    );
    eprintln!(
        "{} records, {repeats} repeats after {kills} kills",
        got.len()
    );
}

#[test]
fn syslog_tcp_delivers_every_record_byte_for_byte() {
    let s = Scratch::new("fwd-tcp");
    let rs = Rsyslogd::start(&s.dir.join("rsyslog")).expect("start rsyslogd");
    let url = format!("syslog+tcp://127.0.0.1:{}", rs.tcp_port());
    let w = Writer::start(&s, &["--forward", &url]);
    common::stress(&s.shm, 2, 3000, &[]);
    let (status, err) = w.stop();
    assert!(status.success(), "writer: {status:?}\n{err}");
    let files = record_lines(&s.text());
    assert_eq!(files.len(), 6000);
    let got = rs.wait_lines("tcp.out", files.len(), Duration::from_secs(10));
    let mut a = files.clone();
    let mut b = got.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "tcp.out holds server.log's records");
}

#[test]
fn a_bad_forward_url_is_refused_at_start() {
    let s = Scratch::new("fwd-bad");
    let out = Command::new(common::writer_bin())
        .arg("--shm")
        .arg(&s.shm)
        .arg("--dir")
        .arg(&s.dir)
        .args(["--forward", "http://127.0.0.1:1"])
        .output()
        .expect("run ul-writer");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--forward http://127.0.0.1:1: unknown scheme")
            && err.contains("relp://HOST:PORT"),
        "{err}"
    );
}

/// The lanes hold what no receiver acknowledged: with the receiver down,
/// a stopped writer exits after its wait with the records in the files and
/// still in the region (ul-stat shows them held); the next writer sends
/// them, each once, when the receiver is back.
#[test]
fn a_receiver_down_holds_the_records_in_the_region_for_the_next_writer() {
    let s = Scratch::new("fwd-hold");
    let mut rs = Rsyslogd::start(&s.dir.join("rsyslog")).expect("start rsyslogd");
    let url = format!("relp://127.0.0.1:{}", rs.relp_port());
    rs.kill9();
    let w = Writer::start(&s, &["--forward", &url]);
    common::stress(&s.shm, 2, 2000, &[]);
    assert!(
        wait_for(Duration::from_secs(10), || record_lines(&s.text()).len()
            == 4000),
        "the files do not wait for the receiver"
    );
    // ul-stat shows the sink, failing, with every record waiting for it.
    let shown = wait_for(Duration::from_secs(10), || {
        ul_writer::stat::Snapshot::read(&s.shm).is_ok_and(|snap| {
            snap.sinks.len() == 1
                && snap.sinks[0].state == "failing"
                && snap.sinks[0].lag_records == 4000
        })
    });
    let snap = ul_writer::stat::Snapshot::read(&s.shm).expect("ul-stat");
    assert!(shown, "{:?}", snap.sinks);
    let k = &snap.sinks[0];
    assert_eq!((k.url.as_str(), k.forwarded), (url.as_str(), 0));
    assert!(
        k.last_error
            .as_deref()
            .is_some_and(|e| e.contains("Connection refused")),
        "{k:?}"
    );
    assert!(
        snap.table()
            .contains(&format!("forward {url} failing: 0 records forwarded, 4000 in the files not yet acknowledged; last error")),
        "{}",
        snap.table()
    );
    let held: u64 = snap.lanes.iter().map(|l| l.unforwarded_bytes).sum();
    let used: u64 = snap.lanes.iter().map(|l| l.used_bytes).sum();
    assert!(held > 0 && held == used, "held {held} of {used} bytes");
    assert!(
        snap.table()
            .contains("not yet acknowledged by a --forward receiver"),
        "{}",
        snap.table()
    );
    let t = std::time::Instant::now();
    let (status, err) = w.stop();
    assert!(status.success(), "writer: {status:?}\n{err}");
    assert!(
        err.contains("not every --forward receiver") && err.contains("forwarded 0 records"),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the stop took {:?}",
        t.elapsed()
    );
    // Still there for the next writer.
    let snap = ul_writer::stat::Snapshot::read(&s.shm).expect("ul-stat");
    assert_eq!(
        snap.lanes.iter().map(|l| l.unforwarded_bytes).sum::<u64>(),
        held
    );
    rs.restart().expect("restart rsyslogd");
    let w = Writer::start(&s, &["--forward", &url]);
    let got = rs.wait_lines("relp.out", 4000, Duration::from_secs(20));
    // And says so, once it published again.
    assert!(
        wait_for(Duration::from_secs(10), || {
            ul_writer::stat::Snapshot::read(&s.shm).is_ok_and(|snap| {
                snap.sinks
                    .first()
                    .is_some_and(|k| k.state == "up" && k.lag_records == 0 && k.forwarded == 4000)
            })
        }),
        "{:?}",
        ul_writer::stat::Snapshot::read(&s.shm).map(|s| s.sinks)
    );
    let (status, err) = w.stop();
    assert!(status.success(), "writer: {status:?}\n{err}");
    let files = record_lines(&s.text());
    assert_eq!(files.len(), 4000, "the files hold each record once");
    let mut a = files.clone();
    let mut b = got.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "every record once, as in server.log");
}

/// Bytes that are not records in a lane: the engine skips them up to the
/// head it read to, and records logged after them go to the files. A sink
/// that was behind (the receiver down) reads further in one go; it must
/// skip what the engine skipped, not to the end of what it reads, or it
/// misses the records after the stretch.
#[test]
fn a_sink_behind_skips_only_what_the_files_skipped() {
    use std::sync::atomic::Ordering;
    use ul_ring::args::{encode_record, OwnedValue};
    use ul_ring::bytes::ByteStore;
    use ul_ring::callsite::EntryKind;
    use ul_ring::record::{Level, RecordHeader, RecordKind};

    let s = Scratch::new("fwd-corrupt");
    let mut rs = Rsyslogd::start(&s.dir.join("rsyslog")).expect("start rsyslogd");
    let url = format!("relp://127.0.0.1:{}", rs.relp_port());
    rs.kill9();
    let w = Writer::start(&s, &["--forward", &url]);
    let region = common::attach(&s.shm);
    let site = region
        .callsites()
        .register(
            EntryKind::Callsite,
            Level::Info as u8,
            1,
            &["n={}", "hand", "src/hand.rs", "app"],
        )
        .expect("register a call site");
    let claim =
        ul_ring::ownership::claim_lane(&region, std::process::id(), 0, 0).expect("a free lane");
    let lane = claim.index();
    let ctrl = region.lane_control(lane);
    // SAFETY: the claim makes us the lane's one producer (the writer reading
    // it is another process); `region` outlives `bytes`.
    let bytes = unsafe { region.lane_bytes(lane) };
    let mut head = ctrl.head();
    let mut push = |rec: &[u8]| {
        bytes.write_with(head as usize % bytes.capacity(), rec.len(), |e| {
            e.put_bytes(rec)
        });
        head += rec.len() as u64;
        ctrl.head_raw().store(head, Ordering::Release);
    };
    let record = |n: u64| {
        let mut r = Vec::new();
        encode_record(
            &mut r,
            RecordHeader {
                kind: RecordKind::Log as u8,
                level: Level::Info as u8,
                timestamp: 1_700_000_000_000_000_000 + n,
                callsite: site,
                ..Default::default()
            },
            &[OwnedValue::U64(n)],
        );
        r
    };
    let lines = |s: &Scratch| {
        record_lines(&s.text())
            .into_iter()
            .filter(|l| l.contains("n="))
            .count()
    };
    for n in 0..100 {
        push(&record(n));
    }
    assert!(wait_for(Duration::from_secs(10), || lines(&s) == 100));
    // 64 bytes of a frame that lies about its length, then the files go on.
    let mut junk = vec![0u8; 64];
    junk[..4].copy_from_slice(&9u32.to_le_bytes());
    push(&junk);
    assert!(wait_for(Duration::from_secs(10), || s
        .text()
        .contains("holds bytes that are not records")));
    for n in 100..200 {
        push(&record(n));
    }
    assert!(wait_for(Duration::from_secs(10), || lines(&s) == 200));
    // The receiver back: the sink reads the lane from its tail in one go.
    rs.restart().expect("restart rsyslogd");
    let got = rs.wait_lines("relp.out", 200, Duration::from_secs(20));
    let (status, err) = w.stop();
    assert!(status.success(), "writer: {status:?}\n{err}");
    let files: Vec<String> = record_lines(&s.text())
        .into_iter()
        .filter(|l| l.contains("n="))
        .collect();
    assert_eq!(files.len(), 200);
    let missing: Vec<&String> = files.iter().filter(|l| !got.contains(l)).collect();
    assert!(
        missing.is_empty() && got.len() == files.len(),
        "the sink missed {} of the files' {} records (e.g. {:?}) and sent {}",
        missing.len(),
        files.len(),
        missing.first(),
        got.len()
    );
    drop(claim);
}

/// Two receivers: the lanes hold each record until both have it. With one
/// down, the other gets everything while the lanes keep it all for the one
/// that is down (ul-stat shows each), and that one gets everything once it
/// is back.
#[test]
fn two_receivers_the_lanes_wait_for_the_slower() {
    let s = Scratch::new("fwd-two");
    let mut down = Rsyslogd::start(&s.dir.join("rsyslog-a")).expect("start rsyslogd a");
    let up = Rsyslogd::start(&s.dir.join("rsyslog-b")).expect("start rsyslogd b");
    let url_down = format!("relp://127.0.0.1:{}", down.relp_port());
    let url_up = format!("syslog+tcp://127.0.0.1:{}", up.tcp_port());
    down.kill9();
    let w = Writer::start(&s, &["--forward", &url_down, "--forward", &url_up]);
    common::stress(&s.shm, 2, 1500, &[]);
    let files = || record_lines(&s.text());
    assert!(wait_for(Duration::from_secs(10), || files().len() == 3000));
    let got_up = up.wait_lines("tcp.out", 3000, Duration::from_secs(10));
    assert_eq!(got_up.len(), 3000, "the receiver that is up got everything");
    let shown = wait_for(Duration::from_secs(10), || {
        ul_writer::stat::Snapshot::read(&s.shm).is_ok_and(|snap| {
            let k = &snap.sinks;
            k.len() == 2
                && (k[0].url.as_str(), k[0].state, k[0].lag_records)
                    == (url_down.as_str(), "failing", 3000)
                && (k[1].url.as_str(), k[1].state, k[1].lag_records) == (url_up.as_str(), "up", 0)
        })
    });
    let snap = ul_writer::stat::Snapshot::read(&s.shm).expect("ul-stat");
    assert!(shown, "{:?}", snap.sinks);
    // The lanes still hold every record for the one that is down.
    let used: u64 = snap.lanes.iter().map(|l| l.used_bytes).sum();
    let held: u64 = snap.lanes.iter().map(|l| l.unforwarded_bytes).sum();
    assert!(used > 0 && held == used, "held {held} of {used} bytes");
    down.restart().expect("restart rsyslogd a");
    let got_down = down.wait_lines("relp.out", 3000, Duration::from_secs(20));
    assert!(wait_for(Duration::from_secs(10), || {
        ul_writer::stat::Snapshot::read(&s.shm)
            .is_ok_and(|snap| snap.lanes.iter().all(|l| l.used_bytes == 0))
    }));
    let (status, err) = w.stop();
    assert!(status.success(), "writer: {status:?}\n{err}");
    let mut want = files();
    want.sort();
    for (name, mut got) in [("down", got_down), ("up", got_up)] {
        got.sort();
        assert_eq!(
            got, want,
            "the receiver that was {name} holds the files' records, once"
        );
    }
}
