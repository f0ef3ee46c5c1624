//! Whether a writer serves a region, and if not, what it is doing: one
//! classification for `ul-stat`, `ul-log`, `ul::writer_state()` and the C
//! API, so they never disagree.
//!
//! The kernel's word decides whether there is a writer at all: it holds an
//! open-file-description lock on the region's first byte for as long as
//! it lives ([`crate::ownership::writer_lock_held`]), in any pid namespace.
//! What a live writer is doing comes from its heartbeat and, where this
//! process can see it, from `/proc/<pid>/stat`: a process stopped by a
//! signal or a debugger (state `T` or `t`) is *stopped*, not gone; it
//! drains again once continued. `/proc` is believed only if the process
//! there has the start time the writer recorded, so a pid that means
//! another process here (another pid namespace) gives *unknown*, not a
//! wrong answer.
//!
//! ```
//! use std::time::Duration;
//! use ul_ring::writer_state::WriterState;
//! let limit = Duration::from_secs(1);
//! let late = Some(Duration::from_secs(3));
//! assert_eq!(WriterState::classify(false, Some('S'), late, limit), WriterState::Gone);
//! assert_eq!(WriterState::classify(true, Some('T'), None, limit), WriterState::Stopped);
//! assert_eq!(WriterState::classify(true, Some('S'), late, limit),
//!            WriterState::Busy { heartbeat_age: Duration::from_secs(3) });
//! assert_eq!(WriterState::classify(true, None, late, limit),
//!            WriterState::Unknown { heartbeat_age: Duration::from_secs(3) });
//! assert_eq!(WriterState::classify(true, None, Some(Duration::ZERO), limit), WriterState::Running);
//! ```

use std::fs::File;
use std::time::Duration;

use crate::layout::RegionHeader;

/// What the writer of a region is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterState {
    /// A writer holds the region's lock and its heartbeat is recent.
    Running,
    /// A writer holds the lock and its process runs, but its heartbeat is
    /// late (a long batch, a slow disk, an overloaded machine).
    Busy {
        /// Time since its last heartbeat.
        heartbeat_age: Duration,
    },
    /// A writer holds the lock but its process is stopped (SIGSTOP,
    /// SIGTSTP, a debugger): it drains again once continued (SIGCONT).
    Stopped,
    /// A writer holds the lock, its heartbeat is late, and whether its
    /// process runs cannot be seen from here (`/proc/<pid>` is not
    /// readable or names another process: another pid namespace, say).
    Unknown {
        /// Time since its last heartbeat.
        heartbeat_age: Duration,
    },
    /// No process holds the region's writer lock: no writer serves it.
    Gone,
}

/// How late a heartbeat may be before a writer is not called running:
/// three flush intervals (at least 100 ms each) and a second.
pub fn heartbeat_limit(flush_interval_ms: u32) -> Duration {
    Duration::from_millis(u64::from(flush_interval_ms.max(100)) * 3 + 1000)
}

/// The state letter of process `pid` from `/proc/<pid>/stat`, if that
/// process is the one that started at `start_time` (clock ticks since boot,
/// as [`crate::procinfo::start_time`]; 0: not recorded, not checked).
/// `None` if it cannot be read or is another process.
pub fn proc_state(pid: u32, start_time: u64) -> Option<char> {
    if pid == 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = crate::procinfo::stat_state(&stat)?;
    if start_time != 0 {
        let rest = &stat[stat.rfind(')')? + 1..];
        let started: u64 = rest.split_ascii_whitespace().nth(19)?.parse().ok()?;
        if started != start_time {
            return None;
        }
    }
    Some(state)
}

impl WriterState {
    /// The classification itself, from what was observed: whether the
    /// writer lock is held, the process's `/proc` state letter (`None`:
    /// not visible), the heartbeat's age (`None`: none yet) and the limit
    /// beyond which it is late.
    pub fn classify(
        lock_held: bool,
        proc_state: Option<char>,
        heartbeat_age: Option<Duration>,
        limit: Duration,
    ) -> WriterState {
        if !lock_held {
            return WriterState::Gone;
        }
        if matches!(proc_state, Some('T' | 't')) {
            return WriterState::Stopped;
        }
        // A writer registers its heartbeat before its pid; none yet means
        // it is starting.
        let age = heartbeat_age.unwrap_or(Duration::ZERO);
        if age < limit {
            WriterState::Running
        } else if proc_state.is_some() {
            WriterState::Busy { heartbeat_age: age }
        } else {
            WriterState::Unknown { heartbeat_age: age }
        }
    }

    /// The state of the writer of the region whose file is `file` and
    /// whose header is `header` (the mapped one, or a copy read with
    /// `pread`: every field is only read).
    pub fn of_region(file: &File, header: &RegionHeader) -> WriterState {
        use std::sync::atomic::Ordering::Relaxed;
        let lock = crate::ownership::writer_lock_held(file).unwrap_or(false);
        if !lock {
            return WriterState::Gone;
        }
        let w = &header.writer;
        let state = proc_state(w.pid.load(Relaxed), w.start_time.load(Relaxed));
        let beat = w.heartbeat_ns.load(Relaxed);
        let age = (beat != 0)
            .then(|| Duration::from_nanos(crate::clock::monotonic_ns().saturating_sub(beat)));
        let limit = heartbeat_limit(header.control.flush_interval_ms());
        WriterState::classify(lock, state, age, limit)
    }

    /// One word for scripts: `running`, `busy`, `stopped`, `unknown`,
    /// `gone`.
    pub fn name(self) -> &'static str {
        match self {
            WriterState::Running => "running",
            WriterState::Busy { .. } => "busy",
            WriterState::Stopped => "stopped",
            WriterState::Unknown { .. } => "unknown",
            WriterState::Gone => "gone",
        }
    }

    /// True only for [`WriterState::Running`].
    pub fn is_running(self) -> bool {
        self == WriterState::Running
    }
}

/// A phrase for people, with no parenthesis around the whole, to follow
/// "the writer is": `stopped by a signal or a debugger; SIGCONT resumes
/// it`, `gone: no process holds the region's writer lock`, ...
impl std::fmt::Display for WriterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |d: &Duration| d.as_secs_f64();
        match self {
            WriterState::Running => f.write_str("running"),
            WriterState::Busy { heartbeat_age } => write!(
                f,
                "busy: heartbeat {:.1} s old, but the process runs",
                secs(heartbeat_age)
            ),
            WriterState::Stopped => {
                f.write_str("stopped by a signal or a debugger; SIGCONT resumes it")
            }
            WriterState::Unknown { heartbeat_age } => write!(
                f,
                "in an unknown state: heartbeat {:.1} s old, and its process is not \
                 visible in this /proc (another pid namespace?)",
                secs(heartbeat_age)
            ),
            WriterState::Gone => f.write_str("gone: no process holds the region's writer lock"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_is_believed_only_for_the_recorded_process() {
        let me = std::process::id();
        let start = crate::procinfo::start_time(me).expect("our own start time");
        // Our own stat: the main thread's letter (a test harness's main
        // thread waits, `S`), never stopped.
        let running = |s: Option<char>| matches!(s, Some('R' | 'S' | 'D'));
        assert!(
            running(proc_state(me, start)),
            "{:?}",
            proc_state(me, start)
        );
        assert!(running(proc_state(me, 0)));
        // Another start time: another process at that pid (a reused pid,
        // or a pid of another namespace): not believed.
        assert_eq!(proc_state(me, start + 1), None);
        assert_eq!(proc_state(0, 0), None);
    }

    #[test]
    fn heartbeat_limit_follows_the_flush_interval() {
        assert_eq!(heartbeat_limit(0), Duration::from_millis(1300));
        assert_eq!(heartbeat_limit(1000), Duration::from_millis(4000));
        let limit = heartbeat_limit(100);
        let late = Some(limit);
        assert_eq!(
            WriterState::classify(true, Some('D'), late, limit),
            WriterState::Busy {
                heartbeat_age: limit
            }
        );
        assert_eq!(
            WriterState::classify(true, Some('t'), Some(Duration::ZERO), limit),
            WriterState::Stopped
        );
        assert_eq!(
            WriterState::classify(false, Some('T'), None, limit),
            WriterState::Gone
        );
    }
}
