//! A real `ul-writer` process for the harness: found (or built), started on
//! a fresh region, measured through `/proc`, stopped with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `ul-writer` binary to run: `explicit` if given, else the one next
/// to this executable (or in `../release/`), built with
/// `cargo build --release -p ul-writer` when it is missing or older than
/// this executable (which was built from the same writer sources).
pub fn locate_writer(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_owned())
        } else {
            Err(format!("--writer {}: no such file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let exe_dir = exe.parent().ok_or("current_exe has no parent")?.to_owned();
    let candidates = [
        exe_dir.join("ul-writer"),
        exe_dir.join("../release/ul-writer"),
    ];
    let exe_time = std::fs::metadata(&exe).and_then(|m| m.modified()).ok();
    let fresh = |p: &Path| -> bool {
        let t = std::fs::metadata(p).and_then(|m| m.modified()).ok();
        matches!((t, exe_time), (Some(t), Some(e)) if t >= e)
    };
    if let Some(p) = candidates.iter().find(|p| p.is_file() && fresh(p)) {
        return Ok(p.clone());
    }
    // Build it: into the target directory this executable came from, so
    // the result lands in `<target>/release/ul-writer`.
    let target_dir = exe_dir
        .parent()
        .ok_or("executable is not in a cargo target directory")?
        .to_owned();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "harness: building ul-writer (cargo build --release -p ul-writer) into {}",
        target_dir.display()
    );
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "ul-writer", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdout(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("harness: building ul-writer failed ({s})"),
        Err(e) => eprintln!("harness: cannot run cargo: {e}"),
    }
    let built = target_dir.join("release/ul-writer");
    if built.is_file() {
        return Ok(built);
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| "no ul-writer binary found and building one failed".to_string())
}

/// How to start the writer.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// The binary.
    pub binary: PathBuf,
    /// Region path (should not exist yet).
    pub shm: PathBuf,
    /// Output directory.
    pub dir: PathBuf,
    /// `text`, `json` or `both`.
    pub format: String,
    /// Lanes if the writer creates the region.
    pub lanes: u32,
    /// Bytes per lane if the writer creates the region.
    pub lane_size: u32,
    /// The writer's `--format-threads` (None: its default).
    pub format_threads: Option<usize>,
    /// More arguments for the writer (`--writer-arg`), after the others.
    pub extra_args: Vec<String>,
}

/// A running `ul-writer`.
pub struct WriterProcess {
    child: Option<Child>,
    shm: PathBuf,
}

impl WriterProcess {
    /// Starts the writer (its stderr goes to ours; stdout is discarded).
    pub fn spawn(cfg: &WriterConfig) -> std::io::Result<Self> {
        let mut cmd = Command::new(&cfg.binary);
        if let Some(n) = cfg.format_threads {
            cmd.args(["--format-threads", &n.to_string()]);
        }
        let child = cmd
            .arg("--shm")
            .arg(&cfg.shm)
            .arg("--dir")
            .arg(&cfg.dir)
            .args(["--format", &cfg.format])
            .args(["--lanes", &cfg.lanes.to_string()])
            .args(["--lane-size", &cfg.lane_size.to_string()])
            .args(&cfg.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        Ok(Self {
            child: Some(child),
            shm: cfg.shm.clone(),
        })
    }

    /// The writer's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Waits until the region file exists (the writer or a producer created
    /// it), up to `timeout`.
    pub fn wait_for_region(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.shm.exists() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    /// CPU seconds (user + system) the writer has used so far, from
    /// `/proc/<pid>/stat` fields 14 and 15.
    pub fn cpu_seconds(&self) -> Option<f64> {
        proc_cpu_seconds(self.pid())
    }

    /// Memory figures from `/proc/<pid>/status`.
    pub fn memory(&self) -> Option<ProcMemory> {
        proc_memory(self.pid())
    }

    /// Scheduler figures summed over the writer's threads.
    pub fn sched(&self) -> Option<ProcSched> {
        proc_sched(self.pid())
    }

    /// Sends SIGTERM (the writer drains everything, then exits) and waits
    /// for it, up to `timeout` (then SIGKILL). Removes the region file.
    pub fn stop(mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let status = self.stop_inner(timeout);
        let _ = std::fs::remove_file(&self.shm);
        status
    }

    fn stop_inner(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) on the pid of our own child, which we have not
        // reaped yet (so the pid cannot have been reused).
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = child.kill();
                    return child.wait().ok();
                }
            }
        }
    }
}

impl Drop for WriterProcess {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop_inner(Duration::from_secs(10));
            let _ = std::fs::remove_file(&self.shm);
        }
    }
}

/// CPU seconds (user + system) of process `pid`.
pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // fields after the last ')' start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((utime + stime) as f64 / hz)
}

/// Memory of a process, in KiB, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ProcMemory {
    /// Peak resident set (`VmHWM`).
    pub hwm_kib: u64,
    /// Resident now (`VmRSS`).
    pub rss_kib: u64,
    /// Resident anonymous memory now (`RssAnon`): heap and stacks.
    pub anon_kib: u64,
    /// Resident shared memory now (`RssShmem`): the mapped region.
    pub shmem_kib: u64,
}

/// Memory figures of process `pid` (use `std::process::id()` for this one).
pub fn proc_memory(pid: u32) -> Option<ProcMemory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(ProcMemory {
        hwm_kib: field("VmHWM:"),
        rss_kib: field("VmRSS:"),
        anon_kib: field("RssAnon:"),
        shmem_kib: field("RssShmem:"),
    })
}

/// What the scheduler did with a process, summed over its threads (from
/// `/proc/<pid>/task/*/schedstat` and `status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProcSched {
    /// Seconds on a CPU.
    pub run_s: f64,
    /// Seconds runnable but waiting for a CPU (run-queue delay).
    pub wait_s: f64,
    /// Times a thread gave up its CPU itself (went to sleep: a futex
    /// wait, a blocking system call).
    pub voluntary: u64,
    /// Times a thread was preempted while it could still run.
    pub involuntary: u64,
    /// The writer's main (engine) thread alone: the same four figures, in
    /// this order (the rest are its format helpers).
    #[serde(default)]
    pub engine: [f64; 4],
}

impl ProcSched {
    /// `self - earlier`, field by field.
    pub fn since(&self, earlier: &ProcSched) -> ProcSched {
        ProcSched {
            run_s: self.run_s - earlier.run_s,
            wait_s: self.wait_s - earlier.wait_s,
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
            engine: core::array::from_fn(|k| self.engine[k] - earlier.engine[k]),
        }
    }
}

/// Scheduler figures of process `pid`, summed over the threads alive now
/// (a thread that exited is no longer counted).
pub fn proc_sched(pid: u32) -> Option<ProcSched> {
    let mut total = ProcSched::default();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let path = task.path();
        let is_engine = task.file_name().to_str() == Some(&pid.to_string());
        let Ok(stat) = std::fs::read_to_string(path.join("schedstat")) else {
            continue;
        };
        let mut f = stat
            .split_whitespace()
            .map(|x| x.parse::<u64>().unwrap_or(0));
        let run_s = f.next().unwrap_or(0) as f64 / 1e9;
        let wait_s = f.next().unwrap_or(0) as f64 / 1e9;
        total.run_s += run_s;
        total.wait_s += wait_s;
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let (voluntary, involuntary) = (
            field("voluntary_ctxt_switches:"),
            field("nonvoluntary_ctxt_switches:"),
        );
        total.voluntary += voluntary;
        total.involuntary += involuntary;
        if is_engine {
            total.engine = [run_s, wait_s, voluntary as f64, involuntary as f64];
        }
    }
    Some(total)
}
