//! Shared test support for ul-ring's integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

use ul_ring::layout::Sizes;
use ul_ring::region::{Region, RegionOptions};

/// A fresh region in /dev/shm with `lanes` lanes of 4 KiB, removed when
/// dropped.
pub struct ScratchRegion {
    pub path: PathBuf,
    pub region: Region,
}

impl ScratchRegion {
    pub fn new(tag: &str, lanes: u32) -> Self {
        let path = PathBuf::from(format!(
            "/dev/shm/ul-ring-test-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let opts = RegionOptions {
            sizes: Sizes {
                lanes,
                lane_capacity: 4096,
                ..Default::default()
            },
            ..Default::default()
        };
        let region = Region::open(&path, &opts).expect("create a test region");
        Self { path, region }
    }
}

impl Drop for ScratchRegion {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
