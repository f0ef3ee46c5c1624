//! The writer's side of lane ownership, driven state by state through a
//! real engine over a real region: an owner is dead only when the kernel
//! says nobody holds its lane's lock, whatever else the directory entry
//! says.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ul_ring::ownership::{claim_lane, LaneOwner};
use ul_ring::region::{Region, RegionOptions};
use ul_writer::internals::engine::Engine;
use ul_writer::internals::outputs::{Format, Outputs};

fn engine(s: &Scratch, region: Region) -> Engine {
    std::fs::create_dir_all(&s.dir).unwrap();
    let outputs = Outputs::new(&s.dir, "server").unwrap();
    Engine::new(region, outputs, Format::Text, Duration::from_secs(30)).unwrap()
}

/// Until 2026-12 a claimant published its pid with the claim CAS and its
/// start time just after; a reclaim scan in between read the previous
/// owner's start time (never reset), judged the new owner dead and freed
/// its lane. Now the claimant holds the lane's lock before its CAS, and the
/// directory's old start-time field means nothing.
#[test]
fn a_reclaim_scan_right_after_a_claim_leaves_the_lane_alone() {
    let s = Scratch::new("claimwin");
    let region = Region::open(&s.shm, &RegionOptions::default()).unwrap();
    // What the old protocol's previous owner left behind.
    region
        .lane_slot(0)
        .reserved0_raw()
        .store(1, Ordering::Relaxed);
    let claim = claim_lane(&region, std::process::id(), 7, 0).expect("a free lane");
    assert_eq!(claim.index(), 0);
    let mut engine = engine(&s, region);
    engine.pass().unwrap();
    engine.pass().unwrap();
    let now = engine.region().lane_slot(0).owner().load();
    assert_eq!(
        now,
        claim.owner(),
        "the writer freed a live owner's lane:\n{}",
        s.text()
    );
    assert!(!s.text().contains("exited"), "{}", s.text());
}

/// An owner whose lock is gone while its word still says OWNED (its
/// process died: the kernel dropped the lock) is reclaimed: announced,
/// then freed with the next generation.
#[test]
fn an_owner_whose_lock_is_gone_is_reclaimed_with_a_new_generation() {
    let s = Scratch::new("lockgone");
    let region = Region::open(&s.shm, &RegionOptions::default()).unwrap();
    let claim = claim_lane(&region, 4242, 7, 3).expect("a free lane");
    let owned = claim.owner();
    assert!(matches!(owned, LaneOwner::Owned { pid: 4242, .. }));
    // Dropping the claim without retiring it releases the lock and leaves
    // the word OWNED: what the kernel leaves of a process that died.
    drop(claim);
    let mut engine = engine(&s, region);
    engine.pass().unwrap();
    engine.pass().unwrap();
    let now = engine.region().lane_slot(3).owner().load();
    assert_eq!(
        now,
        LaneOwner::Free {
            gen: owned.generation() + 1
        }
    );
    assert!(
        s.text().contains("process 4242 exited; reclaimed 1 lane"),
        "{}",
        s.text()
    );
    // The next claim of that lane carries the new generation.
    let again = claim_lane(engine.region(), 4243, 8, 3).expect("the freed lane");
    assert_eq!(
        again.owner(),
        LaneOwner::Owned {
            gen: owned.generation() + 1,
            pid: 4243
        }
    );
}

/// A retired lane is freed once drained, with no announcement (its owner
/// let go on purpose).
#[test]
fn a_retired_lane_is_freed_quietly() {
    let s = Scratch::new("retired");
    let region = Region::open(&s.shm, &RegionOptions::default()).unwrap();
    let claim = claim_lane(&region, std::process::id(), 7, 5).expect("a free lane");
    let gen = claim.owner().generation();
    claim.retire(&region);
    assert!(matches!(
        region.lane_slot(5).owner().load(),
        LaneOwner::Retiring { .. }
    ));
    let mut engine = engine(&s, region);
    engine.pass().unwrap();
    engine.pass().unwrap();
    assert_eq!(
        engine.region().lane_slot(5).owner().load(),
        LaneOwner::Free { gen: gen + 1 }
    );
    assert!(!s.text().contains("exited"), "{}", s.text());
}

/// An owner word with a state no party writes (hostile bytes) is freed
/// only when nobody holds the lane's lock.
#[test]
fn a_corrupt_owner_word_is_freed_only_without_a_lock_holder() {
    let s = Scratch::new("corruptowner");
    let region = Region::open(&s.shm, &RegionOptions::default()).unwrap();
    let held = claim_lane(&region, std::process::id(), 7, 1).expect("a free lane");
    assert_eq!(held.index(), 1);
    // Lane 1: its owner lives (lock held) but its word was scribbled on.
    // Lane 2: scribbled on, nobody holds its lock.
    region
        .lane_slot(1)
        .owner_raw()
        .store(0x77, Ordering::Relaxed);
    region
        .lane_slot(2)
        .owner_raw()
        .store(0x0101_0000_0000_0077, Ordering::Relaxed);
    let mut engine = engine(&s, region);
    engine.pass().unwrap();
    engine.pass().unwrap();
    let r = engine.region();
    assert_eq!(r.lane_slot(1).owner_raw().load(Ordering::Relaxed), 0x77);
    assert!(r.lane_slot(2).owner().load().is_free());
    drop(held);
}

/// A forked child closes its copies of the parent's lock descriptors: a
/// parent that lets go of a lane (or dies) is seen to, even while a child
/// it forked lives on.
#[test]
fn a_forked_child_does_not_keep_its_parents_lanes_alive() {
    let s = Scratch::new("forklock");
    let region = Region::open(&s.shm, &RegionOptions::default()).unwrap();
    let claim = claim_lane(&region, std::process::id(), 7, 0).expect("a free lane");
    let geo = *region.geometry();
    let probe = Region::open(&s.shm, &RegionOptions::default()).unwrap();
    assert!(ul_ring::ownership::lane_lock_held(probe.file(), &geo, 0).unwrap());
    let mut pipe = [0i32; 2];
    // SAFETY: `pipe` is a valid array of two descriptors.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    // SAFETY: the child only writes a byte, sleeps and leaves with _exit
    // (all async-signal-safe); ul-ring's fork handler, which has run by the
    // time fork returns in the child, closes descriptors.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        // SAFETY: see above.
        unsafe {
            libc::write(pipe[1], b"x".as_ptr().cast(), 1);
            libc::sleep(30);
            libc::_exit(0);
        }
    }
    // Wait until the child runs (its fork handler has run by then).
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into `byte`, a live local, from a
    // pipe descriptor this test opened.
    let n = unsafe { libc::read(pipe[0], (&mut byte as *mut u8).cast(), 1) };
    assert_eq!(n, 1);
    drop(claim);
    let released = ul_ring::ownership::lane_lock_held(probe.file(), &geo, 0).unwrap();
    signal(child as u32, libc::SIGKILL);
    let mut status = 0;
    // SAFETY: waiting for our own child; `status` is a valid out pointer.
    unsafe { libc::waitpid(child, &mut status, 0) };
    assert!(
        !released,
        "the child kept the lock its parent dropped: it inherited the descriptor"
    );
}
