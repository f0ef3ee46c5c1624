//! A format thread's part of a lane, appended to a batch that also writes
//! the binary log (`--format all`), brings blocks of its own before its
//! records: a session block when the region is new to the batch, entries,
//! a clock block. Room for the part's bytes alone was made first; when the
//! allocator then refused to grow the buffer for those blocks, the writer
//! aborted (`memory allocation of N bytes failed`). This test binary's
//! allocator is `ul_writer::fail_alloc`'s, armed so that the batch's
//! binary buffer can hold the part and no more: the part must be refused
//! whole (the batch full, nothing appended, read again next pass), not
//! abort the process, and go in once the allocator grants the room.
//!
//! One test only: the allocator is the whole process's.

use ul_ring::clock::Calibration;
use ul_ring::region::{Region, RegionOptions};
use ul_writer::fail_alloc::FailAlloc;
use ul_writer::internals::batch_lines::BatchLines;
use ul_writer::internals::outputs::{Format, BINARY, COUNT};

#[global_allocator]
static ALLOC: FailAlloc = FailAlloc::new();

#[test]
fn a_part_whose_binary_blocks_find_no_room_is_refused_whole_not_an_abort() {
    let path = std::path::PathBuf::from(format!(
        "/dev/shm/ul-test-binary-part-alloc-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let region = Region::open(&path, &RegionOptions::default()).expect("open a test region");
    let _ = std::fs::remove_file(&path);
    let table = region.callsites();
    let calib = Calibration::from_anchors((0, 0), (1, 1));
    let mut lines = BatchLines::new(Format::Binary, calib);
    // A part of 256 KiB of (opaque) binary blocks; the engine checks
    // nothing in them here.
    const PART: usize = 256 << 10;
    let mut bufs: Vec<Vec<u8>> = (0..COUNT).map(|_| Vec::new()).collect();
    bufs[BINARY] = vec![0u8; PART];
    // The batch already holds a record, so its buffer may only grow
    // within the budget; the allocator grants the part's size and no more
    // (so the buffer's growth by doubling is refused, and room is made by
    // reserving exactly the part).
    lines.records = 1;
    ALLOC.arm(PART);
    let room = lines.room_for(&bufs);
    let appended = room && lines.append_part(&region, &table, &bufs, 10, &[], calib);
    ALLOC.arm(usize::MAX);
    assert!(ALLOC.refused() > 0, "nothing was refused: the test is void");
    assert!(room, "the part's own bytes should have found room");
    assert!(!appended, "the part was appended past the room made for it");
    assert!(lines.full, "a refused part must end the batch");
    assert!(
        lines.bufs[BINARY].is_empty(),
        "a refused part must leave nothing behind ({} bytes)",
        lines.bufs[BINARY].len()
    );
    // With the room granted, the same part goes in, after its session
    // block.
    lines.full = false;
    assert!(lines.room_for(&bufs));
    assert!(lines.append_part(&region, &table, &bufs, 10, &[], calib));
    assert!(lines.bufs[BINARY].len() > PART);
    assert!(lines.bufs[BINARY].ends_with(&bufs[BINARY]));
}
