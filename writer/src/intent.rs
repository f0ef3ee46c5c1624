//! The file half of the write-ahead intent: which file each output of a
//! batch went to (device and inode) and how long it was before the batch,
//! and the roll-back a restarted writer does with that.
//!
//! Recovery truncates only a file with the recorded identity, found in the
//! writer's own directory (so a file renamed since, as logrotate does
//! before its `kill -HUP`, is still found), only back to the recorded
//! length, and never a file the intent names that is not there: that is
//! reported and left alone. Before this, recovery truncated whatever file
//! was at each path to the length read from shared memory.

use std::fs::OpenOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use ul_ring::layout::{IntentFile, RegionHeader};

use crate::outputs::{OutputError, Outputs, COUNT};

/// Records the files a batch is about to write: each output with bytes in
/// `bufs` is opened first (created if need be) so that its identity is
/// known, then its device, inode and length go into the region; other
/// slots name no file. Returns the lengths (to take a failed write back).
pub fn record(
    h: &RegionHeader,
    out: &mut Outputs,
    bufs: &[Vec<u8>],
) -> Result<[u64; COUNT], OutputError> {
    for (i, buf) in bufs.iter().enumerate().take(COUNT) {
        if !buf.is_empty() {
            out.prepare(i)?;
        }
    }
    let lens = out.lengths();
    for i in 0..COUNT {
        let (dev, ino) = match out.identity(i) {
            Some(id) if !bufs[i].is_empty() => id,
            _ => (0, 0),
        };
        h.set_intent_file(
            i,
            IntentFile {
                dev,
                ino,
                len: lens[i],
            },
        );
    }
    Ok(lens)
}

/// What [`roll_back`] did with one file of a half-written batch.
#[derive(Debug, PartialEq, Eq)]
pub enum RollBack {
    /// The batch wrote no file in this slot.
    Nothing,
    /// The file was cut back to its length before the batch.
    Truncated {
        /// Where the file is now.
        path: PathBuf,
        /// Its length before.
        from: u64,
        /// Its length now.
        to: u64,
    },
    /// The file is no longer than the intent says: nothing of the batch
    /// is in it (left alone).
    NothingWritten {
        /// Where the file is.
        path: PathBuf,
    },
    /// No file in the writer's directory has the identity the intent
    /// names: deleted since, or never this writer's. Left alone.
    NotFound {
        /// The identity the intent names.
        dev: u64,
        /// See `dev`.
        ino: u64,
    },
}

impl std::fmt::Display for RollBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RollBack::Nothing => write!(f, "no file"),
            RollBack::Truncated { path, from, to } => {
                write!(f, "cut {} back from {from} to {to} bytes", path.display())
            }
            RollBack::NothingWritten { path } => {
                write!(f, "{} holds nothing of it", path.display())
            }
            RollBack::NotFound { dev, ino } => write!(
                f,
                "no file in the log directory is the one it names (device {dev}, inode {ino}): \
                 deleted since, or not this writer's; nothing truncated"
            ),
        }
    }
}

/// Takes the half-written batch out of the file slot `i` of an intent
/// names: the output `i` if it is that file, else the file in the writer's
/// directory with that identity whose name is output `i`'s own or one of
/// its rotations (`<name>.N`, `<name>-DATE`), else nothing.
pub fn roll_back(out: &mut Outputs, i: usize, f: IntentFile) -> Result<RollBack, OutputError> {
    if f.is_empty() {
        return Ok(RollBack::Nothing);
    }
    let err = |op: &'static str, path: &std::path::Path| {
        let path = path.to_owned();
        move |source| OutputError { op, path, source }
    };
    if out.identity(i) == Some((f.dev, f.ino)) {
        let path = out.path(i).to_owned();
        let from = out.lengths()[i];
        if from <= f.len {
            return Ok(RollBack::NothingWritten { path });
        }
        out.truncate(i, f.len)?;
        return Ok(RollBack::Truncated {
            path,
            from,
            to: f.len,
        });
    }
    let dir = out.dir().to_owned();
    // Only this output's own names: the file itself and its rotations
    // (`server.log.1` by `--rotate-size` or logrotate, `server.log-DATE`
    // by logrotate's dateext). Another application's file in the
    // directory is never a candidate, whatever identity an intent names.
    let own = out
        .path(i)
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_default();
    let is_own = |name: &std::ffi::OsStr| {
        let (n, o) = (name.as_encoded_bytes(), own.as_encoded_bytes());
        n == o || (n.len() > o.len() && n.starts_with(o) && matches!(n[o.len()], b'.' | b'-'))
    };
    let entries = std::fs::read_dir(&dir).map_err(err("list", &dir))?;
    for entry in entries.flatten() {
        if !is_own(&entry.file_name()) {
            continue;
        }
        let path = entry.path();
        // lstat: a symbolic link is never followed to a file elsewhere.
        let Ok(m) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !m.is_file() || (m.dev(), m.ino()) != (f.dev, f.ino) {
            continue;
        }
        // O_NONBLOCK: a FIFO swapped in after the lstat must not hang us
        // (the identity check below then refuses it).
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&path)
            .map_err(err("open", &path))?;
        let m = file.metadata().map_err(err("stat", &path))?;
        if (m.dev(), m.ino()) != (f.dev, f.ino) {
            // Replaced between the lstat and the open: not the file.
            continue;
        }
        if m.len() <= f.len {
            return Ok(RollBack::NothingWritten { path });
        }
        file.set_len(f.len).map_err(err("truncate", &path))?;
        return Ok(RollBack::Truncated {
            path,
            from: m.len(),
            to: f.len,
        });
    }
    Ok(RollBack::NotFound {
        dev: f.dev,
        ino: f.ino,
    })
}
