//! The hot path: each thread's lane, and the one function every log call runs.

use std::cell::{Cell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::sync::atomic::{compiler_fence, AtomicPtr, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ul_ring::args::Encoder;
use ul_ring::bytes::RawBytes;
use ul_ring::counter::Counter;
use ul_ring::lane::{Producer, PushError};
use ul_ring::ownership::ClaimedLane;
use ul_ring::record::{
    compact_word, record_len, RecordHeader, RecordKind, COMPACT_CONTEXT, COMPACT_HEADER_LEN,
    COMPACT_TRUNCATED, COMPACT_TSC, FLAG_TRUNCATED, FLAG_TSC, HEADER_LEN,
};
use ul_ring::shared_lane::SharedLanePushError;
use ul_ring::wake::WakeBlock;

use crate::arglist::ArgList;
use crate::attachment::{self, Overflow, Shared, FORK_EPOCH};
use crate::callsite::Callsite;

/// Records dropped because a signal handler logged while its thread was
/// already inside a log call (the nesting guard), or because a thread-local
/// destructor logged after the thread's lane was retired.
pub(crate) static NESTED_DROPS: AtomicU64 = AtomicU64::new(0);

/// `FUTEX_WAKE` system calls this process made to wake the writer from a
/// log call (the tests check that a dead writer does not cost one per
/// record).
pub(crate) static WAKE_SYSCALLS: AtomicU64 = AtomicU64::new(0);

/// Sleeps this process's log calls took waiting for room in a full lane
/// (for tests: the waits' pacing, see [`Pace`]).
pub(crate) static WAIT_SLEEPS: AtomicU64 = AtomicU64::new(0);

#[cold]
#[inline(never)]
fn follow_slow(shared: &'static Shared) {
    attachment::follow(shared, false);
}

/// Wakes the writer's futex after [`WakeBlock::claim_wake`] won,
/// counting the system call.
#[cold]
fn ring_writer(wake: &WakeBlock) {
    WAKE_SYSCALLS.fetch_add(1, Ordering::Relaxed);
    wake.ring();
}

/// Where this thread's records go.
enum Sink {
    /// Not attached yet (or attached before a `fork()`).
    Unattached,
    /// Its own SPSC lane (whose producer is [`Inner::producer`]), by
    /// this claim, with the lock that tells the writer we live.
    Lane { claim: ClaimedLane },
    /// The shared MPSC lane (every lane was taken), with this thread's
    /// entry in the drop table (`None`: the table was full too; drops are
    /// then counted in the shared lane's anonymous counter).
    Shared { drops: Option<ClaimedLane> },
}

struct Inner {
    /// The producer of this thread's own lane, `Some` exactly when `sink`
    /// is [`Sink::Lane`]: apart, so that the hot path's one test is
    /// whether it is there (a null check), not which `Sink` it is.
    producer: Option<Producer<'static, RawBytes>>,
    sink: Sink,
    /// The attachment `sink` lives in (null before the first attach). A
    /// log call that finds another one installed (the region was replaced
    /// at its path) attaches again.
    attached: *const Shared,
    epoch: u32,
    tid: u32,
    context: u32,
    pending_context: Option<std::sync::Arc<crate::context::Context>>,
    wake_threshold: u64,
    /// The head past which the lane is over half full as of the tail the
    /// producer last saw: `cached_tail + wake_threshold`, kept by
    /// [`Inner::set_wake_at`] whenever the cached tail may have moved (in
    /// `attach`, `push` and `wake_if_sleeping`, the only places that move
    /// it), so the hot path's wake check is one compare. 0 near the end of
    /// the positions' range, where `head` could wrap: every record then
    /// takes the exact check.
    wake_at: u64,
}

struct State {
    /// The hot path's one word: the address of the attachment ([`Shared`])
    /// this thread may log into without looking further, or 0; bit 0
    /// ([`BUSY`]) is the nesting guard, set while the thread is inside a
    /// log call. Non-zero exactly when `inner` has a lane of its own
    /// ([`Inner::producer`]) in that attachment, in this process (the
    /// fork epoch it was claimed in is current) and no thread context:
    /// [`with_inner`] recomputes it each time it lets go of `inner`, and
    /// the fork handler clears it ([`after_fork`]). So the hot path's
    /// checks of the nesting guard, the attachment, the fork epoch, the
    /// context and the lane are one compare.
    fast: Cell<usize>,
    /// The shared counter a nested (signal-handler) call adds its drop to:
    /// the lane's nested-drop counter, or the thread's drop-table entry's
    /// (else the shared lane's anonymous) drop counter; null
    /// before attaching. An atomic so a handler can read it while the
    /// interrupted call is inside `attach`.
    nested_sink: AtomicPtr<Counter>,
    /// Never dropped by the thread-local itself: a `State` without drop
    /// glue is a plain thread-local, with no destructor-state check on
    /// each access. [`Exit`] drops what it holds when the thread exits.
    inner: UnsafeCell<ManuallyDrop<Inner>>,
}

/// [`State::fast`]'s nesting-guard bit (a `Shared` is at least 8-aligned,
/// so no attachment's address has it).
const BUSY: usize = 1;

impl Inner {
    /// Not attached.
    const EMPTY: Inner = Inner {
        producer: None,
        sink: Sink::Unattached,
        attached: core::ptr::null(),
        epoch: 0,
        tid: 0,
        context: 0,
        pending_context: None,
        wake_threshold: 0,
        wake_at: 0,
    };

    /// Recomputes [`Inner::wake_at`] from the lane's cached tail.
    fn set_wake_at(&mut self) {
        if let Some(p) = &self.producer {
            let tail = p.cached_tail();
            self.wake_at = match tail.checked_add(p.capacity()) {
                Some(_) => tail.wrapping_add(self.wake_threshold),
                None => 0,
            };
        }
    }

    /// [`State::fast`] for this state (busy bit clear).
    fn fast_word(&self) -> usize {
        if self.producer.is_some()
            && self.context == 0
            && self.epoch == FORK_EPOCH.load(Ordering::Relaxed)
        {
            self.attached as usize
        } else {
            0
        }
    }
}

/// Registered (a thread-local with a destructor) when a thread first
/// attaches: at thread exit it hands the thread's lane to the writer,
/// which frees it once drained, and drops the rest of the thread's state.
struct Exit;

impl Drop for Exit {
    fn drop(&mut self) {
        let _ = with_inner(|inner| {
            // Not after a fork: that lane is the parent's.
            if inner.epoch == FORK_EPOCH.load(Ordering::Relaxed) {
                inner.retire_lane();
            }
            drop(core::mem::replace(inner, Inner::EMPTY));
        });
    }
}

thread_local! {
    /// Under [`Overflow::Wait`]: the consumer's position in this thread's
    /// lane (or the shared lane) when a call last gave up waiting. While it
    /// has not moved, a full lane drops at once (see [`Stall`]). Kept out
    /// of [`Inner`] so the hot path's thread-local state is as it was:
    /// only the full-lane path and `attach` touch it.
    static STALLED_AT: Cell<Option<u64>> = const { Cell::new(None) };
    /// How this thread's last wait for room ended (see [`Pace`]).
    static PACE: Cell<Pace> = const { Cell::new(Pace::FRESH) };
    static STATE: State = const {
        State {
            fast: Cell::new(0),
            nested_sink: AtomicPtr::new(core::ptr::null_mut()),
            inner: UnsafeCell::new(ManuallyDrop::new(Inner::EMPTY)),
        }
    };
    /// See [`Exit`].
    static EXIT: Exit = const { Exit };
}

/// Lets go of a thread's state when dropped (after the compiler fence that
/// keeps it after every access to the lane state): recomputes
/// [`State::fast`] from it, which clears the busy bit.
struct BusyGuard<'a>(&'a State);

impl Drop for BusyGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the busy bit is still set, so no other reference to
        // `inner` is live (the one `with_inner` handed out is gone: this
        // runs after `f` returned or unwound), and a signal handler on
        // this thread does not touch it.
        let inner = unsafe { &*self.0.inner.get() };
        let epoch = inner.epoch;
        let fast = inner.fast_word();
        self.0.fast.set(fast);
        compiler_fence(Ordering::SeqCst);
        // A fork in a signal handler between our look at the epoch and the
        // store: the handler cleared the word before we stored ours.
        if FORK_EPOCH.load(Ordering::Relaxed) != epoch {
            self.0.fast.set(self.0.fast.get() & BUSY);
        }
    }
}

/// Clears the busy bit of [`State::fast`] when dropped, keeping the rest
/// (the hot path's release, which leaves the word as it found it unless
/// the fork handler cleared it meanwhile). It does not look at the fork
/// epoch again: a child forked *from a signal handler* that interrupted
/// the hot path between its compare and its store of the word (or between
/// the load and the store here, where the compiler emits two instructions)
/// keeps the parent's lane in that word. That is outside what ul supports:
/// POSIX.1-2024 no longer lists `fork` as async-signal-safe, and `_Fork`,
/// which is, runs no `pthread_atfork` handler, so ul's child handler never
/// runs there in any case; such a child must not log before it execs (see
/// `docs/design.md`, "Forks").
struct HotBusy<'a>(&'a Cell<usize>);

impl Drop for HotBusy<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        self.0.set(self.0.get() & !BUSY);
    }
}

/// In the child after `fork()` (from the fork handler, on the thread that
/// forked, the child's only one): the lane this thread holds is the
/// parent's, so its next log call must take the slow path, which claims
/// one of its own. Keeps the busy bit of a call the fork interrupted.
pub(crate) fn after_fork() {
    let _ = STATE.try_with(|st| st.fast.set(st.fast.get() & BUSY));
}

/// Runs `f` with this thread's lane state, unless the thread is already
/// inside a log call (a signal handler interrupted it): then returns None.
#[inline(always)]
fn with_inner<R>(f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
    STATE
        .try_with(|st| {
            let fast = st.fast.get();
            if fast & BUSY != 0 {
                return None;
            }
            st.fast.set(fast | BUSY);
            // Clears `busy` when `f` returns or unwinds: a panic inside a
            // log call must not leave every later record of this thread
            // counted as a nested drop.
            let _busy = BusyGuard(st);
            // The flag must be set before we touch `inner`, as seen by a
            // signal handler running on this same thread.
            compiler_fence(Ordering::SeqCst);
            // SAFETY: `busy` makes this the only live reference to `inner`:
            // it is thread-local, and a nested call (signal handler) on this
            // thread sees `busy` and returns before reaching here; the
            // reference does not outlive `f`, and `_busy` clears the flag
            // only after `f` is done with it (returned or unwound).
            let r = f(unsafe { &mut *st.inner.get() });
            Some(r)
        })
        .ok()
        .flatten()
}

impl Inner {
    /// Hands this thread's lane (if it has one) back to the writer of the
    /// region it is in, which frees it once drained.
    fn retire_lane(&mut self) {
        self.producer = None;
        let claim = match core::mem::replace(&mut self.sink, Sink::Unattached) {
            Sink::Lane { claim } | Sink::Shared { drops: Some(claim) } => claim,
            _ => return,
        };
        // SAFETY: `attached` is null or a leaked, never-freed Shared.
        match unsafe { self.attached.as_ref() } {
            Some(shared) => claim.retire(&shared.region),
            None => drop(claim),
        }
    }

    #[cold]
    #[inline(never)]
    fn attach(&mut self, shared: &'static Shared) {
        set_nested_sink(core::ptr::null());
        let epoch = FORK_EPOCH.load(Ordering::Relaxed);
        if EXIT.try_with(|_| ()).is_err() {
            // The thread is exiting and its lane went back to the writer
            // (a log call from another thread-local's destructor): claim
            // nothing that no destructor would hand back; the record is
            // dropped and counted (`push_other`).
            self.retire_lane();
            self.attached = shared;
            self.epoch = epoch;
            return;
        }
        if self.epoch == epoch && !self.attached.is_null() && !core::ptr::eq(self.attached, shared)
        {
            // The region was replaced: the old lane goes back to the writer
            // (which drains the old region to the end), and we take a lane
            // in the new one.
            self.retire_lane();
            self.context = 0;
        }
        self.attached = shared;
        if self.epoch != epoch {
            // After a fork the lane we hold is the parent's: forget it
            // without touching its owner word. (Its lock descriptor, a copy
            // of the parent's, was closed by ul-ring's fork handler.)
            if let Sink::Lane { .. } | Sink::Shared { .. } = self.sink {
                self.producer = None;
                self.sink = Sink::Unattached;
            }
            self.epoch = epoch;
            self.context = 0;
        }
        self.tid = ul_ring::procinfo::gettid();
        let _ = STALLED_AT.try_with(|c| c.set(None));
        let pid = attachment::pid();
        let lanes = shared.region.geometry().sizes.lanes as usize;
        let first = self.tid as usize % lanes;
        self.producer = None;
        self.sink = Sink::Unattached;
        if let Some(claim) = ul_ring::ownership::claim_lane(&shared.region, pid, self.tid, first) {
            let i = claim.index();
            // SAFETY: we own the lane (our claim CAS succeeded and we hold
            // its lock), so we are its only producer until we retire it;
            // the lane's bytes are a power of two of at least 4 KiB
            // (region validation).
            let producer = unsafe {
                Producer::attach(shared.region.lane_control(i), shared.region.lane_bytes(i))
            };
            self.wake_threshold = producer.capacity() / 2;
            self.producer = Some(producer);
            self.set_wake_at();
            self.sink = Sink::Lane { claim };
            set_nested_sink(shared.region.lane_control(i).nested_drops());
        }
        if let Sink::Unattached = self.sink {
            // Every lane is taken: the shared lane, and an entry in the
            // drop table so that what this thread drops there is reported
            // with its pid and thread, even if the process is killed.
            let first = self.tid as usize % ul_ring::layout::DROP_SLOTS;
            let drops = ul_ring::ownership::claim_drop_slot(&shared.region, pid, self.tid, first);
            set_nested_sink(shared_drop_counter(shared, &drops));
            self.sink = Sink::Shared { drops };
        }
        if let Some(ctx) = self.pending_context.as_ref() {
            self.context = ctx.id(shared);
        }
    }
}

/// Where a thread on the shared lane counts its drops: its drop-table
/// entry, else the shared lane's anonymous counter. Both live in the
/// region, mapped for the life of the process.
fn shared_drop_counter<'a>(shared: &'a Shared, drops: &Option<ClaimedLane>) -> &'a Counter {
    match drops {
        Some(c) => shared.region.drop_slot(c.index()).drop_counter(),
        None => shared.region.shared_lane().control().drop_counter(),
    }
}

/// Points this thread's nested-drop counter at `counter` (which lives in
/// the region, mapped for the life of the process).
fn set_nested_sink(counter: *const Counter) {
    let _ = STATE.try_with(|st| st.nested_sink.store(counter.cast_mut(), Ordering::Relaxed));
}

/// A log call made while this thread was already inside one (a signal
/// handler): count it in the process and in the lane, so the writer reports
/// it like any other drop.
#[cold]
#[inline(never)]
fn count_nested_drop() {
    NESTED_DROPS.fetch_add(1, Ordering::Relaxed);
    let _ = STATE.try_with(|st| {
        let p = st.nested_sink.load(Ordering::Relaxed);
        // SAFETY: a non-null `nested_sink` points at a counter in the
        // region's mapping, which is never unmapped (the attachment is
        // leaked for the life of the process).
        if let Some(c) = unsafe { p.as_ref() } {
            c.add(1);
        }
    });
}

#[cold]
fn wake_writer(shared: &'static Shared) {
    attachment::follow_sometimes(shared);
    let wake = &shared.region.header().wake;
    if wake.claim_wake() {
        ring_writer(wake);
    }
}

/// The string limit for a record of `A`: read only if `A` may hold a
/// string (an atomic load is not optimised away even when unused).
#[inline(always)]
fn str_limit<A: ArgList>() -> usize {
    if A::CUTTABLE {
        attachment::max_str()
    } else {
        0
    }
}

/// Encodes and publishes one record. Called by the macros after the level
/// check; `context` overrides the thread's context when non-zero.
///
/// An argument list whose types the compiler knows (a tuple: every macro
/// call) goes out as a compact record, read by the signature its call site
/// registered; a run-time list (the `tracing` layer's) as a tagged one.
#[inline(always)]
pub fn emit<A: ArgList>(cs: &'static Callsite, context: u32, args: A) {
    if let Some(shared) = attachment::get() {
        emit_in(crate::__private::Attached(shared), cs, context, args);
    }
}

/// [`emit`] into the attachment the macros' level check found.
///
/// `args` comes by value, and every path off the hot one takes it by
/// value: were its address taken anywhere (as when the cold paths took
/// `&A`), the tuple would be built in memory on every call, and each
/// value read back through it.
#[inline(always)]
pub fn emit_in<A: ArgList>(
    at: crate::__private::Attached,
    cs: &'static Callsite,
    context: u32,
    args: A,
) {
    let shared = at.0;
    // The hot path: a call site registered in this region (so with the
    // signature of its tuple) writes a compact record.
    match cs.cached_shifted(shared) {
        Some(callsite) if A::SIGNATURE.is_some() && context == 0 => {
            emit_compact(at, cs, callsite, args)
        }
        _ => args.emit_cold(at, cs, context),
    }
}

/// [`emit_in`] for a call site not registered yet in this region, an
/// argument list with no signature (tagged records), or a call with a
/// context of its own.
#[cold]
#[inline(never)]
pub(crate) fn emit_registering<A: ArgList>(
    shared: &'static Shared,
    cs: &'static Callsite,
    context: u32,
    args: A,
) {
    let callsite = cs.id(shared, A::SIGNATURE);
    // A full callsite table gives id 0, which names no signature: that
    // record goes tagged, and the writer prints it without its format.
    let pushed = if A::SIGNATURE.is_some() && callsite != 0 {
        with_inner(|inner| emit_compact_slow(shared, inner, callsite, context, args))
    } else {
        emit_tagged(shared, cs.level, callsite, context, args)
    };
    if pushed.is_none() {
        count_nested_drop();
    }
}

/// The compact record of [`emit`] on the hot path: the frame word (length,
/// kind and flags, callsite), the timestamp, the values, written straight
/// into this thread's lane when [`State::fast`] says it has one in
/// `shared` (and is not inside a log call already), and it has room
/// before its cached limit. Anything else takes [`emit_compact_slow`],
/// out of line, with the values by value; here the length is a constant
/// for fixed-size arguments and every check on it folds.
#[inline(always)]
fn emit_compact<A: ArgList>(
    at: crate::__private::Attached,
    cs: &'static Callsite,
    callsite: u64,
    args: A,
) {
    let shared = at.0;
    let key = shared as *const Shared as usize;
    // A const thread-local without drop glue: a plain `%fs` access.
    let args = match STATE.try_with(|st| {
        if st.fast.get() != key {
            return Some(args);
        }
        // `key` is 8-aligned: the same as `key | BUSY`, one `lea`.
        st.fast.set(key.wrapping_add(BUSY));
        // Clears the busy bit when this returns or unwinds.
        let _busy = HotBusy(&st.fast);
        // The bit must be set before we touch `inner`, as seen by a
        // signal handler running on this same thread.
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the busy bit makes this the only live reference to
        // `inner`: it is thread-local, `with_inner` hands out none while
        // the bit is set, and a nested call (signal handler) on this
        // thread finds `fast` differing from every attachment and takes
        // `ArgList::emit_cold`, whose `with_inner` returns at once; the
        // reference does not outlive this closure, and `_busy` clears the
        // bit only after it (returned or unwound).
        let inner = unsafe { &mut **st.inner.get() };
        emit_compact_in(shared, inner, callsite, args);
        None
    }) {
        Ok(None) => return,
        Ok(Some(args)) => args,
        // A thread-local without a destructor is never gone.
        Err(_) => return,
    };
    // Not inside a log call already, not attached in `shared`, forked,
    // with a thread context, or on the shared lane.
    args.emit_cold(at, cs, 0);
}

/// [`emit_compact`] inside the thread's state, which [`State::fast`] says
/// has a lane in `shared`.
#[inline(always)]
fn emit_compact_in<A: ArgList>(shared: &'static Shared, inner: &mut Inner, callsite: u64, args: A) {
    let wake_at = inner.wake_at;
    let Some(producer) = &mut inner.producer else {
        emit_compact_slow(shared, inner, (callsite >> 40) as u32, 0, args);
        return;
    };
    // Sized in here: a length computed outside the closure that
    // `LocalKey::try_with` is compiled around reaches it through memory,
    // where the compiler can no longer see that it is a constant for
    // fixed-size arguments (and fold the lane's length checks and the
    // encoder's bounds checks).
    let len = record_len(COMPACT_HEADER_LEN + args.values_len(str_limit::<A>()));
    let Some(r) = producer.reserve_fast(len) else {
        emit_compact_slow(shared, inner, (callsite >> 40) as u32, 0, args);
        return;
    };
    let (timestamp, is_tsc) = ul_ring::clock::now();
    let mut flags = if is_tsc { COMPACT_TSC } else { 0 };
    if A::CUTTABLE && args.truncated(str_limit::<A>()) {
        flags |= COMPACT_TRUNCATED;
    }
    let word = compact_word(len, flags, 0) | callsite;
    r.commit(|enc| {
        enc.zero_last_word();
        enc.put_u64(word);
        enc.put_u64(timestamp);
        args.put_values(enc, str_limit::<A>());
    });
    if producer.head() > wake_at {
        wake_if_sleeping(shared, inner);
    }
    // A writer that serves a new region at the path marks the old one:
    // then look at the path (rate-limited), even if the lane never fills.
    // One load from the line the level check just read; no system call on
    // the hot path.
    if shared.region.header().control.superseded() {
        follow_slow(shared);
    }
}

/// The head is past [`Inner::wake_at`]: if the lane is over half full (as
/// of the tail this producer last saw) and the writer announced sleep, look
/// at its tail again, and wake it if the lane really is.
#[cold]
#[inline(never)]
fn wake_if_sleeping(shared: &'static Shared, inner: &mut Inner) {
    let threshold = inner.wake_threshold;
    if let Some(producer) = &mut inner.producer {
        if producer.used() > threshold && shared.region.header().wake.writer_sleeping() {
            producer.refresh_tail();
            if producer.used() > threshold {
                wake_writer(shared);
            }
        }
    }
    inner.set_wake_at();
}

/// [`emit_compact`] off its hot path: (re)attaches after a fork or in a
/// new region, takes a context (the call's, else the thread's), the
/// shared lane, a wrap, a full lane.
#[cold]
#[inline(never)]
fn emit_compact_slow<A: ArgList>(
    shared: &'static Shared,
    inner: &mut Inner,
    callsite: u32,
    context: u32,
    args: A,
) -> bool {
    if inner.epoch != FORK_EPOCH.load(Ordering::Relaxed) || !core::ptr::eq(inner.attached, shared) {
        inner.attach(shared);
    }
    if context != 0 || inner.context != 0 {
        return emit_compact_context(shared, inner, callsite, context, &args);
    }
    let len = record_len(COMPACT_HEADER_LEN + args.values_len(str_limit::<A>()));
    let (timestamp, is_tsc) = ul_ring::clock::now();
    let mut flags = if is_tsc { COMPACT_TSC } else { 0 };
    if A::CUTTABLE && args.truncated(str_limit::<A>()) {
        flags |= COMPACT_TRUNCATED;
    }
    let word = compact_word(len, flags, callsite);
    let args = &args;
    let write = move |enc: &mut Encoder<'_>| {
        enc.zero_last_word();
        enc.put_u64(word);
        enc.put_u64(timestamp);
        args.put_values(enc, str_limit::<A>());
    };
    push(shared, inner, len, write)
}

/// [`emit_compact_slow`] for a record with a context (the call's, else
/// the thread's): its id follows the values.
#[inline(always)]
fn emit_compact_context<A: ArgList>(
    shared: &'static Shared,
    inner: &mut Inner,
    callsite: u32,
    context: u32,
    args: &A,
) -> bool {
    let context = if context != 0 { context } else { inner.context };
    let len = record_len(COMPACT_HEADER_LEN + args.values_len(str_limit::<A>()) + 4);
    let (timestamp, is_tsc) = ul_ring::clock::now();
    let mut flags = COMPACT_CONTEXT;
    if is_tsc {
        flags |= COMPACT_TSC;
    }
    if A::CUTTABLE && args.truncated(str_limit::<A>()) {
        flags |= COMPACT_TRUNCATED;
    }
    let word = compact_word(len, flags, callsite);
    let write = |enc: &mut Encoder<'_>| {
        enc.zero_last_word();
        enc.put_u64(word);
        enc.put_u64(timestamp);
        args.put_values(enc, str_limit::<A>());
        enc.put_u32(context);
    };
    push(shared, inner, len, write)
}

/// The tagged record of [`emit`] (its header says level and argument
/// count, a tag precedes each value): for run-time argument lists, and for
/// a call site the full callsite table left without an id.
#[cold]
#[inline(never)]
fn emit_tagged<A: ArgList>(
    shared: &'static Shared,
    level: ul_ring::record::Level,
    callsite: u32,
    context: u32,
    args: A,
) -> Option<bool> {
    let args = &args;
    with_inner(|inner| {
        if inner.epoch != FORK_EPOCH.load(Ordering::Relaxed)
            || !core::ptr::eq(inner.attached, shared)
        {
            inner.attach(shared);
        }
        let len = record_len(HEADER_LEN + args.wire_len(str_limit::<A>()));
        let (timestamp, is_tsc) = ul_ring::clock::now();
        let mut flags = if is_tsc { FLAG_TSC } else { 0 };
        if args.truncated(str_limit::<A>()) {
            flags |= FLAG_TRUNCATED;
        }
        let header = RecordHeader {
            len: len as u32,
            kind: RecordKind::Log as u8,
            level: level as u8,
            flags,
            timestamp,
            callsite,
            seq: 0,
            context: if context != 0 { context } else { inner.context },
            nargs: args.count(),
            _reserved: [0; 3],
        };
        let write = |enc: &mut Encoder<'_>| {
            enc.zero_last_word();
            enc.put_header(&header);
            args.put(enc, str_limit::<A>());
        };
        push(shared, inner, len, write)
    })
}

/// Publishes a record of `len` bytes that `write` writes into this
/// thread's lane (or the shared lane), under the overflow policy; wakes
/// the writer if it sleeps on a lane past half full. True if it went out.
#[inline(always)]
fn push(
    shared: &'static Shared,
    inner: &mut Inner,
    len: usize,
    write: impl Fn(&mut Encoder<'_>) + Copy,
) -> bool {
    let threshold = inner.wake_threshold;
    let ok = if let Some(producer) = &mut inner.producer {
        // `write` is only ever inlined here (the lane's slow paths take no
        // closure): passed to a function that is not inlined, what it
        // captures would be put in memory on the hot path.
        match producer.reserve(len) {
            Ok(r) => {
                r.commit(write);
                if producer.used() > threshold && shared.region.header().wake.writer_sleeping() {
                    producer.refresh_tail();
                    if producer.used() > threshold {
                        wake_writer(shared);
                    }
                }
                true
            }
            Err(PushError::Full) => {
                if wait_for_room(shared, producer, len) {
                    match producer.reserve(len) {
                        Ok(r) => {
                            r.commit(write);
                            true
                        }
                        // Only a consumer that moved its tail back takes
                        // room away again.
                        Err(_) => {
                            producer.count_drop();
                            false
                        }
                    }
                } else {
                    false
                }
            }
            Err(PushError::TooLarge { .. }) => {
                producer.count_drop();
                false
            }
        }
    } else {
        push_other(shared, inner, len, write)
    };
    // The reservation or the wait may have moved the cached tail.
    inner.set_wake_at();
    // A writer that serves a new region at the path marks the old one:
    // then look at the path (rate-limited), even if the lane never fills.
    // One load from the line the level check just read; no system call on
    // the hot path.
    if shared.region.header().control.superseded() {
        follow_slow(shared);
    }
    ok
}

/// [`push`] for a thread without a lane of its own: the shared lane, or
/// nowhere (not attached).
#[cold]
#[inline(never)]
fn push_other(
    shared: &'static Shared,
    inner: &mut Inner,
    len: usize,
    write: impl Fn(&mut Encoder<'_>),
) -> bool {
    match &mut inner.sink {
        Sink::Shared { drops } => {
            // The slot's writing word names the thread's drop-table
            // entry (its lock says whether the thread lives), or the pid.
            let claimant = drops.as_ref().map_or(attachment::pid(), |c| {
                ul_ring::shared_lane::CLAIMANT_ENTRY | c.index() as u32
            });
            push_shared(
                shared,
                inner.tid,
                len,
                write,
                shared_drop_counter(shared, drops),
                claimant,
            )
        }
        // A thread past its exit (see `attach`): counted in the process
        // and in the shared lane's drop counter, which the writer reports
        // (the thread has no lane or drop-table entry left to count in).
        Sink::Unattached => {
            NESTED_DROPS.fetch_add(1, Ordering::Relaxed);
            shared.region.shared_lane().control().drop_counter().add(1);
            false
        }
        // A lane of its own goes through `push`.
        Sink::Lane { .. } => false,
    }
}

/// When a blocked log call gives up: `timeout` from now, or (for a
/// timeout no `Instant` can hold, such as `Duration::MAX`) 2^32 s from now,
/// which is never in practice. `Instant + Duration` panics on overflow,
/// and a panic inside a log call used to leave the thread marked busy.
fn block_deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(1 << 32)))
        .unwrap_or(now)
}

/// How long a full-lane call may still wait, by policy.
///
/// `Block` waits until a fixed deadline. `Wait` waits while the writer
/// makes progress: its deadline is `stall` after the consumer's position
/// in the lane last moved, and it does not wait at all if no writer holds
/// the region's lock, or if this thread gave up before and the position
/// has not moved since (`stalled_at`). A thread so pays one `stall` for a
/// stopped writer, and nothing for a dead one, not one wait per record.
enum Stall {
    /// Drop now.
    Drop,
    /// Wait until this instant.
    Until(Instant),
    /// Wait while the consumer position moves at least every `stall`.
    Progress {
        stall: Duration,
        at: u64,
        deadline: Instant,
    },
}

impl Stall {
    /// The wait a call on a full lane starts with; `tail` is the consumer's
    /// position now.
    fn start(shared: &Shared, tail: u64, stalled_at: &mut Option<u64>) -> Stall {
        match shared.overflow {
            Overflow::Drop => Stall::Drop,
            Overflow::Block { timeout } => Stall::Until(block_deadline(timeout)),
            Overflow::Wait { stall } => {
                if *stalled_at == Some(tail) {
                    return Stall::Drop;
                }
                // One system call, once per episode: a region nobody
                // serves (no writer yet, or it died) drops as `Drop` does.
                let alive =
                    ul_ring::ownership::writer_lock_held(shared.region.file()).unwrap_or(true);
                if !alive {
                    *stalled_at = Some(tail);
                    return Stall::Drop;
                }
                *stalled_at = None;
                Stall::Progress {
                    stall,
                    at: tail,
                    deadline: block_deadline(stall),
                }
            }
        }
    }

    /// When the wait gives up if the consumer's position does not move.
    fn deadline(&self) -> Option<Instant> {
        match self {
            Stall::Drop => None,
            Stall::Until(d) | Stall::Progress { deadline: d, .. } => Some(*d),
        }
    }

    /// After a failed retry: true to go on waiting. `tail` is the
    /// consumer's position now.
    fn keep_waiting(&mut self, tail: u64, stalled_at: &mut Option<u64>) -> bool {
        match self {
            Stall::Drop => false,
            Stall::Until(d) => Instant::now() < *d,
            Stall::Progress {
                stall,
                at,
                deadline,
            } => {
                let now = Instant::now();
                if tail != *at {
                    *at = tail;
                    *deadline = block_deadline(*stall);
                    return true;
                }
                if now < *deadline {
                    return true;
                }
                *stalled_at = Some(tail);
                false
            }
        }
    }
}

/// The shortest and the longest sleep of a wait for room.
const PAUSE_MIN: Duration = Duration::from_micros(20);
const PAUSE_MAX: Duration = Duration::from_millis(8);
/// A wait for room that starts within this of the thread's last one
/// ending starts at that one's pace (see [`Pace`]); a later one at
/// [`PAUSE_MIN`].
const PACE_MEMORY: Duration = Duration::from_millis(20);

/// How a thread spaces the sleeps of its waits for room.
///
/// A wait sleeps, retries, and doubles its pause up to [`PAUSE_MAX`] (and
/// never past the overflow policy's deadline). Under sustained overload
/// the waits follow each other closely: the writer frees some room, the
/// thread fills it in microseconds and waits again. Until 2026-12 every
/// wait started at [`PAUSE_MIN`] (and the pause stopped doubling at
/// 2 ms), so each paid the whole series (20, 40, 80 ... us: 5 sleeps for
/// a wait of 0.5 ms), and every sleep bumped the writer's futex and made a
/// `FUTEX_WAKE` call: at 64 producer threads on 2 vCPUs the waiting
/// producers took more CPU than the writer (see `docs/perf/README.md`).
/// Now a wait that starts soon after the last one ended ([`PACE_MEMORY`])
/// starts at a pause set by how much of the lane that one found free: a
/// quarter or more (it slept too long: half its last pause), under an
/// eighth after its first pause (twice it), else its last pause. So a
/// thread comes back when an eighth to a quarter of its lane is free, in
/// one or two sleeps: the writer still has three quarters of a lane to
/// drain (slack for a thread the scheduler wakes late), and a lane the
/// writer reaches rarely (64 threads) is looked at rarely. A wait after a
/// quiet spell starts at [`PAUSE_MIN`] again.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pace {
    /// The first pause of the next wait, if it starts by `until`.
    first: Duration,
    until: Option<Instant>,
}

impl Pace {
    const FRESH: Pace = Pace {
        first: PAUSE_MIN,
        until: None,
    };

    /// The first pause of a wait that starts at `now`.
    fn first_pause(&self, now: Instant) -> Duration {
        match self.until {
            Some(u) if now <= u => self.first,
            _ => PAUSE_MIN,
        }
    }

    /// A wait found room at `now`, after `sleeps` pauses, the last of them
    /// `last`, with `free_eighths` eighths of its lane free (0 to 8).
    fn ended(sleeps: u32, last: Duration, free_eighths: u64, now: Instant) -> Pace {
        let first = if free_eighths >= 2 {
            last / 2
        } else if free_eighths == 0 && sleeps <= 1 {
            doubled(last)
        } else {
            last
        };
        Pace {
            first: first.clamp(PAUSE_MIN, PAUSE_MAX),
            until: now.checked_add(PACE_MEMORY),
        }
    }
}

/// Whole eighths of a lane of `capacity` that are free with `used` taken.
fn free_eighths(used: u64, capacity: u64) -> u64 {
    let free = capacity.saturating_sub(used);
    (free.saturating_mul(8) / capacity.max(1)).min(8)
}

/// The pause after `p` found no room.
fn doubled(p: Duration) -> Duration {
    (p * 2).min(PAUSE_MAX)
}

/// One wait for room: its sleeps, paced by [`Pace`].
struct Pauses {
    /// The next pause (zero: none yet; the first is the thread's pace).
    next: Duration,
    last: Duration,
    sleeps: u32,
}

impl Pauses {
    /// A wait that starts now. Reads no clock and no thread-local until
    /// its first sleep (a call that drops at once pays nothing).
    fn start() -> Pauses {
        Pauses {
            next: Duration::ZERO,
            last: Duration::ZERO,
            sleeps: 0,
        }
    }

    /// Wakes the writer if it sleeps, and sleeps, at most until `deadline`
    /// (the overflow policy's). The writer cannot go to sleep while this
    /// lane is full (its re-check after announcing sleep finds the
    /// records), so only a writer that announced sleep needs a system call
    /// (`claim_wake`: of many waiting threads, one makes it). Until
    /// 2026-12 every sleep bumped the futex and made the call whatever
    /// `sleeping` said (`WakeBlock::kick`), which found no sleeper on a
    /// busy writer.
    fn pause(&mut self, shared: &Shared, deadline: Option<Instant>) {
        let wake = &shared.region.header().wake;
        if wake.claim_wake() {
            ring_writer(wake);
        }
        let now = Instant::now();
        if self.sleeps == 0 {
            let pace = PACE.try_with(Cell::get).unwrap_or(Pace::FRESH);
            self.next = pace.first_pause(now);
        }
        let mut sleep = self.next;
        if let Some(d) = deadline {
            sleep = sleep.min(d.saturating_duration_since(now).max(PAUSE_MIN));
        }
        WAIT_SLEEPS.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(sleep);
        self.sleeps += 1;
        self.last = self.next;
        self.next = doubled(self.next);
    }

    /// The wait is over: `room` is `Some(free eighths of the lane)` if it
    /// found room (its pace is kept for the next wait), `None` if it gave
    /// up (the next one starts afresh). A wait that never slept leaves the
    /// pace as it was.
    fn finish(self, room: Option<u64>) {
        if self.sleeps == 0 {
            return;
        }
        let pace = match room {
            Some(q) => Pace::ended(self.sleeps, self.last, q, Instant::now()),
            None => Pace::FRESH,
        };
        let _ = PACE.try_with(|c| c.set(pace));
    }
}

/// Waits, under the overflow policy, until `producer` has room for a
/// record of `len` bytes: true if it has (the caller then reserves it
/// again and writes), false if the record is dropped (counted here).
#[cold]
#[inline(never)]
fn wait_for_room(
    shared: &'static Shared,
    producer: &mut Producer<'static, RawBytes>,
    len: usize,
) -> bool {
    wake_writer(shared);
    let mut stalled_at = STALLED_AT.try_with(Cell::get).unwrap_or(None);
    let mut stall = Stall::start(shared, producer.control().tail(), &mut stalled_at);
    let mut pauses = Pauses::start();
    let room = loop {
        if !stall.keep_waiting(producer.control().tail(), &mut stalled_at) {
            producer.count_drop();
            break false;
        }
        pauses.pause(shared, stall.deadline());
        // Dropped at once: nothing is published but a padding record the
        // wrap needed, and the caller reserves the same room again.
        if producer.reserve(len).is_ok() {
            break true;
        }
    };
    pauses.finish(room.then(|| free_eighths(producer.used(), producer.capacity())));
    let _ = STALLED_AT.try_with(|c| c.set(stalled_at));
    room
}

/// Pushes into the shared MPSC lane (every SPSC lane was taken), with the
/// same overflow policy as a lane of one's own.
#[cold]
#[inline(never)]
fn push_shared(
    shared: &'static Shared,
    tid: u32,
    len: usize,
    write: impl Fn(&mut Encoder<'_>),
    drops: &Counter,
    claimant: u32,
) -> bool {
    let shared_lane = shared.region.shared_lane();
    let pid = attachment::pid();
    let tail = || shared_lane.control().tail();
    // Only once the shared lane is found full: the policy's state, and
    // this thread's memory of a wait it gave up.
    let mut stall: Option<(Stall, Option<u64>, Pauses)> = None;
    let pushed = loop {
        match shared_lane.try_push_counted(pid, tid, len, &write, drops, claimant) {
            Ok(()) => {
                if shared_lane.used() > shared_lane.slots() / 2
                    && shared.region.header().wake.writer_sleeping()
                {
                    wake_writer(shared);
                }
                break true;
            }
            Err(SharedLanePushError::Full) => {
                wake_writer(shared);
                let (s, stalled_at, pauses) = stall.get_or_insert_with(|| {
                    let mut at = STALLED_AT.try_with(Cell::get).unwrap_or(None);
                    (Stall::start(shared, tail(), &mut at), at, Pauses::start())
                });
                if s.keep_waiting(tail(), stalled_at) {
                    pauses.pause(shared, s.deadline());
                } else {
                    drops.add(1);
                    break false;
                }
            }
            // Counted in `drops` by the lane itself.
            Err(_) => break false,
        }
    };
    if let Some((_, at, pauses)) = stall {
        pauses.finish(pushed.then(|| free_eighths(shared_lane.used(), shared_lane.slots())));
        let _ = STALLED_AT.try_with(|c| c.set(at));
    }
    pushed
}

/// Sets this thread's context id (0 clears it) and the context to register
/// on attach if the region was not attached yet.
pub(crate) fn set_context(ctx: Option<std::sync::Arc<crate::context::Context>>) {
    let shared = attachment::get();
    if ctx.is_some() {
        // The state has no drop glue: `Exit` drops what it holds (this
        // context too) at thread exit, once registered. A thread that sets
        // a context but never attaches would otherwise leak it.
        let _ = EXIT.try_with(|_| ());
    }
    let _ = with_inner(|inner| {
        inner.context = match (&ctx, shared) {
            (Some(c), Some(s)) => c.id(s),
            _ => 0,
        };
        inner.pending_context = ctx;
    });
}

/// Lane index of this thread, if it holds one (for tests and `ul-stat`).
pub fn current_lane() -> Option<usize> {
    with_inner(|inner| match &inner.sink {
        Sink::Lane { claim } => Some(claim.index()),
        _ => None,
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside a log call (before 2026-12: `Overflow::Block` with
    /// `Duration::MAX` overflowed an `Instant`) used to leave `busy` set,
    /// and every later record of the thread was counted as a nested drop.
    #[test]
    fn a_panic_inside_a_log_call_does_not_leave_the_thread_busy() {
        let r = std::panic::catch_unwind(|| {
            with_inner(|_| panic!("inside a log call"));
        });
        assert!(r.is_err());
        assert_eq!(
            with_inner(|_| 7),
            Some(7),
            "the thread is still marked busy"
        );
    }

    /// One thread against a writer that drains `rate` records per us and
    /// frees them a batch of `batch` at a time, in a lane of `lane`
    /// records, for `run` of virtual time (nothing sleeps): the thread
    /// fills what is free at once, then waits as [`Pauses`] does (from
    /// `pace`, or afresh every time as before 2026-12). Returns the sleeps,
    /// and the most the lane was ever drained (records free) when its
    /// thread woke.
    fn simulate(lane: u64, batch: u64, rate: f64, run: Duration, paced: bool) -> (u32, u64) {
        let t0 = Instant::now();
        let released = |t: Duration| {
            let n = (t.as_secs_f64() * 1e6 * rate) as u64;
            n / batch * batch
        };
        let (mut t, mut filled, mut sleeps, mut most_free) = (Duration::ZERO, lane, 0, 0);
        let mut pace = Pace::FRESH;
        while t < run {
            // The lane is full: a wait.
            let mut next = if paced {
                pace.first_pause(t0 + t)
            } else {
                PAUSE_MIN
            };
            let mut n = 0;
            let free = loop {
                t += next;
                n += 1;
                let free = lane - (filled - released(t));
                if free > 0 {
                    break free;
                }
                next = doubled(next);
            };
            sleeps += n;
            most_free = most_free.max(free);
            pace = Pace::ended(n, next, free_eighths(lane - free, lane), t0 + t);
            filled += free;
        }
        (sleeps, most_free)
    }

    /// Sustained overload as the throughput harness made it with the old
    /// default 1 MiB lanes (26,000 of their 40-byte records), a JSON
    /// writer at 8.5 M records/s freeing 4,096 at a time (every 482 us).
    /// Until 2026-12 each wait
    /// started at 20 us: 5 sleeps per batch the writer freed (20 + 40 +
    /// 80 + 160 + 320 us), over 9,000 a second. Paced, a wait takes about
    /// one sleep per batch (about 2,100 a second), and the lane still holds
    /// more than a batch for the writer when its thread comes back.
    #[test]
    fn back_to_back_waits_keep_their_pace() {
        let run = Duration::from_secs(1);
        let (before, _) = simulate(26_000, 4096, 8.5, run, false);
        let (after, most_free) = simulate(26_000, 4096, 8.5, run, true);
        assert!(before > 9_000, "{before} sleeps unpaced");
        assert!(after * 4 < before, "{after} sleeps paced, {before} unpaced");
        assert!(
            most_free <= 26_000 - 4096,
            "the lane was {most_free} of 26000 records free when its thread woke: \
             the writer should still have had a batch to drain"
        );
        // A small lane (64 KiB: 1,600 records), freed whole at each batch:
        // the pace stays short rather than leave it empty for long.
        let (_, most_free) = simulate(1_600, 1_600, 8.5, run, true);
        assert_eq!(most_free, 1_600, "a batch frees the whole small lane");
        let (small, _) = simulate(1_600, 1_600, 8.5, run, true);
        let (small_before, _) = simulate(1_600, 1_600, 8.5, run, false);
        assert!(
            small <= small_before,
            "{small} sleeps paced, {small_before} unpaced"
        );
        // One of 64 threads at 6 M records/s: its lane is freed a batch
        // every 20 ms. Before, a 2 ms sleep at most: about 10 per batch;
        // now 8 ms.
        let (slow, most_free) = simulate(26_000, 4096, 0.2, run, true);
        let (slow_before, _) = simulate(26_000, 4096, 0.2, run, false);
        assert!(
            slow * 3 < slow_before,
            "{slow} sleeps paced, {slow_before} unpaced"
        );
        assert!(most_free < 26_000 / 2, "{most_free} records free");
    }

    /// A wait after a quiet spell (longer than `PACE_MEMORY`) starts at the
    /// shortest pause again, as a burst's first wait should; a wait soon
    /// after starts at the pace the last one left: half its last pause if
    /// it found a quarter of the lane free or more, twice it if its first
    /// pause found under an eighth free.
    #[test]
    fn a_wait_after_a_quiet_spell_starts_short() {
        let t0 = Instant::now();
        let pace = Pace::ended(4, PAUSE_MAX, 1, t0);
        assert_eq!(pace.first_pause(t0 + Duration::from_millis(1)), PAUSE_MAX);
        assert_eq!(
            pace.first_pause(t0 + PACE_MEMORY + Duration::from_millis(1)),
            PAUSE_MIN
        );
        let ms = Duration::from_millis(1);
        assert_eq!(Pace::ended(3, ms, 2, t0).first, ms / 2);
        assert_eq!(Pace::ended(1, ms, 8, t0).first, ms / 2);
        assert_eq!(Pace::ended(1, PAUSE_MIN, 2, t0).first, PAUSE_MIN);
        assert_eq!(Pace::ended(1, ms, 0, t0).first, ms * 2);
        assert_eq!(Pace::ended(2, ms, 0, t0).first, ms);
        assert_eq!(Pace::ended(1, ms, 1, t0).first, ms);
        assert_eq!(Pace::ended(1, PAUSE_MAX, 0, t0).first, PAUSE_MAX);
        assert_eq!(Pace::FRESH.first_pause(t0), PAUSE_MIN);
        assert_eq!(free_eighths(0, 100), 8);
        assert_eq!(free_eighths(88, 100), 0);
        assert_eq!(free_eighths(75, 100), 2);
    }

    #[test]
    fn an_unbounded_block_timeout_has_a_deadline() {
        let d = block_deadline(Duration::MAX);
        assert!(d > Instant::now() + Duration::from_secs(3600 * 24 * 365));
        let short = block_deadline(Duration::from_millis(5));
        assert!(short <= Instant::now() + Duration::from_millis(5));
    }
}
