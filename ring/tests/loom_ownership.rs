//! Loom model of lane ownership ([`OwnerWord`]): claim vs claim, claim vs
//! reclaim, retire vs reclaim, and a dead owner's lane freed and claimed
//! again while the writer holds a stale view.
//!
//! The owner word and its transitions are the production code (compiled
//! over loom's atomics through `ul_ring`'s `sync` shim). The kernel's lane
//! lock is modelled by a SeqCst atomic: `try_lock` is a compare-exchange
//! from 0 (the non-blocking `F_OFD_SETLK`), `unlock` a store of 0 (an
//! unlock, or the kernel releasing a dead process's lock), `held` a load
//! (`F_OFD_GETLK`); system calls are full barriers, which SeqCst stands in
//! for. `inside` counts the threads that currently treat the lane as
//! theirs (between a won claim and their retire or death): the properties
//! are that it never exceeds one, that the writer frees a lane only when
//! nobody is inside and every record pushed into it is drained, and that
//! the writer never calls a thread dead that only retired.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

use ul_ring::ownership::{LaneOwner, OwnerWord, Verdict};

/// The model of a held kernel lock: one reference to the open file
/// description that holds it. Dropping the last reference unlocks (as
/// closing the last descriptor does, or the kernel when the process dies);
/// a forked child's copy is another reference ([`ModelLock::fork`]).
struct ModelLock(Arc<Lane>);

impl ModelLock {
    /// The copy a `fork()` gives the child: the same description.
    fn fork(&self) -> ModelLock {
        self.0.lock_refs.fetch_add(1, Ordering::SeqCst);
        ModelLock(self.0.clone())
    }
}

impl Drop for ModelLock {
    fn drop(&mut self) {
        if self.0.lock_refs.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.lock.store(0, Ordering::SeqCst);
        }
    }
}

type Owned = (LaneOwner, ModelLock);

struct Lane {
    owner: AtomicU64,
    lock: AtomicU32,
    /// References to the description that holds `lock`.
    lock_refs: AtomicU32,
    inside: AtomicU32,
    /// Per pid: 1 while that owner is inside.
    inside_pid: [AtomicU32; 4],
    /// Records pushed (the lane's head) and drained (its tail).
    head: AtomicU64,
    tail: AtomicU64,
    /// Per pid: the lane's head after that owner's last record.
    last: [AtomicU64; 4],
    /// Touched first by every thread: see [`Lane::start`].
    started: AtomicU32,
}

impl Lane {
    fn new() -> Arc<Lane> {
        Arc::new(Lane {
            owner: AtomicU64::new(0),
            lock: AtomicU32::new(0),
            lock_refs: AtomicU32::new(0),
            inside: AtomicU32::new(0),
            inside_pid: [(); 4].map(|_| AtomicU32::new(0)),
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            last: [(); 4].map(|_| AtomicU64::new(0)),
            started: AtomicU32::new(0),
        })
    }

    /// Every thread's first operation, the main thread's right after its
    /// spawns. Loom 0.7 does not explore a spawned thread whose first
    /// operation is an atomic load (tokio-rs/loom#392: it is marked
    /// skipped at its first branch), and a claim starts with a load of the
    /// owner word; a read-modify-write of a location both threads touch
    /// first restores the exploration. Relaxed, so it adds no ordering the
    /// protocol does not have.
    fn start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    fn word(&self) -> OwnerWord<'_> {
        OwnerWord::new(&self.owner)
    }

    /// The owner `pid` pushes one record.
    fn push(&self, pid: u32) {
        let h = self.head.load(Ordering::Relaxed);
        self.head.store(h + 1, Ordering::Release);
        self.last[pid as usize].store(h + 1, Ordering::Relaxed);
    }

    /// The owner thread exits, by the production procedure
    /// ([`OwnerWord::retire_and_unlock`]).
    fn retire(&self, (owned, lock): Owned) {
        assert_eq!(
            self.word().load(),
            owned,
            "the lane was taken from its live owner"
        );
        self.inside_pid[owned.pid() as usize].store(0, Ordering::SeqCst);
        self.inside.fetch_sub(1, Ordering::SeqCst);
        self.word().retire_and_unlock(owned, lock);
    }

    /// The owner's process dies: the kernel drops its lock; the word stays.
    fn die(&self, (owned, lock): Owned) {
        self.inside_pid[owned.pid() as usize].store(0, Ordering::SeqCst);
        self.inside.fetch_sub(1, Ordering::SeqCst);
        drop(lock);
    }

    /// One reclaim round of the writer: judge, drain, free. Returns the
    /// verdict and whether the free CAS won.
    fn reclaim_round(&self) -> (Verdict, bool) {
        let verdict = self
            .word()
            .judge(|| Ok(self.lock.load(Ordering::SeqCst) != 0));
        let seen = match verdict {
            Verdict::Free | Verdict::Live => return (verdict, false),
            Verdict::Retired(o) | Verdict::Dead(o) | Verdict::Corrupt(o) => o,
        };
        // Drain what is there (the writer is the lane's one consumer).
        let head = self.head.load(Ordering::Acquire);
        self.tail.store(head, Ordering::Relaxed);
        let freed = self.word().free(seen);
        if freed {
            // The owner whose word was freed is not inside. (Another may
            // be by now: a claim can follow the free at once.)
            assert_eq!(
                self.inside_pid[seen.pid() as usize].load(Ordering::SeqCst),
                0,
                "the writer freed the lane of an owner still inside"
            );
            // Every record of the owner whose lane this was is drained
            // (its last push happened before its retire or its death,
            // which the verdict saw).
            assert!(
                head >= self.last[seen.pid() as usize].load(Ordering::Relaxed),
                "the lane was freed with records of its owner left in it"
            );
        }
        (verdict, freed)
    }
}

/// A producer's claim, by the production procedure
/// ([`OwnerWord::claim_locked`]) with the model lock.
fn claim(lane: &Arc<Lane>, pid: u32) -> Option<Owned> {
    let (owned, lock) = lane.word().claim_locked(pid, || {
        lane.lock
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| {
                lane.lock_refs.store(1, Ordering::SeqCst);
                ModelLock(lane.clone())
            })
    })?;
    lane.inside_pid[pid as usize].store(1, Ordering::SeqCst);
    let before = lane.inside.fetch_add(1, Ordering::SeqCst);
    assert_eq!(before, 0, "two owners inside one lane");
    Some((owned, lock))
}

/// Two threads claim the same free lane: at most one wins, and the loser
/// leaves the winner's lock alone.
#[test]
fn claim_vs_claim() {
    loom::model(|| {
        let lane = Lane::new();
        let l2 = lane.clone();
        let t = thread::spawn(move || {
            l2.start();
            if let Some(o) = claim(&l2, 2) {
                l2.push(2);
                l2.retire(o);
            }
        });
        lane.start();
        if let Some(o) = claim(&lane, 1) {
            lane.push(1);
            lane.retire(o);
        }
        t.join().unwrap();
    });
}

/// A thread claims, pushes and retires while the writer runs reclaim
/// rounds: a retiring owner is never called dead, and the lane is freed
/// only drained.
#[test]
fn retire_vs_reclaim() {
    loom::model(|| {
        let lane = Lane::new();
        // Claimed before the writer runs (the claim's own races are the
        // other models'): the window here is the retire.
        let o = claim(&lane, 1).expect("the lane is free");
        let l2 = lane.clone();
        let t = thread::spawn(move || {
            l2.start();
            l2.push(1);
            l2.retire(o);
        });
        lane.start();
        for _ in 0..2 {
            let (v, _) = lane.reclaim_round();
            assert!(
                !matches!(v, Verdict::Dead(_)),
                "a thread that retired was called dead"
            );
        }
        t.join().unwrap();
    });
}

/// A thread claims and its process dies; the writer reclaims the lane
/// while a new thread tries to claim it; a second round acts on whatever
/// the writer saw. Never two owners inside, never a free with one inside,
/// and a freed lane's generation moved on.
#[test]
fn dead_owner_vs_reclaim_vs_new_claim() {
    loom::model(|| {
        let lane = Lane::new();
        let o = claim(&lane, 1).expect("the lane is free");
        let gen = o.0.generation();
        lane.push(1);
        let l2 = lane.clone();
        let dier = thread::spawn(move || {
            l2.start();
            l2.die(o);
        });
        let l3 = lane.clone();
        let newcomer = thread::spawn(move || {
            l3.start();
            if let Some(o) = claim(&l3, 3) {
                l3.push(3);
                l3.retire(o);
            }
        });
        lane.start();
        let mut freed = 0;
        for _ in 0..2 {
            if lane.reclaim_round().1 {
                freed += 1;
            }
        }
        dier.join().unwrap();
        newcomer.join().unwrap();
        if freed > 0 {
            assert_ne!(
                lane.word().load().generation(),
                gen,
                "a freed lane keeps its generation"
            );
        }
    });
}

/// A thread claims a free lane while the writer runs reclaim rounds: the
/// claimant takes the lock before its claim CAS, so the writer never sees
/// the lane owned by nobody it can find alive.
#[test]
fn claim_vs_reclaim() {
    loom::model(|| {
        let lane = Lane::new();
        let l2 = lane.clone();
        let t = thread::spawn(move || {
            l2.start();
            let o = claim(&l2, 2).expect("the lane is free");
            l2.push(2);
            l2.retire(o);
        });
        lane.start();
        for _ in 0..2 {
            let (v, _) = lane.reclaim_round();
            assert!(
                !matches!(v, Verdict::Dead(_)),
                "a live claimant was called dead"
            );
        }
        t.join().unwrap();
    });
}

/// A process owns the lane and forks: the child inherits a copy of the
/// lock's descriptor, closes it at once (ul-ring's fork handler) and tries
/// a lane of its own, while the parent dies and the writer reclaims. The
/// child's copy may keep the lock alive (the lane is reclaimed late), but
/// its close never releases the lock of a parent that lives, and the child
/// never gets into the lane while the parent is inside.
#[test]
fn forked_child_vs_parent_death_vs_reclaim() {
    loom::model(|| {
        let lane = Lane::new();
        let parent = claim(&lane, 1).expect("the lane is free");
        lane.push(1);
        let inherited = parent.1.fork();
        let l2 = lane.clone();
        let child = thread::spawn(move || {
            l2.start();
            drop(inherited);
            if let Some(o) = claim(&l2, 2) {
                l2.push(2);
                l2.retire(o);
            }
        });
        let l3 = lane.clone();
        let death = thread::spawn(move || {
            l3.start();
            l3.die(parent);
        });
        lane.start();
        for _ in 0..2 {
            lane.reclaim_round();
        }
        child.join().unwrap();
        death.join().unwrap();
    });
}
