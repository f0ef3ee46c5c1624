//! The writer's diagnostics: every line it has for its operator goes
//! through [`report`] (the [`diag!`](crate::diag!) macro), prefixed
//! `ul-writer: `, to standard error by default. A program that embeds the
//! engine, or a test, can take the lines instead with [`set_sink`].
//!
//! Lines for the log itself (drops, reclaimed lanes, skipped bytes) are
//! not diagnostics: they go into the batch, through
//! [`BatchLines::writer_line`](crate::batch_lines::BatchLines::writer_line). The
//! SIGBUS handler (`region_guard`) writes with `write(2)` alone, as a
//! signal handler must, and does not come here.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let keep = seen.clone();
//! let before = ul_writer::internals::diag::set_sink(Some(Box::new(move |l: &str| {
//!     keep.lock().unwrap().push(l.to_owned())
//! })));
//! ul_writer::diag!("reopening {}: {}", "server.log", "EACCES");
//! ul_writer::internals::diag::set_sink(before);
//! assert_eq!(seen.lock().unwrap()[0], "ul-writer: reopening server.log: EACCES");
//! ```

use std::sync::Mutex;

/// Where diagnostic lines go instead of standard error.
pub type Sink = Box<dyn FnMut(&str) + Send>;

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Writes one diagnostic line: `ul-writer: ` and `args`.
pub fn report(args: std::fmt::Arguments<'_>) {
    let line = format!("ul-writer: {args}");
    // A sink that panicked poisoned the lock: fall back to stderr.
    if let Ok(mut sink) = SINK.lock() {
        if let Some(f) = sink.as_mut() {
            f(&line);
            return;
        }
    }
    eprintln!("{line}");
}

/// Sends diagnostics to `sink` (`None`: standard error again). Returns the
/// sink it replaces.
pub fn set_sink(sink: Option<Sink>) -> Option<Sink> {
    match SINK.lock() {
        Ok(mut s) => std::mem::replace(&mut *s, sink),
        Err(p) => std::mem::replace(&mut *p.into_inner(), sink),
    }
}

/// Reports a diagnostic line, `format!`-style (see [`report`]).
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::internals::diag::report(format_args!($($arg)*))
    };
}
