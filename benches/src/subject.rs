//! What a latency run measures, and the measurement loop.
//!
//! A [`Subject`] is anything with up to four "messages" to time: a logger
//! (three log statements, and the floor's push beside them:
//! [`crate::floor::WithFloor`]), the floor alone, or the reference rings (a
//! 56-byte push into each). [`run`] starts
//! the threads, warms them up, and times bursts of [`BURST`] calls, each
//! burst followed by a busy pause of 2.0-2.2 ms. The bursts of one run are
//! dealt round-robin over the run's [`Case`]s (mode x message), so every
//! case sees the same conditions over the same stretch of time.

use std::sync::Barrier;

use serde::{Deserialize, Serialize};

use crate::hist::LatHist;
use crate::timing::{rdtscp, stamp, Pause};

/// Calls per burst (Quill's `MESSAGES_PER_ITERATION`).
pub const BURST: usize = 20;

/// How a burst is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Mode {
    /// Quill's method: `rdtscp` before and after 20 calls, divided by 20.
    Burst,
    /// Each call bracketed by `rdtscp; lfence`, timer cost subtracted.
    Single,
}

impl Mode {
    /// Label used in tables.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Burst => "burst/20 (Quill's method)",
            Mode::Single => "single call (rdtscp around each call, timer cost subtracted)",
        }
    }

    /// Short label.
    pub fn short(self) -> &'static str {
        match self {
            Mode::Burst => "burst/20",
            Mode::Single => "single call",
        }
    }
}

/// One thing timed in a run: a mode and a message index of the subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    /// How it is timed.
    pub mode: Mode,
    /// Index into [`Subject::messages`].
    pub message: usize,
}

/// Something whose calls a latency run times.
pub trait Subject: Sync {
    /// Per-thread state (argument counters, a ring's producer handle).
    type Thread<'a>
    where
        Self: 'a;

    /// Names of the messages, at most 4; index `M` is timed by `call::<M>`.
    fn messages(&self) -> &'static [&'static str];

    /// Creates the state of thread number `index`, on that thread.
    fn thread(&self, index: usize) -> Self::Thread<'_>;

    /// Makes one call of message `M`. Inlined into the timed loop.
    fn call<const M: usize>(&self, t: &mut Self::Thread<'_>);

    /// Runs before each burst, untimed (a floor ring resets itself here
    /// when it has no room left for a burst).
    #[inline(always)]
    fn before_burst(&self, _t: &mut Self::Thread<'_>) {}
}

/// How to run the bursts.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Producer threads.
    pub threads: usize,
    /// Bursts per thread for each case: a thread makes
    /// `bursts * cases.len()` bursts, dealt round-robin over `cases` so all
    /// cases see the same conditions.
    pub bursts: usize,
    /// What to time.
    pub cases: Vec<Case>,
    /// TSC ticks per ns.
    pub tpn: f64,
    /// Ticks subtracted from every single-call sample (the timer's own cost).
    pub overhead_ticks: u64,
    /// Untimed calls of each message per thread before the first burst.
    pub warmup: usize,
    /// Pin thread `k` to CPU `k + 1` (mod the CPUs online).
    pub pin: bool,
}

impl RunConfig {
    /// Calls of messages `0..messages` each thread makes in all, warm-up
    /// included (a logger's log calls, without the floor's pushes timed
    /// beside them).
    pub fn calls_per_thread(&self, messages: usize) -> u64 {
        let cases = self.cases.iter().filter(|c| c.message < messages).count();
        (self.warmup * messages + self.bursts * cases * BURST) as u64
    }
}

/// Times one burst; returns its starting TSC and its ticks.
#[inline(always)]
fn burst<S: Subject, const M: usize>(
    s: &S,
    t: &mut S::Thread<'_>,
    tpn: f64,
    h: &mut LatHist,
) -> (u64, u64) {
    let t0 = rdtscp();
    for _ in 0..BURST {
        s.call::<M>(t);
    }
    let t1 = rdtscp();
    h.record_ns(t1.wrapping_sub(t0) as f64 / tpn / BURST as f64);
    (t0, t1.wrapping_sub(t0))
}

#[inline(always)]
fn single<S: Subject, const M: usize>(
    s: &S,
    t: &mut S::Thread<'_>,
    tpn: f64,
    overhead: u64,
    h: &mut LatHist,
) -> (u64, u64) {
    let mut d = [0u64; BURST];
    for slot in d.iter_mut() {
        let a = stamp();
        s.call::<M>(t);
        let b = stamp();
        *slot = b.wrapping_sub(a);
    }
    // Recorded after the burst, so the histogram's memory is not touched
    // between calls.
    for v in d {
        h.record_ns(v.saturating_sub(overhead) as f64 / tpn);
    }
    // For `UL_BENCH_TRACE`: the slowest call's index and ticks, the sum.
    let (mut mi, mut mv) = (0, 0);
    for (i, &v) in d.iter().enumerate() {
        if v > mv {
            (mi, mv) = (i, v);
        }
    }
    let sum: u64 = d.iter().sum();
    (((mi as u64) << 32) | (sum & 0xffff_ffff), mv)
}

fn one_burst<S: Subject>(
    s: &S,
    t: &mut S::Thread<'_>,
    case: Case,
    cfg: &RunConfig,
    h: &mut LatHist,
) -> (u64, u64) {
    let (tpn, o) = (cfg.tpn, cfg.overhead_ticks);
    match (case.mode, case.message) {
        (Mode::Burst, 0) => burst::<S, 0>(s, t, tpn, h),
        (Mode::Burst, 1) => burst::<S, 1>(s, t, tpn, h),
        (Mode::Burst, 2) => burst::<S, 2>(s, t, tpn, h),
        (Mode::Burst, _) => burst::<S, 3>(s, t, tpn, h),
        (Mode::Single, 0) => single::<S, 0>(s, t, tpn, o, h),
        (Mode::Single, 1) => single::<S, 1>(s, t, tpn, o, h),
        (Mode::Single, 2) => single::<S, 2>(s, t, tpn, o, h),
        (Mode::Single, _) => single::<S, 3>(s, t, tpn, o, h),
    }
}

fn warm<S: Subject>(s: &S, t: &mut S::Thread<'_>, message: usize) {
    match message {
        0 => s.call::<0>(t),
        1 => s.call::<1>(t),
        2 => s.call::<2>(t),
        _ => s.call::<3>(t),
    }
}

/// Diagnostics (environment variables, read by every measuring thread;
/// a latency child inherits them from the parent). None changes what a
/// run times unless set.
///
/// - `UL_BENCH_TRACE=DIR`: write one line per burst to
///   `DIR/trace.<pid>.<thread>`: case index, then for burst/20 the
///   starting TSC and the burst's ticks, for single calls the index of the
///   slowest call (high 32 bits) and the sum of the 20 calls' ticks (low
///   32 bits), then the slowest call's ticks; then the three words of
///   [`PROBE`] read (untimed) just before the burst.
/// - `UL_BENCH_NOPROBE=1`: trace without calling [`PROBE`] (its reads
///   warm the lines it touches).
/// - `UL_BENCH_WARM=call`: one untimed call of the burst's message just
///   before each burst (so the timed calls find their lines and code
///   warm); any other value is handed to [`WARM`].
/// - `UL_BENCH_COLD=MIB`: before each burst, untimed, read and write a
///   buffer of that many MiB (every 64th byte), evicting the caches.
/// - `UL_BENCH_LANE=BYTES` (the latency child, ul): the lane size, e.g.
///   65536 to see a lane's wrap every 80 bursts instead of every 1,300.
pub struct Diag {
    trace: Option<std::path::PathBuf>,
    probe: Option<fn(usize) -> [u64; 3]>,
    warm: Option<String>,
    cold: Vec<u8>,
}

/// What `UL_BENCH_TRACE` records for each burst, set by the process that
/// knows the subject (the latency child, for ul: the writer's heartbeat,
/// the thread's lane head and tail).
pub static PROBE: std::sync::OnceLock<fn(usize) -> [u64; 3]> = std::sync::OnceLock::new();
/// What `UL_BENCH_WARM=<other>` calls before each burst.
pub static WARM: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

impl Diag {
    fn from_env() -> Self {
        let cold_mib: usize = std::env::var("UL_BENCH_COLD")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Diag {
            trace: std::env::var_os("UL_BENCH_TRACE").map(Into::into),
            probe: if std::env::var_os("UL_BENCH_NOPROBE").is_some() {
                None
            } else {
                PROBE.get().copied()
            },
            warm: std::env::var("UL_BENCH_WARM").ok(),
            cold: vec![1u8; cold_mib << 20],
        }
    }

    /// The untimed work before a burst of `case`.
    #[inline(never)]
    fn before<S: Subject>(&mut self, s: &S, t: &mut S::Thread<'_>, case: Case) {
        if !self.cold.is_empty() {
            let mut acc = 0u8;
            for i in (0..self.cold.len()).step_by(64) {
                acc = acc.wrapping_add(self.cold[i]);
                self.cold[i] = acc;
            }
            std::hint::black_box(acc);
        }
        match self.warm.as_deref() {
            Some("call") => warm(s, t, case.message),
            Some(w) => {
                if let Some(f) = WARM.get() {
                    f(w);
                }
            }
            None => {}
        }
    }

    fn write(&self, thread: usize, trace: &[[u64; 6]]) {
        let Some(dir) = &self.trace else { return };
        let mut out = String::new();
        for r in trace {
            out.push_str(&format!(
                "{} {} {} {} {} {}\n",
                r[0], r[1], r[2], r[3], r[4], r[5]
            ));
        }
        let path = dir.join(format!("trace.{}.{thread}", std::process::id()));
        if let Err(e) = std::fs::write(&path, out) {
            eprintln!("UL_BENCH_TRACE: {}: {e}", path.display());
        }
    }
}

/// Runs the bursts on `cfg.threads` threads; returns one histogram per
/// case (threads merged), in the order of `cfg.cases`.
pub fn run<S: Subject>(s: &S, cfg: &RunConfig) -> Vec<LatHist> {
    assert!(!cfg.cases.is_empty(), "no case to measure");
    assert!(s.messages().len() <= 4, "at most 4 messages");
    let barrier = Barrier::new(cfg.threads);
    let per_thread: Vec<Vec<LatHist>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cfg.threads)
            .map(|k| {
                let barrier = &barrier;
                scope.spawn(move || {
                    if cfg.pin {
                        crate::pin_to_cpu(k + 1);
                    }
                    let mut t = s.thread(k);
                    for m in 0..s.messages().len() {
                        for _ in 0..cfg.warmup {
                            s.before_burst(&mut t);
                            warm(s, &mut t, m);
                        }
                    }
                    // Let a backend drain the warm-up before timing starts.
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    let mut hists = vec![LatHist::new(); cfg.cases.len()];
                    let mut pause = Pause::new(cfg.tpn, k as u64 + 1);
                    let mut diag = Diag::from_env();
                    let mut trace: Vec<[u64; 6]> = Vec::new();
                    if diag.trace.is_some() {
                        trace.reserve(cfg.bursts * cfg.cases.len());
                    }
                    barrier.wait();
                    for b in 0..cfg.bursts * cfg.cases.len() {
                        let ci = b % cfg.cases.len();
                        s.before_burst(&mut t);
                        diag.before(s, &mut t, cfg.cases[ci]);
                        let p = match (diag.trace.is_some(), diag.probe) {
                            (true, Some(f)) => f(k),
                            _ => [0; 3],
                        };
                        let (t0, dt) = one_burst(s, &mut t, cfg.cases[ci], cfg, &mut hists[ci]);
                        if diag.trace.is_some() {
                            trace.push([ci as u64, t0, dt, p[0], p[1], p[2]]);
                        }
                        pause.spin();
                    }
                    diag.write(k, &trace);
                    hists
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("measurement thread panicked"))
            .collect()
    });
    let mut merged = vec![LatHist::new(); cfg.cases.len()];
    for hs in &per_thread {
        for (m, h) in merged.iter_mut().zip(hs) {
            m.merge(h);
        }
    }
    merged
}

/// 20 calls of message `M`, not inlined, so a profiler can count exactly
/// this (e.g. `valgrind --tool=callgrind --toggle-collect='*profile_burst*'`).
#[inline(never)]
pub fn profile_burst<S: Subject, const M: usize>(s: &S, t: &mut S::Thread<'_>) {
    for _ in 0..BURST {
        s.call::<M>(t);
    }
}

/// Makes `bursts` bursts of message `message` on this thread, untimed and
/// without pauses, through [`profile_burst`]: the workload for callgrind
/// and `perf`.
pub fn profile<S: Subject>(s: &S, message: usize, bursts: usize) {
    let mut t = s.thread(0);
    for _ in 0..bursts {
        s.before_burst(&mut t);
        match message {
            0 => profile_burst::<S, 0>(s, &mut t),
            1 => profile_burst::<S, 1>(s, &mut t),
            2 => profile_burst::<S, 2>(s, &mut t),
            _ => profile_burst::<S, 3>(s, &mut t),
        }
    }
}
