//! The exact effect lists of each operation, reviewed as snapshots.

use podns_core::UsernsResponse;
use podns_tests::{TestNode, kubelet_userns_file, trace};

#[test]
fn alloc_into_a_new_pod_dir() {
    let mut node = TestNode::new();
    node.recover();
    let (result, effects) = node.alloc("pod-a");
    assert!(matches!(result, Ok(UsernsResponse::UserNamespace(_))));
    insta::assert_yaml_snapshot!(trace(&effects));
}

#[test]
fn alloc_into_an_existing_pod_dir() {
    let mut node = TestNode::new();
    node.plant_file("pod-a/etc-hosts", b"");
    node.recover();
    let (result, effects) = node.alloc("pod-a");
    assert!(result.is_ok());
    insta::assert_yaml_snapshot!(trace(&effects));
}

#[test]
fn alloc_again_runs_no_effect() {
    let mut node = TestNode::new();
    node.recover();
    let (first, _) = node.alloc("pod-a");
    let (second, effects) = node.alloc("pod-a");
    assert_eq!(
        first,
        second.map(|response| match response {
            UsernsResponse::UserNamespace(mut userns) => {
                userns.created = true;
                UsernsResponse::UserNamespace(userns)
            }
            other => other,
        })
    );
    assert!(effects.is_empty());
}

#[test]
fn release() {
    let mut node = TestNode::new();
    node.recover();
    node.alloc("pod-a").0.unwrap();
    let (result, effects) = node.release("pod-a");
    assert!(result.is_ok());
    insta::assert_yaml_snapshot!(trace(&effects));
}

#[test]
fn recovery_of_a_clean_node() {
    let mut node = TestNode::new();
    node.plant_file("pod-a/userns", kubelet_userns_file(65536, 65536).as_bytes());
    node.plant_file(
        "pod-b/userns",
        kubelet_userns_file(131072, 65536).as_bytes(),
    );
    node.plant_file("pod-c/other-file", b"");
    node.plant_file(".podns.lock", b"");
    insta::assert_yaml_snapshot!(trace(&node.recover()));
}

#[test]
fn recovery_removes_stale_temp_files() {
    let mut node = TestNode::new();
    node.plant_file("pod-a/userns", kubelet_userns_file(65536, 65536).as_bytes());
    node.plant_file("pod-a/.userns.podns-tmp.0", b"{\"uidMa");
    let effects = node.recover();
    insta::assert_yaml_snapshot!(trace(&effects));
    assert_eq!(node.paths(), ["pod-a", "pod-a/userns"]);
}

#[test]
fn cleanup() {
    let mut node = TestNode::new();
    node.recover();
    for uid in ["pod-a", "pod-b", "pod-c"] {
        node.alloc(uid).0.unwrap();
    }
    let (result, effects) = node.cleanup(&["pod-b"]);
    let Ok(UsernsResponse::CleanedUp(report)) = result else {
        panic!("cleanup failed: {result:?}");
    };
    let released: Vec<&str> = report.released.iter().map(|r| r.pod.as_str()).collect();
    assert_eq!(released, ["pod-a", "pod-c"]);
    assert!(report.failures.is_empty());
    insta::assert_yaml_snapshot!(trace(&effects));
}

/// Recovery's effects and verdict for each kind of bad file, next to a good
/// pod.
#[test]
fn recovery_of_each_problem_kind() {
    use podns_backend_mock::Node;

    let cases: Vec<(&str, Node)> = vec![
        (
            "corrupt",
            Node::unsynced_file(b"{\"uidMappings\":[".to_vec()),
        ),
        ("unreadable", Node::symlink("/etc/passwd")),
        (
            "out-of-pool",
            Node::unsynced_file(kubelet_userns_file(1 << 31, 65536).into_bytes()),
        ),
        (
            "misaligned",
            Node::unsynced_file(kubelet_userns_file(135168, 65536).into_bytes()),
        ),
        (
            "wrong-length",
            Node::unsynced_file(kubelet_userns_file(196608, 131072).into_bytes()),
        ),
        (
            "unsafe-range",
            Node::unsynced_file(kubelet_userns_file(0, 65536).into_bytes()),
        ),
        (
            "conflict",
            Node::unsynced_file(kubelet_userns_file(65536, 65536).into_bytes()),
        ),
    ];
    let mut report = Vec::new();
    for (kind, node_kind) in cases {
        let mut node = TestNode::with(
            podns_core::PoolConfig {
                first_id: 65536,
                id_count: 65536 * 110,
                ids_per_pod: 65536,
                max_pods: 110,
            },
            1,
            podns_core::AllocationPolicy::LowestFree,
        );
        node.plant_file("good/userns", kubelet_userns_file(65536, 65536).as_bytes());
        node.plant(&format!("{kind}/userns"), node_kind);
        let effects = node.recover();
        let problems: Vec<String> = node
            .engine
            .problems()
            .iter()
            .map(|problem| format!("{} {}", problem.pod, problem.kind.as_str()))
            .collect();
        report.push(format!("{kind}: problems {problems:?}"));
        report.extend(trace(&effects).into_iter().map(|line| format!("  {line}")));
    }
    insta::assert_yaml_snapshot!(report);
}
