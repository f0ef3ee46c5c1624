//! Resource limits for a long-running daemon: memory, CPU share, nice value
//! and CPU affinity, applied to the calling process.
//!
//! Parse the limits with [`Limits::parse`] (which rejects bad syntax and
//! impossible values with a [`LimitError`] naming the flag), apply them with
//! [`Limits::apply`], which returns one [`Outcome`] per limit saying how it
//! was applied or why it could not be, and, when the CPU limit could not be
//! given to a cgroup, pace the work loop with the returned [`Throttle`].
//!
//! Cgroup files (v2 `memory.max` and `cpu.max`; on a host whose memory or
//! cpu controller is on a cgroup v1 hierarchy, `memory.limit_in_bytes` and
//! `cpu.cfs_quota_us`) are written only when the process is alone in its
//! cgroup (a systemd service, say): a cgroup shared with other processes
//! would limit them too.
//!
//! ```
//! use ul_ring::limits::Limits;
//! let l = Limits::parse(Some("64M"), Some("10%"), None, Some("0")).unwrap();
//! assert_eq!(l.memory, Some(64 << 20));
//! assert_eq!(l.cpu, Some(0.10));
//! assert_eq!(l.affinity, Some(vec![0]));
//! assert!(Limits::parse(Some("64Q"), None, None, None).is_err());
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A limit given with bad syntax or an impossible value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    /// A size that is not `<number>[K|M|G|T]`.
    #[error("{flag} {value:?}: {why}; write a byte count with an optional K, M, G or T suffix (binary units), e.g. 64M")]
    Size {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// A CPU share that is not a percentage in range.
    #[error(
        "--cpu-limit {value:?}: {why}; write a percentage of one CPU, e.g. 10% (at most {max}%)"
    )]
    Cpu {
        /// What was given.
        value: String,
        /// What is wrong.
        why: String,
        /// Largest accepted percentage (100 per CPU).
        max: u32,
    },
    /// A nice value out of range.
    #[error("--nice {0}: must be from -20 (highest priority) to 19 (lowest)")]
    Nice(i32),
    /// A CPU list that does not parse or names no CPU of this machine.
    #[error("--cpu-affinity {value:?}: {why}; write CPU numbers and ranges, e.g. 0,2-3")]
    Affinity {
        /// What was given.
        value: String,
        /// What is wrong.
        why: String,
    },
}

/// Smallest memory limit accepted: below this the writer cannot even map a
/// minimal region.
pub const MIN_MEMORY: u64 = 1 << 20;

/// Parses `64M`, `100m`, `1G`, `4096` (binary units) into bytes.
///
/// ```
/// assert_eq!(ul_ring::limits::parse_size("--rotate-size", "100M"), Ok(100 << 20));
/// assert!(ul_ring::limits::parse_size("--rotate-size", "-1").is_err());
/// ```
pub fn parse_size(flag: &'static str, value: &str) -> Result<u64, LimitError> {
    let err = |why: &str| LimitError::Size {
        flag,
        value: value.to_string(),
        why: why.to_string(),
    };
    let v = value.trim();
    let v = v.strip_suffix(['B', 'b']).unwrap_or(v);
    let (digits, shift) = match v.chars().last() {
        Some('k' | 'K') => (&v[..v.len() - 1], 10),
        Some('m' | 'M') => (&v[..v.len() - 1], 20),
        Some('g' | 'G') => (&v[..v.len() - 1], 30),
        Some('t' | 'T') => (&v[..v.len() - 1], 40),
        Some(c) if c.is_ascii_digit() => (v, 0),
        Some(_) => return Err(err("unknown unit")),
        None => return Err(err("empty")),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("not a whole number"));
    }
    let n: u64 = digits.parse().map_err(|_| err("too large"))?;
    let bytes = n.checked_mul(1 << shift).ok_or_else(|| err("too large"))?;
    if bytes == 0 {
        return Err(err("must be more than zero"));
    }
    Ok(bytes)
}

fn online_cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Parses `10%` or `10` as a fraction of one CPU (0.10).
pub fn parse_cpu(value: &str) -> Result<f64, LimitError> {
    let max = 100 * online_cpus();
    let err = |why: &str| LimitError::Cpu {
        value: value.to_string(),
        why: why.to_string(),
        max,
    };
    let v = value.trim();
    let v = v.strip_suffix('%').unwrap_or(v).trim();
    let p: f64 = v.parse().map_err(|_| err("not a number"))?;
    if !p.is_finite() || p <= 0.0 {
        return Err(err("must be more than 0%"));
    }
    if p > f64::from(max) {
        return Err(err("more than this machine has"));
    }
    Ok(p / 100.0)
}

/// Parses a CPU list such as `0,2-3` (sorted, without duplicates).
pub fn parse_cpu_list(value: &str) -> Result<Vec<usize>, LimitError> {
    let err = |why: String| LimitError::Affinity {
        value: value.to_string(),
        why,
    };
    let limit = libc::CPU_SETSIZE as usize;
    let mut cpus = Vec::new();
    for part in value.split(',').map(str::trim) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: usize = a
            .parse()
            .map_err(|_| err(format!("{part:?} is not a CPU number")))?;
        let b: usize = b
            .parse()
            .map_err(|_| err(format!("{part:?} is not a CPU number")))?;
        if a > b {
            return Err(err(format!("range {part:?} runs backwards")));
        }
        if b >= limit {
            return Err(err(format!(
                "CPU {b} is beyond the largest possible ({})",
                limit - 1
            )));
        }
        cpus.extend(a..=b);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Limits to apply to this process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// Memory in bytes (cgroup `memory.max`, else `RLIMIT_AS`).
    pub memory: Option<u64>,
    /// CPU share as a fraction of one CPU (cgroup `cpu.max`, else pacing).
    pub cpu: Option<f64>,
    /// Nice value (`setpriority`).
    pub nice: Option<i32>,
    /// CPUs to run on (`sched_setaffinity`).
    pub affinity: Option<Vec<usize>>,
}

/// What became of one limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied; says how.
    Applied(String),
    /// Not applied; says why. The process runs on without it.
    NotApplied(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Applied(s) => write!(f, "applied {s}"),
            Outcome::NotApplied(s) => write!(f, "NOT applied: {s}"),
        }
    }
}

impl Limits {
    /// Parses the four flags' values; `None` leaves a limit unset.
    pub fn parse(
        memory: Option<&str>,
        cpu: Option<&str>,
        nice: Option<i32>,
        affinity: Option<&str>,
    ) -> Result<Self, LimitError> {
        let mem_text = memory;
        let memory = memory
            .map(|m| parse_size("--memory-limit", m))
            .transpose()?;
        if let Some(m) = memory {
            if m < MIN_MEMORY {
                return Err(LimitError::Size {
                    flag: "--memory-limit",
                    value: mem_text.unwrap_or_default().to_string(),
                    why: "less than 1M cannot hold the writer at all".into(),
                });
            }
        }
        if let Some(n) = nice {
            if !(-20..=19).contains(&n) {
                return Err(LimitError::Nice(n));
            }
        }
        Ok(Self {
            memory,
            cpu: cpu.map(parse_cpu).transpose()?,
            nice,
            affinity: affinity.map(parse_cpu_list).transpose()?,
        })
    }

    /// True if no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies every limit set. Returns what happened to each (a label and
    /// its [`Outcome`]) and, if the CPU limit must be kept by the process
    /// itself, the [`Throttle`] to call after each unit of work.
    pub fn apply(&self) -> (Vec<(&'static str, Outcome)>, Option<Throttle>) {
        let mut out = Vec::new();
        let mut throttle = None;
        if let Some(m) = self.memory {
            out.push(("memory", apply_memory(m, &own_cgroup("memory"))));
        }
        if let Some(c) = self.cpu {
            let o = apply_cpu(c, &own_cgroup("cpu"));
            if !matches!(o, Outcome::Applied(ref s) if s.starts_with("cgroup")) {
                throttle = Some(Throttle::new(c));
            }
            out.push(("cpu", o));
        }
        if let Some(n) = self.nice {
            out.push(("nice", apply_nice(n)));
        }
        if let Some(cpus) = &self.affinity {
            out.push(("affinity", apply_affinity(cpus)));
        }
        (out, throttle)
    }
}

/// Which cgroup hierarchy holds a controller for this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CgroupVersion {
    /// The unified hierarchy (`memory.max`, `cpu.max`).
    V2,
    /// A legacy hierarchy of its own (`memory.limit_in_bytes`,
    /// `cpu.cfs_quota_us`), as on hosts that still mount cgroup v1 or mount
    /// both ("hybrid").
    V1,
}

/// This process's cgroup directory for one controller, if the process is
/// alone in it.
#[derive(Clone, Debug)]
struct OwnCgroup {
    dir: PathBuf,
    version: CgroupVersion,
}

impl OwnCgroup {
    /// The file that holds the memory limit.
    fn memory_limit_file(&self) -> &'static str {
        match self.version {
            CgroupVersion::V2 => "memory.max",
            CgroupVersion::V1 => "memory.limit_in_bytes",
        }
    }

    /// The file that holds the memory in use, as the limit counts it.
    fn memory_usage_file(&self) -> &'static str {
        match self.version {
            CgroupVersion::V2 => "memory.current",
            CgroupVersion::V1 => "memory.usage_in_bytes",
        }
    }
}

/// The mount point of the cgroup filesystem in one `/proc/self/mountinfo`
/// line, if it is a cgroup2 mount (`controller` None) or a cgroup v1 mount
/// that carries `controller` among its super options.
fn cgroup_mount(line: &str, controller: Option<&str>) -> Option<PathBuf> {
    // Field 5 is the mount point; the filesystem type and source follow
    // " - ", then the super options.
    let (pre, post) = line.split_once(" - ")?;
    let mut fields = post.split(' ');
    let fstype = fields.next()?;
    let options = fields.nth(1).unwrap_or("");
    let ours = match controller {
        None => fstype == "cgroup2",
        Some(c) => fstype == "cgroup" && options.split(',').any(|o| o == c),
    };
    ours.then(|| pre.split(' ').nth(4).map(PathBuf::from))?
}

/// Where this process sits in one cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupPlace {
    /// The hierarchy's mount point.
    pub mount: PathBuf,
    /// The process's cgroup under it (empty for the root cgroup).
    pub path: PathBuf,
}

impl CgroupPlace {
    /// The process's cgroup directory.
    pub fn dir(&self) -> PathBuf {
        self.mount.join(&self.path)
    }
}

/// This process's place on the unified (v2) hierarchy, if one is mounted,
/// and on the cgroup v1 hierarchy that carries `controller` (`memory`,
/// `cpu`), if any; from `/proc/self/cgroup` and `/proc/self/mountinfo`.
/// Whether the v2 hierarchy offers the controller is the caller's to ask
/// (`cgroup.controllers`, `cgroup.subtree_control`).
///
/// ```no_run
/// let (v2, v1) = ul_ring::limits::cgroup_places("memory").unwrap();
/// println!("v2: {:?}, v1 memory: {:?}", v2.map(|p| p.dir()), v1.map(|p| p.dir()));
/// ```
pub fn cgroup_places(
    controller: &str,
) -> Result<(Option<CgroupPlace>, Option<CgroupPlace>), String> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let place = |mount: PathBuf, rel: &str| CgroupPlace {
        mount,
        path: PathBuf::from(rel.trim().trim_start_matches('/')),
    };
    let v2 = (|| {
        let rel = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
        let mount = mountinfo.lines().find_map(|l| cgroup_mount(l, None))?;
        Some(place(mount, rel))
    })();
    // A v1 line is `<id>:<controllers, comma-separated>:<path>`.
    let v1 = (|| {
        let rel = cgroup.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, list, path) = (f.next()?, f.next()?, f.next()?);
            list.split(',').any(|c| c == controller).then_some(path)
        })?;
        let mount = mountinfo
            .lines()
            .find_map(|l| cgroup_mount(l, Some(controller)))?;
        Some(place(mount, rel))
    })();
    Ok((v2, v1))
}

/// This process's cgroup directory for `controller` (`memory`, `cpu`), if
/// it is alone in it; otherwise why not. The unified hierarchy is used when
/// it offers the controller (its `cgroup.controllers` lists it), else the
/// cgroup v1 hierarchy that carries it.
fn own_cgroup(controller: &str) -> Result<OwnCgroup, String> {
    let (v2, v1) = cgroup_places(controller)?;
    let v2 = v2.map(|p| p.dir()).filter(|dir| {
        std::fs::read_to_string(dir.join("cgroup.controllers"))
            .is_ok_and(|offered| offered.split_whitespace().any(|c| c == controller))
    });
    let (dir, version) = match (v2, v1) {
        (Some(d), _) => (d, CgroupVersion::V2),
        (None, Some(p)) => (p.dir(), CgroupVersion::V1),
        (None, None) => {
            return Err(format!(
                "no cgroup hierarchy offers this process the {controller} controller"
            ))
        }
    };
    let procs = std::fs::read_to_string(dir.join("cgroup.procs"))
        .map_err(|e| format!("cannot read {}/cgroup.procs: {e}", dir.display()))?;
    let me = std::process::id().to_string();
    let others = procs.lines().filter(|p| p.trim() != me).count();
    if others > 0 {
        return Err(format!(
            "cgroup {} holds {others} other process(es), which a cgroup limit would also throttle (run the writer in its own cgroup, e.g. as a systemd service)",
            dir.display()
        ));
    }
    Ok(OwnCgroup { dir, version })
}

fn write_cgroup(dir: &std::path::Path, file: &str, value: &str) -> Result<String, String> {
    let p = dir.join(file);
    std::fs::write(&p, value).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    Ok(format!("cgroup {} = {value}", p.display()))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

fn apply_memory(bytes: u64, cg: &Result<OwnCgroup, String>) -> Outcome {
    let cg_why = match cg {
        Ok(cg) => match write_cgroup(&cg.dir, cg.memory_limit_file(), &bytes.to_string()) {
            Ok(s) => return Outcome::Applied(s),
            Err(e) => e,
        },
        Err(e) => e.clone(),
    };
    // RLIMIT_AS bounds address space, which already holds the region
    // mapping: a limit below what is mapped now would only make the next
    // allocation fail.
    let used = vm_size().unwrap_or(0);
    if bytes < used {
        return Outcome::NotApplied(format!(
            "{} is below the {} of address space the writer already uses (region mapping included); no cgroup either: {cg_why}",
            mib(bytes),
            mib(used)
        ));
    }
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct we pass and has no other memory effects.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) } != 0 {
        return Outcome::NotApplied(format!(
            "setrlimit(RLIMIT_AS, {}): {}; no cgroup either: {cg_why}",
            mib(bytes),
            std::io::Error::last_os_error()
        ));
    }
    Outcome::Applied(format!(
        "RLIMIT_AS = {} (address space; {} in use now) because no cgroup: {cg_why}",
        mib(bytes),
        mib(used)
    ))
}

/// What a memory limit applied now counts, and the name of that measure:
/// the cgroup's `memory.current` (v2) or `memory.usage_in_bytes` (v1)
/// where [`Limits::apply`] writes the cgroup's limit (this process alone in
/// its cgroup), else the address space in use (`VmSize`), which
/// `RLIMIT_AS` bounds. `None` if neither can be read.
pub fn memory_in_use() -> Option<(u64, &'static str)> {
    if let Ok(cg) = own_cgroup("memory") {
        let file = cg.memory_usage_file();
        let current = std::fs::read_to_string(cg.dir.join(file))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        if let Some(c) = current {
            let measure = match cg.version {
                CgroupVersion::V2 => "cgroup memory.current",
                CgroupVersion::V1 => "cgroup memory.usage_in_bytes",
            };
            return Some((c, measure));
        }
    }
    vm_size().map(|v| (v, "address space (VmSize)"))
}

/// Virtual memory size of this process in bytes (`VmSize`).
fn vm_size() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmSize:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn apply_cpu(share: f64, cg: &Result<OwnCgroup, String>) -> Outcome {
    const PERIOD: u64 = 100_000;
    let why = match cg {
        Ok(cg) => {
            let quota = ((share * PERIOD as f64) as u64).max(1000);
            let written = match cg.version {
                CgroupVersion::V2 => write_cgroup(&cg.dir, "cpu.max", &format!("{quota} {PERIOD}")),
                // The period first: a quota is checked against the period
                // in force when it is written.
                CgroupVersion::V1 => {
                    write_cgroup(&cg.dir, "cpu.cfs_period_us", &PERIOD.to_string()).and_then(|p| {
                        write_cgroup(&cg.dir, "cpu.cfs_quota_us", &quota.to_string())
                            .map(|q| format!("{q}, {p}"))
                    })
                }
            };
            match written {
                Ok(s) => return Outcome::Applied(s),
                Err(e) => e,
            }
        }
        Err(e) => e.clone(),
    };
    Outcome::Applied(format!(
        "{:.1}% of one CPU by pacing: the writer sleeps after a batch while its CPU time exceeds the share (no cgroup: {why})",
        share * 100.0
    ))
}

fn apply_nice(n: i32) -> Outcome {
    // SAFETY: setpriority has no memory effects.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        let hint = if n < 0 {
            " (a negative nice value needs CAP_SYS_NICE or a raised RLIMIT_NICE)"
        } else {
            ""
        };
        return Outcome::NotApplied(format!("setpriority(nice {n}): {e}{hint}"));
    }
    Outcome::Applied(format!("nice {n}"))
}

fn apply_affinity(cpus: &[usize]) -> Outcome {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: parse_cpu_list bounds every CPU below CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: we pass the set's true size; the kernel only reads it.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    let list = cpus
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if r != 0 {
        return Outcome::NotApplied(format!(
            "sched_setaffinity(CPUs {list}): {} (are those CPUs online and allowed to this process?)",
            std::io::Error::last_os_error()
        ));
    }
    Outcome::Applied(format!("CPU affinity {list}"))
}

/// CPU time this process has used.
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Keeps a process under a CPU share by sleeping: call [`Throttle::pace`]
/// after each unit of work; it sleeps until CPU time / wall time since the
/// window started is back at the share. The window restarts every second
/// so an idle stretch does not bank credit for a later burst.
#[derive(Debug)]
pub struct Throttle {
    share: f64,
    start: Instant,
    cpu_start: Duration,
}

/// Length of a pacing window.
const WINDOW: Duration = Duration::from_secs(1);

impl Throttle {
    /// A throttle for `share` of one CPU (0.10 for 10%).
    pub fn new(share: f64) -> Self {
        Self {
            share,
            start: Instant::now(),
            cpu_start: process_cpu_time(),
        }
    }

    /// The share kept.
    pub fn share(&self) -> f64 {
        self.share
    }

    /// Sleeps as long as needed to keep to the share; returns the sleep.
    pub fn pace(&mut self) -> Duration {
        let used = process_cpu_time().saturating_sub(self.cpu_start);
        let wall = self.start.elapsed();
        let due = used.div_f64(self.share);
        let sleep = due.saturating_sub(wall);
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
        if wall + sleep >= WINDOW {
            self.start = Instant::now();
            self.cpu_start = process_cpu_time();
        }
        sleep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_mounts_are_told_apart() {
        let v2 = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
        let mem = "35 31 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory";
        let cpu = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct";
        let tmpfs = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755";
        assert_eq!(
            cgroup_mount(v2, None),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup_mount(v2, Some("memory")), None);
        assert_eq!(cgroup_mount(mem, None), None);
        assert_eq!(
            cgroup_mount(mem, Some("memory")),
            Some(PathBuf::from("/sys/fs/cgroup/memory"))
        );
        assert_eq!(cgroup_mount(mem, Some("cpu")), None);
        assert_eq!(
            cgroup_mount(cpu, Some("cpu")),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))
        );
        // `cpuacct` is not `cpu`.
        assert_eq!(cgroup_mount(cpu, Some("cpuacc")), None);
        assert_eq!(cgroup_mount(tmpfs, None), None);
        assert_eq!(cgroup_mount(tmpfs, Some("memory")), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("-", "1K"), Ok(1024));
        assert_eq!(parse_size("-", "64MB"), Ok(64 << 20));
        assert_eq!(parse_size("-", "2g"), Ok(2 << 30));
        assert_eq!(parse_size("-", "123"), Ok(123));
        for bad in ["", "M", "1.5M", "12X", "0", "-5", "99999999999999999999"] {
            assert!(parse_size("-", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cpu_shares() {
        assert_eq!(parse_cpu("10%"), Ok(0.10));
        assert_eq!(parse_cpu("50"), Ok(0.5));
        for bad in ["0%", "-3%", "ten", "100000%", "nan"] {
            assert!(parse_cpu(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("3,0-1,1"), Ok(vec![0, 1, 3]));
        for bad in ["", "a", "3-1", "0,,1", "999999"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn limits_reject_tiny_memory_and_bad_nice() {
        assert!(Limits::parse(Some("1K"), None, None, None)
            .unwrap_err()
            .to_string()
            .contains("--memory-limit"));
        assert_eq!(
            Limits::parse(None, None, Some(40), None),
            Err(LimitError::Nice(40))
        );
    }

    #[test]
    fn throttle_keeps_share() {
        let mut t = Throttle::new(0.5);
        let start = Instant::now();
        let cpu0 = process_cpu_time();
        while start.elapsed() < Duration::from_millis(600) {
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_millis(5) {
                std::hint::black_box(0u64);
            }
            t.pace();
        }
        let cpu = process_cpu_time() - cpu0;
        // Spinning alone would use ~100%; paced it stays near 50% (the test
        // harness's other threads add their own CPU time, hence the margin).
        assert!(
            cpu.as_secs_f64() / start.elapsed().as_secs_f64() < 0.75,
            "{cpu:?} of CPU in {:?}",
            start.elapsed()
        );
    }
}
