//! A hostile producer: it maps the region and writes garbage into its own
//! lane, into records with lying lengths and ids, into the callsite table,
//! and into header fields it should not touch, while an honest producer
//! logs. The writer must not crash, hang or read outside the region; it
//! reports what it skipped and writes every honest record exactly once.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use ul_ring::bytes::ByteStore;

use ul_test_support::Rng;

#[test]
fn garbage_from_a_hostile_producer_is_reported_and_skipped() {
    let s = Scratch::new("hostile");
    let w = Writer::start(&s, &["--lanes", "4", "--lane-size", "65536"]);
    let region = common::attach(&s.shm);
    // Claim a lane as this (live) process, as a producer would.
    let claim =
        ul_ring::ownership::claim_lane(&region, std::process::id(), 0, 0).expect("a free lane");
    let lane = claim.index();
    let ctrl = region.lane_control(lane);
    // SAFETY: we own the lane (claimed above) and only this thread of this
    // process touches it (the writer reading it is another process);
    // `region` outlives `bytes`.
    let bytes = unsafe { region.lane_bytes(lane) };
    let cap = bytes.capacity() as u64;

    // An honest producer logs meanwhile (two threads: lanes are left).
    let honest = std::process::Command::new(stress_bin())
        .args(["--threads", "2", "--count", "20000", "--shm"])
        .arg(&s.shm)
        .spawn()
        .expect("spawn stress");

    let mut rng = Rng::from_state(0x9e37_79b9_7f4a_7c15);
    let end = Instant::now() + Duration::from_secs(3);
    let mut rounds = 0u64;
    while Instant::now() < end {
        rounds += 1;
        let head = ctrl.head();
        match rng.below(6) {
            // Random bytes published as records.
            0 => {
                let n = 8 * (1 + rng.below(64));
                let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                bytes.write_with((head % cap) as usize, n as usize, |e| e.put_bytes(&junk));
                ctrl.head_raw().store(head + n, Ordering::Release);
            }
            // A frame whose length lies (past head, huge, unaligned).
            1 => {
                let lie = [9u32, 0, 7, u32::MAX, 1 << 20, 65_536 + 8][rng.below(6) as usize];
                bytes.write_with((head % cap) as usize, 8, |e| {
                    e.put_u32(lie);
                    e.put_u8(1);
                });
                ctrl.head_raw().store(head + 8, Ordering::Release);
            }
            // A well-framed record with a bad callsite id, context id, tag.
            2 => {
                let mut rec = Vec::new();
                let hdr = ul_ring::record::RecordHeader {
                    level: (rng.below(7)) as u8,
                    callsite: rng.next_u64() as u32,
                    context: rng.next_u64() as u32,
                    ..Default::default()
                };
                ul_ring::args::encode_record(
                    &mut rec,
                    hdr,
                    &[ul_ring::args::OwnedValue::U64(rng.next_u64())],
                );
                if rng.below(2) == 0 {
                    rec[32] = 200; // unknown tag
                }
                let at = (head % cap) as usize;
                if at + rec.len() <= cap as usize {
                    bytes.write_with(at, rec.len(), |e| e.put_bytes(&rec));
                    ctrl.head_raw()
                        .store(head + rec.len() as u64, Ordering::Release);
                }
            }
            // Head far ahead of tail, or behind it.
            3 => {
                let h = [head + cap * 3, head.wrapping_sub(64), head + 3][rng.below(3) as usize];
                ctrl.head_raw().store(h, Ordering::Release);
            }
            // Garbage in the callsite arena past what is in use.
            4 => {
                // SAFETY: only past the arena's used part, which no
                // producer of this process writes (this test's process
                // registers nothing); `region` outlives `table`.
                let table = unsafe { region.callsite_bytes() };
                let used = region.callsites().used();
                let room = table.capacity().saturating_sub(used) / 8;
                if room > 1 {
                    let at = used + 8 * rng.below(room as u64 - 1) as usize;
                    let v = rng.next_u64();
                    table.write_with(at, 8, |e| e.put_u64(v));
                }
            }
            // Header fields a producer may set, set to nonsense.
            _ => {
                let c = &region.header().control;
                c.set_batch_size(rng.next_u64() as u32);
                c.set_flush_interval_ms(rng.next_u64() as u32);
                c.set_min_level(0);
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    // Restore what the honest producer needs to finish in reasonable time.
    let c = &region.header().control;
    c.set_batch_size(4096);
    c.set_flush_interval_ms(20);
    let st = wait_timeout(&mut { honest }, Duration::from_secs(120)).expect("honest producer hung");
    assert!(st.success(), "honest producer failed: {st:?}");
    // The writer is still alive and serving.
    assert!(
        ul_ring::procinfo::alive(w.pid()),
        "the writer died on hostile input"
    );
    let (st, err) = w.stop();
    assert!(st.success(), "writer exit {st:?}: {err}");
    assert!(!err.contains("panicked"), "writer panicked: {err}");

    let text = s.text();
    let mut per: std::collections::HashMap<u32, Vec<u64>> = Default::default();
    let mut skipped = 0;
    for line in text.lines() {
        assert!(line.starts_with("UL: ["), "malformed line: {line:?}");
        if line.contains("[stress]") {
            let msg = line.split(": ").nth(2).expect("message");
            let mut it = msg.split(' ');
            let _p = it.next();
            let t: u32 = it.next().unwrap()[2..].parse().unwrap();
            let i: u64 = it.next().unwrap()[2..].parse().unwrap();
            per.entry(t).or_default().push(i);
        } else if line.contains("[ul-writer]")
            && (line.contains("skipped") || line.contains("not records"))
        {
            skipped += 1;
        }
    }
    for t in 0..2 {
        assert_eq!(
            per.get(&t).map(Vec::as_slice),
            Some(&(0..20000).collect::<Vec<_>>()[..]),
            "honest thread {t}: records missing, duplicated or out of order"
        );
    }
    assert!(
        skipped > 0,
        "the writer reported nothing it skipped in {rounds} rounds"
    );
    for level in ["trace", "debug", "info", "warn", "error"] {
        for line in s.json(level).lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("JSON line");
        }
    }
    eprintln!(
        "hostile: {rounds} rounds of garbage, {skipped} skip reports, 40000 honest records intact"
    );
}

/// A shared-lane claimant that died inside its copy into a slot (its
/// writing word is set, its record never committed): the writer abandons
/// the claim after twice the claim timeout but keeps the slot quarantined
/// until it sees the claimant's pid is gone, then frees it and says so; the
/// lane then carries records through that slot again, every one intact.
#[test]
fn a_claimant_dead_inside_its_copy_has_its_slot_freed() {
    let s = Scratch::new("deadcopy");
    let w = Writer::start(&s, &["--lanes", "1", "--claim-timeout", "0.1"]);
    let region = common::attach(&s.shm);
    // A pid that is certainly dead: a child we started and reaped.
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let dead = child.id();
    child.wait().expect("wait");
    let m = region.shared_lane();
    let pos = m.control().head();
    assert!(
        m.control()
            .head_raw()
            .compare_exchange(pos, pos + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok(),
        "claim position {pos}"
    );
    let g = region.geometry();
    let slot = (pos % u64::from(g.sizes.shared_lane_slots)) as usize;
    // SAFETY: the geometry puts one aligned 8-byte sequence word per slot
    // at shared_lane_seq_offset inside the mapping, which `region` keeps alive.
    let seq = unsafe {
        &*(region
            .mapped_range()
            .0
            .add(g.shared_lane_seq_offset + 8 * slot)
            as *const std::sync::atomic::AtomicU64)
    };
    seq.store(
        ul_ring::shared_lane::writing_word(pos, dead),
        Ordering::Release,
    );
    let freed = format!("freed the shared-lane slot of position {pos}: its claimant, pid {dead}, died inside its copy");
    assert!(
        wait_for(Duration::from_secs(20), || s.text().contains(&freed)),
        "the writer did not free the dead claimant's slot:\n{}",
        s.text()
    );
    assert_eq!(
        seq.load(Ordering::Acquire),
        pos + u64::from(g.sizes.shared_lane_slots),
        "slot free for its next lap"
    );
    // Three threads, one lane: two log through the shared lane, wrapping
    // past the freed slot several times.
    stress(&s.shm, 3, 3000, &[]);
    let (_, err) = w.stop();
    let text = s.text();
    assert!(!text.contains("skipped a shared-lane record"), "{text}");
    let mut seen = std::collections::HashMap::new();
    for line in text.lines() {
        assert!(line.starts_with("UL: ["), "malformed line: {line:?}");
        if let Some(rest) = line.split_once("] [stress] ").map(|x| x.1) {
            let key: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| w.starts_with("t=") || w.starts_with("i="))
                .collect();
            *seen.entry(key.join(" ")).or_insert(0u32) += 1;
        }
    }
    assert_eq!(seen.len(), 9000, "every record once; writer stderr:\n{err}");
    assert!(seen.values().all(|&n| n == 1), "a record written twice");
}
