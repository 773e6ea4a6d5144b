//! `podns release` and `podns cleanup`, each in its own process, checked by
//! later processes that re-read the disk.

mod common;

use std::collections::BTreeMap;

use common::{EXIT_BAD_INPUT, Node, Range, allocations, kubelet_userns_file, range_of, snapshot};
use serde_json::{Value, json};

const LOWEST: [&str; 2] = ["--policy", "lowest-free"];

#[test]
fn release_in_another_process_frees_the_range_for_reuse() {
    let node = Node::new();
    let a = node.alloc_with("pod-a", &LOWEST);
    let b = node.alloc_with("pod-b", &LOWEST);
    let c = node.alloc_with("pod-c", &LOWEST);
    assert_eq!(range_of(&a).first, 65536);
    assert_eq!(range_of(&b).first, 131072);
    assert_eq!(range_of(&c).first, 196608);
    assert_eq!(node.list()["free"], 65534 - 3);

    let released = node.run(&["release", "pod-b"]).ok_json();
    assert_eq!(
        released,
        json!({
            "pod": "pod-b",
            "released": true,
            "uidMappings": [{"hostId": 131072, "containerId": 0, "length": 65536}],
        })
    );
    assert!(!node.userns("pod-b").exists(), "the file is gone");

    let list = node.list();
    let listed = allocations(&list);
    assert_eq!(listed.keys().collect::<Vec<_>>(), ["pod-a", "pod-c"]);
    assert_eq!(list["free"], 65534 - 2);
    assert_eq!(list["problems"], json!([]));

    // Releasing again is a no-op.
    let again = node.run(&["release", "pod-b"]).ok_json();
    assert_eq!(again, json!({"pod": "pod-b", "released": false}));

    // The freed range is the lowest free one, so lowest-free reuses it.
    let d = node.alloc_with("pod-d", &LOWEST);
    assert_eq!(
        range_of(&d),
        Range {
            first: 131072,
            len: 65536
        }
    );
    assert_eq!(
        std::fs::read_to_string(node.userns("pod-d")).unwrap(),
        kubelet_userns_file(131072, 65536)
    );
    // The released pod gets a new range when allocated again.
    let b2 = node.alloc_with("pod-b", &LOWEST);
    assert_eq!(range_of(&b2).first, 262144);
    let listed = allocations(&node.list());
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        ["pod-a", "pod-b", "pod-c", "pod-d"]
    );
    assert_eq!(range_of(&listed["pod-a"]), range_of(&a));
    assert_eq!(range_of(&listed["pod-c"]), range_of(&c));
}

#[test]
fn releasing_an_unknown_pod_is_a_no_op() {
    let node = Node::new();
    node.alloc("known");
    let before = snapshot(&node.pods());
    let run = node.run(&["--json", "release", "ghost"]);
    assert_eq!(run.ok_json(), json!({"pod": "ghost", "released": false}));
    assert_eq!(snapshot(&node.pods()), before, "nothing created or removed");
    assert!(!node.pods().join("ghost").exists());

    // Also on a node that does not exist yet.
    let empty = Node::new();
    let run = empty.run(&["release", "ghost"]);
    assert_eq!(run.ok_json(), json!({"pod": "ghost", "released": false}));
    assert_eq!(empty.list()["allocations"], json!([]));
}

/// Allocates `pods` in separate processes and returns their outputs.
fn alloc_all(node: &Node, pods: &[&str]) -> BTreeMap<String, Value> {
    pods.iter()
        .map(|&pod| (pod.to_owned(), node.alloc(pod)))
        .collect()
}

#[test]
fn cleanup_releases_exactly_the_pods_not_kept() {
    let node = Node::new();
    let pods = [
        "keep-arg",
        "keep-file-1",
        "keep-file-2",
        "keep-file-3",
        "commented",
        "drop-1",
        "drop-2",
        "drop-3",
    ];
    let printed = alloc_all(&node, &pods);
    // A pod released earlier leaves an empty directory behind; cleanup must
    // not trip over it.
    node.alloc("gone");
    node.run(&["release", "gone"]).ok_json();

    let keep_file = node.temp.path().join("keep.txt");
    std::fs::write(
        &keep_file,
        "# pods still running\n\nkeep-file-1\n   keep-file-2   \n\n#commented\n  # commented\nnot-allocated\n",
    )
    .unwrap();
    let keep_file_2 = node.temp.path().join("keep2.txt");
    std::fs::write(&keep_file_2, "keep-file-3").unwrap();
    let kept_bytes: BTreeMap<&str, Vec<u8>> =
        ["keep-arg", "keep-file-1", "keep-file-2", "keep-file-3"]
            .into_iter()
            .map(|pod| (pod, std::fs::read(node.userns(pod)).unwrap()))
            .collect();

    let run = node.run(&[
        "cleanup",
        "--keep",
        "keep-arg",
        "--keep-file",
        keep_file.to_str().unwrap(),
        "--keep",
        "not-a-pod-either",
        "--keep-file",
        keep_file_2.to_str().unwrap(),
    ]);
    let report = run.ok_json();
    assert_eq!(report["failures"], json!([]), "{report}");
    let released: BTreeMap<String, Value> = report["released"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["pod"].as_str().unwrap().to_owned(), entry.clone()))
        .collect();
    assert_eq!(
        released.keys().collect::<Vec<_>>(),
        ["commented", "drop-1", "drop-2", "drop-3"],
        "{report}"
    );
    for (pod, entry) in &released {
        assert_eq!(entry["released"], true, "{entry}");
        assert_eq!(
            entry["uidMappings"], printed[pod]["uidMappings"],
            "cleanup reports the range it released"
        );
        assert!(!node.userns(pod).exists(), "{pod}'s file is gone");
    }

    // A new process sees exactly the kept pods, with their ranges and files.
    let list = node.list();
    let listed = allocations(&list);
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        ["keep-arg", "keep-file-1", "keep-file-2", "keep-file-3"]
    );
    for (pod, bytes) in &kept_bytes {
        assert_eq!(range_of(&listed[*pod]), range_of(&printed[*pod]), "{pod}");
        assert_eq!(&std::fs::read(node.userns(pod)).unwrap(), bytes, "{pod}");
    }
    assert_eq!(list["free"], 65534 - 4);

    // Cleanup again with the same keep set: nothing left to release.
    let again = node
        .run(&[
            "cleanup",
            "--keep",
            "keep-arg",
            "--keep-file",
            keep_file.to_str().unwrap(),
            "--keep-file",
            keep_file_2.to_str().unwrap(),
        ])
        .ok_json();
    assert_eq!(again, json!({"released": [], "failures": []}));

    // Keeping nothing releases everything.
    let all = node.run(&["cleanup"]).ok_json();
    assert_eq!(all["released"].as_array().unwrap().len(), 4, "{all}");
    let list = node.list();
    assert_eq!(list["allocations"], json!([]));
    assert_eq!(list["free"], 65534);
}

#[test]
fn a_keep_file_with_an_invalid_uid_is_bad_input_and_releases_nothing() {
    let node = Node::new();
    alloc_all(&node, &["a", "b", "c"]);
    let before = snapshot(&node.pods());

    let bad = node.temp.path().join("bad-keep.txt");
    std::fs::write(&bad, "# header\na\n\n../etc\nb\n").unwrap();
    let run = node.run(&["--json", "cleanup", "--keep-file", bad.to_str().unwrap()]);
    assert!(run.stdout.is_empty(), "{run:#?}");
    let message = run.assert_failure(EXIT_BAD_INPUT, "invalid-pod-uid");
    assert!(
        message.contains(&format!("{}:4", bad.display())),
        "the message names the file and line: {message}"
    );

    let plain = node.run(&["cleanup", "--keep-file", bad.to_str().unwrap()]);
    plain.assert_code(EXIT_BAD_INPUT);
    assert!(plain.stderr.contains("../etc"), "{plain:#?}");

    let missing = node.temp.path().join("no-such-keep-file");
    let run = node.run(&[
        "--json",
        "cleanup",
        "--keep-file",
        missing.to_str().unwrap(),
    ]);
    let message = run.assert_failure(EXIT_BAD_INPUT, "usage");
    assert!(message.contains("no-such-keep-file"), "{message}");

    let run = node.run(&["--json", "cleanup", "--keep", "a", "--keep", "x/y"]);
    run.assert_failure(EXIT_BAD_INPUT, "invalid-pod-uid");

    assert_eq!(snapshot(&node.pods()), before, "nothing was released");
    assert_eq!(allocations(&node.list()).len(), 3);
}
