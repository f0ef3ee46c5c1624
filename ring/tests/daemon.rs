//! The daemon template end to end: the `session_daemon` example runs as a
//! real process on a real channel in /dev/shm, fed by threads of this test
//! and by sender processes; its results are read from the file it writes on
//! SIGTERM.

#![cfg(not(loom))]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ul_ring::channel::{Channel, ChannelOptions};
use ul_ring::daemon::{run_daemon, Daemon, DaemonError, DaemonOptions};
use ul_ring::ownership::LaneOwner;

/// The example's message, byte for byte (it is a separate crate).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
struct SessionEvent {
    user: u32,
    kind: u32,
    sender: u32,
    seq: u32,
}
const LOGIN: u32 = 1;
const SCHEMA: u64 = 0x5345_5353_0001;

/// The event the example's `send` mode sends (same formula).
fn event(sender: u32, seq: u32) -> SessionEvent {
    SessionEvent {
        user: (sender.wrapping_mul(7).wrapping_add(seq)) % 10,
        kind: if seq % 3 == 2 { 2 } else { LOGIN },
        sender,
        seq,
    }
}

/// The example, built once per test run with the same profile and target
/// directory as this test. With `UL_EXAMPLES_PREBUILT` set (by
/// `scripts/asan.sh`, which builds it with the sanitizer's `--target`), the
/// binary already next to this test is used as it is.
fn example() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test exe");
        // <target>/<profile>/deps/daemon-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).expect("profile dir");
        if std::env::var_os("UL_EXAMPLES_PREBUILT").is_some() {
            let bin = profile_dir.join("examples").join("session_daemon");
            assert!(
                bin.exists(),
                "UL_EXAMPLES_PREBUILT is set but {} is missing",
                bin.display()
            );
            return bin;
        }
        let target = profile_dir.parent().expect("target dir");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "ul-ring",
            "--example",
            "session_daemon",
        ])
        .arg("--target-dir")
        .arg(target);
        if release {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .expect("run cargo build --example session_daemon");
        assert!(
            status.success(),
            "building the session_daemon example failed"
        );
        let bin = profile_dir.join("examples").join("session_daemon");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

static N: AtomicU32 = AtomicU32::new(0);

/// A channel path and an output file, removed on drop.
struct Scratch {
    channel: PathBuf,
    out: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let id = format!(
            "ul-test-daemon-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let s = Self {
            channel: PathBuf::from("/dev/shm").join(&id),
            out: std::env::temp_dir().join(format!("{id}.out")),
        };
        let _ = std::fs::remove_file(&s.channel);
        let _ = std::fs::remove_file(&s.out);
        s
    }

    fn path(&self, ext: &str) -> PathBuf {
        self.out.with_extension(ext)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.channel);
        let _ = std::fs::remove_file(&self.out);
        let _ = std::fs::remove_file(self.path("journal"));
    }
}

/// A running example process, killed on drop if still running.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid touches no memory.
        unsafe { libc::kill(self.0.id() as libc::pid_t, sig) };
    }

    /// Waits (bounded) for the process to exit.
    fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.0.try_wait().expect("try_wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "pid {} still running after {within:?}",
                self.0.id()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then waits for a clean exit.
    fn terminate(&mut self) {
        self.signal(libc::SIGTERM);
        let st = self.wait(Duration::from_secs(30));
        assert!(st.success(), "daemon exited with {st}");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(s: &Scratch, extra: &[&str]) -> Proc {
    let child = Command::new(example())
        .arg("serve")
        .arg(&s.channel)
        .arg(&s.out)
        .args(extra)
        .spawn()
        .expect("start session_daemon");
    Proc(child)
}

fn open(s: &Scratch) -> Channel<SessionEvent> {
    let opts = ChannelOptions {
        schema: SCHEMA,
        create: false,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Channel::<SessionEvent>::open_or_create(&s.channel, &opts) {
            Ok(c) => return c,
            Err(e) if Instant::now() >= deadline => panic!("channel never appeared: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Waits until the daemon `pid` serves the channel.
fn wait_served(ch: &Channel<SessionEvent>, pid: u32) {
    wait_for(Duration::from_secs(20), "the daemon to register", || {
        ch.daemon_pid() == Some(pid)
    });
}

fn wait_for(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The daemon's report: `key value` lines, and per-user counts.
struct Report {
    fields: HashMap<String, u64>,
    exited: Vec<u32>,
    users: BTreeMap<u32, (u64, u64)>,
}

fn report(s: &Scratch) -> Report {
    let text = std::fs::read_to_string(&s.out).expect("daemon report");
    let mut r = Report {
        fields: HashMap::new(),
        exited: Vec::new(),
        users: BTreeMap::new(),
    };
    for line in text.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["user", u, "logins", l, "logouts", o] => {
                r.users
                    .insert(u.parse().unwrap(), (l.parse().unwrap(), o.parse().unwrap()));
            }
            ["exited", pid] => r.exited.push(pid.parse().unwrap()),
            [k, v] => {
                r.fields.insert(k.to_string(), v.parse().unwrap());
            }
            _ => panic!("unexpected report line {line:?}"),
        }
    }
    r
}

/// Per-user (logins, logouts) that senders `ids`, `count` events each, make.
fn expected_users(ids: impl Iterator<Item = u32>, count: u32) -> BTreeMap<u32, (u64, u64)> {
    let mut m: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for id in ids {
        for seq in 0..count {
            let e = event(id, seq);
            let c = m.entry(e.user).or_default();
            if e.kind == LOGIN {
                c.0 += 1
            } else {
                c.1 += 1
            }
        }
    }
    m
}

/// CPU time of `pid` in ns: precise from schedstat where the kernel has it,
/// else from the tick counts in stat.
fn cpu_ns(pid: u32) -> u64 {
    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/schedstat")) {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok()) {
            return ns;
        }
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    // utime and stime are fields 14 and 15 (11 and 12 after the state).
    (f[11] + f[12]) * 1_000_000_000 / hz
}

#[test]
fn every_message_from_threads_and_processes_is_processed_exactly_once() {
    let s = Scratch::new("exact");
    // 8 lanes for 14 senders: 6 of them go through the shared lane.
    let mut daemon = start_daemon(&s, &["--lanes", "8"]);
    let ch = open(&s);
    wait_served(&ch, daemon.pid());

    // A second daemon on the same channel is refused, naming the first.
    struct Never;
    impl Daemon for Never {
        type Message = SessionEvent;
        fn process_batch(&mut self, _: &[SessionEvent]) {
            unreachable!("a refused daemon processes nothing")
        }
    }
    let mut opts = DaemonOptions::default();
    opts.channel.schema = SCHEMA;
    match run_daemon(&s.channel, &mut Never, &opts) {
        Err(DaemonError::AlreadyRunning { pid, .. }) => assert_eq!(pid, daemon.pid()),
        other => panic!("second daemon: {other:?}"),
    }

    const COUNT: u32 = 5000;
    // Three sender processes of four threads each: ids 0..12.
    let senders: Vec<Proc> = (0..3)
        .map(|p| {
            Proc(
                Command::new(example())
                    .arg("send")
                    .arg(&s.channel)
                    .args([(p * 4).to_string(), "4".into(), COUNT.to_string()])
                    .spawn()
                    .expect("start sender"),
            )
        })
        .collect();
    // And two threads of this process: ids 12, 13.
    std::thread::scope(|sc| {
        for id in 12..14 {
            let ch = &ch;
            sc.spawn(move || {
                let mut tx = ch.sender();
                for seq in 0..COUNT {
                    tx.send_timeout(&event(id, seq), Duration::from_secs(20))
                        .expect("send");
                }
            });
        }
    });
    for mut p in senders {
        let st = p.wait(Duration::from_secs(60));
        assert!(st.success(), "sender exited with {st}");
    }
    daemon.terminate();

    let r = report(&s);
    let total = 14 * u64::from(COUNT);
    assert_eq!(r.fields["messages"], total, "every message processed");
    assert_eq!(r.fields["distinct"], total, "no message missing");
    assert_eq!(r.fields["duplicates"], 0, "no message twice");
    assert_eq!(r.users, expected_users(0..14, COUNT));
    assert_eq!(ch.region().header().stats.records_written.get(), total);
    assert_eq!(ch.daemon_pid(), None, "the daemon unregistered on exit");
}

#[test]
fn idle_daemon_uses_near_zero_cpu() {
    let s = Scratch::new("idle");
    let mut daemon = start_daemon(&s, &[]);
    let ch = open(&s);
    wait_served(&ch, daemon.pid());
    // One message, so it has been through a wakeup, then idle.
    ch.sender()
        .send_timeout(&event(1, 0), Duration::from_secs(10))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ns(daemon.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ns(daemon.pid()) - before;
    assert!(
        used < 10_000_000,
        "an idle daemon used {} ms of CPU in 2 s",
        used / 1_000_000
    );
    daemon.terminate();
    assert_eq!(report(&s).fields["messages"], 1);
}

#[test]
fn lanes_of_a_killed_sender_are_drained_reported_and_freed() {
    let s = Scratch::new("killed");
    let mut daemon = start_daemon(&s, &[]);
    let ch = open(&s);
    wait_served(&ch, daemon.pid());
    let mut sender = Proc(
        Command::new(example())
            .arg("send")
            .arg(&s.channel)
            .args(["100", "3", "1000", "--hold"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start sender"),
    );
    let mut line = String::new();
    BufReader::new(sender.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "sent");
    let pid = sender.pid();
    let held = |ch: &Channel<SessionEvent>| {
        (0..ch.region().geometry().sizes.lanes as usize)
            .filter(|&i| {
                matches!(
                    ch.region().lane_slot(i).owner().load(),
                    LaneOwner::Owned { pid: p, .. } if p == pid
                )
            })
            .count()
    };
    assert_eq!(held(&ch), 3, "each sender thread holds a lane");
    sender.signal(libc::SIGKILL);
    sender.wait(Duration::from_secs(10));
    wait_for(
        Duration::from_secs(10),
        "the dead sender's lanes to be freed",
        || held(&ch) == 0,
    );
    daemon.terminate();
    let r = report(&s);
    assert_eq!(
        r.fields["messages"], 3000,
        "everything it sent is delivered"
    );
    assert_eq!(r.exited, vec![pid], "its exit is reported once");
    assert_eq!(ch.region().header().stats.lanes_reclaimed.get(), 3);
}

#[test]
fn a_daemon_killed_mid_batch_loses_nothing_and_redelivers_that_batch() {
    let s = Scratch::new("crash");
    let journal = s.path("journal");
    const SENDERS: u32 = 3;
    const COUNT: u32 = 2000;
    // Fill the channel before any daemon runs.
    let ch = Channel::<SessionEvent>::open_or_create(
        &s.channel,
        &ChannelOptions {
            schema: SCHEMA,
            ..Default::default()
        },
    )
    .expect("create the channel");
    for id in 0..SENDERS {
        let mut tx = ch.sender();
        for seq in 0..COUNT {
            tx.try_send(&event(id, seq))
                .expect("room for every message");
        }
    }
    // The first daemon journals its first batch, then is killed (SIGKILL,
    // by itself) before the batch is consumed.
    let j = journal.to_str().unwrap();
    let mut first = start_daemon(&s, &["--journal", j, "--die-after", "1"]);
    let st = first.wait(Duration::from_secs(30));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(libc::SIGKILL),
        "the first daemon was to die by SIGKILL"
    );
    let first_batch = std::fs::read_to_string(&journal).unwrap().lines().count();
    assert!(first_batch > 0, "the first daemon processed a batch");
    // A second daemon takes over and gets everything, that batch again.
    let mut second = start_daemon(&s, &["--journal", j]);
    wait_for(Duration::from_secs(30), "the channel to drain", || {
        let g = ch.region().geometry().sizes.lanes as usize;
        (0..g).all(|i| {
            let c = ch.region().lane_control(i);
            c.head() == c.tail()
        })
    });
    second.terminate();
    assert_eq!(
        report(&s).fields["duplicates"],
        0,
        "within one daemon: once"
    );

    let text = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for l in &lines {
        *seen.entry(l).or_default() += 1;
    }
    for id in 0..SENDERS {
        for seq in 0..COUNT {
            assert!(
                seen.contains_key(format!("{id} {seq}").as_str()),
                "{id} {seq} lost"
            );
        }
    }
    assert_eq!(seen.len(), (SENDERS * COUNT) as usize, "only sent messages");
    // Exactly the killed batch came twice.
    let twice: Vec<&str> = lines[..first_batch].to_vec();
    for l in &twice {
        assert_eq!(seen[l], 2, "{l} of the killed batch is redelivered once");
    }
    assert_eq!(lines.len(), (SENDERS * COUNT) as usize + first_batch);
}

#[test]
fn limits_are_applied_or_reported_and_bad_ones_refused() {
    // A bad value stops the daemon before it serves, naming the flag.
    let s = Scratch::new("badlimit");
    let out = Command::new(example())
        .arg("serve")
        .arg(&s.channel)
        .arg(&s.out)
        .args(["--memory-limit", "64Q"])
        .output()
        .expect("run session_daemon");
    assert!(!out.status.success(), "a bad limit must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--memory-limit"), "stderr: {err}");
    assert!(
        !s.channel.exists(),
        "refused before the channel was created"
    );

    // Good limits: each one reported (applied, or not and why), and every
    // message is still processed under a CPU share the daemon keeps itself.
    let s = Scratch::new("limits");
    let mut child = Command::new(example())
        .arg("serve")
        .arg(&s.channel)
        .arg(&s.out)
        .args(["--cpu-limit", "30%", "--nice", "5", "--cpu-affinity", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start session_daemon");
    let stderr = child.stderr.take().expect("stderr");
    let mut daemon = Proc(child);
    let ch = open(&s);
    wait_served(&ch, daemon.pid());
    const COUNT: u32 = 20_000;
    std::thread::scope(|sc| {
        for id in 0..2 {
            let ch = &ch;
            sc.spawn(move || {
                let mut tx = ch.sender();
                for seq in 0..COUNT {
                    tx.send_timeout(&event(id, seq), Duration::from_secs(30))
                        .expect("send");
                }
            });
        }
    });
    daemon.terminate();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut { stderr }, &mut err).expect("read stderr");
    for what in ["cpu limit", "nice limit", "affinity limit"] {
        assert!(
            err.lines()
                .any(|l| l.contains(what) && (l.contains("applied") || l.contains("NOT applied"))),
            "no report for the {what}:\n{err}"
        );
    }
    let r = report(&s);
    assert_eq!(r.fields["messages"], 2 * u64::from(COUNT));
    assert_eq!(r.fields["duplicates"], 0);
}
