//! Shared test support: unique regions, the real writer process, and
//! readers for the files it writes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static N: AtomicU32 = AtomicU32::new(0);

/// A region path in /dev/shm and a log directory, both removed on drop.
pub struct Scratch {
    pub shm: PathBuf,
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("ul-test-{tag}-{}-{n}", std::process::id());
        let shm = PathBuf::from("/dev/shm").join(&id);
        let dir = std::env::temp_dir().join(&id);
        let _ = std::fs::remove_file(&shm);
        let _ = std::fs::remove_dir_all(&dir);
        Self { shm, dir }
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn json(&self, level: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("server.{level}.json"))).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.shm);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn writer_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ul-writer"))
}

/// The `ul-log` binary of this workspace, next to `ul-writer`. Built once
/// per test process, every time (a no-op when up to date): `cargo test -p
/// ul-writer` does not build another package's binaries, and a copy left
/// from an older build would test old defaults.
pub fn ul_log_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = writer_bin().parent().expect("bin dir").to_owned();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "--quiet", "-p", "ul-log", "--bin", "ul-log"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let st = cmd.status().expect("cargo build -p ul-log");
            assert!(st.success(), "cargo build -p ul-log failed");
            dir.join("ul-log")
        })
        .clone()
}

/// The `stress` example, built by `cargo test` next to the binaries.
pub fn stress_bin() -> PathBuf {
    let p = writer_bin()
        .parent()
        .expect("bin dir")
        .join("examples")
        .join("stress");
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test` (which builds examples)",
        p.display()
    );
    p
}

/// The `chaos_producer` example, built by `cargo test` next to the binaries.
pub fn chaos_bin() -> PathBuf {
    let p = writer_bin()
        .parent()
        .expect("bin dir")
        .join("examples")
        .join("chaos_producer");
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test` (which builds examples)",
        p.display()
    );
    p
}

/// Where a started writer's stderr goes.
pub enum Stderr {
    /// A pipe, read by [`Writer::stop`] (for short runs: a writer that
    /// fills the pipe's buffer blocks).
    Piped,
    /// A file, read by [`Writer::stop`]; for long runs and for writers
    /// started and killed many times.
    File(PathBuf),
}

/// A running `ul-writer`, killed on drop if still running. The one writer
/// handle of the integration tests (`chaos.rs` included).
pub struct Writer {
    pub child: Child,
    err_file: Option<PathBuf>,
}

impl Writer {
    /// Starts a writer on `s` with `extra` arguments (and
    /// `--flush-interval-ms 20` unless `extra` sets it), and returns once
    /// it serves the region.
    pub fn start(s: &Scratch, extra: &[&str]) -> Self {
        Self::start_env(s, extra, &[])
    }

    /// [`Writer::start`] with variables added to its environment.
    pub fn start_env(s: &Scratch, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let flush: &[&str] = if extra.contains(&"--flush-interval-ms") {
            &[]
        } else {
            &["--flush-interval-ms", "20"]
        };
        let args: Vec<&str> = flush.iter().chain(extra).copied().collect();
        let w = Self::spawn_env(&s.shm, &s.dir, &args, Stderr::Piped, None, env);
        // Wait until it serves the region: its pid is in the header, so the
        // region is initialised (a test that stops the writer next must not
        // catch it half way; it opens its outputs before the region).
        let pid = w.pid();
        wait_for(Duration::from_secs(10), || {
            ul_writer::stat::Snapshot::read(&s.shm).is_ok_and(|snap| snap.writer.pid == pid)
        });
        w
    }

    /// Starts `ul-writer --shm SHM --dir DIR ARGS` exactly as given (no
    /// default arguments) and returns at once. `wrap` is shell run before
    /// exec'ing the writer (e.g. `ulimit -f 64`).
    pub fn spawn(
        shm: &Path,
        dir: &Path,
        args: &[&str],
        stderr: Stderr,
        wrap: Option<&str>,
    ) -> Self {
        Self::spawn_env(shm, dir, args, stderr, wrap, &[])
    }

    /// [`Writer::spawn`] with variables added to its environment.
    pub fn spawn_env(
        shm: &Path,
        dir: &Path,
        args: &[&str],
        stderr: Stderr,
        wrap: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = match wrap {
            Some(sh) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("{sh}; exec \"$0\" \"$@\""))
                    .arg(writer_bin());
                c
            }
            None => Command::new(writer_bin()),
        };
        let (err, err_file) = match stderr {
            Stderr::Piped => (Stdio::piped(), None),
            Stderr::File(p) => {
                let f = std::fs::File::create(&p)
                    .unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
                (Stdio::from(f), Some(p))
            }
        };
        let child = cmd
            .envs(env.iter().copied())
            .arg("--shm")
            .arg(shm)
            .arg("--dir")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start ul-writer");
        Writer { child, err_file }
    }

    /// A handle for a writer started some other way (stderr piped).
    pub fn from_child(child: Child) -> Self {
        Writer {
            child,
            err_file: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL and reap.
    pub fn kill(mut self) {
        signal(self.pid(), libc::SIGKILL);
        self.child.wait().expect("wait for killed writer");
    }

    /// SIGTERM and wait (30 s, then SIGKILL); returns the exit status and
    /// stderr.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        signal(self.child.id(), libc::SIGTERM);
        let status = wait_timeout(&mut self.child, Duration::from_secs(30)).unwrap_or_else(|| {
            let _ = self.child.kill();
            self.child.wait().expect("wait")
        });
        (status, self.stderr())
    }

    /// What the writer wrote on stderr so far (all of it once it exited).
    pub fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(p) = &self.err_file {
            err = std::fs::read_to_string(p).unwrap_or_default();
        } else if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        err
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Waits until every thread of `pid` is in the stopped state (`T` in
/// `/proc/<pid>/task/*/stat`). `kill(SIGSTOP)` returns before the group
/// stop has reached each thread, so a test that samples shared state right
/// after it may still see the process move. Returns false on timeout.
pub fn wait_stopped(pid: u32, d: Duration) -> bool {
    wait_for(d, || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        let mut any = false;
        for t in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
                return false;
            };
            if !matches!(ul_ring::procinfo::stat_state(&stat), Some('T') | Some('t')) {
                return false;
            }
            any = true;
        }
        any
    })
}

pub fn wait_timeout(child: &mut Child, d: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

pub fn wait_for(d: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// The stress producer's command: `threads` threads logging `count`
/// numbered records each into the region at `shm`.
pub fn stress_command(shm: &Path, threads: u32, count: u64, extra: &[&str]) -> Command {
    let mut cmd = Command::new(stress_bin());
    cmd.arg("--shm")
        .arg(shm)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--count")
        .arg(count.to_string())
        .args(extra)
        .stdin(Stdio::null());
    cmd
}

/// Runs the stress producer to completion and asserts it succeeded.
pub fn stress(shm: &Path, threads: u32, count: u64, extra: &[&str]) -> u32 {
    let out = stress_command(shm, threads, count, extra)
        .output()
        .expect("run stress");
    assert!(
        out.status.success(),
        "stress failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    0
}

/// The fields of a schedstat file: CPU time (ns), run-queue wait (ns), and
/// the times the thread was put on a CPU. `None` if it cannot be read (a
/// thread that exited).
fn schedstat(path: impl AsRef<std::path::Path>) -> Option<[u64; 3]> {
    let s = std::fs::read_to_string(path).ok()?;
    let mut f = s
        .split_whitespace()
        .map(|x| x.parse().expect("a schedstat number"));
    Some([f.next()?, f.next()?, f.next()?])
}

/// CPU time (ns) a process's main thread has used, from
/// /proc/<pid>/schedstat.
pub fn cpu_ns(pid: u32) -> u64 {
    schedstat(format!("/proc/{pid}/schedstat")).expect("schedstat")[0]
}

/// Summed over every thread of a process, from
/// /proc/<pid>/task/*/schedstat: CPU time (ns), and the times a thread was
/// put on a CPU (each wake-up from a sleep counts one; a preemption in
/// the middle of a run adds one more).
pub fn threads_cpu_and_runs(pid: u32) -> (u64, u64) {
    let mut total = (0, 0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir") {
        // A thread that exited meanwhile is skipped.
        if let Some([cpu, _, runs]) = schedstat(task.expect("task").path().join("schedstat")) {
            total.0 += cpu;
            total.1 += runs;
        }
    }
    total
}

/// The text format's escaping (control characters, U+2028 and U+2029),
/// written independently of the writer's, to compare its lines with.
pub fn text_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Opens the existing region at `shm` (never creating one), as a producer
/// or a tool attaches to a writer's region.
pub fn attach(shm: &Path) -> ul_ring::region::Region {
    ul_ring::region::Region::open(
        shm,
        &ul_ring::region::RegionOptions {
            create: false,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("attach to {}: {e}", shm.display()))
}

/// A cgroup hierarchy's version, and the file names that differ by it.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    V2,
    V1,
}

#[allow(dead_code)]
impl CgroupVersion {
    pub fn memory_limit(self) -> &'static str {
        match self {
            CgroupVersion::V2 => "memory.max",
            CgroupVersion::V1 => "memory.limit_in_bytes",
        }
    }

    /// The file with the `oom_kill N` line.
    pub fn memory_events(self) -> &'static str {
        match self {
            CgroupVersion::V2 => "memory.events",
            CgroupVersion::V1 => "memory.oom_control",
        }
    }
}

/// A cgroup made for a test with one controller, beside this process's own
/// cgroup; removed on drop (its processes must be gone by then).
#[allow(dead_code)]
pub struct TestCgroup {
    pub dir: PathBuf,
    pub version: CgroupVersion,
}

#[allow(dead_code)]
impl TestCgroup {
    /// Makes a cgroup with `controller` (`memory`, `cpu`): on the unified
    /// hierarchy (v2) if the directory that holds this process's cgroup
    /// hands the controller to its children, else on the cgroup v1
    /// hierarchy that carries it. The new cgroup is a sibling of this
    /// process's (a child of the root if that is where it is). Needs root;
    /// otherwise says why not.
    pub fn new(controller: &str) -> Result<Self, String> {
        // SAFETY: geteuid has no memory effects.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: cannot make a cgroup".into());
        }
        let (v2, v1) = ul_ring::limits::cgroup_places(controller)?;
        // The directory that holds this process's cgroup (the root if that
        // is where it is).
        let parent_of = |p: ul_ring::limits::CgroupPlace| match p.dir().parent() {
            Some(parent) if !p.path.as_os_str().is_empty() => parent.to_path_buf(),
            _ => p.dir(),
        };
        let mut found = None;
        let why_not_v2 = match v2 {
            None => "no cgroup v2 hierarchy is mounted for this process".to_string(),
            Some(place) => {
                let parent = parent_of(place);
                let sub = std::fs::read_to_string(parent.join("cgroup.subtree_control"))
                    .unwrap_or_default();
                if sub.split_whitespace().any(|c| c == controller) {
                    found = Some((parent, CgroupVersion::V2));
                    String::new()
                } else {
                    format!(
                        "{} does not give its child cgroups the {controller} controller",
                        parent.display()
                    )
                }
            }
        };
        if found.is_none() {
            found = v1.map(|p| (parent_of(p), CgroupVersion::V1));
        }
        let (parent, version) = found
            .ok_or_else(|| format!("{why_not_v2}, and no cgroup v1 {controller} hierarchy"))?;
        let dir = parent.join(format!("ul-test-{}-{controller}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        Ok(Self { dir, version })
    }

    /// A command that runs `program` in this cgroup: a shell that moves
    /// itself in, then execs it (so the program is alone there from its
    /// first instruction).
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("echo $$ > \"$1\" && shift && exec \"$@\"")
            .arg("sh")
            .arg(self.dir.join("cgroup.procs"))
            .arg(program);
        c
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Waits until some lane of the region at `shm` is within 128 bytes of
/// full (a thread logging into it is then waiting for room, or about to);
/// false on timeout.
#[allow(dead_code)]
pub fn wait_for_a_full_lane(shm: &Path, d: Duration) -> bool {
    let region = attach(shm);
    wait_for(d, || {
        (0..region.geometry().sizes.lanes as usize).any(|i| {
            let c = region.lane_control(i);
            let used = c.head().wrapping_sub(c.tail());
            used + 128 > u64::from(region.geometry().sizes.lane_capacity)
        })
    })
}

/// The numbers after `marker` in the lines of `text`, in file order.
#[allow(dead_code)]
pub fn numbered(text: &str, marker: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.split(marker).nth(1))
        .map(|n| n.parse().expect("a number"))
        .collect()
}
