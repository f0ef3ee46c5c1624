//! A session manager built on the daemon template: it counts logins and
//! logouts per user from a channel of fixed-size events.
//!
//! ```text
//! session_daemon serve CHANNEL OUT [--lanes N] [--journal FILE] [--die-after N]
//!                      [--memory-limit SIZE] [--cpu-limit PCT] [--nice N] [--cpu-affinity LIST]
//! session_daemon send CHANNEL SENDER THREADS COUNT [--hold]
//! ```
//!
//! `serve` runs the daemon until SIGTERM/SIGINT, then drains the channel and
//! writes its counts to OUT:
//!
//! ```text
//! messages 60000
//! distinct 60000
//! duplicates 0
//! exited 4242
//! user 3 logins 4000 logouts 2000
//! ```
//!
//! `--journal` appends `sender seq` for every message processed (one write
//! per batch); `--die-after N` kills the daemon (SIGKILL) inside
//! `process_batch` once it has seen N messages, before the batch is consumed (to show that
//! the batch is delivered again to the next daemon).
//!
//! The limit flags are `ul-writer`'s (`ul_ring::limits`): bad values stop
//! the daemon before it serves, limits that cannot be applied are reported
//! on stderr and the daemon runs on.
//!
//! `send` starts THREADS threads, sender ids SENDER, SENDER+1, ..., each
//! sending COUNT events (`seq` 0..COUNT) with its own sender; `--hold` then
//! keeps the senders alive until the process is killed.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use ul_ring::channel::{Channel, ChannelOptions};
use ul_ring::daemon::{run_daemon, Daemon, DaemonOptions};
use ul_ring::limits::Limits;

/// One event, as it travels through shared memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SessionEvent {
    /// The user.
    pub user: u32,
    /// [`LOGIN`] or [`LOGOUT`].
    pub kind: u32,
    /// Which sender sent it.
    pub sender: u32,
    /// The sender's sequence number.
    pub seq: u32,
}

/// `SessionEvent::kind` of a login.
pub const LOGIN: u32 = 1;
/// `SessionEvent::kind` of a logout.
pub const LOGOUT: u32 = 2;
/// Schema tag of `SessionEvent`, checked by the channel on open.
pub const SCHEMA: u64 = 0x5345_5353_0001;

/// The event sender `sender` sends as its `seq`th (the test recomputes it).
pub fn event(sender: u32, seq: u32) -> SessionEvent {
    SessionEvent {
        user: (sender.wrapping_mul(7).wrapping_add(seq)) % 10,
        kind: if seq % 3 == 2 { LOGOUT } else { LOGIN },
        sender,
        seq,
    }
}

#[derive(Default)]
struct Sessions {
    per_user: BTreeMap<u32, (u64, u64)>,
    seen: HashMap<(u32, u32), u32>,
    messages: u64,
    duplicates: u64,
    exited: Vec<u32>,
    journal: Option<std::fs::File>,
    die_after: Option<u64>,
    line: String,
}

impl Daemon for Sessions {
    type Message = SessionEvent;

    fn process_batch(&mut self, batch: &[SessionEvent]) {
        self.line.clear();
        for e in batch {
            let counts = self.per_user.entry(e.user).or_default();
            match e.kind {
                LOGIN => counts.0 += 1,
                LOGOUT => counts.1 += 1,
                other => eprintln!("session_daemon: unknown event kind {other}"),
            }
            let n = self.seen.entry((e.sender, e.seq)).or_default();
            *n += 1;
            if *n > 1 {
                self.duplicates += 1;
            }
            if self.journal.is_some() {
                self.line.push_str(&format!("{} {}\n", e.sender, e.seq));
            }
        }
        self.messages += batch.len() as u64;
        if let Some(j) = &mut self.journal {
            j.write_all(self.line.as_bytes())
                .expect("write the journal");
        }
        if self.die_after.is_some_and(|n| self.messages >= n) {
            // Die before this batch is consumed, as `kill -9` would.
            // SAFETY: kill(2) on our own pid touches no memory.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }

    fn on_sender_exit(&mut self, pid: u32) {
        self.exited.push(pid);
    }
}

impl Sessions {
    fn report(&self) -> String {
        let mut s = format!(
            "messages {}\ndistinct {}\nduplicates {}\n",
            self.messages,
            self.seen.len(),
            self.duplicates
        );
        for pid in &self.exited {
            s.push_str(&format!("exited {pid}\n"));
        }
        for (user, (logins, logouts)) in &self.per_user {
            s.push_str(&format!("user {user} logins {logins} logouts {logouts}\n"));
        }
        s
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: session_daemon serve CHANNEL OUT [--lanes N] [--journal FILE] [--die-after N] [--memory-limit SIZE] [--cpu-limit PCT] [--nice N] [--cpu-affinity LIST]"
    );
    eprintln!("       session_daemon send CHANNEL SENDER THREADS COUNT [--hold]");
    std::process::exit(2)
}

fn num<T: std::str::FromStr>(s: Option<&String>, what: &str) -> T {
    s.and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        eprintln!("session_daemon: {what} must be a number");
        usage()
    })
}

fn serve(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let (Some(channel), Some(out)) = (args.first(), args.get(1)) else {
        usage()
    };
    let mut opts = DaemonOptions {
        handle_signals: true,
        channel: ChannelOptions {
            schema: SCHEMA,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut sessions = Sessions::default();
    let mut rest = args[2..].iter();
    let mut limits: [Option<String>; 3] = [None, None, None];
    let mut nice = None;
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--lanes" => opts.channel.lanes = num(rest.next(), "--lanes"),
            "--memory-limit" => limits[0] = Some(rest.next().unwrap_or_else(|| usage()).clone()),
            "--cpu-limit" => limits[1] = Some(rest.next().unwrap_or_else(|| usage()).clone()),
            "--nice" => nice = Some(num::<i32>(rest.next(), "--nice")),
            "--cpu-affinity" => limits[2] = Some(rest.next().unwrap_or_else(|| usage()).clone()),
            "--die-after" => sessions.die_after = Some(num(rest.next(), "--die-after")),
            "--journal" => {
                let path = rest.next().unwrap_or_else(|| usage());
                sessions.journal = Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                );
            }
            _ => usage(),
        }
    }
    opts.limits = Limits::parse(
        limits[0].as_deref(),
        limits[1].as_deref(),
        nice,
        limits[2].as_deref(),
    )?;
    let totals = run_daemon(channel, &mut sessions, &opts)?;
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, sessions.report())?;
    std::fs::rename(&tmp, out)?;
    eprintln!(
        "session_daemon: {} messages in {} batches, slept {} times",
        totals.messages, totals.batches, totals.sleeps
    );
    Ok(())
}

fn send(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = args.first() else { usage() };
    let first: u32 = num(args.get(1), "SENDER");
    let threads: u32 = num(args.get(2), "THREADS");
    let count: u32 = num(args.get(3), "COUNT");
    let hold = args.get(4).is_some_and(|a| a == "--hold");
    let opts = ChannelOptions {
        schema: SCHEMA,
        create: false,
        ..Default::default()
    };
    let channel = Channel::<SessionEvent>::open_or_create(path, &opts)?;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let channel = channel.clone();
            let done = done_tx.clone();
            std::thread::spawn(move || {
                let mut tx = channel.sender();
                for seq in 0..count {
                    tx.send_timeout(&event(first + t, seq), Duration::from_secs(20))?;
                }
                done.send(()).ok();
                if hold {
                    // Keep the sender (and its lane) until we are killed.
                    loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                }
                Ok::<(), ul_ring::channel::Full>(())
            })
        })
        .collect();
    drop(done_tx);
    if hold {
        for _ in 0..threads {
            done_rx.recv()?;
        }
        println!("sent");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    for w in workers {
        w.join().map_err(|_| "a sender thread panicked")??;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("send") => send(&args[1..]),
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("session_daemon: {e}");
        std::process::exit(1);
    }
}
