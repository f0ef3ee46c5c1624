//! Callsites made at run time, for log calls that do not come from a `ul`
//! macro: the `log` and `tracing` backends, `log_dynamic` and the C API.
//!
//! Each distinct (level, source, message or "{}", module, file, line)
//! gets one leaked [`Callsite`], registered in the region once like a
//! macro's. A thread finds it again in its own cache, keyed by the pointers
//! and lengths of the strings it was given, and checks the source's and
//! the file's bytes so that a reused buffer cannot alias another. The process-wide table is
//! bounded ([`MAX_SITES`]); past it, messages still go out, through one
//! callsite per level that carries the source as an argument.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Mutex;

use crate::callsite::Callsite;
use crate::thread_lane::emit;
use crate::Level;

/// Most run-time callsites a process makes (each is leaked, and takes room
/// in the region's callsite table).
pub(crate) const MAX_SITES: usize = 4096;

/// Longest static message given its own callsite; longer ones are sent as
/// arguments.
#[cfg(feature = "log")]
pub(crate) const MAX_STATIC_MESSAGE: usize = 4096;

/// Entries a thread caches before it starts over.
const MAX_THREAD_CACHE: usize = 1024;

#[derive(Clone, PartialEq, Eq, Hash)]
struct GlobalKey {
    level: u8,
    source: String,
    /// Pointer and length of a `&'static str` message, or (0, 0) for "{}".
    message: (usize, usize),
    module: &'static str,
    file: String,
    line: u32,
}

static GLOBAL: Mutex<Option<HashMap<GlobalKey, &'static Callsite>>> = Mutex::new(None);

#[derive(Clone, Copy, PartialEq, Eq)]
struct LocalKey {
    level: u8,
    source: (usize, usize),
    message: (usize, usize),
    module: usize,
    file: (usize, usize),
    line: u32,
}

impl Hash for LocalKey {
    /// Four words, not nine: each pointer is mixed with its length (a
    /// length fits the top bits an address leaves unused), the module with
    /// the file, and the level with the line. Equality still compares every
    /// field. This keeps the `log` fast path's look-up as cheap as before
    /// file and line joined the key.
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let mix = |(p, len): (usize, usize)| p as u64 ^ (len as u64).rotate_right(16);
        h.write_u64(mix(self.source));
        h.write_u64(mix(self.message));
        h.write_u64(mix(self.file) ^ (self.module as u64).rotate_right(32));
        h.write_u64(u64::from(self.level) | u64::from(self.line) << 8);
    }
}

/// Where a log call is in its source, when the front end knows it (the
/// `log` backend); [`Loc::NONE`] otherwise. The writer shows it (JSON
/// `"file"` and `"line"`; text with `--text-location`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc<'a> {
    file: &'a str,
    line: u32,
    /// `file` again when it lives for the whole program (`file!()`
    /// through `log::Record::file_static`): the callsite keeps it without
    /// a copy, so a thread-cache hit compares pointers, not bytes.
    static_file: Option<&'static str>,
}

impl<'a> Loc<'a> {
    /// No location.
    pub(crate) const NONE: Loc<'static> = Loc {
        file: "",
        line: 0,
        static_file: Some(""),
    };

    /// A location whose file lives for the whole program.
    #[cfg_attr(not(feature = "log"), allow(dead_code))]
    pub(crate) fn at_static(file: &'static str, line: u32) -> Self {
        Loc {
            file,
            line,
            static_file: Some(file),
        }
    }

    /// A location whose file may be a reused buffer.
    #[cfg_attr(not(feature = "log"), allow(dead_code))]
    pub(crate) fn at(file: &'a str, line: u32) -> Self {
        Loc {
            file,
            line,
            static_file: None,
        }
    }
}

/// True if `a` and `b` hold the same bytes; for the same pointer and
/// length, without reading them.
#[inline(always)]
fn same_str(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

/// A multiply-rotate hasher for keys made of a few machine words (also
/// the `tracing` backend's per-thread callsite cache).
#[derive(Default)]
pub(crate) struct WordHasher(u64);

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type LocalCache = HashMap<LocalKey, &'static Callsite, BuildHasherDefault<WordHasher>>;

thread_local! {
    static LOCAL: RefCell<LocalCache> = RefCell::new(LocalCache::default());
}

/// `s` with `{` and `}` doubled, so the writer prints it as it is.
fn escape_braces(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '{' || c == '}' {
            out.push(c);
        }
        out.push(c);
    }
    out
}

fn make_site(
    level: Level,
    source: &str,
    message: Option<&'static str>,
    module: &'static str,
    loc: Loc<'_>,
) -> &'static Callsite {
    let format: &'static str = match message {
        Some(m) if m.contains(['{', '}']) => Box::leak(escape_braces(m).into_boxed_str()),
        Some(m) => m,
        None => "{}",
    };
    let source: &'static str = Box::leak(source.to_owned().into_boxed_str());
    let file: &'static str = match (loc.static_file, loc.file) {
        (Some(f), _) => f,
        (None, "") => "",
        (None, f) => Box::leak(f.to_owned().into_boxed_str()),
    };
    Box::leak(Box::new(Callsite::new(
        level,
        format,
        source,
        file,
        loc.line,
        module,
        &[],
    )))
}

/// The process-wide lookup, creating the callsite if there is room.
#[cold]
#[inline(never)]
fn global_site(
    level: Level,
    source: &str,
    message: Option<&'static str>,
    module: &'static str,
    loc: Loc<'_>,
) -> Option<&'static Callsite> {
    let key = GlobalKey {
        level: level as u8,
        source: source.to_owned(),
        message: message.map_or((0, 0), |m| (m.as_ptr() as usize, m.len())),
        module,
        file: loc.file.to_owned(),
        line: loc.line,
    };
    let mut guard = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    let table = guard.get_or_insert_with(HashMap::new);
    if let Some(cs) = table.get(&key) {
        return Some(cs);
    }
    if table.len() >= MAX_SITES {
        return None;
    }
    let cs = make_site(level, source, message, module, loc);
    table.insert(key, cs);
    Some(cs)
}

/// The callsite for (level, source, message, module, location): from this
/// thread's cache, else the process-wide table. None when that table is
/// full.
#[inline]
fn site(
    level: Level,
    source: &str,
    message: Option<&'static str>,
    module: &'static str,
    loc: Loc<'_>,
) -> Option<&'static Callsite> {
    let key = LocalKey {
        level: level as u8,
        source: (source.as_ptr() as usize, source.len()),
        message: message.map_or((0, 0), |m| (m.as_ptr() as usize, m.len())),
        module: module.as_ptr() as usize,
        file: (loc.file.as_ptr() as usize, loc.file.len()),
        line: loc.line,
    };
    let cached = LOCAL
        .try_with(|c| {
            let c = c.try_borrow().ok()?;
            c.get(&key).copied()
        })
        .ok()
        .flatten();
    // The source's and file's bytes are compared: their pointers may be
    // reused buffers.
    if let Some(cs) = cached.filter(|cs| cs.source == source && same_str(cs.file, loc.file)) {
        return Some(cs);
    }
    let cs = global_site(level, source, message, module, loc)?;
    let _ = LOCAL.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if c.len() >= MAX_THREAD_CACHE {
                c.clear();
            }
            c.insert(key, cs);
        }
    });
    Some(cs)
}

/// Callsites used once the table is full: `source: message` as arguments.
static OVERFLOW: [Callsite; 5] = {
    const fn site(level: Level) -> Callsite {
        Callsite::new(level, "{}: {}", "", "", 0, "ul::overflow", &[])
    }
    [
        site(Level::Trace),
        site(Level::Debug),
        site(Level::Info),
        site(Level::Warn),
        site(Level::Error),
    ]
};

/// Logs `message` at `level` from `source` (the level check is the
/// caller's). Allocates only the first time a thread sees a source.
#[inline]
pub(crate) fn emit_str(level: Level, source: &str, module: &'static str, message: &str) {
    emit_str_at(level, source, module, Loc::NONE, message);
}

/// [`emit_str`] for a call at `loc`.
#[inline]
pub(crate) fn emit_str_at(
    level: Level,
    source: &str,
    module: &'static str,
    loc: Loc<'_>,
    message: &str,
) {
    match site(level, source, None, module, loc) {
        Some(cs) => emit(cs, 0, (message,)),
        None => emit(&OVERFLOW[level as usize], 0, (source, message)),
    }
}

/// Logs a static message with no arguments: after the first call from a
/// thread, a cache lookup and the record copy, no formatting and no
/// allocation.
#[cfg(feature = "log")]
#[inline]
pub(crate) fn emit_static(
    level: Level,
    source: &str,
    module: &'static str,
    loc: Loc<'_>,
    message: &'static str,
) {
    if message.len() <= MAX_STATIC_MESSAGE {
        if let Some(cs) = site(level, source, Some(message), module, loc) {
            emit(cs, 0, ());
            return;
        }
    }
    emit_str_at(level, source, module, loc, message);
}

/// The callsite for run-time keys (the `tracing` backend): format "{}"
/// with the message first, then one argument per key. Keyed by `id`, a
/// stable address the caller owns (its own static metadata, which also
/// fixes `file` and `line`), and the keys.
#[cfg(feature = "tracing")]
pub(crate) fn keyed_site(
    id: usize,
    level: Level,
    source: &'static str,
    module: &'static str,
    file: &'static str,
    line: u32,
    keys: &[&'static str],
) -> Option<&'static Callsite> {
    #[derive(Clone, PartialEq, Eq, Hash)]
    struct Key(usize, u8, Vec<&'static str>);
    static KEYED: Mutex<Option<HashMap<Key, &'static Callsite>>> = Mutex::new(None);
    let key = Key(id, level as u8, keys.to_vec());
    let mut guard = KEYED.lock().unwrap_or_else(|e| e.into_inner());
    let table = guard.get_or_insert_with(HashMap::new);
    if let Some(cs) = table.get(&key) {
        return Some(cs);
    }
    if table.len() >= MAX_SITES {
        return None;
    }
    let keys: &'static [&'static str] = Box::leak(keys.to_vec().into_boxed_slice());
    let cs: &'static Callsite = Box::leak(Box::new(Callsite::new(
        level, "{}", source, file, line, module, keys,
    )));
    table.insert(key, cs);
    Some(cs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_are_doubled() {
        assert_eq!(escape_braces("a {b} }{ c"), "a {{b}} }}{{ c");
        assert_eq!(escape_braces("plain"), "plain");
    }

    #[test]
    fn the_same_source_and_message_share_one_site() {
        static MSG: &str = "static message {x}";
        let a = site(Level::Info, "svc", Some(MSG), "t", Loc::NONE).expect("room");
        let b = site(Level::Info, &String::from("svc"), Some(MSG), "t", Loc::NONE).expect("room");
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.format, "static message {{x}}");
        assert_eq!(a.source, "svc");
        let c = site(Level::Warn, "svc", Some(MSG), "t", Loc::NONE).expect("room");
        assert!(!std::ptr::eq(a, c), "levels get their own sites");
    }

    #[test]
    fn a_reused_buffer_does_not_alias_another_source() {
        let mut buf = String::with_capacity(16);
        buf.push_str("alpha");
        let a = site(Level::Info, &buf, None, "t", Loc::NONE).expect("room");
        buf.clear();
        buf.push_str("bravo");
        let b = site(Level::Info, &buf, None, "t", Loc::NONE).expect("room");
        assert_eq!((a.source, b.source), ("alpha", "bravo"));
        assert_eq!(b.format, "{}");
    }

    #[test]
    fn each_location_gets_its_site_and_a_reused_file_buffer_does_not_alias() {
        let at = Loc::at_static;
        let a = site(Level::Info, "svc", None, "t", at("src/a.rs", 7)).expect("room");
        let b = site(Level::Info, "svc", None, "t", at("src/a.rs", 8)).expect("room");
        let c = site(Level::Info, "svc", None, "t", at("src/a.rs", 7)).expect("room");
        assert!(!std::ptr::eq(a, b), "lines get their own sites");
        assert!(std::ptr::eq(a, c));
        assert_eq!((a.file, a.line, b.line), ("src/a.rs", 7, 8));
        let mut buf = String::from("src/x.rs");
        let loc = Loc::at(&buf, 1);
        let x = site(Level::Info, "svc", None, "t", loc).expect("room");
        buf.clear();
        buf.push_str("src/y.rs");
        let loc = Loc::at(&buf, 1);
        let y = site(Level::Info, "svc", None, "t", loc).expect("room");
        assert_eq!((x.file, y.file), ("src/x.rs", "src/y.rs"));
    }
}
