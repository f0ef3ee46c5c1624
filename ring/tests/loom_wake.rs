//! Loom model of the writer's sleep handshake ([`WakeBlock`]): no lost
//! wakeups.
//!
//! The writer announces it will sleep ([`WakeBlock::prepare_sleep`]), then
//! re-checks the lanes (here: loom `AtomicU64` heads standing for a lane's
//! published head) and sleeps on the futex value `prepare_sleep` returned
//! only if every lane is empty. A producer publishes a record (stores its
//! head) and then calls [`WakeBlock::claim_wake`], which returns true if
//! this producer must issue the futex wake.
//!
//! The property: whenever the writer decides to sleep, some producer's
//! `claim_wake` returned true (it will wake the writer) *and* the futex word
//! no longer holds the value the writer sleeps on, so the writer's
//! `FUTEX_WAIT` returns at once even if the wake came first. With several
//! producers exactly one of them wins the wake. Loom explores every
//! interleaving and every outcome the fences and orderings allow; the
//! property rests on the SeqCst fences on both sides (a store-buffering
//! pattern), so dropping either fence makes these tests fail.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

use ul_ring::wake::WakeBlock;

/// The writer's side: prepare to sleep, re-check the lanes, and either
/// sleep (returns the futex value it would `FUTEX_WAIT` on) or cancel.
fn writer_round(wake: &WakeBlock, heads: &[AtomicU64]) -> Option<u32> {
    let seq = wake.prepare_sleep();
    // The re-check, as the writer does it: an Acquire load of each lane's
    // published head.
    if heads.iter().all(|h| h.load(Ordering::Acquire) == 0) {
        Some(seq)
    } else {
        wake.cancel_sleep();
        None
    }
}

/// A producer's side: publish a record in lane `lane`, then ask whether to
/// wake the writer.
fn spawn_producer(
    shared: &Arc<(WakeBlock, Vec<AtomicU64>)>,
    lane: usize,
) -> thread::JoinHandle<bool> {
    let shared = shared.clone();
    thread::spawn(move || {
        let (wake, heads) = &*shared;
        heads[lane].store(1, Ordering::Release);
        wake.claim_wake()
    })
}

fn shared(lanes: usize) -> Arc<(WakeBlock, Vec<AtomicU64>)> {
    Arc::new((
        WakeBlock::new(),
        (0..lanes).map(|_| AtomicU64::new(0)).collect(),
    ))
}

/// One producer, one writer: if the writer sleeps, the producer wakes it
/// and the futex word has moved past the value the writer sleeps on.
#[test]
fn no_lost_wakeup() {
    loom::model(|| {
        let shared = shared(1);
        let producer = spawn_producer(&shared, 0);
        let slept_on = writer_round(&shared.0, &shared.1);
        let woke = producer.join().unwrap();
        let futex = shared.0.futex_value();
        if let Some(seq) = slept_on {
            assert!(
                woke,
                "writer sleeps on an empty-looking lane and no producer wakes it"
            );
            assert_ne!(
                futex, seq,
                "FUTEX_WAIT on {seq} would block: the bump was missed"
            );
        }
        // A producer only wakes a writer that announced sleep, and bumps the
        // word exactly once when it does.
        assert_eq!(futex, u32::from(woke));
        assert!(!shared.0.writer_sleeping(), "sleeping left set");
    });
}

/// Two producers in two lanes: whenever the writer sleeps exactly one of
/// them wins the wake (one system call, not two); when it does not sleep,
/// at most one does.
#[test]
fn two_producers_exactly_one_wakes() {
    loom::model(|| {
        let shared = shared(2);
        let p0 = spawn_producer(&shared, 0);
        let p1 = spawn_producer(&shared, 1);
        let slept_on = writer_round(&shared.0, &shared.1);
        let wins = u32::from(p0.join().unwrap()) + u32::from(p1.join().unwrap());
        let futex = shared.0.futex_value();
        if let Some(seq) = slept_on {
            assert_eq!(
                wins, 1,
                "writer slept and {wins} producers claimed the wake"
            );
            assert_ne!(
                futex, seq,
                "FUTEX_WAIT on {seq} would block: the bump was missed"
            );
        }
        assert!(wins <= 1, "{wins} producers claimed one sleep");
        assert_eq!(futex, wins);
    });
}
