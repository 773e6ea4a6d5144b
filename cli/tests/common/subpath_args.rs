//! The argument lists of `podns subpath mount` and `podns subpath clean`,
//! for the mount points of container `app`.

use std::path::Path;

/// `subpath mount` of `subpath` of `volume` on
/// `<pod_dir>/volume-subpaths/<volume_name>/app/<index>`.
pub fn subpath_mount_args<'a>(
    volume: &'a Path,
    subpath: &'a str,
    pod_dir: &'a Path,
    volume_name: &'a str,
    index: &'a str,
) -> Vec<&'a str> {
    vec![
        "subpath",
        "mount",
        "--volume",
        volume.to_str().expect("test paths are UTF-8"),
        "--subpath",
        subpath,
        "--pod-dir",
        pod_dir.to_str().expect("test paths are UTF-8"),
        "--volume-name",
        volume_name,
        "--container",
        "app",
        "--index",
        index,
    ]
}

/// `subpath clean` of `<pod_dir>/volume-subpaths/<volume_name>`.
pub fn subpath_clean_args<'a>(pod_dir: &'a Path, volume_name: &'a str) -> Vec<&'a str> {
    vec![
        "subpath",
        "clean",
        "--pod-dir",
        pod_dir.to_str().expect("test paths are UTF-8"),
        "--volume-name",
        volume_name,
    ]
}
