//! A private `rsyslogd` for the forwarding tests: RELP (imrelp) and
//! octet-counted syslog over TCP (imtcp) on 127.0.0.1, each input writing
//! the messages' `%msg%` to its own file.
//!
//! Needs the Debian packages `rsyslog` and `rsyslog-relp` (`.ci/run`
//! installs them); without them [`Rsyslogd::start`] fails with an error
//! that says so: the tests fail rather than skip.
//!
//! The config (written to `DIR/rsyslog.conf`):
//! - main queue `Direct`, so that an imrelp acknowledgement is sent only
//!   after omfile wrote the line: a `kill -9` loses nothing acknowledged;
//! - control characters left alone and messages up to 256 KiB, so that
//!   `%msg%` is the message as sent;
//! - each input bound to its own ruleset: rsyslogd's own messages go to
//!   the default ruleset, which writes nothing;
//! - files: `relp.out` and `tcp.out` (`%msg%` and LF per message),
//!   `relp.ids` and `tcp.ids` (`%procid% %msgid% %structured-data%`).

use std::fs;
use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the Debian package installs the daemon.
const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// How long [`Rsyslogd::start`] waits for both ports.
const READY_WAIT: Duration = Duration::from_secs(10);

/// A running private `rsyslogd`, killed when dropped.
#[derive(Debug)]
pub struct Rsyslogd {
    dir: PathBuf,
    child: Option<Child>,
    relp_port: u16,
    tcp_port: u16,
    starts: u32,
}

/// The path of `rsyslogd`, checked along with `imrelp.so`.
fn rsyslogd_binary() -> io::Result<PathBuf> {
    let bin = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("rsyslogd"))
        .chain([PathBuf::from(RSYSLOGD)])
        .find(|p| p.is_file());
    let imrelp = fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("rsyslog/imrelp.so"))
        .chain([PathBuf::from("/usr/lib/rsyslog/imrelp.so")])
        .any(|p| p.is_file());
    match bin {
        Some(bin) if imrelp => Ok(bin),
        _ => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "rsyslogd {} and imrelp.so {}: the forwarding tests need them; \
                 install them with `apt-get install rsyslog rsyslog-relp` (Debian/Ubuntu)",
                if bin.is_some() { "found" } else { "not found" },
                if imrelp {
                    "found"
                } else {
                    "not found under /usr/lib/*/rsyslog/"
                },
            ),
        )),
    }
}

/// Runs the workspace's `scripts/test-deps.sh` (once per process) if
/// rsyslogd or imrelp is missing: it installs them with apt-get when run as
/// root on a Debian-like system, so that `cargo test --workspace` works on
/// a fresh machine; elsewhere it fails, saying what to install.
fn install_once() -> io::Result<PathBuf> {
    static DONE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut tried = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(bin) = rsyslogd_binary() {
        return Ok(bin);
    }
    if !*tried {
        *tried = true;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-deps.sh");
        let _ = Command::new("bash").arg(&script).status();
    }
    rsyslogd_binary()
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Rsyslogd {
    /// Writes the config into `dir` (created if needed) and starts
    /// `rsyslogd -n -C` on it; returns once both inputs accept
    /// connections. imrelp cannot report the port it bound, so the port is
    /// one found free just before; if rsyslogd could not bind it, a few
    /// other ports are tried. The error, if it never comes up, holds
    /// rsyslogd's stderr.
    pub fn start(dir: &Path) -> io::Result<Self> {
        install_once()?;
        fs::create_dir_all(dir.join("work"))?;
        let mut last = None;
        for _ in 0..5 {
            let mut r = Self {
                dir: dir.to_owned(),
                child: None,
                relp_port: free_port()?,
                tcp_port: 0,
                starts: 0,
            };
            match r.spawn() {
                Ok(()) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("rsyslogd did not start")))
    }

    /// The RELP port (imrelp).
    pub fn relp_port(&self) -> u16 {
        self.relp_port
    }

    /// The syslog-over-TCP port (imtcp, octet counting).
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }

    /// The directory of the config and the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many times rsyslogd was started (1 + restarts).
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// `kill -9` and reap it. Nothing happens if it is not running.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills it if running, then starts it again on the same ports with
    /// the same files (appended to); returns once both ports accept
    /// connections (it retries for a while if the RELP port is not yet
    /// bindable again).
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill9();
        let mut last = None;
        for _ in 0..10 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last.unwrap_or_else(|| io::Error::other("rsyslogd did not restart")))
    }

    /// The bytes of `file` (relative to the directory), empty if it does
    /// not exist yet.
    pub fn read(&self, file: &str) -> Vec<u8> {
        fs::read(self.dir.join(file)).unwrap_or_default()
    }

    /// The lines of `file` (relative to the directory), without their LF;
    /// bytes that are not UTF-8 are replaced.
    pub fn lines(&self, file: &str) -> Vec<String> {
        let bytes = self.read(file);
        let mut v: Vec<String> = bytes
            .split(|&b| b == b'\n')
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        if v.last().is_some_and(String::is_empty) {
            v.pop();
        }
        v
    }

    /// Waits until `file` holds at least `n` lines or `timeout` passed;
    /// returns the lines.
    pub fn wait_lines(&self, file: &str, n: usize, timeout: Duration) -> Vec<String> {
        let end = Instant::now() + timeout;
        loop {
            let l = self.lines(file);
            if l.len() >= n || Instant::now() >= end {
                return l;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// rsyslogd's stderr and stdout, all runs.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.read("rsyslogd.stderr")).into_owned()
    }

    fn config(&self) -> String {
        config(&self.dir, self.relp_port, self.tcp_port)
    }

    /// Writes the config, starts rsyslogd and waits for both ports; on
    /// failure kills it and returns what went wrong with its stderr.
    fn spawn(&mut self) -> io::Result<()> {
        let conf = self.dir.join("rsyslog.conf");
        let pid = self.dir.join("rsyslogd.pid");
        let port_file = self.dir.join("tcp.port");
        fs::write(&conf, self.config())?;
        let _ = fs::remove_file(&pid);
        if self.tcp_port == 0 {
            let _ = fs::remove_file(&port_file);
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("rsyslogd.stderr"))?;
        let child = Command::new(rsyslogd_binary()?)
            .arg("-n")
            .arg("-C")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(&pid)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        self.starts += 1;
        let end = Instant::now() + READY_WAIT;
        let why = loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                break format!("rsyslogd exited ({status})");
            }
            if self.tcp_port == 0 {
                let mut s = String::new();
                if let Ok(mut f) = fs::File::open(&port_file) {
                    let _ = f.read_to_string(&mut s);
                }
                self.tcp_port = s.trim().parse().unwrap_or(0);
            }
            let up = |port: u16| {
                port != 0
                    && TcpStream::connect_timeout(
                        &([127, 0, 0, 1], port).into(),
                        Duration::from_millis(200),
                    )
                    .is_ok()
            };
            if up(self.tcp_port) && up(self.relp_port) {
                return Ok(());
            }
            if Instant::now() >= end {
                break format!(
                    "rsyslogd did not accept connections on 127.0.0.1:{} (RELP) and :{} (TCP) within {READY_WAIT:?}",
                    self.relp_port, self.tcp_port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.kill9();
        Err(io::Error::other(format!(
            "{why}; config {}; rsyslogd's output:\n{}",
            conf.display(),
            self.stderr()
        )))
    }
}

/// The config [`Rsyslogd`] writes for `dir` and the two ports (a TCP port
/// of 0 makes imtcp pick one and write it to `dir/tcp.port`).
/// `docs/forwarding.md` shows this text; `writer/tests/forwarding_docs.rs`
/// checks that the two agree.
pub fn config(dir: &Path, relp_port: u16, tcp_port: u16) -> String {
    let d = dir.display();
    let (relp, tcp) = (relp_port, tcp_port);
    format!(
        r#"global(
  workDirectory="{d}/work"
  maxMessageSize="256k"
  parser.escapeControlCharactersOnReceive="off"
  net.enableDNS="off"
)
main_queue(queue.type="Direct")
module(load="imrelp")
module(load="imtcp")
input(type="imrelp" address="127.0.0.1" port="{relp}" maxDataSize="256k" ruleset="relp")
input(type="imtcp" address="127.0.0.1" port="{tcp}" listenPortFileName="{d}/tcp.port" ruleset="tcp")
template(name="raw" type="string" string="%msg%\n")
template(name="ids" type="string" string="%procid% %msgid% %structured-data%\n")
ruleset(name="relp") {{
  action(type="omfile" file="{d}/relp.out" template="raw")
  action(type="omfile" file="{d}/relp.ids" template="ids")
}}
ruleset(name="tcp") {{
  action(type="omfile" file="{d}/tcp.out" template="raw")
  action(type="omfile" file="{d}/tcp.ids" template="ids")
}}
"#
    )
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        self.kill9();
    }
}
