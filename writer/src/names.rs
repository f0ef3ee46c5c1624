//! Resolves the callsite and context ids that records carry, caching what
//! it has read from the region's (untrusted) callsite table.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::rc::Rc;

use ul_ring::callsite::{CallsiteTable, EntryKind};

use crate::format::{ParsedFormat, Plan};

/// Most ids of each kind kept in the cache; a hostile producer naming
/// random ids makes the writer forget and re-read, not grow without bound.
const MAX_CACHED: usize = 1 << 16;

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
    /// How to write its messages straight from the records' bytes, made
    /// from its first record that decodes (`None` inside: not possible).
    pub plan: OnceCell<Option<Plan>>,
}

impl Site {
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

/// Caches of resolved ids. Failures are cached too, so a bad id is reported
/// once, not per record.
#[derive(Default)]
pub struct Names {
    /// The last call site found, checked before the map: records come in
    /// runs from the same call site.
    last_site: Option<(u32, Rc<Site>)>,
    sites: HashMap<u32, Result<Rc<Site>, String>>,
    contexts: HashMap<u32, Result<Rc<Ctx>, String>>,
}

impl Names {
    /// Forgets everything (a new region).
    pub fn clear(&mut self) {
        self.last_site = None;
        self.sites.clear();
        self.contexts.clear();
    }

    /// The call site `id`, or why it cannot be read. The bool is true the
    /// first time an error is returned for this id.
    pub fn site(&mut self, table: &CallsiteTable<'_>, id: u32) -> (Result<Rc<Site>, String>, bool) {
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
        let r = match table.read(id) {
            Ok(e) if e.kind == EntryKind::Callsite && e.strings.len() >= 4 => {
                let mut it = e.strings.into_iter();
                let format = it.next().unwrap_or_default();
                let source = it.next().unwrap_or_default();
                let _file = it.next();
                let module = it.next().unwrap_or_default();
                Ok(Rc::new(Site {
                    format: ParsedFormat::new(&format),
                    source,
                    module,
                    keys: it.collect(),
                    plan: OnceCell::new(),
                }))
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

    /// The context `id`, or why it cannot be read (see [`Names::site`]).
    pub fn context(
        &mut self,
        table: &CallsiteTable<'_>,
        id: u32,
    ) -> (Result<Rc<Ctx>, String>, bool) {
        if let Some(r) = self.contexts.get(&id) {
            return (r.clone(), false);
        }
        let r = match table.read(id) {
            Ok(e) if e.kind == EntryKind::Context && !e.strings.is_empty() => {
                let mut it = e.strings.into_iter();
                let source = it.next().unwrap_or_default();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Ok(Rc::new(Ctx { source, pairs }))
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
