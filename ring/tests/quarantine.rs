//! A quarantined shared-lane slot is freed when its claimant's process is
//! dead by the kernel's word (its threads' drop-table locks), not by a pid
//! looked up in this process's `/proc`: a claimant in another pid
//! namespace has a pid that means nothing here.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::Ordering;

use ul_ring::ownership::claim_drop_slot;
use ul_ring::quarantine::Quarantine;
use ul_ring::region::Region;
use ul_ring::shared_lane::writing_word;

/// Leaves slot 0 as a claimant of `pid` stalled inside its copy leaves it:
/// the shared head moved past position 0, and slot 0's sequence word is the
/// claimant's writing word.
fn stalled_copy(region: &Region, pid: u32) {
    let shared_lane = region.shared_lane();
    assert_eq!(
        shared_lane
            .control()
            .head_raw()
            .fetch_add(1, Ordering::AcqRel),
        0
    );
    let (base, len) = region.mapped_range();
    let off = region.geometry().shared_lane_seq_offset;
    assert!(off + 8 <= len);
    // SAFETY: the geometry puts slot 0's sequence word, an 8-byte-aligned
    // AtomicU64, at `shared_lane_seq_offset` inside the mapping, which `region`
    // keeps alive for this borrow.
    let seq0 = unsafe { &*(base.add(off) as *const std::sync::atomic::AtomicU64) };
    seq0.store(writing_word(0, pid), Ordering::Release);
    assert!(shared_lane.copying(0));
}

#[test]
fn a_claimant_in_another_pid_namespace_is_judged_by_its_lock() {
    let scratch = common::ScratchRegion::new("quarantine-ns", 1);
    let region = &scratch.region;
    // pid 1: in this process's /proc that is init, alive for ever; a
    // producer in a container sees itself as pid 1 too.
    let thread_entry = claim_drop_slot(region, 1, 7, 0).expect("a drop-table entry");
    stalled_copy(region, 1);
    let mut q = Quarantine::default();
    assert!(q.abandon_copying(region, 0), "quarantined");
    assert!(q.sweep(region).is_empty(), "freed while its claimant lives");
    assert_eq!(region.shared_lane().quarantined_pid(0), Some(1));
    // The claimant's process dies: the kernel drops its locks.
    drop(thread_entry);
    assert_eq!(
        q.sweep(region),
        vec![(0, 1)],
        "kept after its claimant died"
    );
}

/// A log thread's writing word names its own drop-table entry, so its slot
/// is judged by that entry alone: another thread with the same pid number
/// (of its process, or of a process in another pid namespace) going away
/// does not free it early.
#[test]
fn a_claimant_naming_its_own_entry_is_judged_by_that_entry_alone() {
    let scratch = common::ScratchRegion::new("quarantine-entry", 1);
    let region = &scratch.region;
    let own = claim_drop_slot(region, 1, 7, 10).expect("the claimant's entry");
    let other = claim_drop_slot(region, 1, 8, 20).expect("another pid-1 thread's entry");
    stalled_copy(
        region,
        ul_ring::shared_lane::CLAIMANT_ENTRY | own.index() as u32,
    );
    let mut q = Quarantine::default();
    assert!(q.abandon_copying(region, 0), "quarantined");
    drop(other);
    assert!(
        q.sweep(region).is_empty(),
        "freed while its claimant's own entry is locked"
    );
    drop(own);
    assert_eq!(
        q.sweep(region),
        vec![(0, 1)],
        "the pid reported is the entry's"
    );
}

/// A claimant that dies inside its copy leaves its drop-table entry owned
/// and unlocked. The writer takes dead owners' entries back every 200 ms,
/// but quarantines a copy only after twice the claim timeout: if it freed
/// the entry in between, a live thread could claim the same entry, and the
/// quarantine would judge the dead claimant's slot by that thread: the
/// slot held (the shared lane stuck one lap later) for as long as the
/// unrelated thread lives, then reported as freed because *its* pid "died
/// inside its copy". The entry is kept while a slot names it, so the slot
/// is judged by the claimant that wrote it.
#[test]
fn a_dead_claimants_entry_is_not_handed_on_while_its_slot_names_it() {
    use ul_ring::drain_core::{free_drop_slots, scan_drop_slots};
    let scratch = common::ScratchRegion::new("quarantine-reuse", 1);
    let region = &scratch.region;
    let dead = claim_drop_slot(region, 100, 7, 10).expect("the claimant's entry");
    let k = dead.index();
    stalled_copy(region, ul_ring::shared_lane::CLAIMANT_ENTRY | k as u32);
    // Killed inside its copy: the kernel drops its lock, the word stays.
    drop(dead);
    // The writer's periodic scan, before the claim times out.
    let entries = scan_drop_slots(region, |_| true, |_, e| panic!("lock query: {e}"));
    assert!(
        entries.iter().all(|r| r.lane != k),
        "the entry of a claimant whose copy is pending was taken back: {entries:?}"
    );
    free_drop_slots(region, &entries);
    // A live thread of another process looks for an entry from the same
    // index: it must not get the dead claimant's.
    let live = claim_drop_slot(region, 200, 8, k).expect("an entry for a live thread");
    assert_ne!(live.index(), k, "the dead claimant's entry was handed on");
    // The copy is quarantined after twice the timeout and freed at the next
    // sweep, in the dead claimant's name.
    let mut q = Quarantine::default();
    assert!(q.abandon_copying(region, 0), "quarantined");
    assert_eq!(
        q.sweep(region),
        vec![(0, 100)],
        "the dead claimant's slot is freed, in its own name"
    );
    // Now nothing names the entry: the next scan takes it back.
    let entries = scan_drop_slots(region, |_| true, |_, e| panic!("lock query: {e}"));
    assert!(entries.iter().any(|r| r.lane == k && r.dead));
    free_drop_slots(region, &entries);
    assert!(region.drop_slot(k).owner().load().is_free());
    drop(live);
}
