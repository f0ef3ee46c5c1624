//! Channels in one process: typed errors on open, full lanes, the shared
//! lane, lane retirement, bad input, and `run_daemon` with a stop flag.

#![cfg(not(loom))]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ul_ring::channel::{Channel, ChannelError, ChannelOptions, Full};
use ul_ring::daemon::{run_daemon, Daemon, DaemonOptions, DaemonTotals};
use ul_ring::lane::Producer;
use ul_ring::ownership::LaneOwner;
use ul_ring::region::{Region, RegionError, RegionOptions};

static N: AtomicU32 = AtomicU32::new(0);

struct Path(PathBuf);

impl Path {
    fn new(tag: &str) -> Self {
        let p = PathBuf::from(format!(
            "/dev/shm/ul-test-channel-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&p);
        Self(p)
    }
}

impl Drop for Path {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// 13 bytes: the stored message is padded to 16.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
struct Odd {
    bytes: [u8; 13],
}

fn odd(sender: u8, seq: u32) -> Odd {
    let mut bytes = [0xA5; 13];
    bytes[0] = sender;
    bytes[1..5].copy_from_slice(&seq.to_le_bytes());
    Odd { bytes }
}

fn small() -> ChannelOptions {
    ChannelOptions {
        lanes: 2,
        lane_capacity: 4096,
        shared_slots: 8,
        ..Default::default()
    }
}

/// Collects everything, in arrival order, and every bad-input report.
#[derive(Default)]
struct Collect {
    got: Vec<Odd>,
    bad: Vec<String>,
}

impl Daemon for Collect {
    type Message = Odd;
    fn process_batch(&mut self, batch: &[Odd]) {
        assert!(!batch.is_empty(), "batches are never empty");
        self.got.extend_from_slice(batch);
    }
    fn on_bad_input(&mut self, what: &str) {
        self.bad.push(what.to_string());
    }
}

/// Runs a `Collect` daemon on `path` until everything already sent is in,
/// via the stop flag set before it starts: it drains, then returns.
fn drain(path: &PathBuf, opts: ChannelOptions) -> (Collect, DaemonTotals) {
    let mut d = Collect::default();
    let o = DaemonOptions {
        channel: opts,
        ..Default::default()
    };
    o.stop.store(true, Ordering::Relaxed);
    let totals = run_daemon(path, &mut d, &o).expect("run daemon");
    (d, totals)
}

#[test]
fn a_log_region_and_a_channel_refuse_each_other() {
    let p = Path::new("kind");
    drop(Region::open(&p.0, &RegionOptions::default()).expect("log region"));
    match Channel::<Odd>::open_or_create(&p.0, &small()) {
        Err(ChannelError::Region(RegionError::WrongKind {
            found, expected, ..
        })) => assert_eq!((found, expected), ("log", "channel")),
        other => panic!("{:?}", other.err()),
    }
    let q = Path::new("kind2");
    drop(Channel::<Odd>::open_or_create(&q.0, &small()).expect("channel"));
    let e = Region::open(&q.0, &RegionOptions::default())
        .err()
        .expect("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("is a ul channel region, not a log region"),
        "{msg}"
    );
}

#[test]
fn another_message_type_or_schema_is_refused() {
    let p = Path::new("mismatch");
    drop(Channel::<Odd>::open_or_create(&p.0, &small()).expect("channel"));
    match Channel::<u64>::open_or_create(&p.0, &small()) {
        Err(ChannelError::Region(RegionError::MessageMismatch {
            found_len,
            expected_len,
            ..
        })) => assert_eq!((found_len, expected_len), (13, 8)),
        other => panic!("{:?}", other.err()),
    }
    let other_schema = ChannelOptions {
        schema: 7,
        ..small()
    };
    let e = Channel::<Odd>::open_or_create(&p.0, &other_schema)
        .err()
        .expect("refused");
    assert!(
        e.to_string().contains("schema 0x0") && e.to_string().contains("schema 0x7"),
        "{e}"
    );
}

#[test]
fn a_message_larger_than_the_lanes_is_refused() {
    let p = Path::new("large");
    // 4 KiB lanes carry records of at most 2 KiB.
    match Channel::<[u64; 512]>::open_or_create(&p.0, &small()) {
        Err(ChannelError::MessageTooLarge { len, max, .. }) => {
            assert_eq!(len, 4096);
            assert_eq!(
                max,
                2048 - 8,
                "a lane record of at most 2 KiB, less its frame"
            );
        }
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn a_full_lane_says_full_and_everything_sent_is_delivered_in_order() {
    let p = Path::new("full");
    let ch = Channel::<Odd>::open_or_create(&p.0, &small()).unwrap();
    let mut tx = ch.sender();
    assert!(tx.lane().is_some());
    let mut sent = 0u32;
    while tx.try_send(&odd(1, sent)).is_ok() {
        sent += 1;
    }
    // 4096-byte lane, 24-byte records.
    assert_eq!(sent, 4096 / 24);
    assert_eq!(tx.try_send(&odd(1, sent)), Err(Full));
    assert_eq!(
        tx.send_timeout(&odd(1, sent), Duration::from_millis(30)),
        Err(Full)
    );
    let (d, totals) = drain(&p.0, small());
    assert_eq!(totals.messages, u64::from(sent));
    let want: Vec<Odd> = (0..sent).map(|s| odd(1, s)).collect();
    assert_eq!(d.got, want);
    assert!(d.bad.is_empty(), "{:?}", d.bad);
    // Room again after the daemon consumed them.
    tx.try_send(&odd(1, sent)).expect("room after draining");
}

#[test]
fn senders_beyond_the_lanes_use_the_shared_lane_and_dropped_lanes_are_freed() {
    let p = Path::new("shared");
    let ch = Channel::<Odd>::open_or_create(&p.0, &small()).unwrap();
    let mut a = ch.sender();
    let mut b = ch.sender();
    let mut c = ch.sender();
    assert!(a.lane().is_some() && b.lane().is_some());
    assert_eq!(c.lane(), None, "two lanes, third sender shares");
    for seq in 0..5 {
        a.try_send(&odd(0, seq)).unwrap();
        b.try_send(&odd(1, seq)).unwrap();
        c.try_send(&odd(2, seq)).unwrap();
    }
    let lane_a = a.lane().unwrap();
    drop(a);
    let owner = ch.region().lane_slot(lane_a).owner().load();
    assert!(matches!(owner, LaneOwner::Retiring { .. }), "{owner:?}");
    let (d, _) = drain(&p.0, small());
    for sender in 0..3u8 {
        let mine: Vec<Odd> = d
            .got
            .iter()
            .copied()
            .filter(|m| m.bytes[0] == sender)
            .collect();
        let want: Vec<Odd> = (0..5).map(|s| odd(sender, s)).collect();
        assert_eq!(mine, want, "sender {sender}: all, once, in order");
    }
    assert!(
        ch.region().lane_slot(lane_a).owner().load().is_free(),
        "the dropped sender's lane is freed once drained"
    );
    // The freed lane is claimed by the next sender.
    assert_eq!(ch.sender().lane(), Some(lane_a));
}

#[test]
fn records_that_are_not_messages_are_skipped_and_reported() {
    let p = Path::new("bad");
    let ch = Channel::<Odd>::open_or_create(&p.0, &small()).unwrap();
    let region = ch.region();
    // A hostile process claims lane 1 and writes a log record into it.
    let claim =
        ul_ring::ownership::claim_lane(region, std::process::id(), 0, 1).expect("a free lane");
    assert_eq!(claim.index(), 1, "lane 1 is free");
    // SAFETY: we own lane 1's directory entry: its only producer.
    let mut hostile = unsafe { Producer::attach(region.lane_control(1), region.lane_bytes(1)) };
    hostile
        .try_push(32, |enc| {
            enc.put_u32(32);
            enc.put_u8(1); // a log record, not a message
        })
        .unwrap();
    let mut tx = ch.sender();
    assert_eq!(tx.lane(), Some(0));
    tx.try_send(&odd(9, 0)).unwrap();
    let (d, totals) = drain(&p.0, small());
    assert_eq!(d.got, vec![odd(9, 0)]);
    assert_eq!(totals.messages, 1);
    assert_eq!(d.bad.len(), 1, "{:?}", d.bad);
    assert!(
        d.bad[0].contains("lane 1") && d.bad[0].contains("not 24-byte messages"),
        "{}",
        d.bad[0]
    );
    assert_eq!(region.header().stats.decode_errors.get(), 1);
}

#[test]
fn a_daemon_in_a_thread_stops_on_its_flag_after_draining() {
    let p = Path::new("stop");
    let ch = Channel::<Odd>::open_or_create(&p.0, &small()).unwrap();
    let opts = DaemonOptions {
        channel: small(),
        ..Default::default()
    };
    let stop = Arc::clone(&opts.stop);
    let path = p.0.clone();
    let daemon = std::thread::spawn(move || {
        let mut d = Collect::default();
        let totals = run_daemon(&path, &mut d, &opts).expect("daemon");
        (d, totals)
    });
    let mut tx = ch.sender();
    for seq in 0..2000 {
        tx.send_timeout(&odd(3, seq), Duration::from_secs(10))
            .expect("send");
    }
    stop.store(true, Ordering::Relaxed);
    let (d, totals) = daemon.join().unwrap();
    assert_eq!(totals.messages, 2000);
    assert_eq!(d.got, (0..2000).map(|s| odd(3, s)).collect::<Vec<_>>());
    assert_eq!(ch.daemon_pid(), None);
}
