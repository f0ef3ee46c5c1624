//! `ul-decode`: turns a binary log (`ul-writer --format binary`) into the
//! text or JSON lines `ul-writer` writes.
//!
//! ```text
//! ul-decode logs/server.ulog                 # the lines of logs/server.log
//! ul-decode --format json logs/server.ulog   # the lines of the server.<level>.json files
//! ul-decode --follow logs/server.ulog        # and wait for more, like tail -f
//! ```

// The doc comments below are the --help text, where `<name>` is a
// placeholder for the reader, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ul_writer::binlog::Decoder;
use ul_writer::internals::outputs::Format;

/// Exit status: damaged input (decoded around, reported on stderr).
const EXIT_DAMAGED: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Out {
    /// The lines of <name>.log.
    Text,
    /// The lines of the <name>.<level>.json files, all levels in one
    /// stream, in the order they were written.
    Json,
}

/// Turn a ul binary log (<dir>/<name>.ulog, written by `ul-writer --format
/// binary` or `all`) into the lines ul-writer writes.
///
/// Reads FILE from its start and writes to standard output exactly the
/// lines ul-writer writes for the same records into <name>.log (text, the
/// default) or into the <name>.<level>.json files (json: every level in
/// one stream, in the order the writer wrote them; `grep '"level":"info"'`
/// gives one file's lines). A rotated file (<name>.ulog.1, ...) decodes on
/// its own. The file is untrusted input: a block or record that does not
/// check out (a file cut off, garbage, a record that does not match its
/// call site's signature) is reported on standard error with the file and
/// its byte offset, and decoding goes on after it.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Exit status:\n  \
0  the whole file decoded\n  \
1  the file cannot be opened or read\n  \
2  bad command-line syntax\n  \
3  the file is damaged: what could be decoded was written, each problem reported on \
standard error as `ul-decode: FILE: offset N: ...`\n\n\
With --follow, ul-decode runs until killed (SIGINT, SIGTERM), printing lines as they are \
written; a block the writer has not finished is waited for, not reported. When the file \
is rotated (another file at its path), the rest of the old one is decoded, then the file \
written after it (FILE.K-1 after FILE.K, FILE after FILE.1) from its start."
)]
struct Cli {
    /// The binary log to read.
    file: PathBuf,
    /// Which lines to write.
    #[arg(long, value_enum, default_value_t = Out::Text)]
    format: Out,
    /// At the end of the file, wait for more (and follow a rotation).
    #[arg(long, short = 'f')]
    follow: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The line formatter's own diagnostics (an id it cannot resolve) are
    // the writer's business; here every problem is reported as damage,
    // with its offset.
    ul_writer::internals::diag::set_sink(Some(Box::new(|_: &str| {})));
    let format = match cli.format {
        Out::Text => Format::Text,
        Out::Json => Format::Json,
    };
    match run(&cli.file, format, cli.follow) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(EXIT_DAMAGED),
        Err(e) => {
            eprintln!("ul-decode: {}: {e}", cli.file.display());
            ExitCode::FAILURE
        }
    }
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The file written after the one with identity `id`, which is no longer
/// at `path`: rotated to `<path>.K`, its successor is `<path>.K-1` (or
/// `path` itself for K = 1), so rotations faster than the reads skip no
/// file. A file gone (past `--keep`, or moved elsewhere) leaves only
/// `path` to follow.
fn successor(path: &Path, id: (u64, u64)) -> Option<File> {
    for n in 1.. {
        let p = ul_writer::internals::rotate::numbered(path, n);
        match identity(&p) {
            Some(found) if found == id => {
                let next = if n == 1 {
                    path.to_owned()
                } else {
                    ul_writer::internals::rotate::numbered(path, n - 1)
                };
                return File::open(next).ok();
            }
            Some(_) => {}
            None => break,
        }
    }
    eprintln!(
        "ul-decode: {}: the file being read was rotated away and is gone; going on with the current one",
        path.display()
    );
    File::open(path).ok()
}

/// Decodes `path` to standard output; the number of problems found.
fn run(path: &Path, format: Format, follow: bool) -> std::io::Result<u64> {
    let mut file = File::open(path)?;
    let mut id = file.metadata().map(|m| (m.dev(), m.ino()))?;
    let mut decoder = Decoder::new(format);
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(1 << 20);
    let name = path.display().to_string();
    let mut report = |d: ul_writer::binlog::Damage| {
        eprintln!("ul-decode: {name}: offset {}: {}", d.offset, d.what);
    };
    loop {
        let n = file.read(&mut chunk)?;
        if n > 0 {
            pending.extend_from_slice(&chunk[..n]);
            let used = decoder.feed(&pending, false, &mut out, &mut report);
            pending.drain(..used);
        } else if !follow {
            decoder.feed(&pending, true, &mut out, &mut report);
            pending.clear();
        }
        if !out.is_empty() {
            if let Err(e) = stdout.write_all(&out).and_then(|()| stdout.flush()) {
                // A closed pipe (`ul-decode ... | head`) ends the run.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(decoder.damaged);
                }
                return Err(e);
            }
            out.clear();
        }
        if n > 0 {
            continue;
        }
        if !follow {
            return Ok(decoder.damaged);
        }
        // At the end: a new file at the path (rotated) takes over once the
        // old one is read to its end.
        match identity(path) {
            Some(now) if now != id => {
                if let Some(f) = successor(path, id) {
                    // The old file's last batch may have been written
                    // after the read that found its end and before the
                    // rename: read it to its end again (the writer writes
                    // nothing to it after the rename).
                    loop {
                        let n = file.read(&mut chunk)?;
                        if n == 0 {
                            break;
                        }
                        pending.extend_from_slice(&chunk[..n]);
                    }
                    decoder.feed(&pending, true, &mut out, &mut report);
                    pending.clear();
                    file = f;
                    id = file.metadata().map(|m| (m.dev(), m.ino()))?;
                    decoder = Decoder::new(format);
                    continue;
                }
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
