//! Typed channels: fixed-size `Pod` messages over the same region machinery
//! as the logger, for daemons of your own (see [`crate::daemon`]).
//!
//! A channel is a region file of its own (magic `ULCHAN`, see
//! [`RegionKind::Channel`]) with the log region's layout: a lane directory,
//! one SPSC lane per sender, the shared MPSC lane as the fallback when every
//! lane is taken, and the wake block. A message travels as one lane record:
//!
//! ```text
//! len u32 | kind u8 = 3 (Message) | 0 u8 | 0 u16     the lane frame
//! the message's bytes, zero padding to a multiple of 8
//! ```
//!
//! or, in the shared lane, as a slot record of the message's bytes padded to
//! 8. The region records the message length and a schema tag, so a daemon
//! and a sender built with different message types refuse each other with
//! [`RegionError::MessageMismatch`] instead of misreading bytes.
//!
//! ```no_run
//! use ul_ring::channel::{Channel, ChannelOptions};
//!
//! #[repr(C)]
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! struct Command { id: u64, arg: u32, op: u32 }
//!
//! let channel = Channel::<Command>::open_or_create("/dev/shm/my-commands", &ChannelOptions::default())?;
//! let mut tx = channel.sender();
//! tx.send_timeout(&Command { id: 1, arg: 7, op: 2 }, std::time::Duration::from_secs(1))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod sender;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::lane::max_record_len;
use crate::layout::{RegionKind, Sizes};
use crate::region::{Region, RegionError, RegionOptions};
use crate::shared_lane::SLOT_HEADER_LEN;

pub use sender::{Full, Sender};

/// Bytes of the lane frame in front of each message.
pub const MESSAGE_FRAME_LEN: usize = 8;

/// Largest message a channel carries (a shared-lane slot holds at most
/// 64 KiB, header included).
pub const MAX_MESSAGE_LEN: usize = 32 * 1024;

/// A message's length padded to 8 bytes, as stored.
pub const fn padded_len(message_len: usize) -> usize {
    message_len.div_ceil(8) * 8
}

/// Length of a message's lane record: frame plus padded message.
pub const fn record_len(message_len: usize) -> usize {
    MESSAGE_FRAME_LEN + padded_len(message_len)
}

/// How to open or create a channel. Sizes apply only to a channel this call
/// creates; an existing one keeps its own.
///
/// ```
/// let opts = ul_ring::channel::ChannelOptions { lanes: 8, schema: 2, ..Default::default() };
/// assert_eq!(opts.mode, 0o600);
/// ```
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    /// SPSC lanes: one per live sender (1..=4096). Senders beyond that share
    /// the MPSC lane.
    pub lanes: u32,
    /// Bytes per lane: a power of two from 4 KiB to 1 GiB.
    pub lane_capacity: u32,
    /// Slots in the shared lane (2..=1M).
    pub shared_slots: u32,
    /// A tag of the message type's schema (e.g. a version number): both
    /// sides must give the same one. Message lengths are always checked.
    pub schema: u64,
    /// File mode of a channel this call creates.
    pub mode: u32,
    /// Create the channel if it does not exist.
    pub create: bool,
    /// Accept a channel file owned by another user.
    pub allow_other_owner: bool,
    /// How long to wait for a concurrent creator to finish.
    pub init_timeout: Duration,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            lanes: 16,
            lane_capacity: 64 * 1024,
            shared_slots: 256,
            schema: 0,
            mode: 0o600,
            create: true,
            allow_other_owner: false,
            init_timeout: Duration::from_secs(2),
        }
    }
}

/// Why a channel could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The region file could not be created, opened or validated (this
    /// includes a log region given as a channel, and a channel of another
    /// message type).
    #[error(transparent)]
    Region(#[from] RegionError),
    /// The message type is too large for the channel's lanes or slots.
    #[error("{path}: {type_name} is {len} bytes, but this channel carries messages of at most {max} bytes; use a smaller message or a channel with larger lanes")]
    MessageTooLarge {
        /// The channel path.
        path: PathBuf,
        /// The message type.
        type_name: &'static str,
        /// Its size.
        len: usize,
        /// The largest message the channel carries.
        max: usize,
    },
}

/// A channel of `T` messages: the sending side's handle, also used by
/// [`crate::daemon::run_daemon`]. Cheap to clone (the mapping is shared).
pub struct Channel<T> {
    region: Arc<Region>,
    _message: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Self {
            region: Arc::clone(&self.region),
            _message: PhantomData,
        }
    }
}

impl<T: bytemuck::Pod> Channel<T> {
    /// Opens the channel at `path`, creating it (mode 0600 by default) if
    /// it does not exist and `opts.create` is set.
    ///
    /// Fails with a clear error if the file is not a channel region, is a
    /// channel of another message length or schema, belongs to another user,
    /// is truncated or corrupt, or if `T` does not fit its lanes.
    pub fn open_or_create(
        path: impl AsRef<Path>,
        opts: &ChannelOptions,
    ) -> Result<Self, ChannelError> {
        let path = path.as_ref();
        let len = core::mem::size_of::<T>();
        let too_large = |max: usize| ChannelError::MessageTooLarge {
            path: path.to_owned(),
            type_name: core::any::type_name::<T>(),
            len,
            max,
        };
        if len > MAX_MESSAGE_LEN {
            return Err(too_large(MAX_MESSAGE_LEN));
        }
        let slot_len = (SLOT_HEADER_LEN + padded_len(len)).max(64);
        let region_opts = RegionOptions {
            sizes: Sizes {
                lanes: opts.lanes,
                lane_capacity: opts.lane_capacity,
                shared_lane_slots: opts.shared_slots,
                shared_lane_slot_len: slot_len as u32,
                callsite_len: 4096,
            },
            mode: opts.mode,
            create: opts.create,
            allow_other_owner: opts.allow_other_owner,
            init_timeout: opts.init_timeout,
            kind: RegionKind::Channel {
                message_len: len as u32,
                schema: opts.schema,
            },
            ..RegionOptions::default()
        };
        let region = Region::open(path, &region_opts)?;
        // An existing channel keeps its own sizes: check that `T` fits them.
        let sizes = region.geometry().sizes;
        let lane_max = max_record_len(sizes.lane_capacity as usize) - MESSAGE_FRAME_LEN;
        let slot_max = region.shared_lane().max_record_len();
        let max = lane_max.min(slot_max);
        if padded_len(len) > max {
            return Err(too_large(max));
        }
        Ok(Self {
            region: Arc::new(region),
            _message: PhantomData,
        })
    }

    /// A sender for the calling thread (or process): it claims an SPSC lane
    /// of its own, or uses the shared lane if every lane is taken. Dropping
    /// it hands the lane back (the daemon frees it once drained).
    pub fn sender(&self) -> Sender<T> {
        Sender::attach(Arc::clone(&self.region))
    }

    /// Bytes per message (`size_of::<T>()`).
    pub const fn message_len() -> usize {
        core::mem::size_of::<T>()
    }
}

impl<T> Channel<T> {
    /// The underlying region (for tools and tests).
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The channel's path.
    pub fn path(&self) -> &Path {
        self.region.path()
    }

    /// Pid of the daemon serving the channel (as the daemon sees itself),
    /// if one is registered and a process holds the channel's writer lock
    /// (the kernel's word, true in any pid namespace).
    pub fn daemon_pid(&self) -> Option<u32> {
        let w = &self.region.header().writer;
        let pid = w.serving_pid();
        let held = crate::ownership::writer_lock_held(self.region.file()).unwrap_or(false);
        (pid != 0 && held).then_some(pid)
    }
}
