//! The region's layout: the header page, the lane directory, and where every
//! part lives. All shared fields are atomics in `#[repr(C)]` structs; fields
//! written by different parties sit on different cache lines.
//!
//! ```text
//! offset 0           header page (4 KiB): identity, geometry, clock, writer,
//!                    wake, control, flush, stats, callsite arena cursor
//! dir_offset         lane directory: one 64-byte LaneSlot per lane
//! drops_offset       drop table: DROP_SLOTS 64-byte DropSlots (shared-lane threads)
//! shared_lane_seq_offset    shared lane's slot sequence words (8 bytes per slot)
//! shared_lane_ctrl_offset   shared lane's SharedLaneControl
//! shared_lane_data_offset   shared lane's slots
//! lanes_offset       per lane: LaneControl (256 bytes) then its ring bytes
//! callsite_offset    callsite and context arena
//! ```

use crate::padded::Padded;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::counter::Counter;
use crate::lane::LaneControl;
use crate::shared_lane::SharedLaneControl;
use crate::wake::WakeBlock;

/// `magic` of a ready region: "ULRING" and two zero bytes, little-endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"ULRING\0\0");
/// `magic` of a ready channel region (see [`crate::channel`]): "ULCHAN"
/// and two zero bytes, little-endian. A channel region has the same layout
/// as a log region; the magic keeps the two from being mistaken for each
/// other.
pub const CHANNEL_MAGIC: u64 = u64::from_le_bytes(*b"ULCHAN\0\0");
/// Layout version; a region of another version is refused. 3: lane owner
/// words carry a generation, and owners hold a kernel lock
/// ([`crate::ownership`]) instead of publishing a start time. 4: compact
/// log records (kind `0x80 | flags`, read by their call site's signature)
/// and signed callsite entries ([`crate::record`], [`crate::callsite`]);
/// an older writer would not know them, so it refuses the region instead.
/// 5: shared-lane slots checksummed a word at a time
/// ([`crate::shared_lane::slot_checksum`]) instead of by byte-at-a-time FNV-1a.
pub const LAYOUT_VERSION: u32 = 5;
/// Size of the header page.
pub const HEADER_LEN: usize = 4096;
/// Number of output files whose lengths a write intent records.
pub const INTENT_SLOTS: usize = 8;

/// Identity and geometry, written once by the creator.
#[repr(C)]
pub struct Identity {
    /// [`MAGIC`] once the region is initialised (stored last, Release).
    pub magic: AtomicU64,
    /// [`LAYOUT_VERSION`] of the creator.
    pub version: AtomicU32,
    /// Size of the header page.
    pub header_len: AtomicU32,
    /// Size of the whole region file.
    pub total_len: AtomicU64,
    /// Number of SPSC lanes.
    pub lanes: AtomicU32,
    /// Bytes per SPSC lane (a power of two).
    pub lane_capacity: AtomicU32,
    /// Slots in the shared MPSC lane.
    pub shared_lane_slots: AtomicU32,
    /// Bytes per MPSC slot.
    pub shared_lane_slot_len: AtomicU32,
    /// Bytes in the callsite arena.
    pub callsite_len: AtomicU32,
    /// Pid of the process that created the region.
    pub creator_pid: AtomicU32,
    /// Wall-clock ns at creation.
    pub created_ns: AtomicU64,
    /// Clock anchor taken at creation: TSC value ...
    pub anchor_tsc: AtomicU64,
    /// ... and wall-clock ns at the same instant.
    pub anchor_ns: AtomicU64,
    /// TSC ticks per second as measured by a writer (0: not yet measured).
    pub tsc_hz: AtomicU64,
    /// Channel regions: bytes per message (0 in a log region).
    pub message_len: AtomicU32,
    /// Reserved (zero).
    pub _reserved: AtomicU32,
    /// Channel regions: the schema tag the creator gave (0 in a log region).
    pub schema: AtomicU64,
}

impl Identity {
    /// The sizes the creator recorded (Relaxed loads: read them after the
    /// Acquire load of `magic` that says they are there).
    pub fn sizes(&self) -> Sizes {
        let r = core::sync::atomic::Ordering::Relaxed;
        Sizes {
            lanes: self.lanes.load(r),
            lane_capacity: self.lane_capacity.load(r),
            shared_lane_slots: self.shared_lane_slots.load(r),
            shared_lane_slot_len: self.shared_lane_slot_len.load(r),
            callsite_len: self.callsite_len.load(r),
        }
    }
}

// Fields added at the end of the identity stay inside its padded line, so
// the blocks after it do not move.
const _: () = assert!(core::mem::size_of::<Identity>() <= 128);

/// What a region carries: log records, or a channel's fixed-size messages.
///
/// Stored as the region's magic ([`MAGIC`] or [`CHANNEL_MAGIC`]), plus the
/// message length and schema tag for a channel; opening a region as the
/// wrong kind, or a channel with another message length or schema, is
/// refused with an error naming the path.
///
/// ```
/// use ul_ring::layout::RegionKind;
/// assert_eq!(RegionKind::default(), RegionKind::Log);
/// assert_eq!(RegionKind::Channel { message_len: 16, schema: 1 }.name(), "channel");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RegionKind {
    /// A log region, served by `ul-writer`.
    #[default]
    Log,
    /// A channel region of `message_len`-byte messages, served by a daemon.
    Channel {
        /// Bytes per message.
        message_len: u32,
        /// Tag of the message type's schema, checked on open.
        schema: u64,
    },
}

impl RegionKind {
    /// The magic a region of this kind carries.
    pub fn magic(&self) -> u64 {
        match self {
            RegionKind::Log => MAGIC,
            RegionKind::Channel { .. } => CHANNEL_MAGIC,
        }
    }

    /// "log" or "channel", for messages.
    pub fn name(&self) -> &'static str {
        match self {
            RegionKind::Log => "log",
            RegionKind::Channel { .. } => "channel",
        }
    }
}

/// The writer's block: who serves the region, and its write intent.
#[repr(C)]
pub struct WriterBlock {
    /// Pid of the serving writer (0: none), as it sees itself. Reached
    /// through [`WriterBlock::serving_pid`], [`WriterBlock::take`] and
    /// [`WriterBlock::release`]. Informative: whether a writer lives is
    /// the writer lock's word ([`crate::ownership::writer_lock_held`]).
    pub(crate) pid: AtomicU32,
    /// Reserved.
    pub(crate) _reserved: AtomicU32,
    /// Start time of the writer's pid (see [`crate::procinfo::start_time`]);
    /// informative. See [`WriterBlock::start_time`].
    pub(crate) start_time: AtomicU64,
    /// `CLOCK_MONOTONIC` ns of the writer's last heartbeat. See
    /// [`WriterBlock::heartbeat`] and [`WriterBlock::beat`].
    pub(crate) heartbeat_ns: AtomicU64,
    /// Number of the batch being written (0: none). See `intent_state`.
    /// Reached through [`WriterBlock::intent`] and the batch methods.
    pub(crate) intent: AtomicU64,
    /// [`intent_state`] of batch `intent`.
    pub(crate) intent_state: AtomicU64,
    /// Output file lengths before batch `intent` was written (see
    /// [`RegionHeader::intent_file`]).
    pub(crate) intent_lens: [AtomicU64; INTENT_SLOTS],
    /// Shared-lane tail that batch `intent` moves to once on disk (see
    /// [`WriterBlock::stage_shared_release`]).
    pub(crate) shared_lane_pending_tail: AtomicU64,
    /// Shared-lane `dropped_reported` that batch `intent` sets once on disk
    /// (valid when `shared_lane_pending_batch == intent`; see
    /// [`WriterBlock::stage_shared_drops`]).
    pub(crate) shared_lane_pending_dropped: AtomicU64,
    /// Batch whose write sets `shared_lane_pending_dropped`.
    pub(crate) shared_lane_pending_batch: AtomicU64,
}

// The writer block shares its padded line with nothing; fields added at its
// end must not move the blocks after it (no layout version change).
const _: () = assert!(core::mem::size_of::<WriterBlock>() <= 128);

/// The state of a writer's write-ahead intent, decoded (see
/// [`intent_state`] for the protocol).
///
/// ```
/// use ul_ring::layout::IntentState;
/// assert_eq!(IntentState::decode(IntentState::Written.encode()), IntentState::Written);
/// assert_eq!(IntentState::decode(9), IntentState::Invalid(9));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntentState {
    /// No batch in flight.
    Idle,
    /// The outputs may hold part of the batch.
    Writing,
    /// The outputs hold the whole batch; the tails may not all have moved.
    Written,
    /// A value no writer stores (the region is untrusted input).
    Invalid(u64),
}

impl IntentState {
    /// Decodes a stored state word.
    pub fn decode(word: u64) -> Self {
        match word {
            intent_state::IDLE => IntentState::Idle,
            intent_state::WRITING => IntentState::Writing,
            intent_state::WRITTEN => IntentState::Written,
            w => IntentState::Invalid(w),
        }
    }

    /// The word that stands for this state.
    pub fn encode(self) -> u64 {
        match self {
            IntentState::Idle => intent_state::IDLE,
            IntentState::Writing => intent_state::WRITING,
            IntentState::Written => intent_state::WRITTEN,
            IntentState::Invalid(w) => w,
        }
    }

    /// `idle`, `writing`, `written` or `invalid`.
    pub fn name(self) -> &'static str {
        match self {
            IntentState::Idle => "idle",
            IntentState::Writing => "writing",
            IntentState::Written => "written",
            IntentState::Invalid(_) => "invalid",
        }
    }
}

impl WriterBlock {
    /// Writer (or daemon), once it holds the region's `flock`: registers
    /// `pid` (with its start time, informative) as the one serving the
    /// region, and beats the heartbeat at `now_ns` (`CLOCK_MONOTONIC`). The
    /// start time and heartbeat are stored first (Relaxed), then the pid
    /// (Release), so a reader that sees the pid (Acquire, in
    /// [`serving_pid`](Self::serving_pid)) sees them too.
    pub fn take(&self, pid: u32, start_time: u64, now_ns: u64) {
        self.start_time.store(start_time, Ordering::Relaxed);
        self.heartbeat_ns.store(now_ns, Ordering::Relaxed);
        self.pid.store(pid, Ordering::Release);
    }

    /// Writer (or daemon): no writer serves this region any more (it
    /// stopped, or moved to a new region at the path). Release, as
    /// [`take`](Self::take)'s store of the pid, paired with
    /// [`serving_pid`](Self::serving_pid)'s Acquire; nothing relies on
    /// more than the value (liveness is the writer lock's word).
    pub fn release(&self) {
        self.pid.store(0, Ordering::Release);
    }

    /// The pid the serving writer registered (0: none), as it sees itself:
    /// for messages, not for liveness (a writer in another pid namespace,
    /// or a dead one, leaves a pid that means nothing here; ask
    /// [`crate::ownership::writer_lock_held`]). Acquire: pairs with
    /// [`take`](Self::take)'s Release store, so the start time and
    /// heartbeat it registered are seen with it.
    pub fn serving_pid(&self) -> u32 {
        self.pid.load(Ordering::Acquire)
    }

    /// The start time of the serving writer's pid (see
    /// [`crate::procinfo::start_time`]; 0 if unknown). Informative since
    /// layout version 3. Relaxed: call after
    /// [`serving_pid`](Self::serving_pid) (Acquire).
    pub fn start_time(&self) -> u64 {
        self.start_time.load(Ordering::Relaxed)
    }

    /// Writer, on every pass: it is alive at `now_ns` (`CLOCK_MONOTONIC`,
    /// which every process shares). Relaxed: a time, read as a hint;
    /// nothing is published with it.
    pub fn beat(&self, now_ns: u64) {
        self.heartbeat_ns.store(now_ns, Ordering::Relaxed);
    }

    /// `CLOCK_MONOTONIC` ns of the writer's last [`beat`](Self::beat) (0:
    /// never). Untrusted (a time in the future is possible from a hostile
    /// or confused process). Relaxed: see `beat`.
    pub fn heartbeat(&self) -> u64 {
        self.heartbeat_ns.load(Ordering::Relaxed)
    }

    /// The intent's batch number and state (Acquire: what the writer
    /// stored before the state is seen with it).
    pub fn intent(&self) -> (u64, IntentState) {
        let state = IntentState::decode(self.intent_state.load(Ordering::Acquire));
        (self.intent.load(Ordering::Acquire), state)
    }

    /// Batch `batch` is about to be written: everything recorded for it
    /// (pending tails, file lengths and identities) was stored before this
    /// (Release).
    pub fn begin_batch(&self, batch: u64) {
        self.intent.store(batch, Ordering::Release);
        self.intent_state
            .store(intent_state::WRITING, Ordering::Release);
    }

    /// The batch in flight is wholly in the outputs.
    pub fn batch_written(&self) {
        self.intent_state
            .store(intent_state::WRITTEN, Ordering::Release);
    }

    /// No batch in flight (its tails moved, or it was taken back).
    pub fn batch_done(&self) {
        self.intent_state
            .store(intent_state::IDLE, Ordering::Release);
    }

    /// Writer, before [`begin_batch`](Self::begin_batch): the batch moves
    /// the shared lane's tail to `tail` once it is on disk. Relaxed: read
    /// only by a writer that found the batch WRITTEN, after the Acquire
    /// load of [`intent`](Self::intent), which `begin_batch`'s Release
    /// store (later in program order) publishes this with.
    pub fn stage_shared_release(&self, tail: u64) {
        self.shared_lane_pending_tail.store(tail, Ordering::Relaxed);
    }

    /// Recovery: the shared-lane tail the last batch staged with
    /// [`stage_shared_release`](Self::stage_shared_release). It is not
    /// tagged with a batch (a batch that releases nothing leaves an older,
    /// smaller value, which moves nothing), and it is untrusted: check it
    /// against the lane's cursors. Relaxed: call after
    /// [`intent`](Self::intent) (Acquire).
    pub fn staged_shared_release(&self) -> u64 {
        self.shared_lane_pending_tail.load(Ordering::Relaxed)
    }

    /// Writer, before [`begin_batch`](Self::begin_batch): batch `batch`
    /// reports the shared lane's anonymous drops up to `dropped`. The count
    /// is stored first (Relaxed), then the batch number (Release), so a
    /// reader that sees the number (Acquire, in
    /// [`staged_shared_drops`](Self::staged_shared_drops)) sees the count
    /// staged with it.
    pub fn stage_shared_drops(&self, batch: u64, dropped: u64) {
        self.shared_lane_pending_dropped
            .store(dropped, Ordering::Relaxed);
        self.shared_lane_pending_batch
            .store(batch, Ordering::Release);
    }

    /// Recovery: the count [`stage_shared_drops`](Self::stage_shared_drops)
    /// staged for `batch`, if the last staging was for `batch`.
    pub fn staged_shared_drops(&self, batch: u64) -> Option<u64> {
        // Acquire: pairs with the Release store of the batch number, so
        // the count loaded after it is the one staged with it.
        (self.shared_lane_pending_batch.load(Ordering::Acquire) == batch)
            .then(|| self.shared_lane_pending_dropped.load(Ordering::Relaxed))
    }
}

/// States of a writer's write-ahead intent (the words behind
/// [`IntentState`], read with [`WriterBlock::intent`]).
///
/// Before writing a batch the writer stages each lane's target tail in the
/// lane ([`LaneControl::stage`]), the shared lane's in the writer block
/// ([`WriterBlock::stage_shared_release`]), and the output files and
/// lengths ([`RegionHeader::set_intent_file`]), then begins the batch
/// (WRITING); after the write returns, WRITTEN; then it moves the tails and
/// clears the intent.
/// A writer restarting on WRITING truncates the outputs back (the batch is
/// written again); on WRITTEN it finishes moving the tails. Nothing is lost
/// and nothing is written twice.
pub mod intent_state {
    /// No batch in flight.
    pub const IDLE: u64 = 0;
    /// Outputs may hold part of the batch.
    pub const WRITING: u64 = 1;
    /// Outputs hold the whole batch; tails may not all have moved.
    pub const WRITTEN: u64 = 2;
}

/// Run-time configuration, changed by any producer (`ul::configure`) and
/// by the writer's command line. Every value is untrusted: whoever reads
/// one clamps it to what it can use. The fields are reached through
/// methods only.
#[repr(C)]
pub struct ControlBlock {
    /// Records below this level are not logged (0 trace ... 4 error).
    pub(crate) min_level: AtomicU32,
    /// Records the writer takes from one lane per pass.
    pub(crate) batch_size: AtomicU32,
    /// Longest the writer sleeps, and so longest a record waits, in ms.
    pub(crate) flush_interval_ms: AtomicU32,
    /// Bumped on every change.
    pub(crate) epoch: AtomicU32,
    /// Set to 1 (Release) by a writer that found this region's path naming
    /// another file and now serves the region there: producers still here
    /// look at the path on their next log call. Lets them follow without a
    /// periodic `lstat` on the hot path (this line is the one the level
    /// check already loads).
    pub(crate) superseded: AtomicU32,
}

// Each setting is one word, read and written on its own: Relaxed, since
// no setting publishes anything else, and a reader that sees a change a
// little late only applies it a little late (the writer rereads them every
// pass, the level check on every log call).
impl ControlBlock {
    /// Records below this level are not logged (0 trace ... 4 error;
    /// anything else is what some process stored). The hot path's one
    /// load.
    #[inline(always)]
    pub fn min_level(&self) -> u32 {
        self.min_level.load(Ordering::Relaxed)
    }

    /// Sets [`min_level`](Self::min_level); call
    /// [`bump_epoch`](Self::bump_epoch) after a change.
    pub fn set_min_level(&self, level: u32) {
        self.min_level.store(level, Ordering::Relaxed);
    }

    /// Records the writer takes from one lane per pass, as stored (the
    /// writer clamps it to 1 ..= 2^20).
    pub fn batch_size(&self) -> u32 {
        self.batch_size.load(Ordering::Relaxed)
    }

    /// Sets [`batch_size`](Self::batch_size), as given.
    pub fn set_batch_size(&self, records: u32) {
        self.batch_size.store(records, Ordering::Relaxed);
    }

    /// Longest the writer sleeps (and so a record waits), in ms, as stored.
    pub fn flush_interval_ms(&self) -> u32 {
        self.flush_interval_ms.load(Ordering::Relaxed)
    }

    /// Sets [`flush_interval_ms`](Self::flush_interval_ms), as given.
    pub fn set_flush_interval_ms(&self, ms: u32) {
        self.flush_interval_ms.store(ms, Ordering::Relaxed);
    }

    /// Takes over `from`'s level, batch size and flush interval (a writer
    /// carrying the settings over to a region it created in place of
    /// `from`).
    pub fn copy_settings(&self, from: &ControlBlock) {
        self.set_min_level(from.min_level());
        self.set_batch_size(from.batch_size());
        self.set_flush_interval_ms(from.flush_interval_ms());
    }

    /// Counts one change of the settings. Release: a reader that sees the
    /// new epoch (Acquire) sees the settings stored before it.
    pub fn bump_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// True once a writer serves this region's path with another file and
    /// marked this one (see [`set_superseded`](Self::set_superseded)).
    /// Relaxed: it is a hint to look at the path, which is the truth; it
    /// publishes nothing. On the hot path: the line the level check loads.
    #[inline(always)]
    pub fn superseded(&self) -> bool {
        self.superseded.load(Ordering::Relaxed) != 0
    }

    /// Writer: marks the region superseded (a new one serves its path), or
    /// clears the mark when it serves this region at its path again.
    /// Release, as the writer has always stored it (the hint orders
    /// nothing a reader depends on).
    pub fn set_superseded(&self, superseded: bool) {
        self.superseded
            .store(u32::from(superseded), Ordering::Release);
    }
}

/// The flush handshake: producers request, the writer acknowledges.
#[repr(C)]
pub struct FlushBlock {
    /// Bumped by each `flush()` call.
    pub(crate) request: AtomicU64,
    /// Highest request whose records are all written.
    pub(crate) ack: AtomicU64,
    /// Futex word producers wait on; bumped with every acknowledgement.
    pub(crate) ack_futex: AtomicU32,
}

impl FlushBlock {
    /// Producer: asks for a flush; returns its ticket. SeqCst: the
    /// caller's records (their heads' Release stores, earlier in program
    /// order) happen before it, so a writer that sees the ticket sees them.
    pub fn ask(&self) -> u64 {
        self.request.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Producer: true once `ticket` is acknowledged (Acquire: the writer's
    /// writes happen before).
    pub fn acknowledged(&self, ticket: u64) -> bool {
        self.ack.load(Ordering::Acquire) >= ticket
    }

    /// Writer: the newest request not yet acknowledged, if any.
    pub fn wanted(&self) -> Option<u64> {
        let req = self.request.load(Ordering::Acquire);
        (req > self.ack.load(Ordering::Acquire)).then_some(req)
    }

    /// Producer: the acknowledgement sequence now, to wait on with
    /// [`wait_ack`](Self::wait_ack) after finding its ticket not yet
    /// acknowledged (so an acknowledgement in between is not slept through).
    pub fn ack_seq(&self) -> u32 {
        self.ack_futex.load(Ordering::Acquire)
    }

    /// Producer: sleeps until an acknowledgement after `seen` (see
    /// [`ack_seq`](Self::ack_seq)) or `timeout`.
    pub fn wait_ack(&self, seen: u32, timeout: Option<std::time::Duration>) {
        crate::futex::wait(&self.ack_futex, seen, timeout);
    }

    /// Writer: every request up to `req` is written; wakes the producers
    /// waiting in [`wait_ack`](Self::wait_ack).
    pub fn acknowledge(&self, req: u64) {
        self.ack.fetch_max(req, Ordering::AcqRel);
        self.ack_futex.fetch_add(1, Ordering::Release);
        crate::futex::wake(&self.ack_futex, i32::MAX);
    }
}

/// Counters kept by the writer, for `ul-stat` and the tests: each a
/// [`Counter`] that the writer (or a daemon) adds to and anyone reads.
#[repr(C)]
pub struct Stats {
    /// Records written to the outputs.
    pub records_written: Counter,
    /// Records that failed to decode and were skipped.
    pub decode_errors: Counter,
    /// Lanes whose bytes could not be framed (skipped to their head).
    pub corrupt_lanes: Counter,
    /// Lanes taken back from dead owners.
    pub lanes_reclaimed: Counter,
    /// Dropped records reported in the log.
    pub drops_reported: Counter,
    /// MPSC claims abandoned after the claim timeout.
    pub claims_abandoned: Counter,
    /// Bytes written to the outputs (all files together).
    pub bytes_written: Counter,
}

// Like the writer block, the stats share their padded line with nothing:
// counters added at the end (in the line's padding, zero in older regions)
// move no other block, so they need no layout version change.
const _: () = assert!(core::mem::size_of::<Stats>() <= 128);

/// The identity of each output file a write intent names, beside its
/// length in the writer block: recovery truncates only the file with this
/// identity (found in the writer's directory even if it was renamed since,
/// as logrotate does), and leaves alone an intent that names no file of the
/// writer's. A slot whose device and inode are both 0 names no file: the
/// batch wrote nothing there. Reached through
/// [`RegionHeader::intent_file`] and [`RegionHeader::set_intent_file`].
#[repr(C)]
pub struct IntentFiles {
    /// `st_dev` of each file.
    pub(crate) dev: [AtomicU64; INTENT_SLOTS],
    /// `st_ino` of each file.
    pub(crate) ino: [AtomicU64; INTENT_SLOTS],
}

/// One output file as a write intent names it: its identity and its length
/// before the batch.
///
/// ```
/// use ul_ring::layout::IntentFile;
/// assert!(IntentFile::default().is_empty());
/// assert!(!IntentFile { dev: 1, ino: 2, len: 0 }.is_empty());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntentFile {
    /// `st_dev` of the file (0 with `ino` 0: the batch wrote no file here).
    pub dev: u64,
    /// `st_ino` of the file.
    pub ino: u64,
    /// Its length before the batch.
    pub len: u64,
}

impl IntentFile {
    /// True if the batch wrote no file in this slot.
    pub fn is_empty(&self) -> bool {
        self.dev == 0 && self.ino == 0
    }
}

/// The shared-lane claim at the tail that has not committed, and since
/// when it has been seen so (`CLOCK_MONOTONIC` ns, which every process
/// shares): kept in the region so that a writer restarted before the
/// claim's timeout ran out goes on counting instead of starting over (a
/// writer killed more often than the timeout would otherwise never
/// abandon a dead claimant's claim, and the shared lane would wait for
/// ever). Written by the writer only, through [`crate::drain_core`];
/// read as untrusted (a time in the future counts as now).
#[repr(C)]
pub struct ClaimWatch {
    /// Position of the claim plus one (0: none).
    pub(crate) pos_plus_one: AtomicU64,
    /// When it was first seen uncommitted.
    pub(crate) since_ns: AtomicU64,
}

/// Forwarding sinks `ul-stat` shows (the first ones, if more).
pub const SINK_SLOTS: usize = 4;

/// Bytes of a sink's URL and of its last error kept for `ul-stat` (longer
/// ones are cut).
pub const SINK_TEXT_LEN: usize = 96;

/// What the writer says of one forwarding sink, for `ul-stat`. Written by
/// the writer only ([`SinkSlot::publish`]), about once a second; read as
/// untrusted, by copy ([`SinkSlot::read`]): a copy taken while the writer
/// updates it is recognised (the counter at its start, stored last, differs
/// from the one at its end, stored first) and read again.
#[repr(C)]
pub struct SinkSlot {
    /// Updates finished (equal to `started` when none is under way).
    finished: AtomicU64,
    /// 0: no sink; 1: up; 2: failing.
    state: AtomicU64,
    /// Records the receiver acknowledged (or, without acknowledgements,
    /// that were handed to the kernel).
    forwarded: AtomicU64,
    /// Records in the files it has not had acknowledged yet.
    lag_records: AtomicU64,
    /// Wall-clock ns of its last failure (0: none).
    error_at_ns: AtomicU64,
    url: [AtomicU64; SINK_TEXT_LEN / 8],
    error: [AtomicU64; SINK_TEXT_LEN / 8],
    /// Updates started.
    started: AtomicU64,
}

/// The writer's forwarding sinks.
#[repr(C)]
pub struct ForwardBlock {
    /// One per sink, in `--forward` order.
    pub sinks: [SinkSlot; SINK_SLOTS],
}

/// A forwarding sink as [`SinkSlot::read`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkStatus {
    /// `up` or `failing`.
    pub state: &'static str,
    /// The URL (cut at [`SINK_TEXT_LEN`] bytes).
    pub url: String,
    /// Records acknowledged.
    pub forwarded: u64,
    /// Records in the files not yet acknowledged.
    pub lag_records: u64,
    /// The last failure (cut at [`SINK_TEXT_LEN`] bytes), with its
    /// wall-clock ns.
    pub last_error: Option<(String, u64)>,
}

fn store_text(words: &[AtomicU64], text: &str) {
    let mut bytes = [0u8; SINK_TEXT_LEN];
    let mut n = text.len().min(SINK_TEXT_LEN);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    bytes[..n].copy_from_slice(&text.as_bytes()[..n]);
    for (w, chunk) in words.iter().zip(bytes.chunks_exact(8)) {
        let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        w.store(v, Ordering::Relaxed);
    }
}

fn load_text(words: &[AtomicU64]) -> String {
    let mut bytes = Vec::with_capacity(SINK_TEXT_LEN);
    for w in words {
        bytes.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
    }
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl SinkSlot {
    /// Writer: the sink's state now (`None`: no sink in this slot).
    ///
    /// `started` is bumped first, the fields stored, then `finished` set
    /// to it (Release): a reader that copies the slot in address order
    /// (`finished` first, `started` last) and finds the two equal copied
    /// no update half done.
    pub fn publish(&self, sink: Option<&SinkStatus>) {
        let n = self.started.load(Ordering::Relaxed).wrapping_add(1);
        self.started.store(n, Ordering::Relaxed);
        core::sync::atomic::fence(Ordering::Release);
        match sink {
            None => {
                self.state.store(0, Ordering::Relaxed);
                self.forwarded.store(0, Ordering::Relaxed);
                self.lag_records.store(0, Ordering::Relaxed);
                self.error_at_ns.store(0, Ordering::Relaxed);
                store_text(&self.url, "");
                store_text(&self.error, "");
            }
            Some(s) => {
                self.state
                    .store(if s.state == "up" { 1 } else { 2 }, Ordering::Relaxed);
                self.forwarded.store(s.forwarded, Ordering::Relaxed);
                self.lag_records.store(s.lag_records, Ordering::Relaxed);
                store_text(&self.url, &s.url);
                let (e, at) = s
                    .last_error
                    .as_ref()
                    .map_or(("", 0), |(e, at)| (e.as_str(), *at));
                self.error_at_ns.store(at, Ordering::Relaxed);
                store_text(&self.error, e);
            }
        }
        self.finished.store(n, Ordering::Release);
    }

    /// A copy's sink, if the slot holds one and the copy is whole (see
    /// [`publish`](Self::publish)); `Err(())` for a copy taken during an
    /// update (take another).
    ///
    /// ```
    /// use ul_ring::layout::{SinkSlot, SinkStatus};
    /// // SAFETY: a slot is integer atomics only; all zero is a valid one.
    /// let slot: SinkSlot = unsafe { std::mem::zeroed() };
    /// assert_eq!(slot.read(), Ok(None));
    /// let s = SinkStatus { state: "failing", url: "relp://h:1".into(), forwarded: 7,
    ///     lag_records: 3, last_error: Some(("refused".into(), 5)) };
    /// slot.publish(Some(&s));
    /// assert_eq!(slot.read(), Ok(Some(s)));
    /// ```
    #[allow(clippy::result_unit_err)]
    pub fn read(&self) -> Result<Option<SinkStatus>, ()> {
        let finished = self.finished.load(Ordering::Acquire);
        let state = self.state.load(Ordering::Relaxed);
        let forwarded = self.forwarded.load(Ordering::Relaxed);
        let lag_records = self.lag_records.load(Ordering::Relaxed);
        let at = self.error_at_ns.load(Ordering::Relaxed);
        let url = load_text(&self.url);
        let error = load_text(&self.error);
        core::sync::atomic::fence(Ordering::Acquire);
        if self.started.load(Ordering::Relaxed) != finished {
            return Err(());
        }
        let state = match state {
            0 => return Ok(None),
            1 => "up",
            _ => "failing",
        };
        Ok(Some(SinkStatus {
            state,
            url,
            forwarded,
            lag_records,
            last_error: (at != 0 || !error.is_empty()).then_some((error, at)),
        }))
    }
}

/// Cursor of the callsite arena. Moved by [`crate::callsite::CallsiteTable`]
/// only; others read it through [`handed_out`](Self::handed_out) and
/// [`refused`](Self::refused).
#[repr(C)]
pub struct ArenaHead {
    /// Bytes handed out (may pass the arena's end once it is full).
    pub(crate) next: AtomicU32,
    /// Registrations refused because the arena was full.
    pub(crate) refused: AtomicU32,
}

impl ArenaHead {
    /// An empty arena's cursor (heap-backed tables in tests).
    pub fn new() -> Self {
        Self {
            next: AtomicU32::new(0),
            refused: AtomicU32::new(0),
        }
    }

    /// Bytes handed out so far: may pass the arena's end once it is full
    /// (clamp it to the arena's length), and is untrusted. Relaxed: a
    /// count for reports; a reader of entries goes through
    /// [`crate::callsite::CallsiteTable`], whose commits publish them.
    pub fn handed_out(&self) -> u32 {
        self.next.load(Ordering::Relaxed)
    }

    /// Registrations refused because the arena was full. Relaxed: a count.
    pub fn refused(&self) -> u32 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Default for ArenaHead {
    fn default() -> Self {
        Self::new()
    }
}

/// The header page.
#[repr(C)]
pub struct RegionHeader {
    /// Identity and geometry.
    pub id: Padded<Identity>,
    /// The writer's block.
    pub writer: Padded<WriterBlock>,
    /// Sleep/wake handshake.
    pub wake: Padded<WakeBlock>,
    /// Run-time configuration.
    pub control: Padded<ControlBlock>,
    /// Flush handshake.
    pub flush: Padded<FlushBlock>,
    /// Writer counters.
    pub stats: Padded<Stats>,
    /// Callsite arena cursor.
    pub arena: Padded<ArenaHead>,
    /// Identities of the files a write intent names (layout version 3).
    pub intent_files: Padded<IntentFiles>,
    /// The uncommitted shared-lane claim at the tail (layout version 3).
    pub claim_watch: Padded<ClaimWatch>,
    /// The writer's forwarding sinks, for `ul-stat` (zero in a region no
    /// writer with `--forward` served; older readers ignore it).
    pub forward: Padded<ForwardBlock>,
}

impl RegionHeader {
    /// Slot `i` (below [`INTENT_SLOTS`]) of the write intent: the file the
    /// batch named there and its length before the batch. Untrusted input.
    /// Relaxed loads: call after [`WriterBlock::intent`] (Acquire) said a
    /// batch is in flight, which orders them after the writer's stores.
    pub fn intent_file(&self, i: usize) -> IntentFile {
        IntentFile {
            dev: self.intent_files.dev[i].load(Ordering::Relaxed),
            ino: self.intent_files.ino[i].load(Ordering::Relaxed),
            len: self.writer.intent_lens[i].load(Ordering::Relaxed),
        }
    }

    /// Writer, before [`WriterBlock::begin_batch`]: the batch writes to
    /// `f` (or, with [`IntentFile::default`], to no file) in slot `i`.
    /// Relaxed stores: `begin_batch`'s Release store publishes them.
    pub fn set_intent_file(&self, i: usize, f: IntentFile) {
        self.intent_files.dev[i].store(f.dev, Ordering::Relaxed);
        self.intent_files.ino[i].store(f.ino, Ordering::Relaxed);
        self.writer.intent_lens[i].store(f.len, Ordering::Relaxed);
    }
}

const _: () = assert!(core::mem::size_of::<RegionHeader>() <= HEADER_LEN);
// The header's blocks sit at the same offsets on every target (`Padded`
// is 128-aligned everywhere): a 32-bit and a 64-bit process agree.
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(RegionHeader, id) == 0);
    assert!(offset_of!(RegionHeader, writer) == 128);
    assert!(offset_of!(RegionHeader, wake) == 256);
    assert!(offset_of!(RegionHeader, control) == 384);
    assert!(offset_of!(RegionHeader, flush) == 512);
    assert!(offset_of!(RegionHeader, stats) == 640);
    assert!(offset_of!(RegionHeader, arena) == 768);
    assert!(offset_of!(RegionHeader, intent_files) == 896);
    assert!(offset_of!(RegionHeader, claim_watch) == 1024);
    assert!(offset_of!(RegionHeader, forward) == 1152);
    assert!(core::mem::size_of::<RegionHeader>() == 1152 + 1024);
    assert!(offset_of!(LaneControl, consumer) == 128);
    assert!(offset_of!(SharedLaneControl, tail) == 128);
    assert!(offset_of!(SharedLaneControl, dropped_reported) == 384);
};

/// One lane's directory entry.
#[repr(C, align(64))]
pub struct LaneSlot {
    /// The owner word: generation, pid and state, changed only by the
    /// transitions of [`crate::ownership::OwnerWord`]. While a lane is
    /// owned, its owner also holds the kernel lock on this entry's first
    /// byte of the region file ([`crate::ownership::lane_lock_offset`]).
    /// Reached through [`LaneSlot::owner`] only.
    pub(crate) owner: AtomicU64,
    /// Unused since layout version 3 (was the owner's start time).
    pub(crate) _reserved0: AtomicU64,
    /// The owner thread's tid, in its own pid namespace. Informative,
    /// stored by the claim; see [`LaneSlot::tid`].
    pub(crate) tid: AtomicU32,
    /// Unused since layout version 3 (the generation is in `owner`).
    pub(crate) _reserved1: AtomicU32,
    /// Wall-clock ns of the claim. Informative; see
    /// [`LaneSlot::claimed_ns`].
    pub(crate) claimed_ns: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<LaneSlot>() == 64);

impl LaneSlot {
    /// The lane's owner word, with the protocol's transitions.
    pub fn owner(&self) -> crate::ownership::OwnerWord<'_> {
        crate::ownership::OwnerWord::new(&self.owner)
    }

    /// The raw owner word, for tests that forge what a hostile process
    /// could write there. Not part of the protocol.
    #[doc(hidden)]
    pub fn owner_raw(&self) -> &AtomicU64 {
        &self.owner
    }

    /// The unused word that held the owner's start time before layout
    /// version 3, for tests that forge what an owner of the old protocol
    /// left there. Not part of the protocol.
    #[doc(hidden)]
    pub fn reserved0_raw(&self) -> &AtomicU64 {
        &self._reserved0
    }

    /// The tid of the thread that claimed the lane (in its own pid
    /// namespace). Informative, for reports: stored Relaxed after the
    /// claim's CAS by the claimant, so a reader may see the previous
    /// owner's tid for a moment; decide nothing on it (the owner word
    /// and its lock say who owns the lane). Relaxed.
    pub fn tid(&self) -> u32 {
        self.tid.load(Ordering::Relaxed)
    }

    /// Wall-clock ns of the claim (informative, as [`tid`](Self::tid)).
    /// Relaxed.
    pub fn claimed_ns(&self) -> u64 {
        self.claimed_ns.load(Ordering::Relaxed)
    }
}

/// Entries in the drop table.
pub const DROP_SLOTS: usize = 256;

/// One entry of the drop table: a thread that logs through the shared lane
/// (every lane was taken) claims one, with the same protocol as a lane
/// ([`crate::ownership`]: owner word, kernel lock on its first byte), and
/// counts the records it drops there. The counts live in shared memory, so
/// a thread killed by SIGKILL still has its drops reported, by pid and
/// thread. A thread that finds the table full counts in the shared lane's
/// own counter, reported without a pid.
#[repr(C, align(64))]
pub struct DropSlot {
    /// The owner word; reached through [`DropSlot::owner`] only.
    pub(crate) owner: AtomicU64,
    /// The owner thread's tid, in its own pid namespace. Informative; see
    /// [`DropSlot::tid`].
    pub(crate) tid: AtomicU32,
    /// Reserved (zero).
    pub(crate) _reserved: AtomicU32,
    /// Records the owner dropped (its signal handlers too: one atomic add).
    pub(crate) dropped: Counter,
    /// Value of `dropped` already reported in the log (writer only).
    pub(crate) dropped_reported: AtomicU64,
    /// `dropped_reported` once batch `pending_batch` is on disk (the
    /// write-ahead intent, as for a lane).
    pub(crate) pending_dropped: AtomicU64,
    /// See `pending_dropped`.
    pub(crate) pending_batch: AtomicU64,
    /// Wall-clock ns of the claim. Informative; see
    /// [`DropSlot::claimed_ns`].
    pub(crate) claimed_ns: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<DropSlot>() == 64);

impl DropSlot {
    /// The entry's owner word, with the protocol's transitions.
    pub fn owner(&self) -> crate::ownership::OwnerWord<'_> {
        crate::ownership::OwnerWord::new(&self.owner)
    }

    /// The tid of the thread that claimed the entry (in its own pid
    /// namespace). Informative, as [`LaneSlot::tid`]: the drop reports
    /// name the thread with it, but nothing is decided on it. Relaxed.
    pub fn tid(&self) -> u32 {
        self.tid.load(Ordering::Relaxed)
    }

    /// Wall-clock ns of the claim (informative). Relaxed.
    pub fn claimed_ns(&self) -> u64 {
        self.claimed_ns.load(Ordering::Relaxed)
    }

    /// Producer (the entry's owner thread, and its signal handlers): where
    /// it counts a record it drops on the shared lane.
    pub fn drop_counter(&self) -> &Counter {
        &self.dropped
    }

    /// Records the owner dropped (Relaxed: a count).
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// The part of [`dropped`](Self::dropped) already reported in the log.
    /// Relaxed: only the writer stores it, and nothing is published with
    /// it.
    pub fn dropped_reported(&self) -> u64 {
        self.dropped_reported.load(Ordering::Relaxed)
    }

    /// Writer, once the batch that reports them is on disk (or when
    /// completing a batch a dead writer left written): the drops up to
    /// `dropped` are reported. Returns the count reported before. Relaxed:
    /// see [`dropped_reported`](Self::dropped_reported).
    pub fn report_dropped(&self, dropped: u64) -> u64 {
        self.dropped_reported.swap(dropped, Ordering::Relaxed)
    }

    /// Writer, before it writes batch `batch` (the write-ahead intent, as
    /// [`LaneControl::stage`]): the batch reports the drops up to `dropped`.
    /// The count is stored first (Relaxed), then the batch number
    /// (Release), so a reader that sees the number (Acquire, in
    /// [`staged`](Self::staged)) sees the count staged with it.
    pub fn stage(&self, batch: u64, dropped: u64) {
        self.pending_dropped.store(dropped, Ordering::Relaxed);
        self.pending_batch.store(batch, Ordering::Release);
    }

    /// The count [`stage`](Self::stage) staged for `batch`, if the entry's
    /// last staging was for `batch`.
    pub fn staged(&self, batch: u64) -> Option<u64> {
        // Acquire: pairs with `stage`'s Release store of the number.
        (self.pending_batch.load(Ordering::Acquire) == batch)
            .then(|| self.pending_dropped.load(Ordering::Relaxed))
    }
}

// The fields behind methods sit where they always did (layout version 3).
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(DropSlot, tid) == 8);
    assert!(offset_of!(DropSlot, dropped) == 16);
    assert!(offset_of!(DropSlot, claimed_ns) == 48);
    assert!(offset_of!(LaneSlot, tid) == 16);
    assert!(offset_of!(LaneSlot, claimed_ns) == 24);
    assert!(offset_of!(ArenaHead, refused) == 4);
    assert!(offset_of!(ClaimWatch, since_ns) == 8);
    assert!(offset_of!(DropSlot, pending_batch) == 40);
    assert!(offset_of!(WriterBlock, pid) == 0);
    assert!(offset_of!(WriterBlock, start_time) == 8);
    assert!(offset_of!(WriterBlock, heartbeat_ns) == 16);
    assert!(offset_of!(WriterBlock, intent) == 24);
    assert!(offset_of!(WriterBlock, intent_lens) == 40);
    assert!(offset_of!(WriterBlock, shared_lane_pending_batch) == 40 + 8 * INTENT_SLOTS + 16);
    assert!(offset_of!(IntentFiles, ino) == 8 * INTENT_SLOTS);
};
const _: () = assert!(core::mem::size_of::<LaneControl>() <= LANE_CONTROL_LEN);
const _: () = assert!(core::mem::size_of::<SharedLaneControl>() <= SHARED_LANE_CONTROL_LEN);

/// Bytes reserved for each lane's [`LaneControl`] before its ring.
pub const LANE_CONTROL_LEN: usize = 256;
/// Bytes reserved for the [`SharedLaneControl`].
pub const SHARED_LANE_CONTROL_LEN: usize = 512;

/// Sizes chosen when a region is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Number of SPSC lanes (1..=4096).
    pub lanes: u32,
    /// Bytes per lane: a power of two, 4 KiB to 1 GiB.
    pub lane_capacity: u32,
    /// Slots in the shared lane (2..=1M).
    pub shared_lane_slots: u32,
    /// Bytes per shared-lane slot: a multiple of 8, 64 B to 64 KiB.
    pub shared_lane_slot_len: u32,
    /// Bytes in the callsite arena: a multiple of 8, 4 KiB to 128 MiB (so
    /// that every callsite id fits the 24 bits of a compact record).
    pub callsite_len: u32,
}

/// 128 lanes of 256 KiB (about 6,500 records of three numbers each), the
/// shared lane and 1 MiB of call sites: 37.1 MiB of shared memory. Many
/// lanes rather than large ones: a thread beyond the last lane shares the
/// shared lane, whose slots cost its producers a compare-and-swap each and
/// its writer more per record (at 64 threads, 32 lanes of 1 MiB ran at
/// 0.6x one thread's rate; 128 lanes of 256 KiB at 0.98x text, see
/// docs/perf/README.md), and a full lane waits for room by default rather
/// than dropping.
impl Default for Sizes {
    fn default() -> Self {
        Self {
            lanes: 128,
            lane_capacity: 1 << 18,
            shared_lane_slots: 8192,
            shared_lane_slot_len: 512,
            callsite_len: 1 << 20,
        }
    }
}

/// Where each part of a region lives, computed from its [`Sizes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// The sizes this geometry was computed from.
    pub sizes: Sizes,
    /// Offset of the lane directory.
    pub dir_offset: usize,
    /// Offset of the drop table ([`DROP_SLOTS`] [`DropSlot`]s).
    pub drops_offset: usize,
    /// Offset of the shared lane's sequence words.
    pub shared_lane_seq_offset: usize,
    /// Offset of the shared lane's control block.
    pub shared_lane_ctrl_offset: usize,
    /// Offset of the shared lane's slots.
    pub shared_lane_data_offset: usize,
    /// Offset of lane 0's control block.
    pub lanes_offset: usize,
    /// Distance between consecutive lanes.
    pub lane_stride: usize,
    /// Offset of the callsite arena.
    pub callsite_offset: usize,
    /// Total region size.
    pub total_len: usize,
}

fn align_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}

impl Sizes {
    /// Checks the sizes' bounds; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        let s = self;
        if !(1..=4096).contains(&s.lanes) {
            return Err(format!("lanes = {} (must be 1 to 4096)", s.lanes));
        }
        if !s.lane_capacity.is_power_of_two() || !(4096..=1 << 30).contains(&s.lane_capacity) {
            return Err(format!(
                "lane capacity = {} (must be a power of two from 4096 to 1 GiB)",
                s.lane_capacity
            ));
        }
        // At least two: the shared lane's sequence words cannot tell a
        // committed slot from a free one when there is only one.
        if !(2..=1 << 20).contains(&s.shared_lane_slots) {
            return Err(format!(
                "shared-lane slots = {} (must be 2 to 1048576)",
                s.shared_lane_slots
            ));
        }
        if s.shared_lane_slot_len % 8 != 0 || !(64..=65536).contains(&s.shared_lane_slot_len) {
            return Err(format!(
                "shared-lane slot length = {} (must be a multiple of 8 from 64 to 65536)",
                s.shared_lane_slot_len
            ));
        }
        if s.callsite_len % 8 != 0 || !(4096..=1 << 27).contains(&s.callsite_len) {
            return Err(format!(
                "callsite table length = {} (must be a multiple of 8 from 4096 to 128 MiB)",
                s.callsite_len
            ));
        }
        Ok(())
    }

    /// The geometry of a region with these sizes, or what is wrong with them.
    ///
    /// ```
    /// let g = ul_ring::layout::Sizes::default().geometry().unwrap();
    /// assert_eq!(g.total_len % 4096, 0);
    /// ```
    pub fn geometry(&self) -> Result<Geometry, String> {
        self.validate()?;
        let s = *self;
        let dir_offset = HEADER_LEN;
        let drops_offset = dir_offset + s.lanes as usize * 64;
        let shared_lane_seq_offset = align_up(drops_offset + DROP_SLOTS * 64, 4096);
        let shared_lane_ctrl_offset = align_up(
            shared_lane_seq_offset + s.shared_lane_slots as usize * 8,
            4096,
        );
        let shared_lane_data_offset = shared_lane_ctrl_offset + SHARED_LANE_CONTROL_LEN;
        let lanes_offset = align_up(
            shared_lane_data_offset
                + s.shared_lane_slots as usize * s.shared_lane_slot_len as usize,
            4096,
        );
        let lane_stride = LANE_CONTROL_LEN + s.lane_capacity as usize;
        let callsite_offset = align_up(lanes_offset + s.lanes as usize * lane_stride, 4096);
        let total_len = align_up(callsite_offset + s.callsite_len as usize, 4096);
        Ok(Geometry {
            sizes: s,
            dir_offset,
            drops_offset,
            shared_lane_seq_offset,
            shared_lane_ctrl_offset,
            shared_lane_data_offset,
            lanes_offset,
            lane_stride,
            callsite_offset,
            total_len,
        })
    }
}
