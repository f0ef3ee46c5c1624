//! Per-call-site static data, registered in the region once per process.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ul_ring::callsite::EntryKind;
use ul_ring::record::Level;

/// A macro call site: its static description and its id in the region.
///
/// The macros create one `static` of this type per call site; its id is
/// registered on first use and cached, so later calls pay one load.
pub struct Callsite {
    /// Severity.
    pub level: Level,
    /// The format string.
    pub format: &'static str,
    /// The `source:` given at the call site, or "".
    pub source: &'static str,
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
    /// `module_path!()`.
    pub module: &'static str,
    /// Names of the call's key-value fields.
    pub keys: &'static [&'static str],
    /// `id << 40 | region generation` of the registration, 0 until
    /// registered: the id where a compact record's frame word has it
    /// (ids fit 24 bits, see `ul_ring::callsite`), so that the hot path
    /// compares the low half with the generation and ORs the rest into
    /// the frame.
    id: AtomicU64,
}

/// Ids handed out when the callsite table is full: the record still goes
/// out, and the writer prints it without its format string.
static REFUSED: AtomicU32 = AtomicU32::new(0);

impl Callsite {
    /// A call site (used by the macros).
    pub const fn new(
        level: Level,
        format: &'static str,
        source: &'static str,
        file: &'static str,
        line: u32,
        module: &'static str,
        keys: &'static [&'static str],
    ) -> Self {
        Self {
            level,
            format,
            source,
            file,
            line,
            module,
            keys,
            id: AtomicU64::new(0),
        }
    }

    /// The id of this call site in the attached region (0 if the table is
    /// full), registered on first use with `signature`, the argument tags
    /// of its compact records (`None`: it writes tagged records only).
    ///
    /// A call site is used with one argument list type, so one signature:
    /// the macros make a static per call, and the run-time front ends
    /// (`intern`, the `tracing` layer) one per argument shape.
    #[inline(always)]
    pub(crate) fn id(
        &self,
        shared: &crate::attachment::Shared,
        signature: Option<&'static [u8]>,
    ) -> u32 {
        // Acquire, paired with the Release store in `register`: the entry's
        // commit (its length word, stored before the id in the registering
        // thread) then happens before this thread's record naming the id,
        // which the lane publishes with Release, so the writer that reads
        // the record (Acquire) finds the entry committed. With a Relaxed
        // load, a thread that found the id another thread cached had no
        // such chain, and the writer could read the record before the entry.
        // Cost: on x86_64 an Acquire load is the same plain `mov` as a
        // Relaxed one (TSO), so the hot path pays nothing there; on AArch64
        // it is an `ldar`/`ldapr` instead of an `ldr`.
        match self.cached(shared) {
            Some(id) => id,
            None => self.register(shared, signature),
        }
    }

    /// The id registered in the attached region, if it is (never 0: only
    /// a successful registration is cached).
    #[inline(always)]
    pub(crate) fn cached(&self, shared: &crate::attachment::Shared) -> Option<u32> {
        self.cached_shifted(shared).map(|v| (v >> 40) as u32)
    }

    /// [`cached`](Self::cached) as the frame word of a compact record
    /// holds it: `id << 40`.
    #[inline(always)]
    pub(crate) fn cached_shifted(&self, shared: &crate::attachment::Shared) -> Option<u64> {
        // Acquire: see `id`.
        let v = self.id.load(Ordering::Acquire);
        // Generations start at 1, so an unregistered 0 never matches.
        (v as u32 == shared.gen).then_some(v & !u64::from(u32::MAX))
    }

    #[cold]
    #[inline(never)]
    fn register(
        &self,
        shared: &crate::attachment::Shared,
        signature: Option<&'static [u8]>,
    ) -> u32 {
        let mut strings: Vec<&str> = vec![self.format, self.source, self.file, self.module];
        strings.extend_from_slice(self.keys);
        match shared.region.callsites().register_signed(
            EntryKind::Callsite,
            self.level as u8,
            self.line,
            &strings,
            signature,
        ) {
            Ok(id) => {
                // Two threads may both register; both ids are valid entries
                // and the last store wins. Release: the entry's commit
                // happens before any thread's Acquire load that finds this
                // id (see `id`), hence before the records it logs with it.
                self.id.store(
                    u64::from(id) << 40 | u64::from(shared.gen),
                    Ordering::Release,
                );
                id
            }
            Err(_) => {
                REFUSED.fetch_add(1, Ordering::Relaxed);
                0
            }
        }
    }
}
