//! Nothing leaks over many cycles: 1,000 pod-namespace create/remove cycles
//! and 1,000 subpath mount/clean cycles through one library `Node`, and 100
//! create/remove cycles through the CLI, leave this process's fds, its
//! children (no zombie helper, no pidfd) and the mount table as they were.
//! Root, in a private mount namespace.

mod common;

use std::path::Path;

use podns_backend_linux::{
    MountSubpath, Node, NodeConfig, PodUid, SubpathName, SubpathNameField, SubpathTarget, block_on,
    parse_subpath,
};
use tempfile::TempDir;

use common::{NsDirs, mount_table, rerun_in_private_mount_namespace};

const LIBRARY_CYCLES: usize = 1000;
const CLI_CYCLES: usize = 100;

/// This process's open fds.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// True when this process has no child left, exited or not: a reaped helper
/// leaves none, a zombie would.
fn no_children() -> bool {
    matches!(
        rustix::process::waitpid(None, rustix::process::WaitOptions::NOHANG),
        Err(rustix::io::Errno::CHILD)
    )
}

/// Processes named `podns` anywhere (a CLI run's helper that outlived it
/// would be reparented away from this test).
fn podns_processes() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "podns")
        .count()
}

fn library_cycles() {
    let temp = TempDir::new().unwrap();
    let (pods, run, volume) = (
        temp.path().join("pods"),
        temp.path().join("run"),
        temp.path().join("volume"),
    );
    std::fs::create_dir_all(volume.join("data")).unwrap();
    let config = NodeConfig::default()
        .with_pods_dir(&pods)
        .with_run_dir(&run)
        .with_seed(1);
    let node = block_on(Node::open(config)).unwrap();
    let pod = PodUid::new("cycle").unwrap();
    let cycle_namespaces = || {
        block_on(node.create_pod_namespaces(&pod)).unwrap();
        block_on(node.remove_pod_namespaces(&pod)).unwrap();
    };
    let pod_dir = pods.join("cycle");
    let volume_name = SubpathName::new(SubpathNameField::Volume, "vol").unwrap();
    let cycle_subpath = || {
        let mounted = block_on(node.mount_subpath(MountSubpath {
            volume: volume.clone(),
            subpath: parse_subpath("data").unwrap(),
            pod_dir: pod_dir.clone(),
            target: SubpathTarget::new("vol", "app", "0").unwrap(),
            idmap_pod: None,
        }))
        .unwrap();
        assert!(!mounted.already_mounted);
        let cleaned = block_on(node.clean_subpaths(&pod_dir, &volume_name)).unwrap();
        assert!(cleaned.is_complete(), "{cleaned:?}");
    };
    // One of each first, so that what is opened once and kept (the run
    // directory's fd and lock) is counted in the baseline.
    cycle_namespaces();
    cycle_subpath();
    let (fds, mounts) = (open_fds(), mount_table().len());
    for _ in 0..LIBRARY_CYCLES {
        cycle_namespaces();
    }
    assert_eq!(
        open_fds(),
        fds,
        "fds after {LIBRARY_CYCLES} namespace cycles"
    );
    assert!(no_children(), "a helper was left unreaped");
    assert_eq!(mount_table().len(), mounts, "mounts after namespace cycles");
    for _ in 0..LIBRARY_CYCLES {
        cycle_subpath();
    }
    assert_eq!(open_fds(), fds, "fds after {LIBRARY_CYCLES} subpath cycles");
    assert_eq!(mount_table().len(), mounts, "mounts after subpath cycles");
    block_on(node.shutdown());
}

fn cli_cycles() {
    let dirs = NsDirs::new();
    dirs.ok(&["ns", "create", "warm"]);
    dirs.ok(&["ns", "remove", "warm"]);
    let (mounts, processes) = (mount_table().len(), podns_processes());
    for _ in 0..CLI_CYCLES {
        dirs.ok(&["ns", "create", "cycle"]);
        dirs.ok(&["ns", "remove", "cycle"]);
    }
    assert_eq!(
        mount_table().len(),
        mounts,
        "mounts after {CLI_CYCLES} CLI cycles"
    );
    assert_eq!(
        podns_processes(),
        processes,
        "a podns process outlived its run"
    );
    assert!(no_children());
    dirs.assert_nothing_left("CLI cycles");
    assert!(Path::new(&dirs.run).exists());
}

#[test]
fn library_cycles_leak_no_fd_child_or_mount() {
    if rerun_in_private_mount_namespace("library_cycles_leak_no_fd_child_or_mount") {
        library_cycles();
    }
}

#[test]
fn cli_cycles_leak_no_process_or_mount() {
    if rerun_in_private_mount_namespace("cli_cycles_leak_no_process_or_mount") {
        cli_cycles();
    }
}
