//! Errors the producer API returns.

use std::time::Duration;

/// Why [`crate::init`] failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The region could not be created, opened or validated.
    #[error(transparent)]
    Region(#[from] ul_ring::region::RegionError),
    /// No region at the path, and [`crate::Options::create`] said not to
    /// create one.
    #[error("no ul region at {0} (no ul-writer or producer has created it; is the path right?)")]
    NoRegion(std::path::PathBuf),
    /// `init` was already called in this process (with another path).
    #[error("ul is already initialised in this process with region {0}")]
    AlreadyInitialised(std::path::PathBuf),
}

/// Why [`crate::configure`] changed nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigureError {
    /// `ul::init` was never called, so there is no region to configure.
    #[error("ul is not initialised: call ul::init first")]
    NotInitialised,
}

/// Why [`crate::flush`] did not confirm.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlushError {
    /// `ul::init` was never called.
    #[error("ul is not initialised: call ul::init first")]
    NotInitialised,
    /// No writer acknowledged in time.
    #[error("no ul-writer acknowledged the flush within {:.1} s ({writer})", waited.as_secs_f64())]
    Timeout {
        /// How long we waited.
        waited: Duration,
        /// What we know of the writer.
        writer: String,
    },
}
