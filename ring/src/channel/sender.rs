//! The sending side of a channel: a lane of its own, or the shared lane.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use super::{padded_len, record_len, MESSAGE_FRAME_LEN};
use crate::args::Encoder;
use crate::bytes::RawBytes;
use crate::lane::{LaneControl, Producer};
use crate::ownership::ClaimedLane;
use crate::record::RecordKind;
use crate::region::Region;
use crate::shared_lane::SharedLanePushError;

/// The channel had no room for the message: the daemon has not caught up,
/// or no daemon runs. Nothing was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "channel is full: its daemon has not caught up (is one running?); the message was not sent"
)]
pub struct Full;

/// Bumped in a child after `fork()`: a sender made before it belongs to the
/// parent's lane and re-attaches before its next send.
static FORK_EPOCH: AtomicU32 = AtomicU32::new(0);
static FORK_HOOK: Once = Once::new();

extern "C" fn after_fork_in_child() {
    FORK_EPOCH.fetch_add(1, Ordering::Relaxed);
}

enum Sink {
    /// An SPSC lane of our own. The `'static` is a lie kept inside this
    /// module: the lane lives in `Sender::region`, which outlives the sink
    /// (see `Sender`'s field order and `Sender::attach`).
    Lane {
        producer: Producer<'static, RawBytes>,
        /// The claim, with the lock that tells the daemon we live.
        claim: ClaimedLane,
    },
    /// The shared MPSC lane.
    Shared,
}

/// Sends `T` messages into a channel; made by
/// [`Channel::sender`](super::Channel::sender).
///
/// One sender per thread (it is `Send`, and sending takes `&mut self`, so
/// one lane has one producer). Messages from one sender arrive in the order
/// sent; messages of different senders are not ordered.
pub struct Sender<T> {
    // Declared before `region`: dropped first, so the producer's borrow of
    // the mapping ends before the mapping can go.
    sink: Sink,
    region: Arc<Region>,
    pid: u32,
    tid: u32,
    epoch: u32,
    _message: PhantomData<fn(&T)>,
}

impl<T: bytemuck::Pod> Sender<T> {
    pub(super) fn attach(region: Arc<Region>) -> Self {
        FORK_HOOK.call_once(|| {
            // SAFETY: the handler only bumps an atomic, which is all a
            // post-fork child handler may safely do.
            unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        });
        let mut s = Self {
            sink: Sink::Shared,
            region,
            pid: 0,
            tid: 0,
            epoch: 0,
            _message: PhantomData,
        };
        s.claim_lane();
        s
    }

    /// Claims a free lane (its lock, then one CAS on its directory entry:
    /// see [`crate::ownership`]), or falls back to the shared lane.
    fn claim_lane(&mut self) {
        self.epoch = FORK_EPOCH.load(Ordering::Relaxed);
        self.pid = crate::procinfo::getpid();
        self.tid = crate::procinfo::gettid();
        self.sink = Sink::Shared;
        let lanes = self.region.geometry().sizes.lanes as usize;
        let first = self.tid as usize % lanes;
        let Some(claim) = crate::ownership::claim_lane(&self.region, self.pid, self.tid, first)
        else {
            return;
        };
        let i = claim.index();
        let ctrl: *const LaneControl = self.region.lane_control(i);
        // SAFETY: `ctrl` points into the mapping owned by the
        // `Arc<Region>` in `self.region`, which does not move and is
        // dropped only after `self.sink` (field order), so the reference
        // stays valid for as long as the producer lives; the producer never
        // leaves this sender.
        let ctrl: &'static LaneControl = unsafe { &*ctrl };
        // SAFETY: we own the lane (claim CAS won, its lock held), so we are
        // its only producer until we retire it; the lane's capacity is a
        // validated power of two of at least 4 KiB.
        let producer = unsafe { Producer::attach(ctrl, self.region.lane_bytes(i)) };
        self.sink = Sink::Lane { producer, claim };
    }

    /// Sends `msg` if there is room, and wakes the daemon if it sleeps.
    ///
    /// Never blocks and makes no system call unless the daemon is asleep.
    /// On `Err(Full)` nothing was sent.
    pub fn try_send(&mut self, msg: &T) -> Result<(), Full> {
        if self.epoch != FORK_EPOCH.load(Ordering::Relaxed) {
            // We are a forked child: the lane is the parent's; forget it
            // without touching it and claim our own.
            self.sink = Sink::Shared;
            self.claim_lane();
        }
        let bytes = bytemuck::bytes_of(msg);
        let sent = match &mut self.sink {
            Sink::Lane { producer, .. } => {
                let len = record_len(bytes.len());
                producer
                    .try_push(len, |enc| put_record(enc, len, bytes))
                    .map_err(|_| Full)
            }
            Sink::Shared => self.push_shared(bytes),
        };
        if sent.is_ok() {
            let wake = &self.region.header().wake;
            if wake.claim_wake() {
                wake.ring();
            }
        }
        sent
    }

    /// Sends `msg`, waiting up to `timeout` for room (the daemon is woken
    /// and the wait backs off from 20 µs to 2 ms).
    pub fn send_timeout(&mut self, msg: &T, timeout: Duration) -> Result<(), Full> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(20);
        loop {
            match self.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(Full) if Instant::now() >= deadline => return Err(Full),
                Err(Full) => {
                    // The daemon may be busy rather than asleep: nudge the
                    // futex whatever its sleeping flag says.
                    self.region.header().wake.kick();
                    std::thread::sleep(
                        pause.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    pause = (pause * 2).min(Duration::from_millis(2));
                }
            }
        }
    }

    fn push_shared(&self, bytes: &[u8]) -> Result<(), Full> {
        let shared_lane = self.region.shared_lane();
        let len = padded_len(bytes.len());
        loop {
            let put = |enc: &mut Encoder<'_>| {
                enc.put_bytes(bytes);
                enc.finish();
            };
            match shared_lane.try_push(self.pid, self.tid, len, put) {
                Ok(()) => return Ok(()),
                Err(SharedLanePushError::Full) => return Err(Full),
                // The daemon gave up on our claim while we were stopped past
                // its claim timeout: nothing of ours was delivered; retry.
                Err(SharedLanePushError::Abandoned) => continue,
                // `Channel::open_or_create` checked that messages fit a slot.
                Err(SharedLanePushError::TooLarge { .. }) => return Err(Full),
            }
        }
    }
}

impl<T> Sender<T> {
    /// The index of the sender's own lane, or `None` if it uses the shared
    /// lane (every lane was taken when it attached).
    pub fn lane(&self) -> Option<usize> {
        match &self.sink {
            Sink::Lane { claim, .. } => Some(claim.index()),
            Sink::Shared => None,
        }
    }
}

/// Writes one message record: the frame, the message, zero padding.
fn put_record(enc: &mut Encoder<'_>, len: usize, bytes: &[u8]) {
    enc.put_u32(len as u32);
    enc.put_u8(RecordKind::Message as u8);
    enc.put_u8(0);
    enc.put_u16(0);
    debug_assert_eq!(enc.position(), MESSAGE_FRAME_LEN);
    enc.put_bytes(bytes);
    enc.finish();
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // Hand the lane to the daemon, which frees it once drained. Not in a
        // forked child: that lane is the parent's (dropping the claim there
        // only forgets it; its lock descriptor was closed at the fork).
        if let Sink::Lane { claim, .. } = std::mem::replace(&mut self.sink, Sink::Shared) {
            if self.epoch == FORK_EPOCH.load(Ordering::Relaxed) {
                claim.retire(&self.region);
            }
        }
    }
}
