//! Real faults under the pods directory: a full file system (ENOSPC) and a
//! read-only bind mount (EROFS). Each gives a clear error and exit 1, loses
//! nothing, and the next run after the fault is gone recovers.
//!
//! Runs as root in a private mount namespace; skips otherwise.

mod common;

use common::{EXIT_FAILED, Node, allocations, rerun_in_private_mount_namespace, sh, snapshot};

fn assert_allocations(node: &Node, expected: &[&str]) {
    let list = node.list();
    let live: Vec<String> = allocations(&list).into_keys().collect();
    assert_eq!(live, expected, "{list}");
    assert!(list["problems"].as_array().unwrap().is_empty(), "{list}");
}

#[test]
fn a_full_file_system_fails_cleanly_and_recovers() {
    if !rerun_in_private_mount_namespace("a_full_file_system_fails_cleanly_and_recovers") {
        return;
    }
    let node = Node::new();
    std::fs::create_dir_all(node.pods()).unwrap();
    let pods = node.pods();
    let pods = pods.to_str().unwrap();
    sh(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=256k,nr_inodes=64",
            "podns-test",
            pods,
        ],
    );
    for pod in ["a", "b", "c"] {
        node.alloc(pod);
    }
    // Fill the file system to the last block.
    let filler = node.pods().join("filler");
    let chunk = vec![b'x'; 4096];
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        while file.write_all(&chunk).is_ok() {}
    }
    let failed = node.run(&["--json", "alloc", "new"]);
    let message = failed.assert_failure(EXIT_FAILED, "io");
    assert!(message.contains("ENOSPC"), "{message}");
    // The failed write left no temp file and no allocation behind.
    let temp_files: Vec<_> = snapshot(&node.pods())
        .into_keys()
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(".userns.podns-tmp."))
        })
        .collect();
    assert!(temp_files.is_empty(), "temp files left: {temp_files:?}");
    assert_allocations(&node, &["a", "b", "c"]);
    std::fs::remove_file(&filler).unwrap();
    node.alloc("new");
    assert_allocations(&node, &["a", "b", "c", "new"]);
    sh("umount", &[pods]);
}

#[test]
fn a_read_only_pods_directory_fails_cleanly_and_recovers() {
    if !rerun_in_private_mount_namespace("a_read_only_pods_directory_fails_cleanly_and_recovers") {
        return;
    }
    let node = Node::new();
    for pod in ["a", "b"] {
        node.alloc(pod);
    }
    let pods = node.pods();
    let pods = pods.to_str().unwrap();
    sh("mount", &["--bind", pods, pods]);
    sh("mount", &["-o", "remount,bind,ro", pods]);
    for args in [["--json", "alloc", "new"], ["--json", "release", "a"]] {
        let message = node.run(&args).assert_failure(EXIT_FAILED, "io");
        assert!(message.contains("EROFS"), "{args:?}: {message}");
    }
    // Reading still works, and shows that nothing was lost.
    assert_allocations(&node, &["a", "b"]);
    sh("umount", &[pods]);
    node.run(&["release", "a"]).assert_code(0);
    node.alloc("new");
    assert_allocations(&node, &["b", "new"]);
}
