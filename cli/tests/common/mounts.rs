//! Reading this mount namespace's table: the one mountinfo reader of the
//! command-line tests, through the parser podns itself uses (which decodes
//! `\040`-style escapes).

use std::path::Path;

use podns_core::{MountEntry, parse_mountinfo};
use rustix::mount::UnmountFlags;

/// Every mount of this mount namespace, in table order.
pub fn mount_table() -> Vec<MountEntry> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    parse_mountinfo(&table).expect("the kernel's mountinfo parses")
}

/// Mount points at or below `dir`, one per mount (`dir` is canonicalised
/// first, as the table shows real paths).
pub fn mounts_below(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let dir = dir.to_str().expect("test paths are UTF-8");
    let below = if dir.ends_with('/') {
        dir.to_owned()
    } else {
        format!("{dir}/")
    };
    mount_table()
        .into_iter()
        .map(|mount| mount.mount_point)
        .filter(|point| point == dir || point.starts_with(&below))
        .collect()
}

/// Unmounts everything at or below `dir`, deepest first (lazily, so a test
/// that failed midway cannot block the next one).
pub fn unmount_all_below(dir: &Path) {
    let mut points = mounts_below(dir);
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in points {
        let _ = rustix::mount::unmount(point.as_str(), UnmountFlags::DETACH);
    }
}
