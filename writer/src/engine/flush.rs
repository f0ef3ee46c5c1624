//! Flush targets: the heads a flush request waits for, and whether the
//! writer has reached them.

use ul_ring::drain_core::Heads;

use super::*;

/// What a flush request waits for: the served region's heads, and each
/// retiring region's heads, when the request was seen.
pub(super) struct FlushTarget {
    /// The request (a `flush.request` value) this target answers.
    pub(super) request: u64,
    served: Heads,
    retiring: Vec<(&'static Region, Heads)>,
}

impl Engine {
    /// True if every lane (of every region served) is drained (shutdown).
    pub(super) fn drained(&self) -> bool {
        drained(self.region) && self.retiring.iter().all(|s| drained(s.region))
    }

    /// Snapshot of what flush request `request` must wait for, in the
    /// served region and in each retiring one.
    pub(super) fn flush_target(&self, request: u64) -> FlushTarget {
        FlushTarget {
            request,
            served: Heads::of(self.region),
            retiring: self
                .retiring
                .iter()
                .map(|s| (s.region, Heads::of(s.region)))
                .collect(),
        }
    }

    /// True once every region reached its heads of `t` (a retiring region
    /// that is gone was drained before it went).
    pub(super) fn reached(&self, t: &FlushTarget) -> bool {
        t.served.reached_in(self.region)
            && t.retiring.iter().all(|(r, hd)| {
                !self.retiring.iter().any(|s| core::ptr::eq(s.region, *r)) || hd.reached_in(r)
            })
    }
}

/// True if every lane of `region` and its shared lane are drained.
pub(super) fn drained(region: &Region) -> bool {
    let lanes = region.geometry().sizes.lanes as usize;
    (0..lanes).all(|i| {
        let c = region.lane_control(i);
        c.head() == c.tail()
    }) && shared_lane_empty(region)
}

/// True if every record of `region` is in the files (lanes' files
/// positions at their heads, the shared lane empty) and every lane's drops
/// are reported, whatever forwarding sinks still hold.
pub(super) fn files_drained(region: &Region) -> bool {
    let lanes = region.geometry().sizes.lanes as usize;
    (0..lanes).all(|i| {
        let c = region.lane_control(i);
        c.head() == c.files() && c.dropped() == c.dropped_reported()
    }) && shared_lane_empty(region)
}

/// True if the shared lane holds no record at its tail.
fn shared_lane_empty(region: &Region) -> bool {
    let shared = region.shared_lane();
    matches!(shared.tail_state(shared.control().tail()), TailState::Empty)
}
