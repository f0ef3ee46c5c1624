//! `ul-ring`: the shared-memory machinery under the `ul` logger.
//!
//! This crate holds everything that producers and the writer must agree on
//! byte for byte, and nothing else: the region layout, the per-thread SPSC
//! lanes and the shared MPSC lane, the record and argument codec, the callsite
//! table, the clock, and the cross-process futex. It has no logging policy and
//! does no I/O beyond mapping the region.
//!
//! The same machinery carries typed messages for daemons of your own:
//! [`Channel`] (fixed-size `Pod` messages) and [`Daemon`] / [`run_daemon`]
//! (the drain loop, wakeups, lane reclaim, single-daemon lock and resource
//! [`limits`]).
//!
//! See `docs/design.md` in the repository for the design as built.

#![warn(missing_docs, unreachable_pub)]

pub mod args;
pub mod bytes;
#[cfg(not(loom))]
pub mod callsite;
#[cfg(not(loom))]
pub mod channel;
pub mod clock;
pub mod counter;
#[cfg(not(loom))]
pub mod daemon;
#[cfg(not(loom))]
pub mod drain_core;
#[cfg(not(loom))]
pub mod futex;
pub mod lane;
#[cfg(not(loom))]
pub mod layout;
#[cfg(not(loom))]
pub mod limits;
pub mod ownership;
pub mod padded;
pub mod procinfo;
#[cfg(not(loom))]
pub mod quarantine;
pub mod record;
#[cfg(not(loom))]
pub mod region;
pub mod shared_lane;
mod sync;
pub mod wake;
#[cfg(not(loom))]
pub mod writer_state;

#[cfg(not(loom))]
pub use channel::Channel;
#[cfg(not(loom))]
pub use daemon::{run_daemon, Daemon};
#[cfg(not(loom))]
pub use writer_state::WriterState;
