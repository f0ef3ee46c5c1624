//! Atomics used by the lane protocol, swapped for loom's under `cfg(loom)`.
//!
//! The lane and wakeup code imports its atomics from here so that the loom
//! model tests (`RUSTFLAGS="--cfg loom"`) run the very code that production
//! runs, with loom exploring the interleavings and weak-memory outcomes.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
