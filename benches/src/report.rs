//! Results passed from a child process to the parent (one JSON line on
//! stdout, after a marker), and the markdown tables made of them.

use std::fmt::Write as _;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::subject::Mode;
use crate::Summary;

/// Marks the child's result line on stdout (loggers may print too).
pub const RESULT_PREFIX: &str = "UL-BENCH-RESULT ";

/// Prints `v` as the child's result line.
pub fn emit<T: Serialize>(v: &T) {
    let json = serde_json::to_string(v).expect("results serialise");
    println!("{RESULT_PREFIX}{json}");
}

/// Finds and parses the result line in a child's stdout.
pub fn parse<T: DeserializeOwned>(stdout: &str) -> Result<T, String> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .ok_or("the child printed no result line")?;
    serde_json::from_str(line).map_err(|e| format!("bad result line: {e}"))
}

/// One measured case: a logger, a thread count, a mode, a message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatencyRow {
    /// Logger (or floor) name.
    pub logger: String,
    /// Producer threads.
    pub threads: usize,
    /// How it was timed.
    pub mode: Mode,
    /// Which message.
    pub message: String,
    /// Samples (bursts for burst/20, calls for single-call).
    pub samples: u64,
    /// Percentiles in ns.
    pub ns: Summary,
}

/// What one latency child reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatencyChild {
    /// Logger (or floor) name.
    pub logger: String,
    /// Producer threads.
    pub threads: usize,
    /// The measured cases.
    pub rows: Vec<LatencyRow>,
    /// TSC ticks per ns.
    pub ticks_per_ns: f64,
    /// Smallest step between two back-to-back TSC reads, ns.
    pub tsc_step_ns: f64,
    /// Cost of a stamp pair with nothing between, ns.
    pub timer_ns: Summary,
    /// Smallest stamp-pair cost seen, ns.
    pub timer_min_ns: f64,
    /// What was subtracted from each single-call sample (the median), ns.
    pub timer_subtracted_ns: f64,
    /// Log lines the run should have produced (warm-up included).
    pub lines_expected: u64,
    /// Log lines found in the output file after the flush.
    pub lines_found: u64,
    /// Anything odd.
    pub notes: Vec<String>,
    /// Wall time of the child's measurement, s.
    pub elapsed_s: f64,
    /// The logger's rows against the floor timed in the same process
    /// (empty when no floor ran beside it).
    #[serde(default)]
    pub floor_ratios: Vec<FloorRatio>,
}

/// A logger's percentiles divided by the floor's, both timed in one
/// process, in one run, by the same method.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FloorRatio {
    /// The logger.
    pub logger: String,
    /// The floor row it is divided by.
    pub floor: String,
    /// Producer threads (each with its own floor ring).
    pub threads: usize,
    /// How both were timed.
    pub mode: Mode,
    /// The logger's message.
    pub message: String,
    /// Logger p50 / floor p50.
    pub p50: f64,
    /// Logger p99 / floor p99.
    pub p99: f64,
    /// Logger p99.9 / floor p99.9.
    pub p999: f64,
}

impl FloorRatio {
    /// `logger` divided by `floor` (rows of one run).
    pub fn of(logger: &LatencyRow, floor: &LatencyRow) -> Self {
        Self {
            logger: logger.logger.clone(),
            floor: floor.logger.clone(),
            threads: logger.threads,
            mode: logger.mode,
            message: logger.message.clone(),
            p50: logger.ns.p50 / floor.ns.p50,
            p99: logger.ns.p99 / floor.ns.p99,
            p999: logger.ns.p999 / floor.ns.p999,
        }
    }
}

/// One throughput run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThroughputRow {
    /// Logger name.
    pub logger: String,
    /// Output format (`text`, `json`, `both`).
    pub format: String,
    /// Producer threads.
    pub threads: usize,
    /// Records logged in all.
    pub records: u64,
    /// Seconds from the first call until the last record was on disk.
    pub seconds: f64,
    /// Seconds from the first call until the last producer returned.
    pub producer_seconds: f64,
    /// CPU seconds of the backend during the run: ul's writer process
    /// (`/proc/<pid>/stat`), or for the peers the process's CPU time minus
    /// the producer threads' and the main thread's.
    pub backend_cpu_s: f64,
    /// CPU seconds of the producer threads together, from their first
    /// call to their last return (their logging and their waits for room).
    #[serde(default)]
    pub producers_cpu_s: f64,
    /// Peak RSS of the backend in KiB: ul's writer (`VmHWM`); for the
    /// peers the whole process (their backend is a thread in it).
    pub peak_rss_kib: u64,
    /// ul only: the writer's anonymous (heap) RSS at the end, KiB.
    pub writer_anon_kib: Option<u64>,
    /// ul only: the writer's shared-memory RSS at the end (the region), KiB.
    pub writer_shmem_kib: Option<u64>,
    /// ul only: what the scheduler did with the writer during the run.
    #[serde(default)]
    pub writer_sched: Option<crate::writer_proc::ProcSched>,
    /// Lines expected in the main output file.
    pub lines_expected: u64,
    /// Lines found there.
    pub lines_found: u64,
    /// Anything odd.
    pub notes: Vec<String>,
}

impl ThroughputRow {
    /// Records per second, first call to on disk.
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.seconds
    }
}

/// The median of `v` (the mean of the middle two for an even count); 0
/// for none.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Medians over repeated runs of each (logger, format, threads), and each
/// thread count against the fewest threads of the same logger and format:
/// throughput and the backend's CPU time per record.
pub fn scaling_table(rows: &[ThroughputRow]) -> String {
    let mut keys: Vec<(String, String, usize)> = Vec::new();
    for r in rows {
        let k = (r.logger.clone(), r.format.clone(), r.threads);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    struct Med {
        runs: usize,
        rate: f64,
        cpu_ns: f64,
        producers_ns: f64,
        rss_mib: f64,
        wait_s: Option<f64>,
        switches: Option<f64>,
    }
    let med = |k: &(String, String, usize)| -> Med {
        let of: Vec<&ThroughputRow> = rows
            .iter()
            .filter(|r| r.logger == k.0 && r.format == k.1 && r.threads == k.2)
            .collect();
        let m = |f: &dyn Fn(&ThroughputRow) -> f64| {
            median(&mut of.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        let sched: Vec<_> = of.iter().filter_map(|r| r.writer_sched).collect();
        Med {
            runs: of.len(),
            rate: m(&|r| r.rate()),
            cpu_ns: m(&|r| r.backend_cpu_s * 1e9 / r.records as f64),
            producers_ns: m(&|r| r.producers_cpu_s * 1e9 / r.records as f64),
            rss_mib: m(&|r| r.peak_rss_kib as f64 / 1024.0),
            wait_s: (!sched.is_empty())
                .then(|| median(&mut sched.iter().map(|s| s.wait_s).collect::<Vec<_>>())),
            switches: (!sched.is_empty()).then(|| {
                median(
                    &mut sched
                        .iter()
                        .map(|s| (s.voluntary + s.involuntary) as f64)
                        .collect::<Vec<_>>(),
                )
            }),
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| logger | format | threads | runs | records/s (median) | x fewest threads | backend CPU ns/record (median) | x fewest threads | producers' CPU ns/record (median) | backend peak RSS MiB (median) | writer run-queue wait s | writer context switches |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for k in &keys {
        let m = med(k);
        let base = keys
            .iter()
            .filter(|b| b.0 == k.0 && b.1 == k.1)
            .min_by_key(|b| b.2)
            .map(&med)
            .expect("the key itself");
        let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.0} | {:.1} | {} | {} |",
            k.0,
            k.1,
            k.2,
            m.runs,
            fmt_rate(m.rate),
            m.rate / base.rate,
            m.cpu_ns,
            m.cpu_ns / base.cpu_ns,
            m.producers_ns,
            m.rss_mib,
            opt(m.wait_s, 3),
            opt(m.switches, 0),
        );
    }
    out
}

/// A number as a table shows it: one decimal below 100, none above.
pub fn fmt_ns(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// Formats a rate like `12.3M/s`.
pub fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M/s", v / 1e6)
    } else {
        format!("{:.0}k/s", v / 1e3)
    }
}

/// Latency tables: one per mode and message, rows in the order given.
pub fn latency_tables(rows: &[LatencyRow]) -> String {
    let mut out = String::new();
    let mut keys: Vec<(Mode, String)> = Vec::new();
    for r in rows {
        let k = (r.mode, r.message.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (mode, message) in keys {
        let _ = writeln!(out, "\n#### {}: `{}` (ns)\n", mode.label(), message);
        let _ = write!(out, "| logger | threads |");
        for n in Summary::NAMES {
            let _ = write!(out, " {n} |");
        }
        let _ = writeln!(out, " samples |");
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for r in rows
            .iter()
            .filter(|r| r.mode == mode && r.message == message)
        {
            let _ = write!(out, "| {} | {} |", r.logger, r.threads);
            for v in r.ns.values() {
                let _ = write!(out, " {} |", fmt_ns(v));
            }
            let _ = writeln!(out, " {} |", r.samples);
        }
    }
    out
}

/// The throughput table.
pub fn throughput_table(rows: &[ThroughputRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| logger | format | threads | records | first call to on disk (s) | records/s | producers done (s) | backend CPU (s) | backend peak RSS (MiB) | lines on disk |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let lines = if r.lines_found == r.lines_expected {
            format!("{} ok", r.lines_found)
        } else {
            format!("{} of {}", r.lines_found, r.lines_expected)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.3} | {} | {:.3} | {:.2} | {:.1} | {} |",
            r.logger,
            r.format,
            r.threads,
            r.records,
            r.seconds,
            fmt_rate(r.rate()),
            r.producer_seconds,
            r.backend_cpu_s,
            r.peak_rss_kib as f64 / 1024.0,
            lines
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_round_trips() {
        let row = LatencyRow {
            logger: "ul".into(),
            threads: 1,
            mode: Mode::Burst,
            message: "m".into(),
            samples: 3,
            ns: Summary {
                p50: 1.0,
                p75: 2.0,
                p90: 3.0,
                p99: 4.0,
                p999: 5.0,
                p9999: 6.0,
                max: 7.0,
            },
        };
        let json = serde_json::to_string(&row).unwrap();
        let stdout = format!("noise\n{RESULT_PREFIX}{json}\nmore noise\n");
        let back: LatencyRow = parse(&stdout).unwrap();
        assert_eq!(back.ns, row.ns);
        let t = latency_tables(&[row]);
        assert!(t.contains("| ul | 1 | 1.0 | 2.0 | 3.0 | 4.0 | 5.0 | 6.0 | 7.0 | 3 |"));
    }

    #[test]
    fn floor_ratio_divides_the_logger_by_the_floor() {
        let row = |logger: &str, k: f64| LatencyRow {
            logger: logger.into(),
            threads: 2,
            mode: Mode::Burst,
            message: "m".into(),
            samples: 1,
            ns: Summary {
                p50: 10.0 * k,
                p75: 0.0,
                p90: 0.0,
                p99: 50.0 * k,
                p999: 100.0 * k,
                p9999: 0.0,
                max: 0.0,
            },
        };
        let r = FloorRatio::of(&row("ul", 1.5), &row("floor", 1.0));
        assert_eq!((r.p50, r.p99, r.p999), (1.5, 1.5, 1.5));
        assert_eq!(
            (r.logger.as_str(), r.floor.as_str(), r.threads),
            ("ul", "floor", 2)
        );
        // Results from before the field existed still parse.
        let child = r#"{"logger":"ul","threads":1,"rows":[],"ticks_per_ns":2.45,
            "tsc_step_ns":9.8,"timer_ns":{"p50":1,"p75":1,"p90":1,"p99":1,"p999":1,
            "p9999":1,"max":1},"timer_min_ns":1,"timer_subtracted_ns":1,
            "lines_expected":0,"lines_found":0,"notes":[],"elapsed_s":1}"#;
        let c: LatencyChild = serde_json::from_str(child).unwrap();
        assert!(c.floor_ratios.is_empty());
    }
}
