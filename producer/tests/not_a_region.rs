//! `ul::init` on a file that is not a usable region (issue 14): refused
//! with a typed error whose message names the path and never advises
//! removing a file ul does not know to be a region (the same cases as
//! `writer/tests/not_a_region.rs`, through the library).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use ul_ring::region::RegionError;

fn scratch(tag: &str) -> PathBuf {
    let p = PathBuf::from(format!("/dev/shm/ul-init-bad-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Writes the file, calls `ul::init` on it, checks the file is unchanged
/// and the message names it; returns the region error.
fn init_refuses(tag: &str, bytes: &[u8], mode: u32) -> (RegionError, String) {
    let p = scratch(tag);
    std::fs::write(&p, bytes).expect("write");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    let err = match ul::init(&p) {
        Ok(()) => panic!("ul::init accepted {}", p.display()),
        Err(ul::InitError::Region(e)) => e,
        Err(e) => panic!("unexpected error: {e}"),
    };
    let msg = err.to_string();
    assert_eq!(std::fs::read(&p).expect("still there"), bytes);
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    let _ = std::fs::remove_file(&p);
    (err, msg)
}

#[test]
fn init_tells_foreign_empty_and_abandoned_files_apart() {
    let (e, m) = init_refuses("text", b"root:x:0:0:root:/root:/bin/bash\n", 0o644);
    assert!(matches!(e, RegionError::NotARegion { .. }), "{e:?}");
    assert!(!m.to_lowercase().contains("remove"), "{m}");

    let (e, m) = init_refuses("empty", &[], 0o600);
    assert!(matches!(e, RegionError::Unrecognised { .. }), "{e:?}");
    assert!(!m.to_lowercase().contains("remove"), "{m}");

    let (e, m) = init_refuses("zeros", &vec![0; 12288], 0o600);
    assert!(matches!(e, RegionError::Unrecognised { .. }), "{e:?}");
    assert!(!m.to_lowercase().contains("remove"), "{m}");

    let len = ul_ring::layout::Sizes::default()
        .geometry()
        .expect("default sizes")
        .total_len;
    let (e, m) = init_refuses("dead", &vec![0; len], 0o600);
    assert!(matches!(e, RegionError::Abandoned { .. }), "{e:?}");
    assert!(m.contains("probably a ul region whose creator died"), "{m}");
}
