//! Reading a region's state for `ul-stat`: lanes, owners, fill levels,
//! writer counters and liveness.
//!
//! The region is opened read-only and treated as untrusted: it is never
//! mapped (a file shrunk under a mapping would raise SIGBUS); each part is
//! copied out with `pread` into memory of our own, and its geometry is
//! checked before any lane is read. A lying header yields a [`StatError`]
//! or odd numbers, never a crash.
//!
//! ```no_run
//! let snap = ul_writer::stat::Snapshot::read("/dev/shm/ul".as_ref()).unwrap();
//! println!("{}", snap.table());
//! ```

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde::Serialize;
use ul_ring::lane::LaneControl;
use ul_ring::layout::{LaneSlot, RegionHeader, HEADER_LEN, LAYOUT_VERSION, MAGIC};
use ul_ring::ownership::LaneOwner;
use ul_ring::shared_lane::SharedLaneControl;

/// Why a region could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatError {
    /// An I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The region path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not an initialised ul region.
    #[error(
        "{path} is not a ul region (magic {found:#018x}); pass the --shm path the writer serves"
    )]
    NotARegion {
        /// The region path.
        path: PathBuf,
        /// Magic found.
        found: u64,
    },
    /// The region has another layout version.
    #[error("{path} has layout version {found}; this ul-stat reads version {expected}")]
    Version {
        /// The region path.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version expected.
        expected: u32,
    },
    /// The header's sizes are invalid or disagree with the file.
    #[error("{path} has a corrupt header: {what}")]
    Corrupt {
        /// The region path.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// Types made only of integer atomics (any bit pattern is a valid value),
/// so a copy of untrusted bytes may be viewed as one.
///
/// # Safety
/// Implement only for `#[repr(C)]` types whose every field, recursively, is
/// an integer atomic, an integer, or padding.
unsafe trait AnyBits {}
// SAFETY: the header's blocks are repr(C) structs of AtomicU32/AtomicU64
// and arrays of them (in Padded wrappers, which add only padding).
unsafe impl AnyBits for RegionHeader {}
// SAFETY: LaneSlot is repr(C): AtomicU64, AtomicU64, AtomicU32, AtomicU32, AtomicU64.
unsafe impl AnyBits for LaneSlot {}
// SAFETY: LaneControl is repr(C): two Padded lines of AtomicU64s.
unsafe impl AnyBits for LaneControl {}
// SAFETY: SharedLaneControl is repr(C): four Padded AtomicU64s.
unsafe impl AnyBits for SharedLaneControl {}
// SAFETY: DropSlot is repr(C, align(64)): AtomicU64, AtomicU32, AtomicU32,
// then five AtomicU64s, and tail padding.
unsafe impl AnyBits for ul_ring::layout::DropSlot {}

/// Copies `size_of::<T>()` bytes at `offset` of `file` into a fresh `T`
/// (the header page at most: small enough for the stack).
fn read_at<T: AnyBits>(file: &File, offset: u64) -> std::io::Result<Box<T>> {
    let mut v = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: `v` owns size_of::<T>() writable bytes, zeroed (valid for
    // u8); the slice does not outlive this statement.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of::<T>())
    };
    file.read_exact_at(bytes, offset)?;
    // SAFETY: every byte is initialised (zeroed, then overwritten), and
    // T: AnyBits accepts any bit pattern.
    Ok(Box::new(unsafe { v.assume_init() }))
}

/// The serving writer as the region records it.
#[derive(Clone, Debug, Serialize)]
pub struct WriterInfo {
    /// Pid in the header (0: no writer).
    pub pid: u32,
    /// True if a process holds the region's writer lock (the kernel's word,
    /// true in any pid namespace; see `ul_ring::ownership`).
    pub alive: bool,
    /// `running`, `busy` (heartbeat late, process runs), `stopped` (by a
    /// signal or a debugger), `unknown` (heartbeat late, process not
    /// visible in this `/proc`) or `gone` (no writer lock held): see
    /// [`ul_ring::WriterState`].
    pub state: &'static str,
    /// `state` in words, as the table shows it.
    pub state_text: String,
    /// Milliseconds since the writer's last heartbeat (None: no heartbeat).
    pub heartbeat_age_ms: Option<f64>,
    /// `idle`, `writing` or `written` (a batch in flight).
    pub intent: &'static str,
}

/// One lane in use.
#[derive(Clone, Debug, Serialize)]
pub struct LaneInfo {
    /// Lane index.
    pub lane: usize,
    /// Owner's pid.
    pub pid: u32,
    /// Owner thread's tid.
    pub tid: u32,
    /// `owned` or `retiring`.
    pub state: &'static str,
    /// True if a process holds the lane's kernel lock (its owner lives; a
    /// retired lane's owner let go of it).
    pub alive: bool,
    /// Bytes waiting to be written, or held for forwarding.
    pub used_bytes: u64,
    /// Of those, bytes already in the files that a `--forward` receiver
    /// has not acknowledged yet (the ring holds them for it).
    pub unforwarded_bytes: u64,
    /// `used_bytes` as a percentage of the lane's capacity.
    pub fill_pct: f64,
    /// Records its owner dropped (lane full, or a nested log call in a
    /// signal handler) since it claimed the lane.
    pub dropped: u64,
    /// Of those, reported in the log.
    pub reported: u64,
}

/// A thread on the shared lane, as its drop-table entry records it.
#[derive(Clone, Debug, Serialize)]
pub struct SharedThreadInfo {
    /// Its pid (in its own pid namespace).
    pub pid: u32,
    /// Its tid.
    pub tid: u32,
    /// `owned`, `retiring` or `invalid`.
    pub state: &'static str,
    /// True if a process holds the entry's kernel lock.
    pub alive: bool,
    /// Records it dropped on the shared lane.
    pub dropped: u64,
    /// Of those, reported in the log.
    pub reported: u64,
}

/// The shared (MPSC) lane.
#[derive(Clone, Debug, Serialize)]
pub struct SharedLaneInfo {
    /// Slots waiting to be written.
    pub used_slots: u64,
    /// Slots in all.
    pub slots: u32,
    /// Percentage in use.
    pub fill_pct: f64,
    /// Records dropped on the shared lane by threads without a drop-table
    /// entry (those with one are in `shared_threads`), since the region
    /// was created.
    pub dropped: u64,
}

/// Writer counters from the header's stats block.
#[derive(Clone, Debug, Serialize)]
pub struct Counters {
    /// Records written to the outputs.
    pub records_written: u64,
    /// Bytes written to the outputs.
    pub bytes_written: u64,
    /// Records dropped since the region was created: `drops_reported` +
    /// `drops_pending`. (The per-lane counts are in `lanes`,
    /// `shared_threads` and `shared`.)
    pub dropped: u64,
    /// Of those, reported in the log (by every writer of the region,
    /// including for lanes freed since).
    pub drops_reported: u64,
    /// Of those, counted in lanes, the drop table or the shared lane but
    /// not yet reported in the log.
    pub drops_pending: u64,
    /// Records that failed to decode.
    pub decode_errors: u64,
    /// Lanes whose bytes could not be framed.
    pub corrupt_lanes: u64,
    /// Lanes reclaimed from dead processes.
    pub lanes_reclaimed: u64,
    /// Shared-lane claims abandoned.
    pub claims_abandoned: u64,
    /// Callsite arena bytes used.
    pub callsite_bytes_used: u32,
    /// Callsite registrations refused (arena full).
    pub callsites_refused: u32,
}

/// Everything `ul-stat` shows, read at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// The region path.
    pub path: PathBuf,
    /// Layout version.
    pub version: u32,
    /// Lanes in the region.
    pub lanes_total: u32,
    /// Bytes per lane.
    pub lane_capacity: u32,
    /// Pid that created the region.
    pub creator_pid: u32,
    /// Minimum level, batch size and flush interval currently configured.
    pub min_level: u32,
    /// See `min_level`.
    pub batch_size: u32,
    /// See `min_level`.
    pub flush_interval_ms: u32,
    /// The writer.
    pub writer: WriterInfo,
    /// Lanes in use (owned or retiring).
    pub lanes: Vec<LaneInfo>,
    /// The shared lane.
    pub shared: SharedLaneInfo,
    /// Threads on the shared lane (the drop table's entries in use).
    pub shared_threads: Vec<SharedThreadInfo>,
    /// Counters.
    pub counters: Counters,
    /// The writer's `--forward` receivers (see `ul_ring::layout::SinkSlot`).
    pub sinks: Vec<SinkInfo>,
}

/// A forwarding sink as its writer last said (about once a second).
#[derive(Clone, Debug, Serialize)]
pub struct SinkInfo {
    /// The `--forward` URL.
    pub url: String,
    /// `up`, `failing`, or `unknown` (the writer was updating it at every
    /// look).
    pub state: &'static str,
    /// Records the receiver acknowledged.
    pub forwarded: u64,
    /// Records in the files it has not had acknowledged.
    pub lag_records: u64,
    /// Its last failure, if any.
    pub last_error: Option<String>,
    /// How long ago that was (ms).
    pub last_error_age_ms: Option<f64>,
}

/// The sinks of a header copy; a slot copied while the writer updated it
/// is read again (a few times) from `file`.
fn sinks(file: &File, h: &RegionHeader) -> Vec<SinkInfo> {
    let now = ul_ring::clock::wall_ns();
    let mut out = Vec::new();
    for k in 0..ul_ring::layout::SINK_SLOTS {
        let mut got = h.forward.sinks[k].read();
        for _ in 0..5 {
            if got.is_ok() {
                break;
            }
            match read_at::<RegionHeader>(file, 0) {
                Ok(again) => got = again.forward.sinks[k].read(),
                Err(_) => break,
            }
        }
        match got {
            Ok(None) => {}
            Ok(Some(st)) => out.push(SinkInfo {
                url: st.url,
                state: st.state,
                forwarded: st.forwarded,
                lag_records: st.lag_records,
                last_error_age_ms: st
                    .last_error
                    .as_ref()
                    .map(|(_, at)| now.saturating_sub(*at) as f64 / 1e6),
                last_error: st.last_error.map(|(e, _)| e),
            }),
            Err(()) => out.push(SinkInfo {
                url: String::new(),
                state: "unknown",
                forwarded: 0,
                lag_records: 0,
                last_error: None,
                last_error_age_ms: None,
            }),
        }
    }
    out
}

fn pct(used: u64, of: u64) -> f64 {
    if of == 0 {
        return 0.0;
    }
    (used as f64 * 100.0 / of as f64 * 10.0).round() / 10.0
}

impl Snapshot {
    /// Reads the region at `path` (read-only).
    pub fn read(path: &Path) -> Result<Self, StatError> {
        let io = |op| {
            move |source| StatError::Io {
                op,
                path: path.to_owned(),
                source,
            }
        };
        let corrupt = |what: String| StatError::Corrupt {
            path: path.to_owned(),
            what,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(io("open"))?;
        let file_len = file.metadata().map_err(io("stat"))?.len();
        if file_len < HEADER_LEN as u64 {
            // Too short for a header: a truncated region only if it starts
            // as one (ul's magic where a region has it); anything else is
            // some other file, and said to be.
            let at = core::mem::offset_of!(RegionHeader, id)
                + core::mem::offset_of!(ul_ring::layout::Identity, magic);
            let mut word = [0u8; 8];
            let found = match file.read_exact_at(&mut word, at as u64) {
                Ok(()) => u64::from_ne_bytes(word),
                Err(_) => 0,
            };
            if found != MAGIC {
                return Err(StatError::NotARegion {
                    path: path.to_owned(),
                    found,
                });
            }
            return Err(corrupt(format!(
                "{file_len} bytes, shorter than a header: truncated"
            )));
        }
        let h: Box<RegionHeader> = read_at(&file, 0).map_err(io("read"))?;
        let r = Ordering::Relaxed;
        let magic = h.id.magic.load(r);
        if magic != MAGIC {
            return Err(StatError::NotARegion {
                path: path.to_owned(),
                found: magic,
            });
        }
        let version = h.id.version.load(r);
        if version != LAYOUT_VERSION {
            return Err(StatError::Version {
                path: path.to_owned(),
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let sizes = h.id.sizes();
        let geo = sizes.geometry().map_err(corrupt)?;
        if geo.total_len as u64 > file_len {
            return Err(corrupt(format!(
                "its sizes need {} bytes, the file has {file_len}",
                geo.total_len
            )));
        }
        let wpid = h.writer.serving_pid();
        let now = ul_ring::clock::monotonic_ns();
        let beat = h.writer.heartbeat();
        let state = ul_ring::WriterState::of_region(&file, &h);
        let writer = WriterInfo {
            pid: wpid,
            // The kernel's word (the writer lock), not the pid: the writer
            // may run in another pid namespace.
            alive: state != ul_ring::WriterState::Gone,
            state: state.name(),
            state_text: state.to_string(),
            heartbeat_age_ms: (beat != 0 && beat <= now)
                .then(|| ((now - beat) as f64 / 1e5).round() / 10.0),
            intent: h.writer.intent().1.name(),
        };
        let mut lanes = Vec::new();
        // Drops counted but not yet reported in the log.
        let mut pending = 0u64;
        for i in 0..sizes.lanes as usize {
            let slot: Box<LaneSlot> =
                read_at(&file, (geo.dir_offset + i * 64) as u64).map_err(io("read"))?;
            let owner = slot.owner().load();
            let state = match owner {
                LaneOwner::Free { .. } => continue,
                LaneOwner::Corrupt { .. } => "invalid",
                o => o.name(),
            };
            let ctrl: Box<LaneControl> =
                read_at(&file, (geo.lanes_offset + i * geo.lane_stride) as u64)
                    .map_err(io("read"))?;
            let used = ctrl.head().wrapping_sub(ctrl.tail());
            let d = ctrl.dropped();
            pending = pending.wrapping_add(d.wrapping_sub(ctrl.dropped_reported()));
            lanes.push(LaneInfo {
                lane: i,
                pid: owner.pid(),
                tid: slot.tid(),
                state,
                // Whether the kernel holds the owner's lane lock: a retired
                // lane's owner let go of it on purpose.
                alive: ul_ring::ownership::lane_lock_held(&file, &geo, i).unwrap_or(false),
                used_bytes: used,
                unforwarded_bytes: ctrl.files().wrapping_sub(ctrl.tail()),
                fill_pct: pct(used, u64::from(sizes.lane_capacity)),
                dropped: d,
                reported: ctrl.dropped_reported(),
            });
        }
        let mut shared_threads = Vec::new();
        for k in 0..ul_ring::layout::DROP_SLOTS {
            let e: Box<ul_ring::layout::DropSlot> =
                read_at(&file, (geo.drops_offset + k * 64) as u64).map_err(io("read"))?;
            let owner = e.owner().load();
            let state = match owner {
                LaneOwner::Free { .. } => continue,
                LaneOwner::Corrupt { .. } => "invalid",
                o => o.name(),
            };
            let d = e.dropped();
            pending = pending.wrapping_add(d.wrapping_sub(e.dropped_reported()));
            shared_threads.push(SharedThreadInfo {
                pid: owner.pid(),
                tid: e.tid(),
                state,
                alive: ul_ring::ownership::drop_lock_held(&file, &geo, k).unwrap_or(false),
                dropped: d,
                reported: e.dropped_reported(),
            });
        }
        let m: Box<SharedLaneControl> =
            read_at(&file, geo.shared_lane_ctrl_offset as u64).map_err(io("read"))?;
        let used_slots = m.head().wrapping_sub(m.tail());
        let md = m.dropped();
        pending = pending.wrapping_add(md.wrapping_sub(m.dropped_reported()));
        let s = &h.stats;
        // Every writer reports a lane's drops before it frees the lane, so
        // what was reported plus what waits is every drop since creation.
        let reported = s.drops_reported.get();
        Ok(Snapshot {
            path: path.to_owned(),
            version,
            lanes_total: sizes.lanes,
            lane_capacity: sizes.lane_capacity,
            creator_pid: h.id.creator_pid.load(r),
            min_level: h.control.min_level(),
            batch_size: h.control.batch_size(),
            flush_interval_ms: h.control.flush_interval_ms(),
            writer,
            lanes,
            shared: SharedLaneInfo {
                used_slots,
                slots: sizes.shared_lane_slots,
                fill_pct: pct(used_slots, u64::from(sizes.shared_lane_slots)),
                dropped: md,
            },
            shared_threads,
            sinks: sinks(&file, &h),
            counters: Counters {
                records_written: s.records_written.get(),
                bytes_written: s.bytes_written.get(),
                dropped: reported.wrapping_add(pending),
                drops_reported: reported,
                drops_pending: pending,
                decode_errors: s.decode_errors.get(),
                corrupt_lanes: s.corrupt_lanes.get(),
                lanes_reclaimed: s.lanes_reclaimed.get(),
                claims_abandoned: s.claims_abandoned.get(),
                callsite_bytes_used: h.arena.handed_out().min(sizes.callsite_len),
                callsites_refused: h.arena.refused(),
            },
        })
    }

    /// The snapshot as pretty JSON (the `--json` output).
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a snapshot always serialises")
    }

    /// The snapshot as a human-readable table.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let w = &self.writer;
        let c = &self.counters;
        let _ = writeln!(
            o,
            "region  {} (layout v{})",
            self.path.display(),
            self.version
        );
        let writer = if w.pid == 0 {
            "none".to_string()
        } else {
            format!(
                "pid {} ({}), heartbeat {} ago, intent {}",
                w.pid,
                w.state_text,
                w.heartbeat_age_ms
                    .map_or("never".into(), |a| format!("{a:.1} ms")),
                w.intent
            )
        };
        let _ = writeln!(o, "writer  {writer}");
        let _ = writeln!(
            o,
            "config  min level {}, batch {}, flush interval {} ms",
            level_name(self.min_level),
            self.batch_size,
            self.flush_interval_ms
        );
        let _ = writeln!(
            o,
            "drained {} records, {} bytes; decode errors {}; corrupt lanes {}; reclaimed lanes {}; abandoned claims {}",
            c.records_written,
            c.bytes_written,
            c.decode_errors,
            c.corrupt_lanes,
            c.lanes_reclaimed,
            c.claims_abandoned
        );
        let _ = writeln!(
            o,
            "dropped {} since the region was created ({} reported in the log, {} pending)",
            c.dropped, c.drops_reported, c.drops_pending
        );
        let _ = writeln!(
            o,
            "lanes   {} of {} in use ({} KiB each); shared lane {}/{} slots ({}%), {} dropped there by threads without a drop-table entry",
            self.lanes.len(),
            self.lanes_total,
            self.lane_capacity / 1024,
            self.shared.used_slots,
            self.shared.slots,
            self.shared.fill_pct,
            self.shared.dropped
        );
        for k in &self.sinks {
            let err = match (&k.last_error, k.last_error_age_ms) {
                (Some(e), Some(age)) => format!("; last error {:.1} s ago: {e}", age / 1000.0),
                _ => String::new(),
            };
            let _ = writeln!(
                o,
                "forward {} {}: {} records forwarded, {} in the files not yet acknowledged{err}",
                k.url, k.state, k.forwarded, k.lag_records
            );
        }
        let held: u64 = self.lanes.iter().map(|l| l.unforwarded_bytes).sum();
        if held > 0 {
            let _ = writeln!(
                o,
                "forward {held} bytes in the files not yet acknowledged by a --forward receiver, held in {} lane(s)",
                self.lanes.iter().filter(|l| l.unforwarded_bytes > 0).count()
            );
        }
        if !self.lanes.is_empty() {
            let _ = writeln!(
                o,
                "\n{:>5} {:>8} {:>8} {:<9} {:<5} {:>12} {:>6} {:>9}",
                "LANE", "PID", "TID", "STATE", "ALIVE", "USED BYTES", "FILL%", "DROPPED"
            );
            for l in &self.lanes {
                let _ = writeln!(
                    o,
                    "{:>5} {:>8} {:>8} {:<9} {:<5} {:>12} {:>6.1} {:>9}",
                    l.lane,
                    l.pid,
                    l.tid,
                    l.state,
                    if l.alive { "yes" } else { "no" },
                    l.used_bytes,
                    l.fill_pct,
                    l.dropped
                );
            }
        }
        if !self.shared_threads.is_empty() {
            let _ = writeln!(
                o,
                "\n{:>8} {:>8} {:<9} {:<5} {:>9} {:>9}",
                "PID", "TID", "SHARED", "ALIVE", "DROPPED", "REPORTED"
            );
            for t in &self.shared_threads {
                let _ = writeln!(
                    o,
                    "{:>8} {:>8} {:<9} {:<5} {:>9} {:>9}",
                    t.pid,
                    t.tid,
                    t.state,
                    if t.alive { "yes" } else { "no" },
                    t.dropped,
                    t.reported
                );
            }
        }
        o
    }
}

/// A configured minimum level by name (`info`), or the number and what is
/// wrong with it when the region holds no level.
fn level_name(v: u32) -> String {
    match u8::try_from(v)
        .ok()
        .and_then(|b| ul_ring::record::Level::try_from(b).ok())
    {
        Some(l) => l.as_str().to_string(),
        None => format!("{v} (not a level)"),
    }
}
