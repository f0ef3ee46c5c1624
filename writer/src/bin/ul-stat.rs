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

/// Show the state of a ul shared-memory region: its writer, counters and lanes.
///
/// It only reads: the region is opened read-only (O_RDONLY), read with pread, never
/// mapped or changed, so it is safe on a live region and on a broken one.
/// The writer is shown as running, busy (heartbeat late, the process runs),
/// stopped (SIGSTOP or a debugger; SIGCONT resumes it), in an unknown state
/// (its process is not visible in this /proc) or gone (no process holds the
/// region's writer lock). `dropped` counts every record dropped since the
/// region was created; the lane table shows each lane's own drops.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Exit status: 0 shown; 1 the region cannot be read (missing, not a ul \
region, another layout version, or a corrupt header: the message says which \
and names the path); 2 bad arguments."
)]
struct Cli {
    /// The region to inspect (the writer's --shm).
    #[arg(long, default_value = "/dev/shm/ul")]
    shm: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Redraw every SECS seconds (default 1, fractions allowed) until
    /// interrupted (Ctrl-C).
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
    // A period a Duration cannot hold (1e30) is refused too, not a panic.
    let Some(period) = Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
    else {
        eprintln!("ul-stat: --watch {secs}: give a positive number of seconds");
        return ExitCode::from(2);
    };
    loop {
        // Clear the screen and home the cursor, then redraw.
        let text = match show(&cli) {
            Ok(s) => s,
            Err(e) => format!("ul-stat: {e}"),
        };
        if writeln!(std::io::stdout().lock(), "\x1b[H\x1b[2J{text}").is_err() {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(period);
    }
}
