//! `ul-stat`: shows the state of a ul region (lanes, owners, fill levels,
//! writer counters and liveness).
//!
//! ```text
//! ul-stat --shm /dev/shm/ul            # a table
//! ul-stat --shm /dev/shm/ul --json     # JSON for scripts
//! ul-stat --watch 2                    # refresh every 2 s
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ul_writer::stat::Snapshot;

/// Show the state of a ul shared-memory region (read-only).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The region to inspect.
    #[arg(long, default_value = "/dev/shm/ul")]
    shm: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Refresh every SECS seconds (default 1) until interrupted.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "1")]
    watch: Option<f64>,
}

fn show(cli: &Cli) -> Result<String, ul_writer::stat::StatError> {
    let s = Snapshot::read(&cli.shm)?;
    Ok(if cli.json { s.json() } else { s.table() })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(secs) = cli.watch else {
        return match show(&cli) {
            // A closed pipe (`ul-stat --json | head`) is not an error.
            Ok(s) => {
                let _ = writeln!(std::io::stdout().lock(), "{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ul-stat: {e}");
                ExitCode::FAILURE
            }
        };
    };
    if !(secs.is_finite() && secs > 0.0) {
        eprintln!("ul-stat: --watch {secs}: give a positive number of seconds");
        return ExitCode::FAILURE;
    }
    loop {
        // Clear the screen and home the cursor, then redraw.
        let text = match show(&cli) {
            Ok(s) => s,
            Err(e) => format!("ul-stat: {e}"),
        };
        if writeln!(std::io::stdout().lock(), "\x1b[H\x1b[2J{text}").is_err() {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
    }
}
