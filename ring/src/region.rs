//! Creating, opening and validating the shared-memory region.
//!
//! Either side may create the region: the first to open it with
//! `O_CREAT|O_EXCL` allocates it (`posix_fallocate`, so a full tmpfs fails
//! now rather than with SIGBUS later), initialises every field, and
//! publishes [`MAGIC`] last with Release. Everyone else validates magic,
//! layout version and every size against the file before touching anything.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use core::sync::atomic::{AtomicU64, Ordering};
use memmap2::{MmapOptions, MmapRaw};

use crate::bytes::RawBytes;
use crate::lane::LaneControl;
use crate::layout::{
    Geometry, LaneSlot, RegionHeader, RegionKind, Sizes, CHANNEL_MAGIC, HEADER_LEN, LAYOUT_VERSION,
    MAGIC,
};
use crate::shared_lane::{SharedLane, SharedLaneControl};

/// Everything that can go wrong attaching to a region. Each message names
/// the path and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// An I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The region path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The path is a symbolic link; regions are never followed through links.
    #[error("{path} is a symbolic link; refusing to use it as a ul region (remove it or pick another path)")]
    Symlink {
        /// The region path.
        path: PathBuf,
    },
    /// The file does not start with ul's magic and is not a region being
    /// made or abandoned by a creator: not a ul region. ul leaves it alone
    /// (and does not advise removing it: it may be someone's data).
    #[error("{path} is not a ul region (it does not start with ul's magic; found {found:#018x}); ul leaves it alone: use another path for the region (--shm, ul::init)")]
    NotARegion {
        /// The region path.
        path: PathBuf,
        /// Magic found.
        found: u64,
        /// Magic expected.
        expected: u64,
    },
    /// The file is a ul region of the other kind (a log region opened as a
    /// channel, or the reverse).
    #[error("{path} is a ul {found} region, not a {expected} region; pass the path of a {expected} region")]
    WrongKind {
        /// The region path.
        path: PathBuf,
        /// Kind found ("log" or "channel").
        found: &'static str,
        /// Kind expected.
        expected: &'static str,
    },
    /// A channel region whose messages differ from the ones asked for.
    #[error("{path} is a channel of {found_len}-byte messages with schema {found_schema:#x}, but this program sends or serves {expected_len}-byte messages with schema {expected_schema:#x}; use the same message type on both sides, or another channel path")]
    MessageMismatch {
        /// The region path.
        path: PathBuf,
        /// Message length in the region.
        found_len: u32,
        /// Message length asked for.
        expected_len: u32,
        /// Schema tag in the region.
        found_schema: u64,
        /// Schema tag asked for.
        expected_schema: u64,
    },
    /// The region was made by another layout version of ul.
    #[error("{path} is a ul region of layout version {found}, this build speaks version {expected}; stop its users and remove it, or use a matching ul")]
    Version {
        /// The region path.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version expected.
        expected: u32,
    },
    /// A ul region (it has ul's magic) shorter than its header says, or
    /// than a header: broken.
    #[error(
        "{path} is a ul region truncated to {file_len} bytes (it needs {needed}); it is broken: stop the processes using it (`fuser -v {path}`) and remove it"
    )]
    Truncated {
        /// The region path.
        path: PathBuf,
        /// The file's length.
        file_len: u64,
        /// Bytes the region needs.
        needed: u64,
    },
    /// The header's sizes are out of bounds or disagree with each other.
    #[error("{path} has a corrupt header: {what}")]
    BadGeometry {
        /// The region path.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The sizes asked for a new region are invalid.
    #[error("cannot create a region with {what}")]
    BadSizes {
        /// What is wrong.
        what: String,
    },
    /// The file belongs to another user.
    #[error("{path} belongs to uid {owner}, not to us (uid {me}); refusing to share memory with another user (allow it explicitly with allow_other_owner)")]
    OtherOwner {
        /// The region path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        me: u32,
    },
    /// No magic, but what a creator that died before publishing it leaves
    /// (ul stores the magic last): zeros of exactly the size of a region
    /// with the sizes asked for (or the default ones) and the mode ul
    /// creates regions with, or the start of a ul header. Probably ours;
    /// only the check that no process uses it is left to the operator.
    #[error("{path} is probably a ul region whose creator died before finishing it ({why}, and no ul magic); if no process has it open (`fuser -v {path}` lists none), remove it and start again")]
    Abandoned {
        /// The region path.
        path: PathBuf,
        /// What makes it look like one (size, mode, header fields).
        why: String,
    },
    /// Empty, or zeros without a header, of a size or mode ul would not
    /// have made: a region whose creator died before writing anything, or
    /// any other file. ul cannot tell, so it says how to check and does not
    /// advise removing it.
    #[error("{path} {what} and has no ul magic: it may be a ul region whose creator died before writing it, or a file that is not a ul region; ul cannot tell. To check: `fuser -v {path}` lists the processes that have it open, `ls -l {path}` its owner, mode (ul creates regions 0600) and size. Use another path for the region (--shm, ul::init) unless you know it is a stale ul region")]
    Unrecognised {
        /// The region path.
        path: PathBuf,
        /// What the file holds: "is empty" or "holds N bytes of zeros".
        what: String,
    },
    /// The path is not a regular file.
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The region path.
        path: PathBuf,
    },
}

/// How to open or create a region.
#[derive(Clone, Debug)]
pub struct RegionOptions {
    /// Sizes for a region we create (an existing region keeps its own).
    pub sizes: Sizes,
    /// File mode for a region we create.
    pub mode: u32,
    /// Create the region if it does not exist.
    pub create: bool,
    /// Accept a region owned by another user.
    pub allow_other_owner: bool,
    /// How long to wait for a concurrent creator to finish.
    pub init_timeout: Duration,
    /// What the region carries; opening one of another kind fails.
    pub kind: RegionKind,
    /// Initial minimum level, batch size and flush interval of a new region.
    pub min_level: u32,
    /// See `min_level`.
    pub batch_size: u32,
    /// See `min_level`.
    pub flush_interval_ms: u32,
    /// Fault every page of the mapping in at once (`MAP_POPULATE`), so
    /// that no log call takes a page fault. Producers want this; the writer
    /// does not: the region's pages count in a process's RSS once mapped
    /// in, and the writer only needs the pages of the lanes in use.
    pub populate: bool,
}

impl Default for RegionOptions {
    fn default() -> Self {
        Self {
            sizes: Sizes::default(),
            mode: 0o600,
            create: true,
            allow_other_owner: false,
            init_timeout: Duration::from_secs(2),
            kind: RegionKind::Log,
            min_level: 0,
            batch_size: 4096,
            flush_interval_ms: 100,
            populate: true,
        }
    }
}

/// Mapping options for `len` bytes, pre-faulted if `populate`.
fn map_options(len: usize, populate: bool) -> MmapOptions {
    let mut o = MmapOptions::new();
    o.len(len);
    if populate {
        o.populate();
    }
    o
}

/// A mapped, validated region.
///
/// ```no_run
/// use ul_ring::region::{Region, RegionOptions};
/// let region = Region::open("/dev/shm/ul-doc", &RegionOptions::default())?;
/// println!("{} lanes", region.geometry().sizes.lanes);
/// # Ok::<(), ul_ring::region::RegionError>(())
/// ```
pub struct Region {
    map: MmapRaw,
    file: File,
    path: PathBuf,
    geo: Geometry,
    kind: RegionKind,
    created: bool,
    /// Device and inode of the open file, to tell whether `path` still
    /// names it.
    dev_ino: (u64, u64),
}

/// What the region's path names now, compared with the mapped file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathStatus {
    /// The path still names the mapped file.
    Same,
    /// Nothing is at the path: the file was unlinked (or renamed).
    Gone,
    /// Another file is at the path: the region was unlinked and recreated.
    Replaced,
}

// SAFETY: the mapping is only accessed through atomics and raw pointers
// under the documented protocols; `Region` hands out only shared references
// to atomic fields and `RawBytes` views.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> RegionError + 'p {
    move |source| {
        if source.raw_os_error() == Some(libc::ELOOP) {
            RegionError::Symlink {
                path: path.to_owned(),
            }
        } else {
            RegionError::Io {
                op,
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// The first `min(len, HEADER_LEN)` bytes of the file, read (a mapping of
/// a file shorter than a page would fault past its end).
fn read_head(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len.min(HEADER_LEN as u64) as usize];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64)? {
            0 => break, // shrank since the stat: what was read is all there is
            n => got += n,
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Reads a native-endian integer of `N` bytes at `off` of `head`, 0 where
/// the file is shorter.
fn field<const N: usize>(head: &[u8], off: usize) -> [u8; N] {
    let mut b = [0u8; N];
    if let Some(src) = head.get(off..) {
        let n = src.len().min(N);
        b[..n].copy_from_slice(&src[..n]);
    }
    b
}

/// Why a file without a published magic was refused: what ul can know
/// about it from its first page (`head`), its size and its mode. Never
/// advises removing a file that it does not know to be a ul region.
fn without_magic(
    path: &Path,
    meta: &std::fs::Metadata,
    head: &[u8],
    opts: &RegionOptions,
) -> RegionError {
    use core::mem::offset_of;
    let path_buf = path.to_owned();
    let len = meta.len().max(head.len() as u64);
    let id = offset_of!(RegionHeader, id);
    let magic = u64::from_ne_bytes(field(head, id + offset_of!(crate::layout::Identity, magic)));
    if magic == MAGIC || magic == CHANNEL_MAGIC {
        // Ours, but shorter than a header.
        return RegionError::Truncated {
            path: path_buf,
            file_len: len,
            needed: HEADER_LEN as u64,
        };
    }
    if magic != 0 {
        return RegionError::NotARegion {
            path: path_buf,
            found: magic,
            expected: opts.kind.magic(),
        };
    }
    let version = u32::from_ne_bytes(field(
        head,
        id + offset_of!(crate::layout::Identity, version),
    ));
    let header_len = u32::from_ne_bytes(field(
        head,
        id + offset_of!(crate::layout::Identity, header_len),
    ));
    let total_len = u64::from_ne_bytes(field(
        head,
        id + offset_of!(crate::layout::Identity, total_len),
    ));
    if head.iter().any(|&b| b != 0) {
        // A creator stores the version first, then the header length and
        // the total length, ..., the magic last.
        let ours = version != 0
            && (header_len == 0 || header_len as usize == HEADER_LEN)
            && (total_len == 0 || total_len == len);
        return if ours {
            RegionError::Abandoned {
                path: path_buf,
                why: format!(
                    "{len} bytes whose header a ul creator had begun to write (layout version {version})"
                ),
            }
        } else {
            RegionError::NotARegion {
                path: path_buf,
                found: magic,
                expected: opts.kind.magic(),
            }
        };
    }
    // Nothing but zeros (or nothing). A creator that died between sizing
    // the file and its first store leaves zeros of exactly a region's size,
    // with the mode it asked for, owned by its user.
    let sizes_len = |s: crate::layout::Sizes| s.geometry().ok().map(|g| g.total_len as u64);
    let region_size = len > 0
        && (sizes_len(opts.sizes) == Some(len) || sizes_len(Default::default()) == Some(len));
    let mode = meta.mode() & 0o7777;
    // SAFETY: geteuid has no preconditions.
    let mine = meta.uid() == unsafe { libc::geteuid() };
    if region_size && mode == opts.mode && mine {
        return RegionError::Abandoned {
            path: path_buf,
            why: format!(
                "{len} bytes of zeros, the size of a ul region with the sizes asked for or the default ones, mode {mode:04o}, owned by this user"
            ),
        };
    }
    RegionError::Unrecognised {
        path: path_buf,
        what: if len == 0 {
            "is empty".to_owned()
        } else {
            format!("holds {len} bytes of zeros")
        },
    }
}

impl Region {
    /// Opens the region at `path`, creating it first if `opts.create` and it
    /// does not exist.
    pub fn open(path: impl AsRef<Path>, opts: &RegionOptions) -> Result<Region, RegionError> {
        let path = path.as_ref();
        if opts.create {
            let geo = opts
                .sizes
                .geometry()
                .map_err(|what| RegionError::BadSizes { what })?;
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(opts.mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)
            {
                Ok(file) => return Self::init_new(path, file, geo, opts),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("create", path)(e)),
            }
        }
        Self::open_existing(path, opts)
    }

    fn init_new(
        path: &Path,
        file: File,
        geo: Geometry,
        opts: &RegionOptions,
    ) -> Result<Region, RegionError> {
        // `mode` was filtered by the umask; set it exactly as asked.
        let _ = std::fs::set_permissions(
            path,
            std::os::unix::fs::PermissionsExt::from_mode(opts.mode),
        );
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        // SAFETY: `fd` is our open file; posix_fallocate only extends it.
        let r = unsafe { libc::posix_fallocate(fd, 0, geo.total_len as libc::off_t) };
        if r != 0 {
            let _ = std::fs::remove_file(path);
            return Err(RegionError::Io {
                op: "allocate (is the tmpfs full?)",
                path: path.to_owned(),
                source: std::io::Error::from_raw_os_error(r),
            });
        }
        let map = map_options(geo.total_len, opts.populate)
            .map_raw(&file)
            .map_err(io("map", path))?;
        let meta = file.metadata().map_err(io("stat", path))?;
        let region = Region {
            map,
            file,
            path: path.to_owned(),
            geo,
            kind: opts.kind,
            created: true,
            dev_ino: (meta.dev(), meta.ino()),
        };
        region.initialise(opts);
        Ok(region)
    }

    /// Fills in a fresh (zeroed) region and publishes the magic last.
    fn initialise(&self, opts: &RegionOptions) {
        let h = self.header();
        let s = self.geo.sizes;
        let r = Ordering::Relaxed;
        h.id.version.store(LAYOUT_VERSION, r);
        h.id.header_len.store(HEADER_LEN as u32, r);
        h.id.total_len.store(self.geo.total_len as u64, r);
        h.id.lanes.store(s.lanes, r);
        h.id.lane_capacity.store(s.lane_capacity, r);
        h.id.shared_lane_slots.store(s.shared_lane_slots, r);
        h.id.shared_lane_slot_len.store(s.shared_lane_slot_len, r);
        h.id.callsite_len.store(s.callsite_len, r);
        h.id.creator_pid.store(std::process::id(), r);
        h.id.created_ns.store(crate::clock::wall_ns(), r);
        let (tsc, ns) = crate::clock::anchor();
        h.id.anchor_tsc.store(tsc, r);
        h.id.anchor_ns.store(ns, r);
        h.control.min_level.store(opts.min_level, r);
        h.control.batch_size.store(opts.batch_size.max(1), r);
        h.control
            .flush_interval_ms
            .store(opts.flush_interval_ms.max(1), r);
        if let RegionKind::Channel {
            message_len,
            schema,
        } = self.kind
        {
            h.id.message_len.store(message_len, r);
            h.id.schema.store(schema, r);
        }
        self.shared_lane().init();
        // Release: everything above happens before any opener's Acquire load
        // that sees the magic.
        h.id.magic.store(self.kind.magic(), Ordering::Release);
    }

    fn open_existing(path: &Path, opts: &RegionOptions) -> Result<Region, RegionError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(io("open", path))?;
        let meta = file.metadata().map_err(io("stat", path))?;
        if !meta.file_type().is_file() {
            return Err(RegionError::NotAFile {
                path: path.to_owned(),
            });
        }
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me && !opts.allow_other_owner {
            return Err(RegionError::OtherOwner {
                path: path.to_owned(),
                owner: meta.uid(),
                me,
            });
        }
        // A concurrent creator may not have allocated or initialised it yet.
        // It sizes the file (posix_fallocate) before writing a byte and
        // publishes the magic last, so only an empty or zero-filled file can
        // be a region in the making: anything else is told apart at once.
        let deadline = Instant::now() + opts.init_timeout;
        let mut len = meta.len();
        while len < HEADER_LEN as u64 {
            let head = read_head(&file, len).map_err(io("read", path))?;
            if head.iter().any(|&b| b != 0) || Instant::now() >= deadline {
                return Err(without_magic(path, &meta, &head, opts));
            }
            std::thread::sleep(Duration::from_millis(5));
            len = file.metadata().map_err(io("stat", path))?.len();
        }
        let head_map = MmapOptions::new()
            .len(HEADER_LEN)
            .map_raw(&file)
            .map_err(io("map", path))?;
        // SAFETY: the mapping is HEADER_LEN bytes, page aligned, at least
        // the size of `RegionHeader` (const-asserted); all its fields are
        // atomics, valid for any bit pattern.
        let h: &RegionHeader = unsafe { &*(head_map.as_mut_ptr() as *const RegionHeader) };
        let expected = opts.kind.magic();
        loop {
            // Acquire: pairs with the creator's Release of the magic.
            let m = h.id.magic.load(Ordering::Acquire);
            if m == expected {
                break;
            }
            if m == MAGIC || m == CHANNEL_MAGIC {
                return Err(RegionError::WrongKind {
                    path: path.to_owned(),
                    found: if m == MAGIC { "log" } else { "channel" },
                    expected: opts.kind.name(),
                });
            }
            if m != 0 || Instant::now() >= deadline {
                // Not ours, or a creator that died before the magic, or a
                // file of zeros: told apart from the header's bytes.
                let len = file.metadata().map_err(io("stat", path))?.len();
                let head = read_head(&file, len).map_err(io("read", path))?;
                return Err(without_magic(path, &meta, &head, opts));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let r = Ordering::Relaxed;
        let version = h.id.version.load(r);
        if version != LAYOUT_VERSION {
            return Err(RegionError::Version {
                path: path.to_owned(),
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let sizes = h.id.sizes();
        let total = h.id.total_len.load(r);
        let header_len = h.id.header_len.load(r);
        let (found_len, found_schema) = (h.id.message_len.load(r), h.id.schema.load(r));
        drop(head_map);
        if let RegionKind::Channel {
            message_len,
            schema,
        } = opts.kind
        {
            if (found_len, found_schema) != (message_len, schema) {
                return Err(RegionError::MessageMismatch {
                    path: path.to_owned(),
                    found_len,
                    expected_len: message_len,
                    found_schema,
                    expected_schema: schema,
                });
            }
        }
        let bad = |what: String| RegionError::BadGeometry {
            path: path.to_owned(),
            what,
        };
        if header_len as usize != HEADER_LEN {
            return Err(bad(format!(
                "header length {header_len}, expected {HEADER_LEN}"
            )));
        }
        let geo = sizes.geometry().map_err(bad)?;
        if geo.total_len as u64 != total {
            return Err(bad(format!(
                "total length {total} does not match its sizes ({} bytes)",
                geo.total_len
            )));
        }
        let file_len = file.metadata().map_err(io("stat", path))?.len();
        if file_len < total {
            return Err(RegionError::Truncated {
                path: path.to_owned(),
                file_len,
                needed: total,
            });
        }
        let map = map_options(geo.total_len, opts.populate)
            .map_raw(&file)
            .map_err(io("map", path))?;
        Ok(Region {
            map,
            file,
            path: path.to_owned(),
            geo,
            kind: opts.kind,
            created: false,
            dev_ino: (meta.dev(), meta.ino()),
        })
    }

    /// True if this call created the region.
    pub fn created(&self) -> bool {
        self.created
    }

    /// What the region carries (checked against its magic at open).
    pub fn kind(&self) -> RegionKind {
        self.kind
    }

    /// The region's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open region file (for `flock` and `fstat`).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The validated geometry (copied at open; never re-read).
    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    fn base(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// The header page.
    pub fn header(&self) -> &RegionHeader {
        // SAFETY: the mapping is at least HEADER_LEN bytes, page aligned;
        // `RegionHeader` fits in it (const-asserted) and is all atomics.
        unsafe { &*(self.base() as *const RegionHeader) }
    }

    /// Lane `i`'s directory entry. Panics if `i` is out of range.
    pub fn lane_slot(&self, i: usize) -> &LaneSlot {
        assert!(i < self.geo.sizes.lanes as usize, "lane {i} out of range");
        // SAFETY: in range (checked); the directory lies inside the mapping
        // (geometry), entries are 64-byte aligned atomics.
        unsafe { &*(self.base().add(self.geo.dir_offset + i * 64) as *const LaneSlot) }
    }

    /// Entry `k` of the drop table. Panics if `k` is out of range.
    pub fn drop_slot(&self, k: usize) -> &crate::layout::DropSlot {
        assert!(k < crate::layout::DROP_SLOTS, "drop slot {k} out of range");
        // SAFETY: in range (checked); the drop table lies inside the mapping
        // (geometry), entries are 64-byte aligned atomics.
        unsafe {
            &*(self.base().add(self.geo.drops_offset + k * 64) as *const crate::layout::DropSlot)
        }
    }

    /// Lane `i`'s cursors. Panics if `i` is out of range.
    pub fn lane_control(&self, i: usize) -> &LaneControl {
        assert!(i < self.geo.sizes.lanes as usize, "lane {i} out of range");
        // SAFETY: in range; each lane's control block is 256-byte aligned
        // inside the mapping and `LaneControl` (all atomics) fits in it.
        unsafe {
            &*(self
                .base()
                .add(self.geo.lanes_offset + i * self.geo.lane_stride)
                as *const LaneControl)
        }
    }

    /// Lane `i`'s ring bytes. Panics if `i` is out of range.
    ///
    /// # Safety
    ///
    /// The returned view carries no lifetime: the caller must not use it
    /// (or a copy) after `self` is dropped (the mapping goes with it), and
    /// must write only a range no other thread of this process reads or
    /// writes at the same time (the lane protocol: one producer writes
    /// what it reserved, the consumer reads what was published). Wrap it in
    /// [`Producer::attach`](crate::lane::Producer::attach) or
    /// [`Consumer::attach`](crate::lane::Consumer::attach), whose contracts
    /// say the same.
    pub unsafe fn lane_bytes(&self, i: usize) -> RawBytes {
        assert!(i < self.geo.sizes.lanes as usize, "lane {i} out of range");
        let off =
            self.geo.lanes_offset + i * self.geo.lane_stride + crate::layout::LANE_CONTROL_LEN;
        // SAFETY: `[off, off + lane_capacity)` lies inside the mapping by
        // the geometry, and the mapping lives as long as `self`.
        unsafe { RawBytes::new(self.base().add(off), self.geo.sizes.lane_capacity as usize) }
    }

    /// The shared MPSC lane.
    pub fn shared_lane(&self) -> SharedLane<'_, RawBytes> {
        let g = &self.geo;
        let n = g.sizes.shared_lane_slots as usize;
        // SAFETY: the geometry places `n` 8-byte words at shared_lane_seq_offset,
        // a SharedLaneControl at shared_lane_ctrl_offset and `n * slot_len` bytes at
        // shared_lane_data_offset, all inside the mapping and suitably aligned.
        unsafe {
            let seqs = core::slice::from_raw_parts(
                self.base().add(g.shared_lane_seq_offset) as *const AtomicU64,
                n,
            );
            let ctrl = &*(self.base().add(g.shared_lane_ctrl_offset) as *const SharedLaneControl);
            let bytes = RawBytes::new(
                self.base().add(g.shared_lane_data_offset),
                n * g.sizes.shared_lane_slot_len as usize,
            );
            SharedLane::new(ctrl, seqs, bytes, g.sizes.shared_lane_slot_len as usize)
        }
    }

    /// The callsite arena's bytes.
    ///
    /// # Safety
    ///
    /// As for [`lane_bytes`](Self::lane_bytes): not used after `self` is
    /// dropped, and no write races another access of this process to the
    /// same bytes ([`callsites`](Self::callsites) is the safe way in).
    pub unsafe fn callsite_bytes(&self) -> RawBytes {
        // SAFETY: the arena lies inside the mapping by the geometry.
        unsafe {
            RawBytes::new(
                self.base().add(self.geo.callsite_offset),
                self.geo.sizes.callsite_len as usize,
            )
        }
    }

    /// The callsite table.
    pub fn callsites(&self) -> crate::callsite::CallsiteTable<'_> {
        // SAFETY: the arena's first byte is 4096-aligned (geometry), so its
        // 4-byte commit words are aligned; it lies inside the mapping.
        unsafe {
            crate::callsite::CallsiteTable::new(
                &self.header().arena,
                self.base().add(self.geo.callsite_offset),
                self.geo.sizes.callsite_len as usize,
            )
        }
    }

    /// Checks (one `fstat`) that the file still has its full length: a
    /// process with write access could truncate it, and touching a page past
    /// the new end raises SIGBUS. The error names the path and both sizes.
    ///
    /// ```no_run
    /// use ul_ring::region::{Region, RegionOptions};
    /// let region = Region::open("/dev/shm/ul-doc", &RegionOptions::default())?;
    /// region.check_len()?;
    /// # Ok::<(), ul_ring::region::RegionError>(())
    /// ```
    pub fn check_len(&self) -> Result<(), RegionError> {
        let len = self.file.metadata().map_err(io("stat", &self.path))?.len();
        if len < self.geo.total_len as u64 {
            return Err(RegionError::Truncated {
                path: self.path.clone(),
                file_len: len,
                needed: self.geo.total_len as u64,
            });
        }
        Ok(())
    }

    /// Whether the region's path still names the mapped file (one `lstat`).
    /// A region unlinked and recreated while mapped leaves its users on the
    /// old file; they call this on a slow path and move to the new one.
    ///
    /// ```no_run
    /// use ul_ring::region::{PathStatus, Region, RegionOptions};
    /// let region = Region::open("/dev/shm/ul-doc", &RegionOptions::default())?;
    /// assert_eq!(region.path_status(), PathStatus::Same);
    /// # Ok::<(), ul_ring::region::RegionError>(())
    /// ```
    pub fn path_status(&self) -> PathStatus {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.dev_ino => PathStatus::Same,
            Ok(_) => PathStatus::Replaced,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PathStatus::Gone,
            // Cannot tell (EACCES, ...): do not move anyone.
            Err(_) => PathStatus::Same,
        }
    }

    /// True if `file` is the mapped region file (same device and inode).
    pub fn is_file(&self, file: &File) -> bool {
        file.metadata()
            .is_ok_and(|m| (m.dev(), m.ino()) == self.dev_ino)
    }

    /// Where the region is mapped: its first byte and its length.
    pub fn mapped_range(&self) -> (*const u8, usize) {
        (self.base().cast_const(), self.geo.total_len)
    }

    /// Checks that the file still has its full length (a process with write
    /// access could truncate it, and touching a truncated page is SIGBUS).
    pub fn intact(&self) -> bool {
        self.file
            .metadata()
            .map(|m| m.len() >= self.geo.total_len as u64 && m.nlink() > 0)
            .unwrap_or(false)
    }
}
