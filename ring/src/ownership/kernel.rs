//! The kernel's half of lane ownership: open-file-description locks that
//! the kernel drops when their holder dies, and the claim procedure that
//! takes one before the claim CAS.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::{LaneOwner, OwnerWord};
use crate::region::Region;

/// Byte of the region file whose lock says lane `i`'s owner lives: the
/// first byte of its directory entry. (Advisory locks do not touch the
/// mapping; the byte only names the lane.)
///
/// ```
/// let g = ul_ring::layout::Sizes::default().geometry().unwrap();
/// assert_eq!(ul_ring::ownership::lane_lock_offset(&g, 1), g.dir_offset as u64 + 64);
/// ```
pub fn lane_lock_offset(geo: &crate::layout::Geometry, i: usize) -> u64 {
    (geo.dir_offset + i * 64) as u64
}

/// Byte of the region file whose lock says drop-table entry `k`'s owner
/// lives: the first byte of the entry.
pub fn drop_lock_offset(geo: &crate::layout::Geometry, k: usize) -> u64 {
    (geo.drops_offset + k * 64) as u64
}

/// Which directory of a region an entry is in: the lanes', or the drop
/// table's (threads on the shared lane). Both use one protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Lanes,
    Drops,
}

impl Table {
    fn len(self, region: &Region) -> usize {
        match self {
            Table::Lanes => region.geometry().sizes.lanes as usize,
            Table::Drops => crate::layout::DROP_SLOTS,
        }
    }

    fn owner(self, region: &Region, i: usize) -> &AtomicU64 {
        match self {
            Table::Lanes => &region.lane_slot(i).owner,
            Table::Drops => &region.drop_slot(i).owner,
        }
    }

    fn lock_offset(self, region: &Region, i: usize) -> u64 {
        match self {
            Table::Lanes => lane_lock_offset(region.geometry(), i),
            Table::Drops => drop_lock_offset(region.geometry(), i),
        }
    }

    /// Stores who claimed entry `i` (after the claim CAS).
    fn note_claim(self, region: &Region, i: usize, tid: u32) {
        let now = crate::clock::wall_ns();
        match self {
            Table::Lanes => {
                let slot = region.lane_slot(i);
                slot.tid.store(tid, Ordering::Relaxed);
                slot.claimed_ns.store(now, Ordering::Relaxed);
            }
            Table::Drops => {
                let slot = region.drop_slot(i);
                slot.tid.store(tid, Ordering::Relaxed);
                slot.claimed_ns.store(now, Ordering::Relaxed);
            }
        }
    }
}

/// Byte of the region file whose lock says a writer (or daemon) serves it:
/// the first byte of the header.
const WRITER_LOCK_OFFSET: u64 = 0;

/// Lock descriptors this process holds, so that a forked child can close
/// the copies it inherited (closing a copy does not release the parent's
/// lock: the open file description lives on in the parent). Each entry is
/// `tag << 32 | fd`, 0 when empty; the tag makes an entry unique, so a
/// lock whose descriptor the child already closed cannot close another
/// descriptor that reused the number.
const REGISTRY_LEN: usize = 4096;
static REGISTRY: [AtomicU64; REGISTRY_LEN] = [const { AtomicU64::new(0) }; REGISTRY_LEN];
static NEXT_TAG: AtomicU32 = AtomicU32::new(1);
/// 0: not installed, 1: being installed, 2: installed, 3: refused. Not a
/// `Once`: a fork while another thread is inside `call_once` would leave
/// the child's `Once` running for ever, and its first claim would hang.
static FORK_HANDLER: AtomicU8 = AtomicU8::new(0);

/// Installs the fork handler once. False if the system refused it
/// (`pthread_atfork` fails only for lack of memory): then no lock is
/// taken, since a forked child would keep its parent's locks alive.
fn fork_handler_installed() -> bool {
    match FORK_HANDLER.load(Ordering::Acquire) {
        2 => true,
        3 => false,
        // Another thread is installing it right now: go on (a fork in that
        // instant could only make a lane be reclaimed late, never early).
        1 => true,
        _ => {
            if FORK_HANDLER
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return FORK_HANDLER.load(Ordering::Acquire) != 3;
            }
            // SAFETY: the child handler only swaps atomics and calls
            // close, both async-signal-safe.
            let r = unsafe { libc::pthread_atfork(None, None, Some(close_inherited_locks)) };
            FORK_HANDLER.store(if r == 0 { 2 } else { 3 }, Ordering::Release);
            r == 0
        }
    }
}

extern "C" fn close_inherited_locks() {
    for e in &REGISTRY {
        let v = e.swap(0, Ordering::Relaxed);
        if v != 0 {
            // SAFETY: `v` holds a descriptor this process opened for a lock
            // and has not closed (entries are removed before any close);
            // close is async-signal-safe, as a post-fork child requires.
            unsafe { libc::close(v as u32 as RawFd) };
        }
    }
}

/// An open-file-description lock on one byte of a region file, on a file
/// description of its own. Released when dropped, or by the kernel when
/// the process dies.
#[derive(Debug)]
pub struct LaneLock {
    fd: RawFd,
    /// Index in `REGISTRY` and the entry written there.
    slot: usize,
    entry: u64,
}

impl LaneLock {
    /// Takes the write lock on byte `offset` of `region`'s file without
    /// waiting. `Ok(None)`: another file description holds it.
    fn acquire(region: &Region, offset: u64) -> io::Result<Option<LaneLock>> {
        if !fork_handler_installed() {
            return Err(io::Error::other("pthread_atfork refused the fork handler"));
        }
        let fd = reopen(region)?;
        let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed).max(1);
        let entry = u64::from(tag) << 32 | u64::from(fd as u32);
        // Registered before the lock is taken: a fork in another thread
        // from here on gives a child that closes its copy.
        let Some(slot) = REGISTRY.iter().position(|e| {
            e.compare_exchange(0, entry, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        }) else {
            // SAFETY: `fd` is ours and registered nowhere.
            unsafe { libc::close(fd) };
            return Err(io::Error::other("more than 4096 lane locks in one process"));
        };
        let lock = LaneLock { fd, slot, entry };
        // SAFETY: an all-zero `flock` is a valid value of the C struct.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = offset as libc::off_t;
        fl.l_len = 1;
        // SAFETY: `fd` is open; `fl` is a valid flock that outlives the call.
        let r = unsafe { libc::fcntl(fd, libc::F_OFD_SETLK, &mut fl) };
        if r == 0 {
            return Ok(Some(lock));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(None),
            _ => Err(e),
        }
    }
}

impl Drop for LaneLock {
    fn drop(&mut self) {
        // Close only if the entry is still ours: a forked child's handler
        // has already closed (and removed) what it inherited.
        if REGISTRY[self.slot]
            .compare_exchange(self.entry, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            // Unlock explicitly first: a fork between the deregistration
            // above and the close below leaves the child a copy of the
            // descriptor it will not close, and the lock (which belongs to
            // the open file description) would live on in the child.
            // SAFETY: an all-zero `flock` is a valid value of the C struct.
            let mut fl: libc::flock = unsafe { std::mem::zeroed() };
            fl.l_type = libc::F_UNLCK as libc::c_short;
            fl.l_whence = libc::SEEK_SET as libc::c_short;
            fl.l_start = 0;
            fl.l_len = 0;
            // SAFETY: `self.fd` is still open (we hold its registry entry);
            // `fl` is valid and outlives the call. Unlocking the whole file
            // on this description releases only this lock (one per fd).
            unsafe { libc::fcntl(self.fd, libc::F_OFD_SETLK, &mut fl) };
            // SAFETY: the registry entry proved the descriptor is still the
            // one we opened, and nobody else closes it.
            unsafe { libc::close(self.fd) };
        }
    }
}

/// A new open file description of `region`'s file, read-write, close on
/// exec: through `/proc/self/fd` (always the mapped file), else by path if
/// the path still names the mapped file.
fn reopen(region: &Region) -> io::Result<RawFd> {
    let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let proc_path = format!("/proc/self/fd/{}\0", region.file().as_raw_fd());
    // SAFETY: `proc_path` is NUL-terminated.
    let fd = unsafe { libc::open(proc_path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd >= 0 {
        return Ok(fd);
    }
    let path = CString::new(region.path().as_os_str().as_bytes())
        .map_err(|_| io::Error::other("region path holds a NUL byte"))?;
    // SAFETY: `path` is a valid C string.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened by us; ManuallyDrop keeps it open.
    let file =
        std::mem::ManuallyDrop::new(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    if region.is_file(&file) {
        Ok(fd)
    } else {
        // SAFETY: ours, not registered anywhere.
        unsafe { libc::close(fd) };
        Err(io::Error::other(
            "the region's path names another file and /proc/self/fd is not mounted",
        ))
    }
}

/// True if some open file description holds a lock on byte `offset` of
/// `file` (`F_OFD_GETLK`; works on a read-only descriptor too). Locks held
/// through `file`'s own description do not count.
fn lock_held(file: &File, offset: u64) -> io::Result<bool> {
    // SAFETY: an all-zero `flock` is a valid value of the C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = offset as libc::off_t;
    fl.l_len = 1;
    // SAFETY: `file` is open; `fl` is valid and outlives the call.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

/// True if a live owner holds lane `i`'s lock, asked through `file` (any
/// descriptor of the region file: the writer's, or `ul-stat`'s read-only
/// one).
pub fn lane_lock_held(file: &File, geo: &crate::layout::Geometry, i: usize) -> io::Result<bool> {
    lock_held(file, lane_lock_offset(geo, i))
}

/// True if a live owner holds drop-table entry `k`'s lock, asked through
/// `file` (as [`lane_lock_held`]).
pub fn drop_lock_held(file: &File, geo: &crate::layout::Geometry, k: usize) -> io::Result<bool> {
    lock_held(file, drop_lock_offset(geo, k))
}

/// True if a writer (or daemon) holds the region's writer lock, asked
/// through `file`. Unlike the writer's pid, this is true in any pid
/// namespace.
pub fn writer_lock_held(file: &File) -> io::Result<bool> {
    lock_held(file, WRITER_LOCK_OFFSET)
}

/// The lock a writer or daemon holds for as long as it serves a region.
#[derive(Debug)]
pub struct WriterLock(#[allow(dead_code)] LaneLock);

impl WriterLock {
    /// Takes the region's writer lock. `Ok(None)`: another process holds
    /// it (a second writer; the region file's `flock` normally refuses
    /// that one first).
    pub fn acquire(region: &Region) -> io::Result<Option<WriterLock>> {
        Ok(LaneLock::acquire(region, WRITER_LOCK_OFFSET)?.map(WriterLock))
    }
}

/// A lane this thread owns: its index, its owner word as claimed, and the
/// lock that tells the writer its owner lives.
#[derive(Debug)]
pub struct ClaimedLane {
    table: Table,
    index: usize,
    owner: LaneOwner,
    lock: Option<LaneLock>,
}

impl ClaimedLane {
    /// The lane's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The owner word the claim wrote.
    pub fn owner(&self) -> LaneOwner {
        self.owner
    }

    /// Hands the lane back to the writer of `region` (which frees it once
    /// drained): the retire CAS first, then the lock is dropped, so a
    /// writer never sees the lane owned and unlocked while its owner lives.
    pub fn retire(mut self, region: &Region) {
        OwnerWord::new(self.table.owner(region, self.index))
            .retire_and_unlock(self.owner, self.lock.take());
    }
}

/// Claims a free lane of `region` for thread `tid` of process `pid`,
/// trying lanes from `first` on: for each lane seen free, take its lock
/// (skip it if another description holds the lock: its last owner has not
/// let go yet), then CAS the owner word from exactly the free word seen.
/// `None`: every lane is taken (or no lock could be had), use the shared
/// lane.
pub fn claim_lane(region: &Region, pid: u32, tid: u32, first: usize) -> Option<ClaimedLane> {
    claim_in(Table::Lanes, region, pid, tid, first)
}

/// Claims a free entry of `region`'s drop table for thread `tid` of
/// process `pid` (a thread on the shared lane), by the protocol of
/// [`claim_lane`]. `None`: the table is full; count drops in the shared
/// lane's own counter.
pub fn claim_drop_slot(region: &Region, pid: u32, tid: u32, first: usize) -> Option<ClaimedLane> {
    claim_in(Table::Drops, region, pid, tid, first)
}

fn claim_in(
    table: Table,
    region: &Region,
    pid: u32,
    tid: u32,
    first: usize,
) -> Option<ClaimedLane> {
    let n = table.len(region);
    for k in 0..n {
        let i = (first + k) % n;
        let mut no_descriptor = false;
        let claimed = OwnerWord::new(table.owner(region, i)).claim_locked(pid, || {
            match LaneLock::acquire(region, table.lock_offset(region, i)) {
                Ok(lock) => lock,
                Err(_) => {
                    no_descriptor = true;
                    None
                }
            }
        });
        if let Some((owner, lock)) = claimed {
            table.note_claim(region, i, tid);
            return Some(ClaimedLane {
                table,
                index: i,
                owner,
                lock: Some(lock),
            });
        }
        // No descriptor to lock with (EMFILE, no /proc and the path
        // moved): without a lock the writer would take the entry back, so
        // give up.
        if no_descriptor {
            return None;
        }
    }
    None
}
