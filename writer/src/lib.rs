//! `ul-writer`: drains a ul shared-memory region and writes the logs.
//!
//! The binary `ul-writer` is a thin CLI over the writer's engine, which is
//! private to this crate. The library's API is [`stat`] (what a region's
//! writer and lanes are doing, as `ul-stat` shows it) and [`binlog`] (the
//! `.ulog` binary log and its decoder, as `ul-decode` uses it). The
//! binaries, tests, fuzz targets and benchmarks reach the rest through the
//! doc-hidden `internals` module, so they run the very code the binary
//! runs.

#![warn(missing_docs, unreachable_pub)]

mod batch_lines;
pub mod binlog;
mod callsite_cache;
mod diag;
mod dir_lock;
mod engine;
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod fail_alloc;
mod format;
mod format_threads;
mod forward;
mod intent;
mod memory;
mod outputs;
mod region_guard;
mod rotate;
pub mod stat;
mod takeover;

/// Not API: what the `ul-writer`, `ul-stat` and `ul-decode` binaries, the
/// tests, the fuzz targets and the benchmarks need of the writer's
/// internals, so that they run the very code the binary runs. Nothing here
/// is covered by semver; the modules themselves are private to the crate.
#[doc(hidden)]
pub mod internals {
    /// Resource limits (memory, CPU share, nice, affinity); they live in
    /// `ul-ring` so that daemons built on `ul_ring::run_daemon` share them.
    pub use ul_ring::limits;
    pub mod batch_lines {
        pub use crate::batch_lines::*;
    }
    pub mod callsite_cache {
        pub use crate::callsite_cache::*;
    }
    pub mod diag {
        pub use crate::diag::*;
    }
    pub mod dir_lock {
        pub use crate::dir_lock::*;
    }
    pub mod engine {
        pub use crate::engine::*;
    }
    pub mod format {
        pub use crate::format::*;
    }
    pub mod forward {
        pub use crate::forward::*;
    }
    pub mod format_threads {
        pub use crate::format_threads::*;
    }
    pub mod intent {
        pub use crate::intent::*;
    }
    pub mod memory {
        pub use crate::memory::*;
    }
    pub mod outputs {
        pub use crate::outputs::*;
    }
    pub mod region_guard {
        pub use crate::region_guard::*;
    }
    pub mod rotate {
        pub use crate::rotate::*;
    }
    pub mod takeover {
        pub use crate::takeover::*;
    }
}
