//! `ul-writer`: drains a ul shared-memory region and writes the logs.
//!
//! The binary `ul-writer` is a thin CLI over [`engine::Engine`]. The library
//! is public so tests, benchmarks and fuzz targets run the very code the
//! binary runs.

#![warn(missing_docs, unreachable_pub)]

pub mod binlog;
pub mod diag;
pub mod dir_lock;
pub mod engine;
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod fail_alloc;
pub mod format;
pub mod format_threads;
pub mod intent;
/// Resource limits (memory, CPU share, nice, affinity); they live in
/// `ul-ring` so that daemons built on [`ul_ring::run_daemon`] share them.
pub use ul_ring::limits;
pub mod batch_lines;
pub mod callsite_cache;
pub mod memory;
pub mod outputs;
pub mod region_guard;
pub mod rotate;
pub mod stat;
pub mod takeover;
