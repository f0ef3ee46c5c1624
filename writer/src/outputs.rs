//! The output files: `<dir>/<name>.log`, `<dir>/<name>.<level>.json` and
//! the binary log `<dir>/<name>.ulog` (see [`crate::binlog`]).
//!
//! Files are opened once (JSON files on first use) with `O_APPEND`,
//! `O_NOFOLLOW` and `O_CLOEXEC`, and written with one `write_all` per file per
//! batch. Each file's length is tracked so a batch can be rolled back (the
//! write-ahead intent) and a failed write truncated away before a retry.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ul_ring::layout::INTENT_SLOTS;
use ul_ring::record::Level;

/// Index of the text file in [`Outputs`]; JSON files follow at `1 + level`.
pub const TEXT: usize = 0;
/// Index of the binary log in [`Outputs`], after the five JSON files.
pub const BINARY: usize = 6;
/// Number of output files.
pub const COUNT: usize = 7;
const _: () = assert!(COUNT <= INTENT_SLOTS);

/// Which formats to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// `server.log` only.
    Text,
    /// `server.<level>.json` only.
    Json,
    /// Both (the default).
    #[default]
    Both,
    /// `server.ulog` only: the records as read from the lanes, in the
    /// binary log format (`ul-decode` turns it into the text or JSON lines).
    Binary,
    /// Text, JSON and the binary log.
    All,
}

impl Format {
    /// True if the text file is written.
    pub fn text(self) -> bool {
        matches!(self, Format::Text | Format::Both | Format::All)
    }
    /// True if the JSON files are written.
    pub fn json(self) -> bool {
        matches!(self, Format::Json | Format::Both | Format::All)
    }
    /// True if the binary log is written.
    pub fn binary(self) -> bool {
        matches!(self, Format::Binary | Format::All)
    }
}

/// A write that failed, with the file it failed on.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct OutputError {
    /// What we were doing.
    pub op: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

struct Slot {
    path: PathBuf,
    file: Option<File>,
    len: u64,
    /// Device and inode of `file` (valid while it is open).
    id: (u64, u64),
    /// Opened (or reopened, or rotated) since the last write that worked:
    /// the binary log's next batch must start with a session block.
    fresh: bool,
}

/// The open output files and their lengths.
pub struct Outputs {
    dir: PathBuf,
    /// Device and inode of `dir` when the files were opened.
    dir_id: Option<(u64, u64)>,
    slots: Vec<Slot>,
    /// The file opened at start (and on a reopen) whether or not it has
    /// been written yet: the text file, or the binary log when it is the
    /// only output.
    primary: usize,
}

fn dir_id(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

fn level_of(index: usize) -> Level {
    Level::try_from((index - 1) as u8).unwrap_or(Level::Info)
}

impl Outputs {
    /// Prepares outputs in `dir` (created if missing) with file stem `name`.
    pub fn new(dir: &Path, name: &str) -> Result<Self, OutputError> {
        Self::new_for(dir, name, Format::Both)
    }

    /// [`new`](Self::new) for the outputs of `format`: the file opened at
    /// start, so that a bad directory is reported then, is the text file,
    /// or with `Format::Binary` the binary log (no empty `<name>.log`).
    pub fn new_for(dir: &Path, name: &str, format: Format) -> Result<Self, OutputError> {
        if std::fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
            return Err(OutputError {
                op: "use as the log directory",
                path: dir.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "it exists and is not a directory (--dir names the directory the logs go into)",
                ),
            });
        }
        std::fs::create_dir_all(dir).map_err(|source| OutputError {
            op: "create directory",
            path: dir.to_owned(),
            source,
        })?;
        let mut slots = Vec::with_capacity(COUNT);
        for i in 0..COUNT {
            let path = if i == TEXT {
                dir.join(format!("{name}.log"))
            } else if i == BINARY {
                dir.join(format!("{name}.ulog"))
            } else {
                dir.join(format!("{name}.{}.json", level_of(i).as_str()))
            };
            slots.push(Slot {
                path,
                file: None,
                len: 0,
                id: (0, 0),
                fresh: true,
            });
        }
        let mut out = Self {
            dir: dir.to_owned(),
            dir_id: dir_id(dir),
            slots,
            primary: if format == Format::Binary {
                BINARY
            } else {
                TEXT
            },
        };
        // Learn the lengths of files that exist (for the intent), and open
        // the text file now so a bad directory is reported at start.
        for i in 0..COUNT {
            if i == out.primary || out.slots[i].path.exists() {
                out.open(i)?;
            }
        }
        Ok(out)
    }

    /// The output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of output `i`.
    pub fn path(&self, i: usize) -> &Path {
        &self.slots[i].path
    }

    fn open(&mut self, i: usize) -> Result<&mut File, OutputError> {
        let slot = &mut self.slots[i];
        if slot.file.is_none() {
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&slot.path)
                .map_err(|source| OutputError {
                    op: "open",
                    path: slot.path.clone(),
                    source,
                })?;
            let meta = file.metadata().map_err(|source| OutputError {
                op: "stat",
                path: slot.path.clone(),
                source,
            })?;
            slot.len = meta.len();
            slot.id = (meta.dev(), meta.ino());
            slot.file = Some(file);
            slot.fresh = true;
        }
        Ok(slot.file.as_mut().expect("opened above"))
    }

    /// Opens (creating it if need be) file `i`, so that a batch about to
    /// be written there can name it in its intent.
    pub fn prepare(&mut self, i: usize) -> Result<(), OutputError> {
        self.open(i).map(|_| ())
    }

    /// Device and inode of file `i`, if it is open.
    pub fn identity(&self, i: usize) -> Option<(u64, u64)> {
        let s = &self.slots[i];
        s.file.as_ref().map(|_| s.id)
    }

    /// True if file `i` was opened, reopened or rotated since the last
    /// write to it that worked, or a write to it was taken back since:
    /// what this process wrote before is not known to end the file.
    pub fn fresh(&self, i: usize) -> bool {
        self.slots[i].fresh
    }

    /// Current lengths of all outputs (0 for files not yet opened).
    pub fn lengths(&self) -> [u64; COUNT] {
        let mut l = [0; COUNT];
        for (i, s) in self.slots.iter().enumerate() {
            l[i] = s.len;
        }
        l
    }

    /// Appends `bytes` to output `i` (one write call unless the kernel
    /// splits it). On error the file is truncated back to its length before
    /// the call, so a retry does not leave a partial batch behind.
    pub fn append(&mut self, i: usize, bytes: &[u8]) -> Result<(), OutputError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let before = self.slots[i].len;
        let file = self.open(i)?;
        match file.write_all(bytes) {
            Ok(()) => {
                self.slots[i].len = before + bytes.len() as u64;
                self.slots[i].fresh = false;
                Ok(())
            }
            Err(source) => {
                let _ = file.set_len(before);
                Err(OutputError {
                    op: "write",
                    path: self.slots[i].path.clone(),
                    source,
                })
            }
        }
    }

    /// Rotates output `i` (see [`crate::rotate::shift`]) and reopens it
    /// empty. Call only between batches, with no intent in flight. If the
    /// shift fails the file is reopened where it is (appending on).
    pub fn rotate(&mut self, i: usize, keep: u32) -> Result<(), OutputError> {
        let slot = &mut self.slots[i];
        slot.file = None;
        slot.len = 0;
        let shifted = crate::rotate::shift(&slot.path, keep).map_err(|source| OutputError {
            op: "rotate",
            path: slot.path.clone(),
            source,
        });
        self.open(i)?;
        shifted
    }

    /// Truncates output `i` back to `len` (rolling back an unfinished batch).
    pub fn truncate(&mut self, i: usize, len: u64) -> Result<(), OutputError> {
        let path = self.slots[i].path.clone();
        if !path.exists() {
            return Ok(());
        }
        let file = self.open(i)?;
        let cur = file.metadata().map(|m| m.len()).unwrap_or(0);
        if cur > len {
            file.set_len(len).map_err(|source| OutputError {
                op: "truncate",
                path: path.clone(),
                source,
            })?;
        }
        self.slots[i].len = len.min(cur);
        self.slots[i].fresh = true;
        Ok(())
    }

    /// True if the files are no longer where they are meant to be: the
    /// directory was deleted, renamed or replaced, or an open file was
    /// unlinked. Writing on would put records where nobody finds them. One
    /// `stat` and one `fstat` per open file.
    pub fn moved(&self) -> bool {
        dir_id(&self.dir) != self.dir_id
            || self.slots.iter().any(|s| {
                s.file
                    .as_ref()
                    .is_some_and(|f| f.metadata().map_or(true, |m| m.nlink() == 0))
            })
    }

    /// Closes every file; the next write reopens it (SIGHUP, a deleted
    /// directory, a write error). Recreates the directory if it is gone.
    pub fn reopen_all(&mut self) -> Result<(), OutputError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| OutputError {
            op: "create directory",
            path: self.dir.clone(),
            source,
        })?;
        self.dir_id = dir_id(&self.dir);
        for s in &mut self.slots {
            s.file = None;
            s.len = 0;
        }
        for i in 0..COUNT {
            if i == self.primary || self.slots[i].path.exists() {
                self.open(i)?;
            }
        }
        Ok(())
    }
}
