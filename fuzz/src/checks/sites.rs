// The body of `checks::sites` (documented in `fuzz/src/checks.rs`, which
// includes this file inside `pub mod sites { ... }`; see there why the
// checks are included rather than a crate of their own).

use std::cell::RefCell;

use ul_ring::args::tag;
use ul_ring::callsite::{CallsiteTable, EntryKind};
use ul_ring::layout::ArenaHead;
use ul_ring::record::Level;

/// Bytes of the callsite arena (the smallest a region allows).
pub const ARENA: usize = 4096;

/// `(strings, signature)` of each call site, level info.
pub const SITES: &[(&[&str], Option<&[u8]>)] = &[
    (&["plain message", "", "f.rs", "app"], Some(&[])),
    (
        &["int {} str {:>6} float {:.3}", "Src", "f.rs", "app::m"],
        Some(&[tag::U64, tag::STR, tag::F64]),
    ),
    // Tagged records only.
    (&["{}{}{}", "", "g.rs", "app", "k1", "k2"], None),
    (
        &["key {:?} hex {:#x}", "Über \"q\"", "h.rs", "a\tb", "user_id"],
        Some(&[tag::STR, tag::U32, tag::BOOL]),
    ),
    // Plain `{}`s of fixed-size values: the writer plans these.
    (&["{} {} {}", "", "p.rs", "app"], Some(&[tag::U64, tag::U32, tag::F64])),
];

/// Registers [`SITES`] in `table` and returns their ids.
pub fn register(table: &CallsiteTable<'_>) -> Vec<u32> {
    SITES
        .iter()
        .map(|(strings, sig)| {
            table
                .register_signed(EntryKind::Callsite, 2, 1, strings, *sig)
                .expect("register a callsite")
        })
        .collect()
}

thread_local! {
    /// The scratch table (leaked: it lives as long as the thread).
    static TABLE: RefCell<Option<(CallsiteTable<'static>, Vec<u32>)>> = const { RefCell::new(None) };
}

/// Runs `f` with the scratch table and the ids of [`SITES`] in it.
pub fn with_table<R>(f: impl FnOnce(&CallsiteTable<'static>, &[u32]) -> R) -> R {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let (table, ids) = t.get_or_insert_with(|| {
            let head: &'static ArenaHead = Box::leak(Box::new(ArenaHead::new()));
            let mem: &'static mut [u64] = Box::leak(vec![0u64; ARENA / 8].into_boxed_slice());
            // SAFETY: `mem` is 8-aligned, `ARENA` bytes, leaked (it
            // outlives the table) and reached only through it.
            let table = unsafe { CallsiteTable::new(head, mem.as_mut_ptr().cast(), ARENA) };
            let ids = register(&table);
            (table, ids)
        });
        f(table, ids)
    })
}

/// What the writer reads a compact record naming `id` by: the call
/// site's level and signature, if `id` names a committed call site
/// entry (with its four strings) that has both.
pub fn compact_site(id: u32) -> Option<(Level, Vec<u8>)> {
    with_table(|table, _| {
        let e = table.read(id).ok()?;
        if e.kind != EntryKind::Callsite || e.strings.len() < 4 {
            return None;
        }
        Some((Level::try_from(e.level).ok()?, e.signature?))
    })
}

/// True if the writer can write the record `rec` (either form) as a
/// line rather than skip it.
pub fn decodable(rec: &[u8]) -> bool {
    match ul_ring::record::peek(rec) {
        Ok(h) if h.form == ul_ring::record::Form::Compact => compact_site(h.callsite)
            .is_some_and(|(_, sig)| ul_ring::record::decode_with(rec, Some(&sig)).is_ok()),
        _ => ul_ring::record::decode(rec).is_ok(),
    }
}
