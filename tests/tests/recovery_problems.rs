//! One bad file never stops the node: every kind of problem is reported, and
//! only an unknown range stops new allocations.

use podns_backend_mock::Node;
use podns_core::{PoolConfig, ProblemKind, UsernsError, UsernsResponse};
use podns_tests::{TestNode, kubelet_userns_file, trace};

fn recover_and_report(node: &mut TestNode) -> Vec<(String, ProblemKind)> {
    node.recover();
    node.engine
        .problems()
        .into_iter()
        .map(|problem| (problem.pod.to_string(), problem.kind))
        .collect()
}

fn problem_snapshot(node: &TestNode) -> Vec<String> {
    node.engine
        .problems()
        .iter()
        .map(|problem| {
            format!(
                "{} {} {}: {}",
                problem.pod,
                problem.kind.as_str(),
                problem.path,
                problem.message
            )
        })
        .collect()
}

#[test]
fn corrupt_file_freezes_new_allocations_but_not_the_rest() {
    let mut node = TestNode::new();
    node.plant_file("good/userns", kubelet_userns_file(65536, 65536).as_bytes());
    node.plant_file("bad/userns", b"{\"uidMappings\":[{\"hostId\":13");
    assert_eq!(
        recover_and_report(&mut node),
        [("bad".into(), ProblemKind::Corrupt)]
    );
    insta::assert_yaml_snapshot!(problem_snapshot(&node));

    // Reads keep working.
    let (existing, effects) = node.alloc("good");
    assert!(matches!(existing, Ok(UsernsResponse::UserNamespace(_))));
    assert!(effects.is_empty());
    // New allocations are refused with the pods to fix.
    let (refused, effects) = node.alloc("new");
    assert!(effects.is_empty());
    match refused {
        Err(UsernsError::AllocationsFrozen { pods }) => assert_eq!(pods[0].as_str(), "bad"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Releasing the bad pod unfreezes the node.
    node.release("bad").0.unwrap();
    assert!(node.engine.problems().is_empty());
    assert!(node.alloc("new").0.is_ok());
}

#[test]
fn every_unreadable_kind_is_reported() {
    let mut node = TestNode::new();
    node.plant_file("empty/userns", b"");
    node.plant_file("huge/userns", &vec![b' '; 10 << 20]);
    node.plant("symlink/userns", Node::symlink("/etc/shadow"));
    node.plant("dir/userns/inner", Node::Fifo);
    node.plant("fifo/userns", Node::Fifo);
    let kinds = recover_and_report(&mut node);
    assert_eq!(
        kinds,
        [
            ("dir".into(), ProblemKind::Unreadable),
            ("empty".into(), ProblemKind::Corrupt),
            ("fifo".into(), ProblemKind::Unreadable),
            ("huge".into(), ProblemKind::Unreadable),
            ("symlink".into(), ProblemKind::Unreadable),
        ]
    );
    insta::assert_yaml_snapshot!(problem_snapshot(&node));
}

#[test]
fn a_huge_file_is_never_read() {
    let mut node = TestNode::new();
    node.plant("huge/userns", Node::unsynced_file(vec![b'{'; 10 << 20]));
    let effects = node.recover();
    insta::assert_yaml_snapshot!(trace(&effects));
    assert_eq!(node.engine.problems()[0].kind, ProblemKind::Unreadable);
}

#[test]
fn foreign_ranges_keep_their_mapping_and_block_their_slots() {
    let mut node = TestNode::new();
    // The pool used to start lower, then ids_per_pod was different, then the
    // file was edited by hand.
    node.plant_file(
        "out-of-pool/userns",
        kubelet_userns_file(1 << 31, 65536).as_bytes(),
    );
    node.plant_file(
        "misaligned/userns",
        kubelet_userns_file(65536 + 4096, 65536).as_bytes(),
    );
    node.plant_file(
        "wrong-length/userns",
        kubelet_userns_file(65536 * 4, 65536 * 2).as_bytes(),
    );
    node.restart_with_pool(PoolConfig {
        first_id: 65536,
        id_count: 65536 * 110,
        ids_per_pod: 65536,
        max_pods: 110,
    });
    let kinds = recover_and_report(&mut node);
    assert_eq!(
        kinds,
        [
            ("misaligned".into(), ProblemKind::Misaligned),
            ("out-of-pool".into(), ProblemKind::OutOfPool),
            ("wrong-length".into(), ProblemKind::WrongLength),
        ]
    );
    insta::assert_yaml_snapshot!(problem_snapshot(&node));
    // Each keeps its mapping.
    for uid in ["misaligned", "out-of-pool", "wrong-length"] {
        let (result, effects) = node.alloc(uid);
        assert!(result.is_ok(), "{uid}: {result:?}");
        assert!(effects.is_empty());
    }
    // Slots 0 and 1 (misaligned) and 3, 4 (wrong length) are blocked: the
    // lowest-free policy skips them.
    assert_eq!(node.engine.free(), 110 - 4);
    let (Ok(UsernsResponse::UserNamespace(new)), _) = node.alloc("new") else {
        panic!("allocation failed");
    };
    assert_eq!(new.userns.uid_mappings[0].host_id, 65536 * 3);
}

#[test]
fn overlapping_claims_are_a_conflict_for_both_pods_only() {
    let mut node = TestNode::new();
    node.plant_file("one/userns", kubelet_userns_file(131072, 65536).as_bytes());
    node.plant_file("two/userns", kubelet_userns_file(131072, 65536).as_bytes());
    node.plant_file("fine/userns", kubelet_userns_file(65536, 65536).as_bytes());
    let kinds = recover_and_report(&mut node);
    assert_eq!(
        kinds,
        [
            ("one".into(), ProblemKind::Conflict),
            ("two".into(), ProblemKind::Conflict),
        ]
    );
    insta::assert_yaml_snapshot!(problem_snapshot(&node));
    assert!(matches!(
        node.alloc("one").0,
        Err(UsernsError::PodProblem { .. })
    ));
    assert!(matches!(
        node.alloc("two").0,
        Err(UsernsError::PodProblem { .. })
    ));
    assert!(node.alloc("fine").0.is_ok());
    // Everything else keeps allocating, never into the contested slot.
    let (Ok(UsernsResponse::UserNamespace(new)), _) = node.alloc("new") else {
        panic!("allocation failed");
    };
    assert_eq!(new.userns.uid_mappings[0].host_id, 196608);
    // Releasing one side resolves the conflict for the other, whose slot
    // stays taken.
    node.release("two").0.unwrap();
    assert!(node.engine.problems().is_empty());
    assert!(node.alloc("one").0.is_ok());
    let (Ok(UsernsResponse::UserNamespace(next)), _) = node.alloc("next") else {
        panic!("allocation failed");
    };
    assert_ne!(next.userns.uid_mappings[0].host_id, 131072);
}

#[test]
fn unsafe_ranges_are_never_handed_out() {
    let mut node = TestNode::new();
    node.plant_file("root/userns", kubelet_userns_file(0, 65536).as_bytes());
    node.plant_file(
        "top/userns",
        kubelet_userns_file(4294901760, 65536).as_bytes(),
    );
    let kinds = recover_and_report(&mut node);
    assert_eq!(
        kinds,
        [
            ("root".into(), ProblemKind::UnsafeRange),
            ("top".into(), ProblemKind::UnsafeRange),
        ]
    );
    insta::assert_yaml_snapshot!(problem_snapshot(&node));
    assert!(matches!(
        node.alloc("root").0,
        Err(UsernsError::PodProblem { .. })
    ));
    assert!(node.alloc("new").0.is_ok());
}

#[test]
fn recovery_is_idempotent() {
    let mut node = TestNode::new();
    node.plant_file("good/userns", kubelet_userns_file(65536, 65536).as_bytes());
    node.plant_file("bad/userns", b"garbage");
    node.plant_file("c1/userns", kubelet_userns_file(131072, 65536).as_bytes());
    node.plant_file("c2/userns", kubelet_userns_file(131072, 65536).as_bytes());
    node.recover();
    let once = (
        node.engine.allocations(),
        node.engine.problems(),
        node.engine.free(),
    );
    node.recover();
    let twice = (
        node.engine.allocations(),
        node.engine.problems(),
        node.engine.free(),
    );
    assert_eq!(once, twice);
}
