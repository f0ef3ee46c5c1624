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
//! joined with `:` (`outer:inner`), and every span's fields follow, root
//! first, each keyed `<span name>.<field>` (`req.id`): those given when the
//! span was created and those recorded on it since (`Span::record`).
//!
//! Keys are unique within a record. The layer's own keys are claimed
//! first: `span`, then the span fields from the root inward, then the
//! event's fields in order; a key already taken gets [`RENAME_PREFIX`]
//! (`field.`) prepended until it is free. An event field named `span`
//! is written `field.span`; an event field `req.id` inside a span `req`
//! with a field `id` is written `field.req.id`; in two nested spans both
//! named `job` with a field `n`, the inner one's is `field.job.n`. The
//! same fields always get the same keys.
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
//! let req = tracing::info_span!("req", id = 7);
//! let _r = req.enter();
//! tracing::info!("inside");
//! // server.log: UL: [...] [my_crate] INFO: inside [span:request:req] [req.id:7]
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Records below ul's minimum level are skipped before any field is
//! visited. Field values are collected into a thread-local buffer, so an
//! event allocates nothing once its thread has logged it before. A span's
//! fields are rendered once, when the span is created or a field recorded,
//! and kept in the span's extensions; an event copies them. An event
//! outside any span pays nothing for spans but the registry's look-up of
//! the current one.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::BuildHasherDefault;
use std::sync::Mutex;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::arglist::{DynArg, DynArgs};
use crate::callsite::Callsite;
use crate::{intern, Level};

/// Key under which the span scope is recorded.
pub const SPAN_KEY: &str = "span";

/// Prepended to a field's key while the key is taken (see the
/// [module docs](self)); the writer renames repeated JSON keys the same way.
pub const RENAME_PREFIX: &str = "field.";

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
    /// The keys as collected: the event's fields, then (inside spans)
    /// [`SPAN_KEY`] and the span fields. Renamed only when a callsite is
    /// made (see [`unique_keys`]).
    keys: Vec<&'static str>,
    /// The span fields' keys and values while the scope is walked.
    span_keys: Vec<&'static str>,
    span_args: Vec<DynArg>,
    /// The span names joined by `:` while the scope is walked.
    path: String,
    /// (metadata address, field mask) of each span in scope, root first:
    /// what the span fields' keys depend on.
    scope: Scope,
    /// (metadata address, event key mask, scope hash) -> the scope it was
    /// made for and the callsite.
    sites: HashMap<SiteKey, (Scope, &'static Callsite), BuildHasherDefault<intern::WordHasher>>,
}

/// An event's metadata address, its key mask, and the hash of its scope.
type SiteKey = (usize, u64, u64);
/// (metadata address, field mask) of each span in a scope, root first.
type Scope = Vec<(usize, u64)>;

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

/// Distinct keys (`span.field` names and renamed keys) a process makes;
/// each is leaked once.
const MAX_KEYS: usize = 16 * 1024;

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

/// Forwards every kind of value to `$self.push(field, DynArg)` and strings
/// to `$self.push_str_with(field, |text| ..)`.
macro_rules! visit_all {
    () => {
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
    };
}

impl Visit for Collect<'_> {
    visit_all!();
}

/// A span field's value, rendered when it was recorded.
enum SpanValue {
    /// A number or boolean (never [`DynArg::Str`]).
    Raw(DynArg),
    /// A string, or a value formatted with `Display` (errors) or `Debug`.
    Str(Box<str>),
}

/// A span's fields, kept in its extensions from its creation on, and
/// copied into every event inside it.
struct SpanFields {
    /// `<span name>.<field>` per field index of the span's metadata.
    keys: &'static [&'static str],
    /// Values by field index, in index order (so that `mask` says the
    /// order of the keys); a field recorded again replaces its value.
    values: Vec<(usize, SpanValue)>,
    /// Bit `i` set if field `i` (< 64) has a value.
    mask: u64,
    /// A field of index 64 or more has a value: the mask does not say
    /// which keys an event gets, so events inside are not cached.
    wide: bool,
}

impl SpanFields {
    fn new(meta: &'static Metadata<'static>) -> Self {
        SpanFields {
            keys: span_keys(meta),
            values: Vec::new(),
            mask: 0,
            wide: false,
        }
    }

    fn push_str_with(&mut self, field: &Field, f: impl FnOnce(&mut String)) {
        let mut t = String::new();
        f(&mut t);
        self.set(field, SpanValue::Str(t.into_boxed_str()));
    }

    fn push(&mut self, field: &Field, arg: DynArg) {
        self.set(field, SpanValue::Raw(arg));
    }

    fn set(&mut self, field: &Field, v: SpanValue) {
        let i = field.index();
        // No key: the process made too many (see `span_keys`).
        if i >= self.keys.len() {
            return;
        }
        match self.values.binary_search_by_key(&i, |e| e.0) {
            Ok(at) => self.values[at].1 = v,
            Err(at) => self.values.insert(at, (i, v)),
        }
        if i < 64 {
            self.mask |= 1 << i;
        } else {
            self.wide = true;
        }
    }
}

impl Visit for SpanFields {
    visit_all!();
}

/// `s`, leaked once per process and shared after that; `None` past
/// [`MAX_KEYS`] distinct strings.
fn intern_key(s: &str) -> Option<&'static str> {
    static KEYS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut guard = KEYS.lock().unwrap_or_else(|e| e.into_inner());
    let set = guard.get_or_insert_with(HashSet::new);
    if let Some(k) = set.get(s) {
        return Some(k);
    }
    if set.len() >= MAX_KEYS {
        return None;
    }
    let k: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(k);
    Some(k)
}

/// The keys `<span name>.<field>` of a span's fields, by field index; made
/// once per span callsite (cached per thread, then process-wide). Empty
/// when the process made too many keys: the span's fields are then left
/// out, its name still in [`SPAN_KEY`].
fn span_keys(meta: &'static Metadata<'static>) -> &'static [&'static str] {
    type Map = HashMap<usize, &'static [&'static str]>;
    thread_local! {
        static LOCAL: RefCell<Map> = RefCell::new(Map::new());
    }
    static GLOBAL: Mutex<Option<Map>> = Mutex::new(None);
    let id = meta as *const _ as usize;
    let local = LOCAL
        .try_with(|m| m.try_borrow().ok().and_then(|m| m.get(&id).copied()))
        .ok()
        .flatten();
    if let Some(keys) = local {
        return keys;
    }
    let keys = {
        let mut guard = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(Map::new);
        match map.get(&id) {
            Some(keys) => *keys,
            None => {
                let mut keys = Vec::with_capacity(meta.fields().len());
                for f in meta.fields() {
                    match intern_key(&format!("{}.{}", meta.name(), f.name())) {
                        Some(k) => keys.push(k),
                        None => break,
                    }
                }
                let keys: &'static [&'static str] = Box::leak(keys.into_boxed_slice());
                map.insert(id, keys);
                keys
            }
        }
    };
    let _ = LOCAL.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            if m.len() >= MAX_THREAD_SITES {
                m.clear();
            }
            m.insert(id, keys);
        }
    });
    keys
}

/// The keys a callsite gets for `raw` (the event's `n_event` field keys,
/// then the layer's own: [`SPAN_KEY`] and the span fields' keys), in the
/// same order, none twice: the layer's keys are claimed first, then the
/// event's, and a key already claimed gets [`RENAME_PREFIX`] until it is
/// free. `None` if a renamed key could not be made (see [`intern_key`]).
fn unique_keys(raw: &[&'static str], n_event: usize) -> Option<Vec<&'static str>> {
    let mut out = raw.to_vec();
    let mut claimed: HashSet<&'static str> = HashSet::with_capacity(raw.len());
    for i in (n_event..raw.len()).chain(0..n_event) {
        if claimed.insert(raw[i]) {
            continue;
        }
        let mut key = String::from(raw[i]);
        let k = loop {
            key.insert_str(0, RENAME_PREFIX);
            if !claimed.contains(key.as_str()) {
                break intern_key(&key)?;
            }
        };
        claimed.insert(k);
        out[i] = k;
    }
    Some(out)
}

impl<S> Layer<S> for UlLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = SpanFields::new(attrs.metadata());
        attrs.record(&mut fields);
        // A span without values costs no allocation.
        if !fields.values.is_empty() {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanFields>() {
            Some(fields) => values.record(fields),
            None => {
                let mut fields = SpanFields::new(span.metadata());
                values.record(&mut fields);
                if !fields.values.is_empty() {
                    ext.insert(fields);
                }
            }
        }
    }

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

/// Appends the span scope of `event` to `s`: the names joined by `:` under
/// [`SPAN_KEY`], then every span's fields, root first. Returns the hash
/// of [`Scratch::scope`] and whether the callsite cannot be cached.
fn collect_scope<S>(s: &mut Scratch, event: &Event<'_>, ctx: &Context<'_, S>) -> Option<(u64, bool)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let scope = ctx.event_scope(event)?;
    s.path.clear();
    s.span_keys.clear();
    s.span_args.clear();
    let mut wide = false;
    for (i, span) in scope.from_root().enumerate() {
        if i > 0 {
            s.path.push(':');
        }
        s.path.push_str(span.name());
        let ext = span.extensions();
        let mask = match ext.get::<SpanFields>() {
            Some(f) => {
                for (idx, v) in &f.values {
                    s.span_keys.push(f.keys[*idx]);
                    s.span_args.push(match v {
                        SpanValue::Raw(a) => *a,
                        SpanValue::Str(t) => {
                            let start = s.text.len() as u32;
                            s.text.push_str(t);
                            DynArg::Str {
                                start,
                                end: s.text.len() as u32,
                            }
                        }
                    });
                }
                wide |= f.wide;
                f.mask
            }
            None => 0,
        };
        s.scope.push((span.metadata() as *const _ as usize, mask));
    }
    let start = s.text.len() as u32;
    s.text.push_str(&s.path);
    s.keys.push(SPAN_KEY);
    s.args.push(DynArg::Str {
        start,
        end: s.text.len() as u32,
    });
    s.keys.extend_from_slice(&s.span_keys);
    s.args.extend_from_slice(&s.span_args);
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &(m, mask) in &s.scope {
        h = (h.rotate_left(5) ^ m as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        h = (h.rotate_left(5) ^ mask).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    Some((h, wide))
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
    s.scope.clear();
    s.args.push(DynArg::Str { start: 0, end: 0 });
    let mut c = Collect { s, mask: 0 };
    event.record(&mut c);
    let mut mask = c.mask;
    let n_event = s.keys.len();
    let mut scope_hash = 0;
    if let Some((h, wide)) = collect_scope(s, event, ctx) {
        mask |= 1 << SPAN_BIT;
        if wide {
            mask |= 1 << UNCACHED_BIT;
        }
        scope_hash = h;
    }
    let cache_key = (meta as *const _ as usize, mask, scope_hash);
    let site = match s.sites.get(&cache_key) {
        // Without UNCACHED_BIT the masks identify the keys.
        Some((scope, cs)) if mask & (1 << UNCACHED_BIT) == 0 && *scope == s.scope => Some(*cs),
        _ => {
            let cs = unique_keys(&s.keys, n_event).and_then(|keys| {
                intern::keyed_site(
                    cache_key.0,
                    level,
                    meta.target(),
                    meta.module_path().unwrap_or("tracing"),
                    meta.file().unwrap_or(""),
                    meta.line().unwrap_or(0),
                    &keys,
                )
            });
            if let Some(cs) = cs {
                if s.sites.len() >= MAX_THREAD_SITES {
                    s.sites.clear();
                }
                s.sites.insert(cache_key, (s.scope.clone(), cs));
            }
            cs
        }
    };
    match site {
        Some(cs) => crate::thread_lane::emit(
            cs,
            0,
            DynArgs {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_unique_the_layers_own_first() {
        // Event fields `span`, `req.id`, `a`; then the layer's: span, req.id, job.n, job.n.
        let raw = ["span", "req.id", "a", "span", "req.id", "job.n", "job.n"];
        let got = unique_keys(&raw, 3).expect("room for the keys");
        assert_eq!(
            got,
            [
                "field.span",
                "field.req.id",
                "a",
                "span",
                "req.id",
                "job.n",
                "field.job.n"
            ]
        );
        // The same every time; nothing to do without repeats.
        assert_eq!(unique_keys(&raw, 3).unwrap(), got);
        assert_eq!(unique_keys(&["a", "b"], 2).unwrap(), ["a", "b"]);
        // A renamed key that is itself taken is prefixed again.
        let got = unique_keys(&["field.span", "span", "span"], 2).unwrap();
        assert_eq!(got, ["field.span", "field.field.span", "span"]);
    }
}
