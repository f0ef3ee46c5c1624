//! The owner word's transitions refuse every stale view (no process
//! needed: the word is an atomic and the lock a closure), and the kernel
//! locks behave as the protocol needs on a real region file.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use ul_ring::ownership::{claim_lane, lane_lock_held, LaneOwner, OwnerWord, Verdict};

#[test]
fn a_writer_with_a_stale_view_frees_nothing() {
    let word = AtomicU64::new(0);
    let w = OwnerWord::new(&word);
    let owned = w.claim(w.load(), 42).unwrap();
    // The writer judged the owner dead, then the owner retired.
    let retiring = w.retire(owned).unwrap();
    assert!(
        !w.free(owned),
        "freed from a word the owner has moved on from"
    );
    assert!(w.free(retiring));
    // Claimed again by a process with the same pid (pid reuse, or another
    // namespace's pid 42): the old owned word differs only in generation.
    let again = w.claim(w.load(), 42).unwrap();
    assert_eq!(again.pid(), owned.pid());
    assert_ne!(again, owned);
    assert!(!w.free(owned), "freed a new owner's lane by a stale view");
    assert_eq!(w.load(), again);
}

#[test]
fn a_claim_from_a_stale_free_word_fails() {
    let word = AtomicU64::new(0);
    let w = OwnerWord::new(&word);
    let free0 = w.load();
    let o = w.claim(free0, 1).unwrap();
    let r = w.retire(o).unwrap();
    assert!(w.free(r));
    assert_eq!(w.claim(free0, 2), Err(LaneOwner::Free { gen: 1 }));
    assert!(w.claim(w.load(), 2).is_ok());
}

#[test]
fn the_generation_wraps_in_its_24_bits() {
    let max = (1u32 << ul_ring::ownership::GENERATION_BITS) - 1;
    let word = AtomicU64::new(LaneOwner::Retiring { gen: max, pid: 9 }.encode());
    let w = OwnerWord::new(&word);
    assert!(w.free(w.load()));
    assert_eq!(w.load(), LaneOwner::Free { gen: 0 });
}

#[test]
fn every_word_decodes_and_valid_words_round_trip() {
    let mut rng = ul_test_support::Rng::from_state(0x9e37_79b9_7f4a_7c15);
    for _ in 0..100_000 {
        let x = rng.next_u64();
        let o = LaneOwner::decode(x);
        match o {
            LaneOwner::Corrupt { word } => assert_eq!(word, x),
            _ => assert_eq!(LaneOwner::decode(o.encode()), o),
        }
    }
    // A free word with pid bits set is not a word any party writes.
    assert!(matches!(
        LaneOwner::decode(5 << 8),
        LaneOwner::Corrupt { .. }
    ));
}

#[test]
fn judge_calls_an_owner_dead_only_if_its_word_held_still() {
    let word = AtomicU64::new(0);
    let w = OwnerWord::new(&word);
    let owned = w.claim(w.load(), 7).unwrap();
    assert_eq!(w.judge(|| Ok(true)), Verdict::Live);
    assert_eq!(
        w.judge(|| Err(std::io::Error::other("cannot tell"))),
        Verdict::Live,
        "a lock that cannot be asked counts as held"
    );
    // The owner retires (CAS, then unlock) between the writer's load and
    // its question: the lock is free, but the word moved.
    let v = w.judge(|| {
        w.retire(owned).unwrap();
        Ok(false)
    });
    assert_eq!(v, Verdict::Live, "a retiring owner was called dead");
    assert!(matches!(w.judge(|| Ok(false)), Verdict::Retired(_)));
    let word2 = AtomicU64::new(LaneOwner::Owned { gen: 3, pid: 8 }.encode());
    assert!(matches!(
        OwnerWord::new(&word2).judge(|| Ok(false)),
        Verdict::Dead(LaneOwner::Owned { gen: 3, pid: 8 })
    ));
}

#[test]
fn a_lane_whose_lock_is_held_is_skipped_by_claimants() {
    let scratch = common::ScratchRegion::new("ownership-skip", 4);
    let region = &scratch.region;
    let a = claim_lane(region, 1, 1, 2).unwrap();
    assert_eq!(a.index(), 2);
    let geo = *region.geometry();
    assert!(lane_lock_held(region.file(), &geo, 2).unwrap());
    assert!(!lane_lock_held(region.file(), &geo, 1).unwrap());
    // A lane the writer freed while its last owner still holds the lock
    // (a word scribbled to free): the next claimant skips it.
    region
        .lane_slot(2)
        .owner_raw()
        .store(LaneOwner::Free { gen: 5 }.encode(), Ordering::Relaxed);
    let b = claim_lane(region, 2, 2, 2).unwrap();
    assert_eq!(b.index(), 3, "claimed a lane whose lock another holds");
    a.retire(region);
    assert!(!lane_lock_held(region.file(), &geo, 2).unwrap());
    drop(b);
}

#[test]
fn a_read_only_descriptor_can_ask_about_locks() {
    let scratch = common::ScratchRegion::new("ownership-ro", 4);
    let region = &scratch.region;
    let path = &scratch.path;
    let claim = claim_lane(region, 1, 1, 0).unwrap();
    let ro = std::fs::File::open(path).unwrap();
    assert!(lane_lock_held(&ro, region.geometry(), claim.index()).unwrap());
    drop(claim);
    assert!(!lane_lock_held(&ro, region.geometry(), 0).unwrap());
}
