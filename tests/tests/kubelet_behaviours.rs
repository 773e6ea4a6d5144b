//! kubelet's userns-manager behaviours (its unit tests' cases), run against
//! the real engine and the mock backend.

use std::collections::BTreeSet;

use podns_core::{
    AllocationPolicy, GetOrCreate, HostIdRange, NamespaceMode, PoolConfig, UsernsError,
    UsernsRequest, UsernsResponse,
};
use podns_tests::{TestNode, kubelet_userns_file, pod};

fn host_id(response: UsernsResponse) -> u64 {
    match response {
        UsernsResponse::UserNamespace(userns) => u64::from(userns.userns.uid_mappings[0].host_id),
        other => panic!("not a user namespace: {other:?}"),
    }
}

fn small_pool(slots: u64) -> PoolConfig {
    PoolConfig {
        first_id: 65536,
        id_count: 65536 * slots,
        ids_per_pod: 65536,
        max_pods: slots,
    }
}

#[test]
fn get_or_create_modes() {
    let mut node = TestNode::new();
    node.recover();
    let ask = |host_users, supports| {
        UsernsRequest::GetOrCreate(GetOrCreate {
            pod: pod("p"),
            host_users,
            runtime_handler: "runc".into(),
            handler_supports_userns: supports,
        })
    };
    for host_users in [None, Some(true)] {
        let (result, effects) = node.run(ask(host_users, false));
        let Ok(UsernsResponse::UserNamespace(userns)) = result else {
            panic!("NODE mode expected");
        };
        assert_eq!(userns.userns.mode, NamespaceMode::Node);
        assert!(userns.userns.uid_mappings.is_empty());
        assert!(effects.is_empty());
    }
    let (result, effects) = node.run(ask(Some(false), false));
    match result {
        Err(error @ UsernsError::HandlerWithoutUserns { .. }) => {
            assert!(error.to_string().contains("\"runc\""), "{error}");
        }
        other => panic!("expected a handler error, got {other:?}"),
    }
    assert!(effects.is_empty());
    let (result, _) = node.run(ask(Some(false), true));
    let Ok(UsernsResponse::UserNamespace(userns)) = result else {
        panic!("POD mode expected");
    };
    assert_eq!(userns.userns.mode, NamespaceMode::Pod);
    assert_eq!(userns.userns.uid_mappings, userns.userns.gid_mappings);
    assert_eq!(userns.userns.uid_mappings[0].container_id, 0);
    assert_eq!(userns.userns.uid_mappings[0].length, 65536);
}

#[test]
fn allocate_every_slot_then_run_out() {
    let mut node = TestNode::with(small_pool(20), 3, AllocationPolicy::RandomStartThenNextFree);
    node.recover();
    let mut seen = BTreeSet::new();
    for index in 0..20 {
        let first = host_id(node.alloc(&format!("pod-{index}")).0.unwrap());
        assert_eq!(first % 65536, 0);
        assert!((65536..65536 * 21).contains(&first));
        assert!(seen.insert(first), "range {first} handed out twice");
    }
    assert_eq!(node.engine.free(), 0);
    assert!(matches!(
        node.alloc("one-more").0,
        Err(UsernsError::PoolExhausted { capacity: 20 })
    ));
    // Releasing one makes exactly that range available again.
    let released = host_id(node.alloc("pod-7").0.unwrap());
    node.release("pod-7").0.unwrap();
    assert_eq!(host_id(node.alloc("one-more").0.unwrap()), released);
}

#[test]
fn the_terminal_slot_of_a_pool_reaching_2_pow_32_is_never_handed_out() {
    let top = (1u64 << 32) - 3 * 65536;
    let pool = PoolConfig {
        first_id: top,
        id_count: 3 * 65536,
        ids_per_pod: 65536,
        max_pods: 2,
    };
    let mut node = TestNode::with(pool, 1, AllocationPolicy::RandomStartThenNextFree);
    node.recover();
    let a = host_id(node.alloc("a").0.unwrap());
    let b = host_id(node.alloc("b").0.unwrap());
    for first in [a, b] {
        assert!(!HostIdRange::new(first, 65536).touches_reserved_ids());
    }
    assert!(matches!(
        node.alloc("c").0,
        Err(UsernsError::PoolExhausted { capacity: 2 })
    ));
}

#[test]
fn allocation_is_deterministic_for_a_seed() {
    let run = |seed| {
        let mut node = TestNode::with(
            PoolConfig::default(),
            seed,
            AllocationPolicy::RandomStartThenNextFree,
        );
        node.recover();
        (0..5)
            .map(|index| host_id(node.alloc(&format!("p{index}")).0.unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn allocations_survive_a_restart_unchanged() {
    let mut node = TestNode::new();
    node.recover();
    let before = host_id(node.alloc("a").0.unwrap());
    node.restart_after(podns_backend_mock::CrashKind::PowerLoss);
    node.recover();
    let (after, effects) = node.alloc("a");
    assert_eq!(host_id(after.unwrap()), before);
    assert!(effects.is_empty());
}

#[test]
fn a_kubelet_written_file_is_read_back_identically() {
    let mut node = TestNode::new();
    let kubelet = kubelet_userns_file(131072, 65536);
    node.plant_file("kubelet-pod/userns", kubelet.as_bytes());
    node.recover();
    assert_eq!(host_id(node.alloc("kubelet-pod").0.unwrap()), 131072);
    // And podns writes the same bytes kubelet would.
    node.alloc("podns-pod").0.unwrap();
    let written = node
        .backend
        .fs()
        .read_file(
            &podns_core::RootPath {
                root: podns_core::Root::Pods,
                path: podns_core::RelPath::parse("podns-pod/userns").unwrap(),
            },
            1024,
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(written).unwrap(),
        kubelet_userns_file(65536, 65536)
    );
}

#[test]
fn cleanup_releases_orphans_on_disk_and_in_memory() {
    let mut node = TestNode::new();
    node.recover();
    for uid in ["known", "running", "orphan"] {
        node.alloc(uid).0.unwrap();
    }
    let (result, _) = node.cleanup(&["known", "running"]);
    let Ok(UsernsResponse::CleanedUp(report)) = result else {
        panic!("cleanup failed");
    };
    assert_eq!(report.released.len(), 1);
    assert_eq!(report.released[0].pod.as_str(), "orphan");
    assert_eq!(
        node.paths(),
        [
            "known",
            "known/userns",
            "orphan",
            "running",
            "running/userns"
        ]
    );

    // An allocation whose pod directory vanished is released even when the
    // pod is listed as known.
    let dir = podns_core::RootPath {
        root: podns_core::Root::Pods,
        path: podns_core::RelPath::parse("known/userns").unwrap(),
    };
    node.backend.fs_mut().remove_file(&dir).unwrap();
    node.backend
        .fs_mut()
        .remove_dir(&dir.parent().unwrap())
        .unwrap();
    let (result, _) = node.cleanup(&["known", "running"]);
    let Ok(UsernsResponse::CleanedUp(report)) = result else {
        panic!("cleanup failed");
    };
    assert_eq!(report.released[0].pod.as_str(), "known");
    assert_eq!(node.engine.allocations().len(), 1);
}

#[test]
fn releasing_an_unknown_pod_does_nothing() {
    let mut node = TestNode::new();
    node.recover();
    let (result, effects) = node.release("never-seen");
    let Ok(UsernsResponse::Released(release)) = result else {
        panic!("release failed");
    };
    assert!(!release.released);
    assert!(effects.is_empty());
}

#[test]
fn requests_before_recovery_are_refused() {
    let mut node = TestNode::new();
    assert!(matches!(node.alloc("a").0, Err(UsernsError::NotRecovered)));
}

#[test]
fn a_recorded_range_out_of_pool_bounds_is_reported_not_fatal() {
    // kubelet's TestRecordBounds: out-of-range records fail; podns keeps the
    // node running and reports them instead.
    let mut node = TestNode::with(small_pool(2), 1, AllocationPolicy::LowestFree);
    node.plant_file(
        "far/userns",
        kubelet_userns_file(65536 * 40, 65536).as_bytes(),
    );
    node.recover();
    assert_eq!(node.engine.problems().len(), 1);
    assert_eq!(node.engine.free(), 2);
    assert!(node.alloc("near").0.is_ok());
}
