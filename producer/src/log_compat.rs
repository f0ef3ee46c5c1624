//! The `log` backend (feature `log`): every `log::info!` and friends in the
//! process goes through ul.
//!
//! The record's target becomes the source, its level maps one to one, and
//! `log`'s maximum level follows ul's minimum level (set at install and by
//! [`crate::configure`] in this process).
//!
//! - A message without arguments (`log::info!("ready")`, where
//!   `Arguments::as_str` is `Some`) takes the fast path: it becomes the
//!   format string of a callsite registered once per (level, target,
//!   message), so the call copies a 32-byte header and nothing else: no
//!   formatting and no allocation.
//! - A message with arguments is formatted at the call site into a
//!   thread-local buffer (no allocation once the buffer has grown) and sent
//!   as one string argument.
//!
//! The call's file and line (`record.file()`, `record.line()`) go with the
//! callsite, so each `log::` call site has its own: the writer writes them
//! as `"file"` and `"line"` in JSON, and in the text line with
//! `ul-writer --text-location` (`src/main.rs:12: message`).
//!
//! `log::logger().flush()` waits for the writer like [`crate::flush`].
//!
//! ```no_run
//! ul::log_compat::init("/dev/shm/ul")?;
//! log::info!(target: "AuthService", "ready");
//! log::warn!("user {} failed to log in", "ann");
//! log::logger().flush();
//! # Ok::<(), ul::log_compat::LogInitError>(())
//! ```

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::intern::{self, Loc};
use crate::{Level, Options};

/// Why the `log` backend could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum LogInitError {
    /// Attaching to the region failed.
    #[error("ul log backend: {0}")]
    Ul(#[from] crate::InitError),
    /// Another `log` logger was installed first (only one per process).
    #[error("ul log backend: another `log` logger is already installed in this process ({0})")]
    AlreadySet(#[from] log::SetLoggerError),
}

/// The `log::Log` that sends records to ul.
///
/// Installed by [`init`], [`init_with`] or [`install`]; exposed so it can
/// be wrapped by a logger that dispatches to several backends.
///
/// ```
/// use log::Log;
/// // Before `ul::init`, nothing is enabled and records are dropped.
/// let logger = ul::log_compat::UlLogger;
/// assert!(!logger.enabled(&log::Metadata::builder().level(log::Level::Error).build()));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct UlLogger;

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Bytes of formatting buffer a thread keeps between calls.
const KEEP_BUFFER: usize = 64 * 1024;

thread_local! {
    static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Maps a `log` level to ul's.
///
/// ```
/// assert_eq!(ul::log_compat::level_from_log(log::Level::Warn), ul::Level::Warn);
/// ```
pub fn level_from_log(level: log::Level) -> Level {
    match level {
        log::Level::Error => Level::Error,
        log::Level::Warn => Level::Warn,
        log::Level::Info => Level::Info,
        log::Level::Debug => Level::Debug,
        log::Level::Trace => Level::Trace,
    }
}

/// The `log` filter matching ul's minimum level `min` (None: nothing).
fn filter_for(min: Option<Level>) -> log::LevelFilter {
    match min {
        Some(Level::Trace) => log::LevelFilter::Trace,
        Some(Level::Debug) => log::LevelFilter::Debug,
        Some(Level::Info) => log::LevelFilter::Info,
        Some(Level::Warn) => log::LevelFilter::Warn,
        Some(Level::Error) => log::LevelFilter::Error,
        None => log::LevelFilter::Off,
    }
}

/// Sets `log`'s maximum level to ul's configured minimum, if this backend
/// is installed. Called by [`crate::configure`]; call it after another
/// process changed the level to let more verbose `log` calls through
/// (less verbose ones are filtered by ul at the call anyway).
///
/// ```no_run
/// ul::log_compat::init("/dev/shm/ul")?;
/// ul::log_compat::follow_min_level();
/// # Ok::<(), ul::log_compat::LogInitError>(())
/// ```
pub fn follow_min_level() {
    if INSTALLED.load(Ordering::Relaxed) {
        if let Some(c) = crate::current_config() {
            log::set_max_level(filter_for(c.min_level));
        }
    }
}

/// Attaches to the region at `path` (as [`crate::init`]) and installs
/// ul as the `log` logger.
///
/// ```no_run
/// ul::log_compat::init("/dev/shm/ul")?;
/// log::info!("through ul");
/// # Ok::<(), ul::log_compat::LogInitError>(())
/// ```
pub fn init(path: impl AsRef<Path>) -> Result<(), LogInitError> {
    init_with(Options::new(path))
}

/// [`init`] with [`Options`].
///
/// ```no_run
/// use std::time::Duration;
/// let opts = ul::Options::new("/dev/shm/ul")
///     .overflow(ul::Overflow::Block { timeout: Duration::from_millis(10) });
/// ul::log_compat::init_with(opts)?;
/// # Ok::<(), ul::log_compat::LogInitError>(())
/// ```
pub fn init_with(options: Options) -> Result<(), LogInitError> {
    options.init()?;
    install()
}

/// Installs ul as the `log` logger in a process already attached with
/// [`crate::init`]. Fails if another logger was installed first.
///
/// ```no_run
/// ul::init("/dev/shm/ul")?;
/// ul::log_compat::install()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn install() -> Result<(), LogInitError> {
    static LOGGER: UlLogger = UlLogger;
    log::set_logger(&LOGGER)?;
    INSTALLED.store(true, Ordering::Relaxed);
    follow_min_level();
    Ok(())
}

impl log::Log for UlLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        crate::__private::enabled(level_from_log(metadata.level()))
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = level_from_log(record.level());
        if !crate::__private::enabled(level) {
            return;
        }
        let target = record.target();
        // `file!()` and `line!()` of the `log::info!` call (a `'static` str
        // from the macros; a record built at run time may carry any).
        let line = record.line().unwrap_or(0);
        let loc = match record.file_static() {
            Some(file) => Loc::at_static(file, line),
            None => Loc::at(record.file().unwrap_or(""), line),
        };
        match record.args().as_str() {
            Some(message) => intern::emit_static(level, target, "log", loc, message),
            None => format_and_emit(level, target, loc, record.args()),
        }
    }

    fn flush(&self) {
        let _ = crate::flush();
    }
}

/// Formats `args` into this thread's buffer and sends it.
fn format_and_emit(level: Level, target: &str, loc: Loc<'_>, args: &std::fmt::Arguments<'_>) {
    let done = BUFFER
        .try_with(|b| {
            // Busy if a `Display` impl being formatted logs itself.
            let Ok(mut buf) = b.try_borrow_mut() else {
                return false;
            };
            buf.clear();
            let _ = buf.write_fmt(*args);
            intern::emit_str_at(level, target, "log", loc, &buf);
            if buf.capacity() > KEEP_BUFFER {
                *buf = String::new();
            }
            true
        })
        .unwrap_or(false);
    if !done {
        intern::emit_str_at(level, target, "log", loc, &args.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_one_to_one() {
        let all = [
            (log::Level::Error, Level::Error, log::LevelFilter::Error),
            (log::Level::Warn, Level::Warn, log::LevelFilter::Warn),
            (log::Level::Info, Level::Info, log::LevelFilter::Info),
            (log::Level::Debug, Level::Debug, log::LevelFilter::Debug),
            (log::Level::Trace, Level::Trace, log::LevelFilter::Trace),
        ];
        for (l, u, f) in all {
            assert_eq!(level_from_log(l), u);
            assert_eq!(filter_for(Some(u)), f);
        }
        assert_eq!(filter_for(None), log::LevelFilter::Off);
    }
}
