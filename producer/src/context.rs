//! Contexts and `Logger` handles: a source and key-value pairs set once and
//! carried by every record as a 4-byte id.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ul_ring::callsite::EntryKind;

use crate::attachment::{attach_epoch, Shared};

/// A source name and key-value pairs attached to records.
///
/// Registered in the region once (per process) on first use; records then
/// carry only its id. In text output it shows as `[key:value]` after the
/// message, in JSON as the `"context"` object; its source, if set, replaces
/// the module path as the record's source.
///
/// ```
/// let ctx = ul::Context::new().source("UserService").with("session", "abc123");
/// assert_eq!(ctx.pairs()[0], ("session".to_string(), "abc123".to_string()));
/// ```
#[derive(Debug, Default)]
pub struct Context {
    source: Option<String>,
    pairs: Vec<(String, String)>,
    /// `(attach epoch << 32) | id` of the registration, 0 if none (see
    /// `attachment::attach_epoch`: a fork or a new region registers it again).
    id: AtomicU64,
}

impl Clone for Context {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            pairs: self.pairs.clone(),
            // Acquire: the clone may be used by another thread; the
            // entry's commit must happen before its records (see `id`).
            id: AtomicU64::new(self.id.load(Ordering::Acquire)),
        }
    }
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the source (shown as `[Source]` in text, `"source"` in JSON).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Adds a key-value pair.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// The key-value pairs.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The id of this context in the attached region (0 if the table is full).
    pub(crate) fn id(&self, shared: &Shared) -> u32 {
        let epoch = attach_epoch(shared);
        // Acquire, paired with the Release store below: a context is shared
        // between threads (`Logger` clones, `Arc`s), and the thread that
        // registered it committed the entry before storing the id, so the
        // entry's commit happens before every record that carries the id
        // (published with Release), and the writer finds it committed. On
        // x86_64 an Acquire load is a plain load, as a Relaxed one is.
        let v = self.id.load(Ordering::Acquire);
        if v != 0 && v >> 32 == epoch {
            return v as u32;
        }
        let mut strings: Vec<&str> = vec![self.source.as_deref().unwrap_or("")];
        for (k, v) in &self.pairs {
            strings.push(k);
            strings.push(v);
        }
        match shared
            .region
            .callsites()
            .register(EntryKind::Context, 0, 0, &strings)
        {
            Ok(id) => {
                // Release: after the entry's commit (see the load above).
                self.id
                    .store(epoch << 32 | u64::from(id), Ordering::Release);
                id
            }
            Err(_) => 0,
        }
    }
}

/// Sets the context of the calling thread: every record it logs from now on
/// carries it (unless a `Logger` supplies its own).
///
/// ```
/// ul::set_thread_context(ul::Context::new().with("session", "abc123"));
/// ul::info!("User action completed"); // ... [session:abc123]
/// ul::clear_thread_context();
/// ```
pub fn set_thread_context(ctx: Context) {
    crate::thread_lane::set_context(Some(Arc::new(ctx)));
}

/// Removes the calling thread's context.
pub fn clear_thread_context() {
    crate::thread_lane::set_context(None);
}

/// A logging handle with its own context, for code that prefers not to use
/// the thread's.
///
/// ```
/// let log = ul::Logger::new(ul::Context::new().source("UserService").with("session", "abc123"));
/// ul::info!(logger: &log, "User {} logged in", "ann"; ip = "192.168.1.1");
/// ```
#[derive(Debug, Clone)]
pub struct Logger {
    ctx: Arc<Context>,
}

impl Logger {
    /// A handle whose records carry `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx: Arc::new(ctx) }
    }

    /// The handle's context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The context id for the attached region (used by the macros).
    #[doc(hidden)]
    #[inline]
    pub fn __context_id(&self) -> u32 {
        match crate::attachment::get() {
            Some(shared) => self.ctx.id(shared),
            None => 0,
        }
    }
}
