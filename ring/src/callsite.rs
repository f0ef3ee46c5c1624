//! The callsite table: an append-only arena of format strings and contexts.
//!
//! Each macro call site registers once per process: its format string,
//! level, source, file, line and key names go into the arena, and the
//! record refers to the entry by id. Thread and `Logger` contexts (source and
//! key-value pairs set once) are registered the same way, so a record carries
//! a 4-byte id instead of copies of their strings.
//!
//! Entry at an 8-aligned offset `off`, id `off / 8 + 1`:
//!
//! ```text
//! commit u32   entry length, stored last with Release (0 = not yet written)
//! kind u32     1 callsite, 2 context
//! level u8 | nstr u8 | signed u8 | nsig u8 | line u32
//! nstr times: len u32, UTF-8 bytes
//! nsig signature bytes (when signed = 1)
//! zero padding to a multiple of 8
//! ```
//!
//! A callsite's strings are `[format, source, file, module, key names...]`;
//! a context's are `[source, key, value, key, value, ...]`.
//!
//! A call site whose argument types are known at compile time (a macro's)
//! registers its *signature* too: one argument tag per argument
//! ([`crate::args::tag`]), in order. Its records are then compact: they
//! carry the values without tags, and the writer reads them by the
//! signature (see [`crate::record`]). An entry without one (`signed` 0)
//! serves tagged records only.
//!
//! The writer reads entries as untrusted input: every offset and length is
//! checked and the entry is copied out before it is parsed.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::bytes::{ByteStore, RawBytes};
use crate::layout::ArenaHead;

/// Entry kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A macro call site.
    Callsite = 1,
    /// A thread or `Logger` context.
    Context = 2,
}

/// A parsed arena entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What it is.
    pub kind: EntryKind,
    /// Level of a callsite (0 for contexts).
    pub level: u8,
    /// Source line of a callsite.
    pub line: u32,
    /// The strings (see the module docs for their meaning).
    pub strings: Vec<String>,
    /// The argument tags of the call site's compact records, if it has
    /// them (every byte a known tag: checked when read).
    pub signature: Option<Vec<u8>>,
}

/// Why an entry could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallsiteError {
    /// The arena has no room left.
    #[error("callsite table is full ({len} bytes); create the region with a larger table")]
    Full {
        /// Arena size.
        len: usize,
    },
    /// Too many strings, or one longer than 64 KiB.
    #[error("callsite entry too large: {what}")]
    TooLarge {
        /// What is too large.
        what: String,
    },
    /// The id does not point at an entry.
    #[error("callsite id {id} is outside the table")]
    BadId {
        /// The id.
        id: u32,
    },
    /// The entry exists but is malformed.
    #[error("callsite id {id} is malformed at byte {at}: {what}")]
    Malformed {
        /// The id.
        id: u32,
        /// Offset within the entry.
        at: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// The entry is not committed: not yet (its commit is not visible to
    /// this reader yet), or never (its producer died while registering).
    #[error("callsite id {id} is not committed (not yet, or its producer died while registering)")]
    Uncommitted {
        /// The id.
        id: u32,
    },
}

/// True if `t` is an argument tag.
fn is_tag(t: u8) -> bool {
    crate::args::fixed_len(t).is_some() || t == crate::args::tag::STR || t == crate::args::tag::TEXT
}

/// The arena as seen by one process.
pub struct CallsiteTable<'a> {
    head: &'a ArenaHead,
    base: *mut u8,
    bytes: RawBytes,
    len: usize,
}

const ENTRY_HEAD: usize = 16;
const MAX_STRINGS: usize = 255;
const MAX_STRING_LEN: usize = 64 * 1024;
/// Most arguments a signature describes.
const MAX_SIGNATURE: usize = 255;
/// Entries a registration looks at for an identical one before appending.
const FIND_BUDGET: usize = 1 << 16;

impl<'a> CallsiteTable<'a> {
    /// Wraps an arena of `len` bytes at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be 8-byte aligned and valid for reads and writes of `len`
    /// bytes for `'a`.
    pub unsafe fn new(head: &'a ArenaHead, base: *mut u8, len: usize) -> Self {
        Self {
            head,
            base,
            // SAFETY: forwarded from this function's contract.
            bytes: unsafe { RawBytes::new(base, len) },
            len,
        }
    }

    fn commit_word(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off % 8 == 0 && off + 4 <= self.len);
        // SAFETY: callers check `off + 4 <= len`; `off` is 8-aligned and
        // `base` is 8-aligned, so the word is aligned and inside the arena.
        unsafe { &*(self.base.add(off) as *const AtomicU32) }
    }

    /// Registers an entry and returns its id.
    ///
    /// ```
    /// # use ul_ring::callsite::*;
    /// # use ul_ring::layout::ArenaHead;
    /// let head = ArenaHead::new();
    /// let mut mem = vec![0u64; 512];
    /// // SAFETY: `mem` is 8-aligned, 4096 bytes, and outlives `table`.
    /// let table = unsafe { CallsiteTable::new(&head, mem.as_mut_ptr().cast(), 4096) };
    /// let id = table.register(EntryKind::Callsite, 2, 7, &["hello {}", "", "main.rs", "app"]).unwrap();
    /// let e = table.read(id).unwrap();
    /// assert_eq!(e.strings[0], "hello {}");
    /// assert_eq!(e.line, 7);
    /// ```
    pub fn register(
        &self,
        kind: EntryKind,
        level: u8,
        line: u32,
        strings: &[&str],
    ) -> Result<u32, CallsiteError> {
        self.register_signed(kind, level, line, strings, None)
    }

    /// Registers an entry with a signature (see the module docs) and
    /// returns its id. The same call site with another signature (or
    /// none) is another entry.
    ///
    /// ```
    /// # use ul_ring::callsite::*;
    /// # use ul_ring::layout::ArenaHead;
    /// use ul_ring::args::tag;
    /// let head = ArenaHead::new();
    /// let mut mem = vec![0u64; 512];
    /// // SAFETY: `mem` is 8-aligned, 4096 bytes, and outlives `table`.
    /// let table = unsafe { CallsiteTable::new(&head, mem.as_mut_ptr().cast(), 4096) };
    /// let site = ["n={} x={}", "", "main.rs", "app"];
    /// let id = table.register_signed(EntryKind::Callsite, 2, 7, &site, Some(&[tag::U32, tag::F64])).unwrap();
    /// assert_eq!(table.read(id).unwrap().signature, Some(vec![tag::U32, tag::F64]));
    /// assert_ne!(table.register(EntryKind::Callsite, 2, 7, &site).unwrap(), id);
    /// ```
    pub fn register_signed(
        &self,
        kind: EntryKind,
        level: u8,
        line: u32,
        strings: &[&str],
        signature: Option<&[u8]>,
    ) -> Result<u32, CallsiteError> {
        if strings.len() > MAX_STRINGS {
            return Err(CallsiteError::TooLarge {
                what: format!("{} strings (at most {MAX_STRINGS})", strings.len()),
            });
        }
        let mut body = ENTRY_HEAD;
        for s in strings {
            if s.len() > MAX_STRING_LEN {
                return Err(CallsiteError::TooLarge {
                    what: format!("a {}-byte string (at most {MAX_STRING_LEN})", s.len()),
                });
            }
            body += 4 + s.len();
        }
        let sig = signature.unwrap_or_default();
        if sig.len() > MAX_SIGNATURE {
            return Err(CallsiteError::TooLarge {
                what: format!(
                    "a signature of {} arguments (at most {MAX_SIGNATURE})",
                    sig.len()
                ),
            });
        }
        body += sig.len();
        let len = body.div_ceil(8) * 8;
        if len > self.len {
            return Err(CallsiteError::Full { len: self.len });
        }
        // The entry as it would stand after its commit word.
        let mut entry = vec![0u8; len - 4];
        let encode = |enc: &mut crate::args::Encoder<'_>| {
            enc.put_u32(kind as u32);
            enc.put_u8(level);
            enc.put_u8(strings.len() as u8);
            enc.put_u8(u8::from(signature.is_some()));
            enc.put_u8(sig.len() as u8);
            enc.put_u32(line);
            for s in strings {
                enc.put_u32(s.len() as u32);
                enc.put_bytes(s.as_bytes());
            }
            enc.put_bytes(sig);
        };
        encode(&mut crate::args::Encoder::new(&mut entry));
        // Every process registers its call sites again; the same call site
        // of the same program is the same entry. Reuse it, or a region that
        // sees thousands of short-lived producers (a cron job's `ul-log`)
        // fills its arena, and every later call site loses its format.
        if (self.head.next.load(Ordering::Relaxed) as usize) < self.len {
            if let Some(id) = self.find(&entry) {
                return Ok(id);
            }
        }
        let off = self.head.next.fetch_add(len as u32, Ordering::Relaxed) as usize;
        if off.checked_add(len).is_none_or(|end| end > self.len) {
            // Keep `next` from wrapping around after many refusals.
            self.head.next.store(self.len as u32, Ordering::Relaxed);
            self.head.refused.fetch_add(1, Ordering::Relaxed);
            return Err(CallsiteError::Full { len: self.len });
        }
        self.bytes
            .write_with(off + 4, len - 4, |enc| enc.put_bytes(&entry));
        // Release: the entry's bytes happen before any reader that sees the
        // commit word (and before the records that name this id, which are
        // published later in program order).
        self.commit_word(off).store(len as u32, Ordering::Release);
        Ok((off / 8) as u32 + 1)
    }

    /// The id of a committed entry whose bytes after the commit word are
    /// `entry` (and so whose length is `entry.len() + 4`), walking the
    /// committed entries from the start. Stops at the first uncommitted
    /// one (being written, or its writer died: its length is unknown), or
    /// at anything out of bounds (the arena is untrusted).
    fn find(&self, entry: &[u8]) -> Option<u32> {
        let want = entry.len() + 4;
        let end = (self.head.next.load(Ordering::Relaxed) as usize).min(self.len);
        let mut off = 0;
        let mut buf = Vec::new();
        // At most this many entries are looked at: call sites register
        // early, and a program that registers contexts per request must
        // not pay a walk of the whole arena for each.
        let mut budget = FIND_BUDGET;
        while off + ENTRY_HEAD <= end && budget > 0 {
            budget -= 1;
            // Acquire: the entry's bytes, written before its commit.
            let len = self.commit_word(off).load(Ordering::Acquire) as usize;
            if len < ENTRY_HEAD || len % 8 != 0 || len > end - off {
                return None;
            }
            if len == want {
                buf.resize(len - 4, 0);
                self.bytes.read(off + 4, &mut buf);
                if buf == entry {
                    return Some((off / 8) as u32 + 1);
                }
            }
            off += len;
        }
        None
    }

    /// Reads and checks entry `id`, treating the arena as untrusted.
    pub fn read(&self, id: u32) -> Result<Entry, CallsiteError> {
        let off = (id as usize).wrapping_sub(1).wrapping_mul(8);
        if id == 0 || off.checked_add(ENTRY_HEAD).is_none_or(|e| e > self.len) {
            return Err(CallsiteError::BadId { id });
        }
        let len = self.commit_word(off).load(Ordering::Acquire) as usize;
        if len == 0 {
            return Err(CallsiteError::Uncommitted { id });
        }
        let bad = |at: usize, what: &'static str| CallsiteError::Malformed { id, at, what };
        if len < ENTRY_HEAD || len % 8 != 0 || len > self.len - off {
            return Err(bad(0, "entry length out of bounds"));
        }
        let mut buf = vec![0u8; len];
        self.bytes.read(off, &mut buf);
        // The commit word read again with the bytes: `parse_entry` checks
        // it against the bytes it is given.
        buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
        parse_entry(id, &buf)
    }

    /// Bytes of the arena in use.
    pub fn used(&self) -> usize {
        (self.head.next.load(Ordering::Relaxed) as usize).min(self.len)
    }
}

/// The bytes of `entry` as the arena holds them, commit word included (a
/// binary log stores call sites this way; [`parse_entry`] reads them back).
///
/// ```
/// use ul_ring::callsite::{encode_entry, parse_entry, Entry, EntryKind};
/// let e = Entry {
///     kind: EntryKind::Callsite,
///     level: 2,
///     line: 12,
///     strings: vec!["n={}".into(), "".into(), "main.rs".into(), "app".into()],
///     signature: Some(vec![ul_ring::args::tag::U64]),
/// };
/// let bytes = encode_entry(&e);
/// assert_eq!(bytes.len() % 8, 0);
/// assert_eq!(parse_entry(5, &bytes), Ok(e));
/// ```
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    let strings = &entry.strings[..entry.strings.len().min(MAX_STRINGS)];
    let sig = entry.signature.as_deref().unwrap_or_default();
    let sig = &sig[..sig.len().min(MAX_SIGNATURE)];
    let body = ENTRY_HEAD + strings.iter().map(|s| 4 + s.len()).sum::<usize>() + sig.len();
    let len = body.div_ceil(8) * 8;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&(entry.kind as u32).to_le_bytes());
    out.push(entry.level);
    out.push(strings.len() as u8);
    out.push(u8::from(entry.signature.is_some()));
    out.push(sig.len() as u8);
    out.extend_from_slice(&entry.line.to_le_bytes());
    for s in strings {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(sig);
    out.resize(len, 0);
    out
}

/// Parses an entry's bytes, commit word included (`buf[..4]` is the
/// entry's length and must be `buf.len()`), as [`CallsiteTable::read`]
/// does: every offset and length checked, never a panic, whatever `buf`
/// holds. `id` only names the entry in errors.
pub fn parse_entry(id: u32, buf: &[u8]) -> Result<Entry, CallsiteError> {
    {
        let bad = |at: usize, what: &'static str| CallsiteError::Malformed { id, at, what };
        let len = buf
            .first_chunk::<4>()
            .map_or(0, |b| u32::from_le_bytes(*b) as usize);
        if len < ENTRY_HEAD || len % 8 != 0 || len != buf.len() {
            return Err(bad(0, "entry length out of bounds"));
        }
        let u32_at = |at: usize| -> Option<u32> {
            let b = buf.get(at..at + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let kind = match u32_at(4) {
            Some(1) => EntryKind::Callsite,
            Some(2) => EntryKind::Context,
            _ => return Err(bad(4, "unknown entry kind")),
        };
        let level = buf[8];
        let nstr = buf[9] as usize;
        let signed = buf[10];
        let nsig = buf[11] as usize;
        let line = u32_at(12).unwrap_or(0);
        let mut at = ENTRY_HEAD;
        let mut strings = Vec::with_capacity(nstr);
        for _ in 0..nstr {
            let n = u32_at(at).ok_or(bad(at, "string length past the entry's end"))? as usize;
            at += 4;
            let s = buf
                .get(at..at.saturating_add(n))
                .ok_or(bad(at, "string past the entry's end"))?;
            strings.push(String::from_utf8_lossy(s).into_owned());
            at += n;
        }
        let signature = match signed {
            0 => None,
            1 => {
                let sig = buf
                    .get(at..at + nsig)
                    .ok_or(bad(at, "signature past the entry's end"))?;
                if let Some(i) = sig.iter().position(|&t| !is_tag(t)) {
                    return Err(bad(at + i, "unknown argument tag in the signature"));
                }
                Some(sig.to_vec())
            }
            _ => return Err(bad(10, "signature flag neither 0 nor 1")),
        };
        Ok(Entry {
            kind,
            level,
            line,
            strings,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before 2026-12 every registration appended: the arena filled after
    /// a few thousand short-lived processes (320-750 bytes each for the
    /// chaos producer), and every later call site lost its format.
    #[test]
    fn the_same_entry_registered_again_is_the_same_id() {
        let head = ArenaHead::new();
        let mut mem = vec![0u64; 512];
        // SAFETY: `mem` is 8-aligned, 4096 bytes, and outlives `table`.
        let table = unsafe { CallsiteTable::new(&head, mem.as_mut_ptr().cast(), 4096) };
        let site = ["hello {}", "", "main.rs", "app"];
        let a = table.register(EntryKind::Callsite, 2, 7, &site).unwrap();
        let used = head.next.load(Ordering::Relaxed);
        for _ in 0..1000 {
            assert_eq!(table.register(EntryKind::Callsite, 2, 7, &site).unwrap(), a);
        }
        assert_eq!(head.next.load(Ordering::Relaxed), used, "the arena grew");
        // Anything that differs (level, line, kind, a string) is an entry
        // of its own.
        let others = [
            table.register(EntryKind::Callsite, 3, 7, &site).unwrap(),
            table.register(EntryKind::Callsite, 2, 8, &site).unwrap(),
            table.register(EntryKind::Context, 2, 7, &site).unwrap(),
            table
                .register(
                    EntryKind::Callsite,
                    2,
                    7,
                    &["hello {}!", "", "main.rs", "app"],
                )
                .unwrap(),
        ];
        for (k, &id) in others.iter().enumerate() {
            assert_ne!(id, a);
            assert!(!others[..k].contains(&id));
        }
        // An entry being written (committed length 0) ends the search: the
        // next registration appends rather than read past it.
        let before = head.next.load(Ordering::Relaxed);
        head.next.fetch_add(16, Ordering::Relaxed); // reserved, never committed
        let b = table.register(EntryKind::Callsite, 4, 1, &["x"]).unwrap();
        assert!(head.next.load(Ordering::Relaxed) > before + 16);
        assert_eq!(table.read(b).unwrap().strings, vec!["x".to_string()]);
        // ... and so does this, found before the hole.
        assert_eq!(table.register(EntryKind::Callsite, 2, 7, &site).unwrap(), a);
    }

    /// A signature is part of the entry: read back as registered, another
    /// signature is another entry, and a forged one is refused.
    #[test]
    fn signatures_are_read_back_and_checked() {
        use crate::args::tag;
        let head = ArenaHead::new();
        let mut mem = vec![0u64; 512];
        let base: *mut u8 = mem.as_mut_ptr().cast();
        // SAFETY: `mem` is 8-aligned, 4096 bytes, and outlives `table`;
        // the forgeries below write through `base` while no registration
        // runs.
        let table = unsafe { CallsiteTable::new(&head, base, 4096) };
        let site = ["{} {}", "", "main.rs", "app", "key"];
        let sig = [tag::STR, tag::F64];
        let a = table
            .register_signed(EntryKind::Callsite, 2, 7, &site, Some(&sig))
            .unwrap();
        let e = table.read(a).unwrap();
        assert_eq!(e.signature.as_deref(), Some(&sig[..]));
        assert_eq!(e.strings.len(), 5);
        // Signed with no arguments is not unsigned.
        let empty = table
            .register_signed(EntryKind::Callsite, 2, 7, &site, Some(&[]))
            .unwrap();
        let none = table.register(EntryKind::Callsite, 2, 7, &site).unwrap();
        let other = table
            .register_signed(
                EntryKind::Callsite,
                2,
                7,
                &site,
                Some(&[tag::STR, tag::F32]),
            )
            .unwrap();
        assert_eq!(table.read(empty).unwrap().signature, Some(vec![]));
        assert_eq!(table.read(none).unwrap().signature, None);
        let ids = [a, empty, none, other];
        for (i, x) in ids.iter().enumerate() {
            assert!(!ids[..i].contains(x), "{ids:?}");
        }
        assert_eq!(
            table
                .register_signed(EntryKind::Callsite, 2, 7, &site, Some(&sig))
                .unwrap(),
            a
        );
        // Forged: a signature byte that is no tag, a flag other than 0/1,
        // a signature longer than the entry.
        let off = (a as usize - 1) * 8;
        let sig_at = ENTRY_HEAD + site.iter().map(|s| 4 + s.len()).sum::<usize>();
        // SAFETY: these bytes are inside entry `a`, inside `mem`.
        unsafe { *base.add(off + sig_at + 1) = 0 };
        assert!(matches!(
            table.read(a),
            Err(CallsiteError::Malformed { at, .. }) if at == sig_at + 1
        ));
        // SAFETY: as above.
        unsafe { *base.add(off + sig_at + 1) = tag::F64 };
        assert!(table.read(a).is_ok());
        // SAFETY: as above (the flag byte).
        unsafe { *base.add(off + 10) = 2 };
        assert!(matches!(
            table.read(a),
            Err(CallsiteError::Malformed { at: 10, .. })
        ));
        // SAFETY: as above (flag and count bytes).
        unsafe {
            *base.add(off + 10) = 1;
            *base.add(off + 11) = 200;
        }
        let e = table.read(a).unwrap_err();
        assert!(
            e.to_string().contains("signature past the entry's end"),
            "{e}"
        );
        drop(mem);
    }
}
