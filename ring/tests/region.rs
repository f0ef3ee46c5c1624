//! Region creation and validation: every way a path can fail to be a usable
//! region gets a clear error naming the path and the problem.

#![cfg(not(loom))]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use ul_ring::layout::Sizes;
use ul_ring::region::{PathStatus, Region, RegionError, RegionOptions};

fn path(tag: &str) -> PathBuf {
    let p = PathBuf::from(format!(
        "/dev/shm/ul-ring-test-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    p
}

fn small() -> RegionOptions {
    RegionOptions {
        sizes: Sizes {
            lanes: 4,
            lane_capacity: 4096,
            shared_lane_slots: 8,
            shared_lane_slot_len: 128,
            callsite_len: 4096,
        },
        init_timeout: std::time::Duration::from_millis(100),
        ..RegionOptions::default()
    }
}

#[test]
fn create_then_open_agree_and_mode_is_0600() {
    let p = path("create");
    let a = Region::open(&p, &small()).expect("create");
    assert!(a.created());
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let b = Region::open(
        &p,
        &RegionOptions {
            create: false,
            ..small()
        },
    )
    .expect("open");
    assert!(!b.created());
    assert_eq!(a.geometry(), b.geometry());
    // Shared memory really is shared.
    a.header().stats.records_written.add(42);
    assert_eq!(b.header().stats.records_written.get(), 42);
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn a_file_that_is_not_a_region_is_refused() {
    let p = path("notregion");
    std::fs::write(&p, vec![0xAB; 8192]).unwrap();
    let err = Region::open(&p, &small()).err().expect("must fail");
    assert!(matches!(err, RegionError::NotARegion { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&p.display().to_string()) && msg.contains("not a ul region"),
        "{msg}"
    );
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn a_region_of_another_layout_version_is_refused() {
    let p = path("version");
    let a = Region::open(&p, &small()).unwrap();
    a.header().id.version.store(99, Ordering::Relaxed);
    let err = Region::open(&p, &small()).err().expect("must fail");
    assert!(
        matches!(err, RegionError::Version { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("layout version 99"), "{err}");
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn a_truncated_region_is_refused() {
    let p = path("trunc");
    let a = Region::open(&p, &small()).unwrap();
    let total = a.geometry().total_len as u64;
    drop(a);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(total / 2)
        .unwrap();
    let err = Region::open(&p, &small()).err().expect("must fail");
    match &err {
        RegionError::Truncated {
            file_len, needed, ..
        } => {
            assert_eq!((*file_len, *needed), (total / 2, total));
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(err.to_string().contains("truncated"), "{err}");
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn a_header_with_lying_sizes_is_refused() {
    let p = path("geometry");
    let a = Region::open(&p, &small()).unwrap();
    a.header().id.lane_capacity.store(12345, Ordering::Relaxed);
    let err = Region::open(&p, &small()).err().expect("must fail");
    assert!(matches!(err, RegionError::BadGeometry { .. }), "{err}");
    assert!(err.to_string().contains("lane capacity"), "{err}");
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn a_symlink_at_the_path_is_refused() {
    let p = path("symlink");
    let target = path("symlink-target");
    std::fs::write(&target, b"x").unwrap();
    std::os::unix::fs::symlink(&target, &p).unwrap();
    let err = Region::open(&p, &small()).err().expect("must fail");
    assert!(matches!(err, RegionError::Symlink { .. }), "{err}");
    std::fs::remove_file(&p).unwrap();
    std::fs::remove_file(&target).unwrap();
}

#[test]
fn a_region_of_another_user_is_refused_unless_allowed() {
    let p = path("owner");
    drop(Region::open(&p, &small()).unwrap());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Only root can give a file away; nothing to test otherwise.
        std::fs::remove_file(&p).unwrap();
        return;
    }
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; chown has no memory effects.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    let err = Region::open(&p, &small()).err().expect("must fail");
    assert!(
        matches!(err, RegionError::OtherOwner { owner: 65534, .. }),
        "{err}"
    );
    let ok = Region::open(
        &p,
        &RegionOptions {
            allow_other_owner: true,
            ..small()
        },
    );
    assert!(ok.is_ok());
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn an_uninitialised_region_is_reported() {
    let p = path("zeros");
    std::fs::write(&p, vec![0u8; 8192]).unwrap();
    let err = Region::open(&p, &small()).err().expect("must fail");
    // 8 KiB of zeros is no region's size here: ul cannot tell.
    assert!(matches!(err, RegionError::Unrecognised { .. }), "{err}");
    assert!(!err.to_string().contains("remove"), "{err}");
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn bad_sizes_are_refused_before_creating_anything() {
    let p = path("badsizes");
    let mut o = small();
    o.sizes.lane_capacity = 5000;
    let err = Region::open(&p, &o).err().expect("must fail");
    assert!(matches!(err, RegionError::BadSizes { .. }), "{err}");
    assert!(!p.exists());
}

/// `path_status` tells whether the path still names the mapped file:
/// unlinked (Gone), or unlinked and recreated (Replaced).
#[test]
fn path_status_sees_an_unlinked_or_replaced_region() {
    let p = path("status");
    let a = Region::open(&p, &small()).expect("create");
    assert_eq!(a.path_status(), PathStatus::Same);
    std::fs::remove_file(&p).expect("unlink");
    assert_eq!(a.path_status(), PathStatus::Gone);
    let b = Region::open(&p, &small()).expect("recreate");
    assert!(b.created());
    assert_eq!(a.path_status(), PathStatus::Replaced);
    assert_eq!(b.path_status(), PathStatus::Same);
    let _ = std::fs::remove_file(&p);
}

/// `check_len` reports a truncated region with the path and both sizes
/// (the caller must not touch the mapping after that: SIGBUS).
#[test]
fn check_len_reports_a_truncated_region() {
    let p = path("short");
    let a = Region::open(&p, &small()).expect("create");
    a.check_len().expect("whole region");
    let total = a.geometry().total_len as u64;
    a.file().set_len(4096).expect("truncate");
    match a.check_len() {
        Err(RegionError::Truncated {
            path: got,
            file_len,
            needed,
        }) => {
            assert_eq!((got, file_len, needed), (p.clone(), 4096, total));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    let msg = a.check_len().unwrap_err().to_string();
    assert!(
        msg.contains(&p.display().to_string()) && msg.contains("4096 bytes"),
        "{msg}"
    );
    drop(a);
    let _ = std::fs::remove_file(&p);
}
