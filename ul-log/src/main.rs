//! `ul-log`: log a message from the command line, like logger(1).
//!
//! ```text
//! ul-log --shm /dev/shm/ul --level warn --source deploy "release rolled out"
//! ul-log --flush            # wait until the writer has written everything
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Log a message into a ul region, like logger(1).
///
/// The message goes into the region that a `ul-writer --shm PATH` serves
/// and is written by that writer. Without `--create`, a missing region is
/// an error (a mistyped `--shm` is not silently created).
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Exit status: 0 the message was logged (and, with --flush, written); \
1 no region at --shm, a region that cannot be opened, or --flush not \
acknowledged in time (the message says whether the writer is stopped, busy \
or gone); 2 bad arguments.\n\
A region with no writer keeps the message until a writer starts; ul-log says so on stderr."
)]
struct Cli {
    /// The region to log into (the writer's --shm).
    #[arg(long, default_value = ul::DEFAULT_SHM)]
    shm: std::path::PathBuf,
    /// Create the region if it does not exist (37.1 MiB of shared memory
    /// with the default sizes); the message then waits there for a writer.
    #[arg(long)]
    create: bool,
    /// Level: trace, debug, info, warn or error.
    #[arg(long, default_value = "info")]
    level: ul::Level,
    /// Source shown in brackets before the level.
    #[arg(long, default_value = "ul-log")]
    source: String,
    /// Wait until the writer has written the message (and everything
    /// logged before it).
    #[arg(long)]
    flush: bool,
    /// How long --flush waits for the writer: seconds (fractions allowed,
    /// e.g. 0.5), or `inf` to wait without bound.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "10",
        value_parser = parse_timeout,
        allow_hyphen_values = true
    )]
    timeout: Timeout,
    /// The message; several words are joined by spaces.
    message: Vec<String>,
}

/// A `--timeout`: a bound, or none.
#[derive(Clone, Copy, Debug)]
struct Timeout(Option<Duration>);

/// Seconds >= 0 (a value too large for a `Duration` is no bound), or
/// `inf`/`infinity` for no bound. NaN, negatives and words are refused.
fn parse_timeout(s: &str) -> Result<Timeout, String> {
    let t = s.trim();
    if ["inf", "infinity", "+inf", "+infinity"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
    {
        return Ok(Timeout(None));
    }
    let secs: f64 = t
        .parse()
        .map_err(|_| "give a number of seconds (e.g. 2 or 0.5) or `inf`".to_string())?;
    if secs.is_nan() || secs < 0.0 {
        return Err("give a number of seconds >= 0 (e.g. 2 or 0.5) or `inf`".into());
    }
    Ok(Timeout(Duration::try_from_secs_f64(secs).ok()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.message.is_empty() && !cli.flush {
        eprintln!("ul-log: nothing to do: give a MESSAGE, --flush, or both");
        return ExitCode::from(2);
    }
    let init = ul::Options::new(&cli.shm).create(cli.create).init();
    if let Err(e) = init {
        match e {
            ul::InitError::NoRegion(p) => eprintln!(
                "ul-log: no ul region at {}: start `ul-writer --shm {0}` first, check the \
                 path, or pass --create to create it and let the message wait for a writer",
                p.display()
            ),
            e => eprintln!("ul-log: {e}"),
        }
        return ExitCode::FAILURE;
    }
    if !cli.message.is_empty() {
        ul::log_dynamic(cli.level, &cli.source, &cli.message.join(" "));
    }
    if cli.flush {
        let timeout = cli.timeout.0.unwrap_or(Duration::MAX);
        if let Err(e) = ul::flush_timeout(timeout) {
            eprintln!("ul-log: {e}");
            return ExitCode::FAILURE;
        }
    } else {
        match ul::writer_state() {
            ul::WriterState::Running | ul::WriterState::Busy { .. } => {}
            ul::WriterState::Gone => eprintln!(
                "ul-log: no ul-writer serves {}; the message waits there until one starts",
                cli.shm.display()
            ),
            state => eprintln!(
                "ul-log: the ul-writer of {} is {state}; the message waits until it drains",
                cli.shm.display()
            ),
        }
    }
    ExitCode::SUCCESS
}
