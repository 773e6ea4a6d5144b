//! The exact effect lists of namespace creates and removes against the mock
//! backend, each effect with its outcome, reviewed as snapshots.

use podns_backend_mock::CrashKind;
use podns_core::{Errno, ErrorDetails, IdMap, NsRequest, NsResponse, ParentMaps};
use podns_tests::{NsNode, created, pod, trace};

#[test]
fn create_from_nothing() {
    let mut node = NsNode::new();
    let maps = node.maps("a");
    node.backend.take_log();
    let pins = created(node.run(NsRequest::Create {
        pod: pod("a"),
        maps,
    }));
    assert!(pins.created);
    assert_eq!(pins.net_pin, "/run/podns/a/net");
    assert_eq!(pins.user_pin, "/run/podns/a/user");
    assert_eq!(pins.facts.net_owner, pins.facts.user);
    node.assert_clean();
    insta::assert_yaml_snapshot!(node.take_effects());
}

#[test]
fn create_again_checks_the_pair_and_creates_nothing() {
    let mut node = NsNode::new();
    let maps = node.maps("a");
    let first = created(node.run(NsRequest::Create {
        pod: pod("a"),
        maps: maps.clone(),
    }));
    node.backend.take_log();
    let again = created(node.run(NsRequest::Create {
        pod: pod("a"),
        maps,
    }));
    assert!(!again.created);
    assert_eq!(again.facts, first.facts);
    insta::assert_yaml_snapshot!(node.take_effects());
}

#[test]
fn remove_detaches_both_pins_then_unlinks() {
    let mut node = NsNode::new();
    node.create("a").unwrap();
    node.backend.take_log();
    let removed = node.run(NsRequest::Remove { pod: pod("a") }).unwrap();
    assert!(matches!(
        removed,
        NsResponse::Removed(ref removal) if removal.removed && removal.unmounted == 2
    ));
    insta::assert_yaml_snapshot!(node.take_effects());
    node.assert_clean();
    assert!(node.run_tree().is_empty());
    // Removing again is a no-op.
    let again = node.run(NsRequest::Remove { pod: pod("a") }).unwrap();
    assert!(matches!(again, NsResponse::Removed(ref r) if !r.removed));
}

#[test]
fn the_half_pair_of_a_failed_helper_is_rolled_back() {
    let mut node = NsNode::new();
    let maps = node.maps("b");
    let next = node.backend.executed();
    node.backend.take_log();
    // set-up, list, create-dir, 2 pin files, then the namespaces fail with
    // EIO after pinning the network namespace.
    node.backend.fail_nth(next + 5, Errno::EIO);
    let error = node
        .run(NsRequest::Create {
            pod: pod("b"),
            maps,
        })
        .unwrap_err();
    assert_eq!(error.kind(), "io");
    let text = error.to_string();
    assert!(
        text.contains("everything it made was removed again"),
        "{text}"
    );
    insta::assert_yaml_snapshot!(node.take_effects());
    node.assert_clean();
    assert!(node.pinned_pods().is_empty());
}

#[test]
fn a_create_clears_the_half_pair_a_killed_create_left() {
    // Half a pair left by a helper that failed between its mounts, and a
    // process killed before the rollback: the next create clears it first.
    let mut node = NsNode::new();
    let maps = node.maps("b");
    let next = node.backend.executed();
    node.backend.fail_nth(next + 5, Errno::EIO);
    let outcome = node.run_bounded(
        NsRequest::Create {
            pod: pod("b"),
            maps: maps.clone(),
        },
        6,
    );
    assert!(outcome.is_none());
    node.restart_after(CrashKind::ProcessKill);
    assert_eq!(node.backend.pins().len(), 1, "half a pair leaked");
    node.backend.take_log();
    created(node.run(NsRequest::Create {
        pod: pod("b"),
        maps,
    }));
    node.assert_clean();
    insta::assert_yaml_snapshot!(trace(&node.backend.take_log()));
}

#[test]
fn a_range_across_the_parents_extents_is_split_when_written() {
    // Root of a rootless namespace with a two-line subuid layout: the first
    // pod range, 65536-131071, spans the extent boundary at 100001.
    let parent = IdMap::parse("0 1001 1\n1 1000000 100000\n100001 3000000 1000000\n").unwrap();
    let mut node = NsNode::in_parent(Some(ParentMaps {
        uid_map: parent.clone(),
        gid_map: parent,
    }));
    node.backend.take_log();
    let sandbox = node.create("a").unwrap();
    let split = "0 65536 34465\n34465 100001 31071\n";
    assert_eq!(sandbox.namespaces.maps.uid_map.render_for_write(), split);
    assert_eq!(sandbox.namespaces.facts.uid_map.render_for_write(), split);
    // The runtime gets the split mappings, container IDs continuous.
    let mappings: Vec<(u32, u32, u32)> = sandbox
        .join_spec
        .uid_mappings
        .iter()
        .map(|m| (m.container_id(), m.host_id(), m.size()))
        .collect();
    assert_eq!(mappings, [(0, 65536, 34465), (34465, 100001, 31071)]);
    node.assert_clean();
    // A sweep keeps the split pair: it checks pins against the same maps.
    let report = node.sweep(&["a"]);
    assert_eq!(report.kept.len(), 1, "{report:?}");
    insta::assert_yaml_snapshot!(trace(&node.backend.take_log()));
}
