//! One writer per set of output files.
//!
//! Two writers serving different regions with the same `--dir` and
//! `--name` would append to the same `server.log`, interleaving batches and
//! each rolling the other's bytes back in recovery (the write-ahead intent
//! names a file by identity and length). The region's own lock cannot see
//! that: the regions differ. So a writer also takes an exclusive `flock` on
//! `<dir>/.<name>.ul-writer.lock`, a file of its own that it creates and
//! never removes (removing a lock file races with a writer opening it), and
//! writes into it who holds it, for the message the next writer gives.
//!
//! The kernel drops the lock when the holder dies, so a killed writer never
//! leaves its files locked.
//!
//! ```no_run
//! use std::path::Path;
//! let lock = ul_writer::internals::dir_lock::DirLock::take(Path::new("./logs"), "server", Path::new("/dev/shm/ul"))?;
//! # drop(lock);
//! # Ok::<(), ul_writer::internals::dir_lock::DirLockError>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the output files could not be locked for this writer.
#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    /// Another live writer writes these files.
    #[error(
        "{} is locked by another ul-writer ({holder}): it writes {dir}/{name}.log and \
         {dir}/{name}.<level>.json. Two writers on one set of files would interleave and \
         undo each other's batches; give this writer another --dir or --name",
        path.display(),
        dir = dir.display()
    )]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The log directory.
        dir: PathBuf,
        /// The file stem (`--name`).
        name: String,
        /// What the holder wrote into the lock file (its pid and region).
        holder: String,
    },
    /// The lock file could not be opened or locked.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// The lock file's path for outputs `<dir>/<name>.*`.
    pub fn path(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!(".{name}.ul-writer.lock"))
    }

    /// Takes the lock for outputs `<dir>/<name>.*` (the directory must
    /// exist), on behalf of a writer serving `shm`; fails at once if
    /// another process holds it.
    pub fn take(dir: &Path, name: &str, shm: &Path) -> Result<DirLock, DirLockError> {
        let path = Self::path(dir, name);
        let io = |op| {
            let path = path.clone();
            move |source| DirLockError::Io { op, path, source }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io("open the output lock"))?;
        // SAFETY: flock on a descriptor this function owns; it touches no
        // memory.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(DirLockError::Held {
                    path,
                    dir: dir.to_owned(),
                    name: name.to_owned(),
                    holder: if holder.is_empty() {
                        "it has not said who it is yet".into()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            return Err(io("lock")(err));
        }
        // Who holds it is only for the next writer's message: on a full
        // file system (a writer must start there, keeping records in the
        // ring until space is freed) the note is left empty, not an error.
        let who = format!("pid {}, serving {}\n", std::process::id(), shm.display());
        let noted = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(who.as_bytes()));
        if noted.is_err() {
            let _ = file.set_len(0);
        }
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_told_who_holds_it() {
        let dir = std::env::temp_dir().join(format!("ul-dir-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DirLock::take(&dir, "server", Path::new("/dev/shm/ul-a")).unwrap();
        // flock locks belong to the open file description: a second open in
        // this process conflicts as another process's would.
        let e = DirLock::take(&dir, "server", Path::new("/dev/shm/ul-b")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DirLockError::Held { .. }), "{msg}");
        assert!(msg.contains("/dev/shm/ul-a"), "{msg}");
        assert!(msg.contains("--dir or --name"), "{msg}");
        // Another stem in the same directory is another set of files.
        let other = DirLock::take(&dir, "audit", Path::new("/dev/shm/ul-b")).unwrap();
        drop(first);
        let again = DirLock::take(&dir, "server", Path::new("/dev/shm/ul-b")).unwrap();
        drop((other, again));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
