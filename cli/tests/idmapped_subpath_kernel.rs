//! `podns subpath mount --idmap-pod` on the kernel: the mount is idmapped
//! with the pod's pinned user namespace (host root's files show as the
//! pod's root, that is as the pod's first host ID from outside), `subpath
//! clean` removes it, and a pod without pins or a volume on a file system
//! that cannot be idmapped (ramfs) is refused with nothing left mounted or
//! made. Root, in a private mount namespace.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;
use tempfile::TempDir;

use common::{
    NsDirs, mount_table, mounts_below, rerun_in_private_mount_namespace, sh, subpath_clean_args,
    subpath_mount_args,
};

/// `podns subpath mount` of `volume`'s `data` for container `app` of the
/// pod directory `pod_dir`, as volume `volume_name`, with `extra` flags.
fn mount_args<'a>(
    volume: &'a str,
    pod_dir: &'a str,
    volume_name: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = subpath_mount_args(
        Path::new(volume),
        "data",
        Path::new(pod_dir),
        volume_name,
        "0",
    );
    args.extend_from_slice(extra);
    args
}

/// A volume directory holding `data/owned-by-root`, owned by host root.
fn volume(temp: &TempDir, name: &str) -> String {
    let volume = temp.path().join(name);
    std::fs::create_dir_all(volume.join("data")).unwrap();
    std::fs::write(volume.join("data/owned-by-root"), b"x").unwrap();
    volume.to_str().unwrap().to_owned()
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn mounts_and_maps_with_the_pods_user_namespace() {
    let temp = TempDir::new().unwrap();
    let dirs = NsDirs::new();
    let created = dirs.ok(&["ns", "create", "pod-1"]);
    let host_id = created["uidMappings"][0]["hostId"].as_u64().unwrap();
    let volume = volume(&temp, "vol");
    let pod_dir = dirs.pods.join("pod-1");
    let mounted = dirs.ok(&mount_args(
        &volume,
        text(&pod_dir),
        "vol",
        &["--idmap-pod", "pod-1"],
    ));
    assert_eq!(mounted["idmappedWith"], created["userNs"], "{mounted}");
    let target = Path::new(mounted["target"].as_str().unwrap());
    let entry = mount_table()
        .into_iter()
        .find(|mount| Path::new(&mount.mount_point) == target)
        .expect("the mount is in the table");
    assert!(entry.is_idmapped(), "{entry:?}");

    // On disk the file is host root's; through the mount it is the pod's
    // root's, which the initial namespace sees as the pod's first host ID.
    let on_disk = std::fs::metadata(Path::new(&volume).join("data/owned-by-root")).unwrap();
    let through = std::fs::metadata(target.join("owned-by-root")).unwrap();
    assert_eq!((on_disk.uid(), on_disk.gid()), (0, 0));
    assert_eq!(
        (u64::from(through.uid()), u64::from(through.gid())),
        (host_id, host_id)
    );

    // The same mount again replaces it (the mount table does not say with
    // which namespace a mount is idmapped), leaving one mount.
    let again = dirs.ok(&mount_args(
        &volume,
        text(&pod_dir),
        "vol",
        &["--idmap-pod", "pod-1"],
    ));
    assert_eq!(again["alreadyMounted"], false, "{again}");
    assert_eq!(again["replacedMounts"], 1, "{again}");
    assert_eq!(mounts_below(&pod_dir).len(), 1);

    let cleaned = dirs.ok(&subpath_clean_args(&pod_dir, "vol"));
    assert_eq!(
        cleaned["unmounted"].as_array().unwrap().len(),
        1,
        "{cleaned}"
    );
    assert!(mounts_below(&pod_dir).is_empty());
    dirs.ok(&["ns", "remove", "pod-1"]);
    dirs.assert_nothing_left("idmapped subpath");
}

/// The error document a failed `--json` command printed on stderr.
fn error_of(stderr: &str) -> Value {
    serde_json::from_str(stderr.trim())
        .unwrap_or_else(|error| panic!("stderr is not JSON ({error}): {stderr}"))
}

fn refuses_without_pins_or_idmapping_and_leaves_nothing() {
    let temp = TempDir::new().unwrap();
    let dirs = NsDirs::new();
    dirs.ok(&["ns", "create", "pod-1"]);
    let pod_dir = dirs.pods.join("pod-1");

    // No allocation (so no pins): refused before anything is made below the
    // pod directory.
    let volume = volume(&temp, "vol");
    let (code, _, stderr) = dirs.podns(&mount_args(
        &volume,
        text(&pod_dir),
        "vol",
        &["--idmap-pod", "pod-2"],
    ));
    assert_eq!(code, 1, "{stderr}");
    let error = error_of(&stderr);
    assert_eq!(error["kind"], "not-allocated", "{stderr}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("podns ns create pod-2"),
        "{stderr}"
    );

    // ramfs has no idmapping support: named, nothing mounted, the mount
    // point and its parents removed again.
    let ram = temp.path().join("ram");
    std::fs::create_dir(&ram).unwrap();
    sh("mount", &["-t", "ramfs", "ramfs", text(&ram)]);
    std::fs::create_dir(ram.join("data")).unwrap();
    let (code, _, stderr) = dirs.podns(&mount_args(
        text(&ram),
        text(&pod_dir),
        "ram",
        &["--idmap-pod", "pod-1"],
    ));
    assert_eq!(code, 1, "{stderr}");
    let error = error_of(&stderr);
    assert_eq!(error["kind"], "not-idmappable", "{stderr}");
    assert!(
        error["error"].as_str().unwrap().contains("is on ramfs"),
        "{stderr}"
    );
    assert!(mounts_below(&pod_dir).is_empty());
    assert!(!pod_dir.join("volume-subpaths").exists());

    // Without --idmap-pod the same ramfs volume mounts.
    dirs.ok(&mount_args(text(&ram), text(&pod_dir), "ram", &[]));
    dirs.ok(&subpath_clean_args(&pod_dir, "ram"));
    sh("umount", &[text(&ram)]);
    dirs.ok(&["ns", "remove", "pod-1"]);
    dirs.assert_nothing_left("refused idmapped subpaths");
}

#[test]
fn an_idmapped_subpath_shows_host_roots_files_as_the_pods_root() {
    if rerun_in_private_mount_namespace(
        "an_idmapped_subpath_shows_host_roots_files_as_the_pods_root",
    ) {
        mounts_and_maps_with_the_pods_user_namespace();
    }
}

#[test]
fn no_pins_or_no_idmapping_support_is_refused_with_nothing_left() {
    if rerun_in_private_mount_namespace(
        "no_pins_or_no_idmapping_support_is_refused_with_nothing_left",
    ) {
        refuses_without_pins_or_idmapping_and_leaves_nothing();
    }
}
