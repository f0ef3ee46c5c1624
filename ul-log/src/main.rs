//! `ul-log`: log a message from the command line, like logger(1).
//!
//! ```text
//! ul-log --shm /dev/shm/ul --level warn --source deploy "release rolled out"
//! ul-log --flush            # wait until the writer has written everything
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Log a message into a ul region (like logger(1)).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The region to log into (created if missing).
    #[arg(long, default_value = ul::DEFAULT_SHM)]
    shm: std::path::PathBuf,
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
    /// Seconds to wait for the writer with --flush.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// The message; several words are joined by spaces.
    message: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.message.is_empty() && !cli.flush {
        eprintln!("ul-log: nothing to do: give a MESSAGE, --flush, or both");
        return ExitCode::from(2);
    }
    if let Err(e) = ul::init(&cli.shm) {
        eprintln!("ul-log: {e}");
        return ExitCode::FAILURE;
    }
    if !cli.message.is_empty() {
        ul::log_dynamic(cli.level, &cli.source, &cli.message.join(" "));
    }
    if cli.flush {
        let timeout = Duration::from_secs_f64(cli.timeout.max(0.0));
        if let Err(e) = ul::flush_timeout(timeout) {
            eprintln!("ul-log: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
