//! The `tracing` backend (feature `tracing`): [`UlLayer`], a
//! `tracing_subscriber::Layer` that sends every event to ul.
//!
//! An event becomes one record: its `message` field is the message, its
//! target the source, and every other field a key-value pair, carried like
//! the macros' `; key = value` pairs: `[key:value]` after the message in
//! `server.log`, a typed key of `"context"` in `server.<level>.json`
//! (integers, floats and booleans stay numbers and booleans; other values
//! are formatted with `Debug`, strings as they are). Inside spans, a
//! `span` key holds the names of the current span scope from the root,
//! joined with `:` (`outer:inner`).
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! ul::init("/dev/shm/ul")?;
//! let subscriber = tracing_subscriber::registry().with(ul::tracing_layer::UlLayer::new());
//! tracing::subscriber::set_global_default(subscriber)?;
//! let span = tracing::info_span!("request");
//! let _g = span.enter();
//! tracing::info!(user = "ann", attempts = 3, "logged in");
//! // server.log: UL: [...] [my_crate] INFO: logged in [user:ann] [attempts:3] [span:request]
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Records below ul's minimum level are skipped before any field is
//! visited. Field values are collected into a thread-local buffer, so an
//! event allocates nothing once its thread has logged it before.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::arglist::{DynArg, DynArgs};
use crate::callsite::Callsite;
use crate::{intern, Level};

/// Key under which the span scope is recorded.
pub const SPAN_KEY: &str = "span";

/// A `tracing_subscriber::Layer` that records events into ul; see the
/// [module docs](self).
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// let subscriber = tracing_subscriber::registry().with(ul::tracing_layer::UlLayer::new());
/// # let _ = subscriber;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct UlLayer {
    _private: (),
}

impl UlLayer {
    /// A layer writing into the region this process attached with
    /// [`crate::init`] (events before that are dropped).
    pub fn new() -> Self {
        Self::default()
    }
}

/// Maps a `tracing` level to ul's.
///
/// ```
/// assert_eq!(ul::tracing_layer::level_from_tracing(tracing_core::Level::DEBUG), ul::Level::Debug);
/// ```
pub fn level_from_tracing(level: tracing_core::Level) -> Level {
    match level {
        tracing_core::Level::ERROR => Level::Error,
        tracing_core::Level::WARN => Level::Warn,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::DEBUG => Level::Debug,
        _ => Level::Trace,
    }
}

/// One thread's reusable buffers.
#[derive(Default)]
struct Scratch {
    /// Strings of the arguments.
    text: String,
    /// Message first, then one value per key.
    args: Vec<DynArg>,
    keys: Vec<&'static str>,
    /// (metadata address, key mask) -> callsite.
    sites: HashMap<(usize, u64), &'static Callsite>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Bytes of text buffer a thread keeps between events.
const KEEP_TEXT: usize = 64 * 1024;
/// Callsites a thread caches before it starts over.
const MAX_THREAD_SITES: usize = 1024;

/// Fields whose presence the cache key records.
const MASK_FIELDS: usize = 62;
const SPAN_BIT: u32 = 62;
const UNCACHED_BIT: u32 = 63;

/// Collects an event's fields into a [`Scratch`].
struct Collect<'a> {
    s: &'a mut Scratch,
    /// Bit `i` set if field `i` (< [`MASK_FIELDS`]) was recorded; bit
    /// [`SPAN_BIT`] if a span scope was; bit [`UNCACHED_BIT`] if a field
    /// index was too large for the mask (then the callsite is looked up by
    /// key names every time).
    mask: u64,
}

impl Collect<'_> {
    fn push_str_with(&mut self, field: &Field, f: impl FnOnce(&mut String)) {
        let start = self.s.text.len();
        f(&mut self.s.text);
        let arg = DynArg::Str {
            start: start as u32,
            end: self.s.text.len() as u32,
        };
        self.push(field, arg);
    }

    fn push(&mut self, field: &Field, arg: DynArg) {
        if field.name() == "message" {
            self.s.args[0] = arg;
        } else {
            self.s.keys.push(field.name());
            self.s.args.push(arg);
        }
        self.mask |= match field.index() {
            i if i < MASK_FIELDS => 1 << i,
            _ => 1 << UNCACHED_BIT,
        };
    }
}

impl Visit for Collect<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, DynArg::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, DynArg::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, DynArg::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, DynArg::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, DynArg::U128(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, DynArg::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push_str_with(field, |t| t.push_str(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push_str_with(field, |t| {
            let _ = write!(t, "{value}");
        });
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push_str_with(field, |t| {
            let _ = write!(t, "{value:?}");
        });
    }
}

impl<S> Layer<S> for UlLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = level_from_tracing(*meta.level());
        if !crate::__private::enabled(level) {
            return;
        }
        let ok = SCRATCH
            .try_with(|s| match s.try_borrow_mut() {
                Ok(mut s) => {
                    record(&mut s, event, &ctx, level);
                    true
                }
                // A field's Debug impl emitted an event of its own.
                Err(_) => false,
            })
            .unwrap_or(false);
        if !ok {
            record(&mut Scratch::default(), event, &ctx, level);
        }
    }
}

/// Sends one event, using `s` for its buffers.
fn record<S>(s: &mut Scratch, event: &Event<'_>, ctx: &Context<'_, S>, level: Level)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let meta = event.metadata();
    s.text.clear();
    s.args.clear();
    s.keys.clear();
    s.args.push(DynArg::Str { start: 0, end: 0 });
    let mut c = Collect { s, mask: 0 };
    event.record(&mut c);
    let mut mask = c.mask;
    if let Some(scope) = ctx.event_scope(event) {
        let start = s.text.len();
        for (i, span) in scope.from_root().enumerate() {
            if i > 0 {
                s.text.push(':');
            }
            s.text.push_str(span.name());
        }
        s.keys.push(SPAN_KEY);
        s.args.push(DynArg::Str {
            start: start as u32,
            end: s.text.len() as u32,
        });
        mask |= 1 << SPAN_BIT;
    }
    let cache_key = (meta as *const _ as usize, mask);
    let site = match s.sites.get(&cache_key) {
        // Without UNCACHED_BIT the mask identifies the keys.
        Some(cs) if mask & (1 << UNCACHED_BIT) == 0 => Some(*cs),
        _ => {
            let cs = intern::keyed_site(
                cache_key.0,
                level,
                meta.target(),
                meta.module_path().unwrap_or("tracing"),
                &s.keys,
            );
            if let Some(cs) = cs {
                if s.sites.len() >= MAX_THREAD_SITES {
                    s.sites.clear();
                }
                s.sites.insert(cache_key, cs);
            }
            cs
        }
    };
    match site {
        Some(cs) => crate::thread_lane::emit(
            cs,
            0,
            &DynArgs {
                text: &s.text,
                args: &s.args,
            },
        ),
        // The process made too many callsites: send the message alone.
        None => {
            let message = match s.args[0] {
                DynArg::Str { start, end } => s.text.get(start as usize..end as usize),
                _ => None,
            };
            intern::emit_str(level, meta.target(), "tracing", message.unwrap_or(""));
        }
    }
    if s.text.capacity() > KEEP_TEXT {
        s.text = String::new();
    }
}
