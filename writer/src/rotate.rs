//! Size-based rotation: `server.log` -> `server.log.1` -> ... ->
//! `server.log.<keep>`, the oldest dropped.
//!
//! The engine rotates only between batches, before it records the next
//! batch's write-ahead intent, so an intent always names lengths of the
//! files as they are after the rotation. A writer killed inside the rename
//! chain leaves at worst a gap in the numbering, never a lost or repeated
//! record: each rename is atomic and the current file is renamed last.

use std::path::{Path, PathBuf};

/// When and how far to rotate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate a file before a batch would take it past this many bytes.
    pub size: u64,
    /// Rotated files kept (`.1` to `.keep`); older ones are deleted.
    pub keep: u32,
}

impl Rotation {
    /// True if a file of `len` bytes must be rotated before `add` more.
    /// An empty file is never rotated, so a batch larger than `size` still
    /// gets written (into a file of its own).
    ///
    /// ```
    /// use ul_writer::internals::rotate::Rotation;
    /// let r = Rotation { size: 100, keep: 2 };
    /// assert!(!r.due(60, 40));
    /// assert!(r.due(60, 41));
    /// assert!(!r.due(0, 500));
    /// ```
    pub fn due(&self, len: u64, add: u64) -> bool {
        len > 0 && add > 0 && len.saturating_add(add) > self.size
    }
}

/// Rotation as the engine runs it: checks every output before a batch and
/// reports a failing rotation once (per distinct error) on stderr, then
/// keeps writing to the current file rather than stopping the writer.
#[derive(Debug)]
pub struct Rotator {
    rotation: Rotation,
    last_error: Option<String>,
}

impl Rotator {
    /// A rotator for `rotation`.
    pub fn new(rotation: Rotation) -> Self {
        Self {
            rotation,
            last_error: None,
        }
    }

    /// Rotates each output `i` that `batch[i]` bytes would take past the
    /// size. Call between batches, before the write-ahead intent is stored.
    pub fn before_batch(&mut self, out: &mut crate::outputs::Outputs, batch: &[Vec<u8>]) {
        let lens = out.lengths();
        for (i, b) in batch.iter().enumerate() {
            if !self.rotation.due(lens[i], b.len() as u64) {
                continue;
            }
            match out.rotate(i, self.rotation.keep) {
                Ok(()) => self.last_error = None,
                Err(e) => {
                    let msg = e.to_string();
                    if self.last_error.as_ref() != Some(&msg) {
                        crate::diag!("{msg}; writing on to the current file");
                        self.last_error = Some(msg);
                    }
                }
            }
        }
    }
}

/// `path` with `.n` appended.
pub fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Shifts `path.(keep-1)` to `path.keep` ... `path` to `path.1`, deleting
/// `path.keep` first. With `keep == 0` the file is deleted. Only the
/// contiguous run `path.1`, `path.2`, ... is shifted (one `stat` per file
/// kept, not per `keep`), so a numbered file beyond a gap (left by a crash
/// or by hand) stays where it is until the run reaches it. The caller
/// reopens `path` afterwards.
pub fn shift(path: &Path, keep: u32) -> std::io::Result<()> {
    if keep == 0 {
        return remove_if_exists(path);
    }
    let mut top = 0;
    while top < keep && numbered(path, top + 1).exists() {
        top += 1;
    }
    if top == keep {
        remove_if_exists(&numbered(path, keep))?;
        top -= 1;
    }
    for n in (1..=top).rev() {
        rename_if_exists(&numbered(path, n), &numbered(path, n + 1))?;
    }
    rename_if_exists(path, &numbered(path, 1))
}

fn remove_if_exists(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("ul-rotate-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("server.log");
        for gen in 0..5 {
            std::fs::write(&p, format!("{gen}")).unwrap();
            shift(&p, 3).unwrap();
        }
        assert!(!p.exists());
        let read = |n| std::fs::read_to_string(numbered(&p, n)).unwrap();
        assert_eq!(
            (read(1), read(2), read(3)),
            ("4".into(), "3".into(), "2".into())
        );
        assert!(!numbered(&p, 4).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
