//! Resolves the callsite and context ids that records carry, caching what
//! it has read from the region's (untrusted) callsite table.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use ul_ring::callsite::{CallsiteError, CallsiteTable, Entry, EntryKind};
use ul_ring::record::{Form, Level};

use crate::format::{Location, ParsedFormat, Plan, ESCAPE_BOUND, RENAME_PREFIX};

/// Most ids of each kind kept in the cache; a hostile producer naming
/// random ids makes the writer forget and re-read, not grow without bound.
const MAX_CACHED: usize = 1 << 16;

/// Where entries are read from: the region's callsite table, or the
/// entries a binary log has given so far (`ul-decode`).
pub trait Entries {
    /// Reads and checks entry `id`.
    fn entry(&self, id: u32) -> Result<Entry, CallsiteError>;
}

impl Entries for CallsiteTable<'_> {
    fn entry(&self, id: u32) -> Result<Entry, CallsiteError> {
        self.read(id)
    }
}

/// A call site as the writer needs it.
#[derive(Debug)]
pub struct Site {
    /// Format string, parsed once into literal text and placeholders.
    pub format: ParsedFormat,
    /// Source named at the call site ("" if none).
    pub source: String,
    /// Module path, the default source.
    pub module: String,
    /// Names of the call's key-value fields (the last arguments).
    pub keys: Vec<String>,
    /// The call's file and line (`None` if the call site has no file).
    pub location: Option<Location>,
    /// Its level (`None`: the entry's level byte is no level). A compact
    /// record has no level of its own: it takes this one.
    pub level: Option<Level>,
    /// The argument tags its compact records are read by (`None`: it
    /// registered none, and only tagged records can name it).
    pub signature: Option<Box<[u8]>>,
    /// How to write its messages straight from the records' bytes, one per
    /// record form, each made from its first record of that form that
    /// decodes (`None` inside: not possible).
    plans: [OnceCell<Option<Plan>>; 2],
    /// What a line of this call site takes besides its message and its
    /// context (see [`Site::line_bound`]).
    fixed_bound: usize,
}

/// Most bytes a line takes besides its message, source, location and
/// context: timestamp, level, pid, tid, seq and the JSON keys.
pub const LINE_OVERHEAD: usize = 512;

impl Site {
    /// The plan for its records of `form` (one per form, built on first use).
    pub fn plan(&self, form: Form) -> &OnceCell<Option<Plan>> {
        &self.plans[match form {
            Form::Tagged => 0,
            Form::Compact => 1,
        }]
    }

    /// A call site as the writer keeps it.
    ///
    /// `level` is the entry's (`None` if its byte is no level) and
    /// `signature` the argument tags of its compact records, if it
    /// registered them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        format: &str,
        source: String,
        module: String,
        file: &str,
        line: u32,
        keys: Vec<String>,
        level: Option<Level>,
        signature: Option<Box<[u8]>>,
    ) -> Self {
        // Source, module and file escaped; each key escaped and quoted,
        // and (JSON) renamed with at most one prefix per other pair.
        let keys_bound: usize = keys
            .iter()
            .map(|k| ESCAPE_BOUND * k.len() + 8 + RENAME_PREFIX.len() * keys.len())
            .sum();
        let fixed_bound =
            LINE_OVERHEAD + ESCAPE_BOUND * (source.len() + module.len() + file.len()) + keys_bound;
        Site {
            format: ParsedFormat::new(format),
            source,
            module,
            keys,
            location: Location::new(file, line),
            level,
            signature,
            plans: Default::default(),
            fixed_bound,
        }
    }

    /// Most bytes one line of this call site can take in either output,
    /// for a record whose message and key-value fields' values take at
    /// most `message` bytes ([`ParsedFormat::output_bound`] of the sum of
    /// all its arguments' bounds, which counts each field's value too),
    /// and whose context takes at most `ctx` ([`Ctx::bound`]). The writer
    /// makes this much room before it formats a record, so formatting
    /// never grows a batch buffer beyond what the batch's memory allows.
    pub fn line_bound(&self, message: usize, ctx: usize) -> usize {
        self.fixed_bound.saturating_add(message).saturating_add(ctx)
    }

    /// The source a record of this call site shows: the call site's own,
    /// else its context's (`ctx`), else the module path.
    pub fn source<'a>(&'a self, ctx: Option<&'a Ctx>) -> &'a str {
        if !self.source.is_empty() {
            &self.source
        } else if let Some(c) = ctx.filter(|c| !c.source.is_empty()) {
            &c.source
        } else {
            &self.module
        }
    }
}

/// A context as the writer needs it.
#[derive(Debug)]
pub struct Ctx {
    /// Source ("" if none).
    pub source: String,
    /// Key-value pairs.
    pub pairs: Vec<(String, String)>,
}

impl Ctx {
    /// A context as the writer keeps it.
    pub fn new(source: String, pairs: Vec<(String, String)>) -> Self {
        Ctx { source, pairs }
    }

    /// Most bytes this context adds to a line in either output (every
    /// string escaped, and each key renamed once per other pair, with
    /// `keys` key-value fields of the call besides): what
    /// [`Site::line_bound`] takes as `ctx`.
    pub fn bound(&self, keys: usize) -> usize {
        let n = self.pairs.len() + keys;
        ESCAPE_BOUND * self.source.len()
            + self
                .pairs
                .iter()
                .map(|(k, v)| ESCAPE_BOUND * (k.len() + v.len()) + 8 + RENAME_PREFIX.len() * n)
                .sum::<usize>()
    }
}

/// Caches of resolved ids. Definitive failures (an id outside the table, a
/// malformed entry, one of the wrong kind) are cached too, so a bad id is
/// reported once, not per record.
///
/// An entry not committed yet is not cached: its producer may have
/// registered it a moment ago, with the commit not yet visible here (a
/// producer whose thread took the id from another thread's cache without
/// an Acquire load, for one). Caching that answer would print every later
/// record of the call site without its format string for the writer's
/// lifetime; the id is looked up again with each record instead (one
/// atomic load while it stays uncommitted), and reported once.
#[derive(Default)]
pub struct CallsiteCache {
    /// The last call site found, checked before the map: records come in
    /// runs from the same call site.
    last_site: Option<(u32, Rc<Site>)>,
    sites: HashMap<u32, Result<Rc<Site>, String>>,
    contexts: HashMap<u32, Result<Rc<Ctx>, String>>,
    /// Ids found not committed, already reported.
    uncommitted: HashSet<u32>,
    /// Ids whose entries the binary log has (see [`CallsiteCache::define`]).
    defined: HashSet<u32>,
    /// The last id found in `defined`.
    last_defined: u32,
    /// Their entry blocks, in the order they were written.
    defined_bytes: Vec<u8>,
}

impl CallsiteCache {
    /// Forgets everything (a new region).
    pub fn clear(&mut self) {
        self.last_site = None;
        self.sites.clear();
        self.contexts.clear();
        self.uncommitted.clear();
        self.defined.clear();
        self.last_defined = 0;
        self.defined_bytes.clear();
    }

    /// Forgets what is cached for `id` (a binary log gave its entry).
    pub fn forget(&mut self, id: u32) {
        if self.last_site.as_ref().is_some_and(|(l, _)| *l == id) {
            self.last_site = None;
        }
        self.sites.remove(&id);
        self.contexts.remove(&id);
        self.uncommitted.remove(&id);
    }

    /// Appends an entry block for `id` to `out` unless one was appended
    /// before (for this region): the binary log gives each entry once,
    /// before the first record that names it. An id that cannot be read is
    /// not defined (its records are written as the text shows them: with
    /// an unknown call site).
    #[inline]
    pub fn define<T: Entries + ?Sized>(&mut self, table: &T, id: u32, out: &mut Vec<u8>) {
        if id == self.last_defined {
            return;
        }
        if !self.defined.contains(&id) {
            let Ok(e) = table.entry(id) else {
                return;
            };
            let at = self.defined_bytes.len();
            crate::binlog::put_entry(&mut self.defined_bytes, id, &e);
            out.extend_from_slice(&self.defined_bytes[at..]);
            self.defined.insert(id);
        }
        self.last_defined = id;
    }

    /// The bytes [`define`](Self::define) would append for `id` now (0 if
    /// it is defined already or cannot be read), so a caller can make room
    /// before it writes.
    pub fn undefined_len<T: Entries + ?Sized>(&self, table: &T, id: u32) -> usize {
        if id == self.last_defined || self.defined.contains(&id) {
            return 0;
        }
        table
            .entry(id)
            .map_or(0, |e| crate::binlog::entry_block_len(&e))
    }

    /// The entry blocks [`define`](Self::define) has appended, in order:
    /// what a new binary log file must repeat.
    pub fn defined_bytes(&self) -> &[u8] {
        &self.defined_bytes
    }

    /// True the first time `id` is found not committed (to report it once).
    fn first_uncommitted(&mut self, id: u32) -> bool {
        if self.uncommitted.len() >= MAX_CACHED {
            self.uncommitted.clear();
        }
        self.uncommitted.insert(id)
    }

    /// The call site `id`, or why it cannot be read. The bool is true the
    /// first time an error is returned for this id.
    pub fn site<T: Entries + ?Sized>(
        &mut self,
        table: &T,
        id: u32,
    ) -> (Result<Rc<Site>, String>, bool) {
        if let Some((last, site)) = &self.last_site {
            if *last == id {
                return (Ok(site.clone()), false);
            }
        }
        if let Some(r) = self.sites.get(&id) {
            if let Ok(site) = r {
                self.last_site = Some((id, site.clone()));
            }
            return (r.clone(), false);
        }
        let r = match table.entry(id) {
            // Not cached: maybe committed by the next record (see `CallsiteCache`).
            Err(e @ CallsiteError::Uncommitted { .. }) => {
                return (Err(e.to_string()), self.first_uncommitted(id));
            }
            Ok(e) if e.kind == EntryKind::Callsite && e.strings.len() >= 4 => {
                let mut it = e.strings.into_iter();
                let format = it.next().unwrap_or_default();
                let source = it.next().unwrap_or_default();
                let file = it.next().unwrap_or_default();
                let module = it.next().unwrap_or_default();
                Ok(Rc::new(Site::new(
                    &format,
                    source,
                    module,
                    &file,
                    e.line,
                    it.collect(),
                    Level::try_from(e.level).ok(),
                    e.signature.map(Vec::into_boxed_slice),
                )))
            }
            Ok(_) => Err(format!(
                "callsite id {id} names an entry that is not a callsite"
            )),
            Err(e) => Err(e.to_string()),
        };
        let first = r.is_err();
        // Ids come from untrusted records: bound the cache.
        if self.sites.len() >= MAX_CACHED {
            self.sites.clear();
        }
        self.sites.insert(id, r.clone());
        (r, first)
    }

    /// The context `id`, or why it cannot be read (see [`CallsiteCache::site`]).
    pub fn context<T: Entries + ?Sized>(
        &mut self,
        table: &T,
        id: u32,
    ) -> (Result<Rc<Ctx>, String>, bool) {
        if let Some(r) = self.contexts.get(&id) {
            return (r.clone(), false);
        }
        let r = match table.entry(id) {
            // Not cached: maybe committed by the next record (see `CallsiteCache`).
            Err(e @ CallsiteError::Uncommitted { .. }) => {
                return (Err(e.to_string()), self.first_uncommitted(id));
            }
            Ok(e) if e.kind == EntryKind::Context && !e.strings.is_empty() => {
                let mut it = e.strings.into_iter();
                let source = it.next().unwrap_or_default();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Ok(Rc::new(Ctx::new(source, pairs)))
            }
            Ok(_) => Err(format!(
                "context id {id} names an entry that is not a context"
            )),
            Err(e) => Err(e.to_string()),
        };
        let first = r.is_err();
        if self.contexts.len() >= MAX_CACHED {
            self.contexts.clear();
        }
        self.contexts.insert(id, r.clone());
        (r, first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use ul_ring::layout::ArenaHead;

    const LEN: usize = 4096;

    /// The commit word (length word) of entry `id` in the arena at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be an 8-aligned arena of `LEN` bytes that outlives the
    /// returned reference, and `id` an entry in it.
    unsafe fn commit_word<'a>(base: *mut u8, id: u32) -> &'a AtomicU32 {
        let off = (id as usize - 1) * 8;
        assert!(off + 4 <= LEN);
        // SAFETY: forwarded from the contract; `off` is 8-aligned and
        // inside the arena, as `CallsiteTable` reads it.
        unsafe { &*(base.add(off) as *const AtomicU32) }
    }

    /// An id read before its entry's commit is visible ("never
    /// committed"), as the writer can see it when the record arrives
    /// first, is looked up again later: the entry is found once committed.
    /// The error is reported once, not once per record.
    #[test]
    fn an_entry_committed_after_a_lookup_is_found_next_time() {
        let mut mem = vec![0u64; LEN / 8];
        let base: *mut u8 = mem.as_mut_ptr().cast();
        let head = ArenaHead::new();
        // SAFETY: `mem` is 8-aligned, `LEN` bytes, outlives `table`, and is
        // only reached through `base` from here on.
        let table = unsafe { CallsiteTable::new(&head, base, LEN) };
        let site = table
            .register(
                EntryKind::Callsite,
                2,
                7,
                &["hello {}", "", "main.rs", "app"],
            )
            .unwrap();
        let ctx = table
            .register(EntryKind::Context, 0, 0, &["svc", "session", "abc"])
            .unwrap();
        // SAFETY: `base` is the arena above; `site` and `ctx` are entries.
        let (site_word, ctx_word) = unsafe { (commit_word(base, site), commit_word(base, ctx)) };
        // Reserved and written, their commits not seen yet.
        let site_len = site_word.swap(0, Ordering::Relaxed);
        let ctx_len = ctx_word.swap(0, Ordering::Relaxed);

        let mut names = CallsiteCache::default();
        for round in 0..2 {
            let (r, first) = names.site(&table, site);
            let e = r.expect_err("the call site is not committed yet");
            assert!(e.contains("not committed"), "{e}");
            assert_eq!(first, round == 0, "reported once: {e}");
            let (r, first) = names.context(&table, ctx);
            let e = r.expect_err("the context is not committed yet");
            assert!(e.contains("not committed"), "{e}");
            assert_eq!(first, round == 0, "reported once: {e}");
        }

        // The registering thread's commits become visible.
        site_word.store(site_len, Ordering::Release);
        ctx_word.store(ctx_len, Ordering::Release);
        let (r, first) = names.site(&table, site);
        let s = r.expect("the call site's format string, once committed");
        assert_eq!((s.format.as_str(), s.module.as_str()), ("hello {}", "app"));
        assert!(!first);
        let (r, _) = names.context(&table, ctx);
        let c = r.expect("the context, once committed");
        assert_eq!(c.source, "svc");
        assert_eq!(c.pairs, [("session".to_string(), "abc".to_string())]);
        drop(mem);
    }

    /// Permanent errors (an id outside the table, an entry of the wrong
    /// kind) are cached and reported once.
    #[test]
    fn permanent_errors_are_reported_once() {
        let mut mem = vec![0u64; LEN / 8];
        let head = ArenaHead::new();
        // SAFETY: `mem` is 8-aligned, `LEN` bytes, and outlives `table`.
        let table = unsafe { CallsiteTable::new(&head, mem.as_mut_ptr().cast(), LEN) };
        let ctx = table.register(EntryKind::Context, 0, 0, &["svc"]).unwrap();
        let mut names = CallsiteCache::default();
        for (id, what) in [(1_000_000, "outside the table"), (ctx, "not a callsite")] {
            let (r, first) = names.site(&table, id);
            assert!(r.expect_err(what).contains(what));
            assert!(first);
            let (r, first) = names.site(&table, id);
            assert!(r.is_err());
            assert!(!first, "{what}: reported twice");
        }
    }
}
