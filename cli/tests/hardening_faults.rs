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

/// 1,000 allocations and releases through one library node while its pods
/// directory (a small tmpfs) fills up at operation 300 and gets its space
/// back at 700: every failed allocation says ENOSPC, no acknowledged
/// allocation or release is lost, and a node opened afterwards recovers
/// exactly them, with no temp file to remove and no problem.
#[test]
fn a_file_system_filling_up_during_1000_operations_loses_nothing() {
    use std::collections::BTreeMap;
    use std::io::Write;

    use podns_backend_linux::{
        Errno, ErrorDetails, Node as PodnsNode, NodeConfig, PodUid, UsernsOptions, block_on,
    };

    if !rerun_in_private_mount_namespace(
        "a_file_system_filling_up_during_1000_operations_loses_nothing",
    ) {
        return;
    }
    let temp = tempfile::TempDir::new().unwrap();
    let pods = temp.path().join("pods");
    std::fs::create_dir(&pods).unwrap();
    let dir = pods.to_str().unwrap();
    sh(
        "mount",
        &["-t", "tmpfs", "-o", "size=1m", "podns-test", dir],
    );
    let config = || {
        NodeConfig::default()
            .with_pods_dir(&pods)
            .without_namespaces()
            .with_seed(3)
    };
    let node = block_on(PodnsNode::open(config())).unwrap();
    let filler = pods.join("filler");
    let mut acknowledged = BTreeMap::new();
    // Releases free pages, so some allocations still fit while it is full.
    let (mut refused, mut allocated_while_full) = (0, 0);
    for i in 0..1000u32 {
        if i == 300 {
            let mut file = std::fs::File::create(&filler).unwrap();
            while file.write_all(&[b'x'; 4096]).is_ok() {}
        }
        if i == 700 {
            std::fs::remove_file(&filler).unwrap();
        }
        let pod = PodUid::new(format!("p{}", i * 7 % 53)).unwrap();
        if i % 3 == 2 {
            let released = block_on(node.release(&pod))
                .unwrap_or_else(|error| panic!("release #{i} of {pod}: {error}"));
            if released.released {
                acknowledged.remove(&pod);
            }
            continue;
        }
        match block_on(node.get_or_create_user_namespace(&pod, UsernsOptions::pod_mode())) {
            Ok(userns) => {
                let range = userns.userns.uid_mappings[0].host_id;
                if userns.created && (300..700).contains(&i) {
                    allocated_while_full += 1;
                }
                assert_eq!(*acknowledged.entry(pod).or_insert(range), range);
            }
            Err(error) => {
                assert_eq!(error.errno(), Some(Errno::ENOSPC), "#{i} {pod}: {error}");
                assert!((300..700).contains(&i), "#{i} {pod} failed with space free");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "the full file system refused nothing");
    block_on(node.shutdown());

    let reopened = block_on(PodnsNode::open(config())).unwrap();
    let recovered: BTreeMap<PodUid, u32> = reopened
        .allocations()
        .into_iter()
        .map(|allocation| (allocation.pod, allocation.mapping.host_id))
        .collect();
    assert_eq!(recovered, acknowledged);
    let report = reopened.recovery_report();
    assert!(report.temp_files_removed.is_empty(), "{report:?}");
    assert!(report.problems.is_empty(), "{report:?}");
    println!(
        "{refused} allocations refused with ENOSPC, {allocated_while_full} made in space \
         releases freed, {} acknowledged at the end",
        acknowledged.len()
    );
    block_on(reopened.shutdown());
    sh("umount", &[dir]);
}
