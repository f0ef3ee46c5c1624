//! Process identity: liveness and start time, so a reused pid is not taken
//! for the process that owned a lane.

/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// The calling process's id.
pub fn getpid() -> u32 {
    std::process::id()
}

/// Start time of process `pid` in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), or `None` if there is no such process.
///
/// ```
/// let me = std::process::id();
/// assert!(ul_ring::procinfo::start_time(me).is_some());
/// ```
pub fn start_time(pid: u32) -> Option<u64> {
    if pid == 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields
    // after it start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state); field 22 is the 20th from here.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// True if process `pid` exists (it may belong to another user).
pub fn alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// True if `pid` is alive and is the same process that had `start` as its
/// start time (`start == 0` means unknown: liveness alone decides).
pub fn same_process_alive(pid: u32, start: u64) -> bool {
    if !alive(pid) {
        return false;
    }
    if start == 0 {
        return true;
    }
    // A zombie still has its /proc entry; it will never log again.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) if stat_state(&stat) == Some('Z') => return false,
        Ok(_) => {}
        Err(_) => return false,
    }
    start_time(pid) == Some(start)
}

/// The state letter (field 3) of a `/proc/<pid>/stat` or
/// `/proc/<pid>/task/<tid>/stat` line: `R`, `S`, `D`, `T` (stopped), `Z`
/// (zombie), ...
///
/// ```
/// use ul_ring::procinfo::stat_state;
/// assert_eq!(stat_state("42 (a) b) T 1 2"), Some('T'));
/// assert_eq!(stat_state("no parenthesis"), None);
/// ```
pub fn stat_state(stat: &str) -> Option<char> {
    // The command name (field 2) may hold spaces and parentheses: the
    // state follows the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}
