//! `podns alloc` and `podns list` across processes: the ranges handed out,
//! the JSON printed, and the bytes written.

mod common;

use common::{
    EXIT_FAILED, Node, Range, allocations, assert_disjoint, kubelet_userns_file, range_of, snapshot,
};
use serde_json::{Value, json};

const ID_BLOCK: u64 = 65536;
const INVALID_HOST_ID: u64 = 4_294_967_295;

/// 1,000 separate processes, each allocating one pod with the default random
/// policy; then one `list` process re-reads them all from disk.
#[test]
fn a_thousand_processes_allocate_disjoint_safe_ranges() {
    const PODS: usize = 1000;
    let node = Node::new();
    let mut printed = Vec::with_capacity(PODS);
    for index in 0..PODS {
        let pod = format!("pod-{index:04}");
        let seed = index.to_string();
        printed.push((pod.clone(), node.alloc_with(&pod, &["--seed", &seed])));
    }

    let list = node.list();
    assert_eq!(list["problems"], json!([]), "{list}");
    assert_eq!(list["capacity"], 65534);
    assert_eq!(list["free"], 65534 - PODS as u64);
    let entries = list["allocations"].as_array().unwrap();
    assert_eq!(entries.len(), PODS);
    let listed_pods: Vec<&str> = entries
        .iter()
        .map(|entry| entry["pod"].as_str().unwrap())
        .collect();
    let mut sorted = listed_pods.clone();
    sorted.sort_unstable();
    assert_eq!(listed_pods, sorted, "list is sorted by pod");

    let listed = allocations(&list);
    let mut ranges = Vec::with_capacity(PODS);
    for (pod, output) in &printed {
        let entry = listed
            .get(pod)
            .unwrap_or_else(|| panic!("{pod} is not listed"));
        // What alloc printed is the list entry plus "mode": "POD".
        let mut expected = entry.clone();
        expected["mode"] = json!("POD");
        assert_eq!(output, &expected, "alloc output of {pod}");

        let range = range_of(entry);
        assert_eq!(range.len, ID_BLOCK, "{pod}: {entry}");
        assert_eq!(range.first % ID_BLOCK, 0, "{pod} is slot-aligned: {entry}");
        assert!(range.first >= ID_BLOCK, "{pod} maps host IDs 0-65535");
        assert!(
            range.end() <= INVALID_HOST_ID,
            "{pod}'s range {range:?} contains host ID 4294967295"
        );
        // The file on disk says the same, in kubelet's bytes.
        let file = std::fs::read_to_string(node.userns(pod)).unwrap();
        assert_eq!(file, kubelet_userns_file(range.first, range.len), "{pod}");
        ranges.push(range);
    }
    assert_disjoint(&ranges);
}

/// A second alloc of an existing pod, in a new process with a different seed
/// and policy, returns the same range and rewrites nothing.
#[test]
fn allocating_an_existing_pod_again_returns_identical_json() {
    let node = Node::new();
    let first = node.run(&["--seed", "1", "alloc", "pod-a"]);
    first.ok_json();
    node.alloc("pod-b");
    let before = snapshot(&node.pods());
    for extra in [
        &["--seed", "1"][..],
        &["--seed", "2"][..],
        &["--policy", "lowest-free"][..],
        &[][..],
    ] {
        let mut args = extra.to_vec();
        args.extend(["alloc", "pod-a"]);
        let again = node.run(&args);
        again.assert_code(0);
        assert_eq!(again.stdout, first.stdout, "{extra:?}");
    }
    assert_eq!(snapshot(&node.pods()), before, "nothing on disk changed");
}

/// A file kubelet wrote is adopted as is, and podns writes kubelet's format.
#[test]
fn kubelet_files_are_read_and_podns_writes_kubelet_bytes() {
    let node = Node::new();
    let kubelet = r#"{"uidMappings":[{"hostId":131072,"containerId":0,"length":65536}],"gidMappings":[{"hostId":131072,"containerId":0,"length":65536}]}"#;
    assert_eq!(kubelet, kubelet_userns_file(131072, 65536));
    node.plant("kpod", kubelet.as_bytes());

    let output = node.alloc("kpod");
    assert_eq!(
        output,
        json!({
            "pod": "kpod",
            "mode": "POD",
            "uidMappings": [{"hostId": 131072, "containerId": 0, "length": 65536}],
            "gidMappings": [{"hostId": 131072, "containerId": 0, "length": 65536}],
        })
    );
    assert_eq!(
        std::fs::read(node.userns("kpod")).unwrap(),
        kubelet.as_bytes()
    );

    // Lowest-free skips the slot kubelet's file holds.
    let fresh = node.alloc_with("fresh", &["--policy", "lowest-free"]);
    let range = range_of(&fresh);
    assert_eq!(
        range,
        Range {
            first: 65536,
            len: 65536
        }
    );
    let fresh2 = node.alloc_with("fresh2", &["--policy", "lowest-free"]);
    assert_eq!(range_of(&fresh2).first, 196608, "131072 is kpod's");
    for (pod, first) in [("fresh", 65536), ("fresh2", 196608)] {
        assert_eq!(
            std::fs::read_to_string(node.userns(pod)).unwrap(),
            kubelet_userns_file(first, 65536),
            "{pod}'s file is byte-for-byte what kubelet writes"
        );
        // Only the userns file: no temporary file is left behind.
        assert_eq!(common::names(&node.pods().join(pod)), ["userns"]);
    }
    let list = node.list();
    let listed = allocations(&list);
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        ["fresh", "fresh2", "kpod"]
    );
    assert_eq!(range_of(&listed["kpod"]).first, 131072);
}

/// `--format oci` prints the OCI spec's `linux.uidMappings`/`gidMappings`.
#[test]
fn oci_format_prints_oci_mappings() {
    let node = Node::new();
    let run = node.run(&["alloc", "pod-oci", "--format", "oci"]);
    let oci = run.ok_json();
    let object = oci.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["gidMappings", "uidMappings"], "{oci}");
    let host = oci["uidMappings"][0]["hostID"].as_u64().unwrap();
    let expected_mapping = json!([{"hostID": host, "containerID": 0, "size": 65536}]);
    assert_eq!(oci["uidMappings"], expected_mapping);
    assert_eq!(oci["gidMappings"], expected_mapping);

    // The same range in CRI form, from a new process and from the list.
    let cri = node.alloc("pod-oci");
    assert_eq!(
        range_of(&cri),
        Range {
            first: host,
            len: 65536
        }
    );
    assert_eq!(
        node.run(&["alloc", "pod-oci", "--format", "cri"]).ok_json(),
        cri
    );
    let again = node.run(&["alloc", "pod-oci", "--format", "oci"]);
    assert_eq!(again.ok_json(), oci);
    assert_eq!(range_of(&allocations(&node.list())["pod-oci"]).first, host);
}

/// NODE mode allocates nothing; a handler without user namespaces is refused.
#[test]
fn node_mode_creates_nothing_and_a_handler_without_userns_is_refused() {
    let node = Node::new();
    node.alloc("existing");
    let before = snapshot(&node.pods());

    for extra in [&[][..], &["--handler-supports-userns", "false"][..]] {
        let mut args = vec!["alloc", "node-pod", "--host-users", "true"];
        args.extend(extra);
        let output = node.run(&args).ok_json();
        assert_eq!(output, json!({"pod": "node-pod", "mode": "NODE"}));
    }
    assert!(!node.pods().join("node-pod").exists());
    assert_eq!(snapshot(&node.pods()), before);

    let refused = node.run(&[
        "alloc",
        "hpod",
        "--handler-supports-userns",
        "false",
        "--handler",
        "my-special-handler",
    ]);
    refused.assert_code(EXIT_FAILED);
    assert!(refused.stdout.is_empty(), "{refused:#?}");
    assert!(
        refused.stderr.contains("my-special-handler"),
        "the message names the handler: {refused:#?}"
    );
    let json_refused = node.run(&[
        "--json",
        "alloc",
        "hpod",
        "--handler-supports-userns",
        "false",
        "--handler",
        "my-special-handler",
    ]);
    let message = json_refused.assert_failure(EXIT_FAILED, "handler-without-userns");
    assert!(message.contains("my-special-handler"), "{message}");
    assert!(!node.pods().join("hpod").exists());
    assert_eq!(snapshot(&node.pods()), before);

    let list = node.list();
    let listed: Vec<String> = allocations(&list).into_keys().collect();
    assert_eq!(listed, ["existing"]);
    assert_eq!(list["free"], 65533);
}

/// `--host-users false` is the default: it is POD mode.
#[test]
fn host_users_false_is_pod_mode() {
    let node = Node::new();
    let explicit: Value = node.run(&["alloc", "p", "--host-users", "false"]).ok_json();
    assert_eq!(explicit["mode"], "POD");
    assert_eq!(node.alloc("p"), explicit);
    assert!(node.userns("p").is_file());
}
