//! The drain core's claim watch: a claim that commits is no longer
//! "pending", so a consumer stops waking up to time it out.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ul_ring::drain_core::{claim_pending, pending_claim, PendingClaim};
use ul_ring::quarantine::Quarantine;

#[test]
fn a_claim_that_commits_is_no_longer_pending() {
    let scratch = common::ScratchRegion::new("drain-core", 1);
    let region = &scratch.region;
    let shared_lane = region.shared_lane();
    assert_eq!(
        shared_lane
            .control()
            .head_raw()
            .fetch_add(1, Ordering::AcqRel),
        0
    );
    let mut q = Quarantine::default();
    let outcome = pending_claim(region, 0, true, Duration::from_secs(60), &mut q);
    assert_eq!(outcome, PendingClaim::Waiting);
    assert!(claim_pending(region));
    // The claimant commits: slot 0's sequence word becomes `pos + 1`.
    let (base, _) = region.mapped_range();
    // SAFETY: slot 0's sequence word is an aligned AtomicU64 at
    // `shared_lane_seq_offset` inside the mapping, which `region` keeps alive.
    let seq0 =
        unsafe { &*(base.add(region.geometry().shared_lane_seq_offset) as *const AtomicU64) };
    seq0.store(1, Ordering::Release);
    assert!(
        !claim_pending(region),
        "a committed claim still counted as pending (the consumer would poll for ever)"
    );
}
