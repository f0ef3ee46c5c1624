//! What a memory limit leaves for batches.
//!
//! The writer's memory is the region's mapping (counted in full by an
//! address-space limit; in resident memory only the pages it reads), the
//! program and its threads' stacks, caches that grow with the region's
//! call sites, and the batch buffers. The batch buffers are the only part
//! that grows with the records waiting, and they are bounded by the batch
//! budget ([`crate::engine::Engine::set_batch_bytes`]): each format thread
//! holds at most that many bytes of lines. [`plan`] fits the budget into
//! `--memory-limit`, or says why it cannot.

use crate::engine::MIN_BATCH_BYTES;

/// Memory kept for the process as a whole besides what is in use at
/// start and the per-thread reserve: the allocator's slack, diagnostics.
pub const PROCESS_RESERVE: u64 = 2 << 20;

/// Memory kept per format thread besides its batch buffers, for a region
/// whose call-site arena holds `arena` bytes: the call-site and context
/// caches (each thread has its own; about twice the arena's strings once
/// parsed), the lane copy buffer and a message's staging buffers.
pub fn thread_reserve(arena: u64) -> u64 {
    2 * arena + (ul_ring::lane::COPY_CHUNK as u64) + (1 << 20)
}

/// How the batch budget fits a memory limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Bytes of lines per batch (per format thread).
    pub batch_bytes: usize,
    /// What the limit leaves after what is in use and the reserves.
    pub available: u64,
}

/// A memory limit the writer cannot work in.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct TooSmall {
    /// The limit as given.
    limit_text: String,
    limit: u64,
    in_use: InUse,
    /// What is kept besides the batches (see [`thread_reserve`]).
    reserve: u64,
    threads: usize,
    /// The smallest limit that would do, in bytes.
    pub need: u64,
}

/// Headroom in the limit the error suggests over the least that works now:
/// what is in use at start (thread stacks, the allocator's arenas) varies
/// by about a MiB from one start to the next, and a limit at the edge would
/// be refused on the next start.
pub const SUGGESTED_HEADROOM: u64 = 4 << 20;

impl TooSmall {
    /// The limit to suggest, in bytes: [`TooSmall::need`] and
    /// [`SUGGESTED_HEADROOM`].
    pub fn suggested(&self) -> u64 {
        self.need + SUGGESTED_HEADROOM
    }
}

impl std::fmt::Display for TooSmall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        write!(
            f,
            "--memory-limit {} ({:.1} MiB) is too small for this writer: it already uses {:.1} MiB ({}",
            self.limit_text,
            mib(self.limit),
            mib(self.in_use.bytes),
            self.in_use.measure
        )?;
        if let Some(r) = self.in_use.region {
            write!(f, "; the region's mapping is {:.1} MiB of it", mib(r))?;
        }
        write!(
            f,
            "), keeps {:.1} MiB for its {} format thread(s)' call-site caches and staging \
             buffers, and needs at least {} KiB of batch buffers per format thread: at least \
             {:.1} MiB (--memory-limit {}M leaves room for what varies from one start to the \
             next)",
            mib(self.reserve),
            self.threads,
            MIN_BATCH_BYTES >> 10,
            mib(self.need),
            self.suggested().div_ceil(1 << 20)
        )?;
        if self.threads > 1 {
            write!(f, ", or fewer --format-threads")?;
        }
        Ok(())
    }
}

/// What counts against the limit now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InUse {
    /// Bytes in use.
    pub bytes: u64,
    /// What was measured (`address space (VmSize)`, `cgroup memory.current`).
    pub measure: &'static str,
    /// Bytes of the region's mapping counted in `bytes`, if known.
    pub region: Option<u64>,
}

/// Fits the batch budget into `limit` bytes (given as `limit_text`):
/// `wanted` bytes per batch (per format thread) if the limit leaves room,
/// less if it does not, and an error naming the smallest limit that works
/// if it leaves less than [`MIN_BATCH_BYTES`] per thread.
///
/// ```
/// use ul_writer::internals::memory::{plan, InUse};
/// let in_use = InUse { bytes: 40 << 20, measure: "address space (VmSize)", region: Some(34 << 20) };
/// let p = plan("64M", 64 << 20, in_use, 2, 1 << 20, 1 << 20).unwrap();
/// assert_eq!(p.batch_bytes, 1 << 20);
/// let p = plan("49M", 49 << 20, in_use, 2, 1 << 20, 1 << 20).unwrap();
/// assert!(p.batch_bytes < 1 << 20);
/// let e = plan("44M", 44 << 20, in_use, 2, 1 << 20, 1 << 20).unwrap_err();
/// assert!(e.to_string().contains("--memory-limit 44M (44.0 MiB) is too small"));
/// assert!(e.need > 44 << 20);
/// ```
pub fn plan(
    limit_text: &str,
    limit: u64,
    in_use: InUse,
    threads: usize,
    arena: u64,
    wanted: usize,
) -> Result<MemoryPlan, TooSmall> {
    let threads = threads.max(1);
    let reserve = PROCESS_RESERVE + threads as u64 * thread_reserve(arena);
    let floor = in_use.bytes + reserve;
    let available = limit.saturating_sub(floor);
    let per_thread = (available / threads as u64).min(usize::MAX as u64) as usize;
    if per_thread < MIN_BATCH_BYTES {
        return Err(TooSmall {
            limit_text: limit_text.to_string(),
            limit,
            in_use,
            reserve,
            threads,
            need: floor + (threads * MIN_BATCH_BYTES) as u64,
        });
    }
    Ok(MemoryPlan {
        batch_bytes: per_thread.min(wanted.max(MIN_BATCH_BYTES)),
        available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN_USE: InUse = InUse {
        bytes: 40 << 20,
        measure: "address space (VmSize)",
        region: Some(34 << 20),
    };

    #[test]
    fn the_budget_never_exceeds_what_is_asked_nor_what_the_limit_leaves() {
        for limit_mib in 45..200u64 {
            for threads in 1..4 {
                let limit = limit_mib << 20;
                match plan("x", limit, IN_USE, threads, 1 << 20, 4 << 20) {
                    Ok(p) => {
                        assert!(p.batch_bytes <= 4 << 20);
                        assert!(p.batch_bytes >= MIN_BATCH_BYTES);
                        let reserve = PROCESS_RESERVE + threads as u64 * thread_reserve(1 << 20);
                        assert!(
                            IN_USE.bytes + reserve + (threads * p.batch_bytes) as u64 <= limit,
                            "{limit_mib} MiB, {threads} threads: {p:?}"
                        );
                    }
                    Err(e) => {
                        assert!(e.need > limit, "{e}");
                        // The limit it names is enough.
                        plan("x", e.need, IN_USE, threads, 1 << 20, 4 << 20)
                            .expect("the limit the error names");
                    }
                }
            }
        }
    }

    #[test]
    fn too_small_says_what_it_needs() {
        let e = plan("40M", 40 << 20, IN_USE, 2, 1 << 20, 1 << 20).unwrap_err();
        let s = e.to_string();
        for want in [
            "--memory-limit 40M (40.0 MiB) is too small",
            "uses 40.0 MiB (address space (VmSize); the region's mapping is 34.0 MiB of it)",
            "2 format thread(s)",
            "or fewer --format-threads",
        ] {
            assert!(s.contains(want), "{s:?} lacks {want:?}");
        }
        assert!(s.contains(&format!(
            "(--memory-limit {}M leaves room",
            e.suggested().div_ceil(1 << 20)
        )));
    }
}
