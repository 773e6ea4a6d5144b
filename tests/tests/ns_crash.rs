//! Pod namespaces on the mock backend, crashed at every effect boundary.
//!
//! The promise: pins leak on a process kill (mounts outlive the process)
//! and vanish on a power loss (mounts, namespaces and the run directory's
//! tmpfs are gone); after recovery and a sweep with the keep set of the pods
//! that have allocations, the pods with pins are exactly those that should
//! have them, every pin is a complete, consistent pair, nothing else is left
//! in the run directory, and no namespace outlives its pins. Creating again
//! then always succeeds.

use std::collections::{BTreeMap, BTreeSet};

use podns_backend_mock::{CrashKind, Node};
use podns_core::{
    Effect, Errno, ErrorDetails, NsRequest, NsResponse, PinKind, PodIdMaps, PodUid, Root, RootPath,
    pin_path,
};
use podns_tests::{NsNode, created, pod};

/// The number of effects of a create from scratch (after the run directory
/// was set up).
fn effects_of_a_fresh_create() -> usize {
    let mut node = NsNode::new();
    node.create("a").unwrap();
    let maps = node.maps("b");
    node.backend.take_log();
    node.run(NsRequest::Create {
        pod: pod("b"),
        maps,
    })
    .unwrap();
    node.backend.take_log().len()
}

#[test]
fn pins_leak_on_process_kill_and_vanish_on_power_loss() {
    let mut node = NsNode::new();
    node.create("a").unwrap();
    let before = node.pin_inodes("a").unwrap();
    node.restart_after(CrashKind::ProcessKill);
    assert_eq!(
        node.pin_inodes("a"),
        Some(before),
        "pins outlive the process"
    );
    assert_eq!(node.backend.namespaces().namespaces().len(), 2);
    node.restart_after(CrashKind::PowerLoss);
    assert!(node.backend.pins().is_empty());
    assert!(node.backend.namespaces().namespaces().is_empty());
    assert!(node.run_tree().is_empty(), "the run directory is a tmpfs");
    // The allocation is durable: creating again works.
    node.create("a").unwrap();
    node.assert_clean();
}

#[test]
fn crash_at_every_effect_of_a_create_then_sweep() {
    let total = effects_of_a_fresh_create();
    assert_eq!(total, 5);
    for crash in [CrashKind::ProcessKill, CrashKind::PowerLoss] {
        for budget in 0..=total {
            let mut node = NsNode::new();
            node.create("acked").unwrap();
            let acked = node.pin_inodes("acked").unwrap();
            let maps = node.maps("b");
            let outcome = node.run_bounded(
                NsRequest::Create {
                    pod: pod("b"),
                    maps,
                },
                budget,
            );
            // Only the full budget lets the create finish (and be
            // acknowledged): the last effect is the one that pins.
            let acknowledged = outcome.is_some();
            assert_eq!(acknowledged, budget == total, "{crash:?} at {budget}");
            node.restart_after(crash);
            let report = node.sweep(&["acked", "b"]);
            assert!(report.failures.is_empty(), "{report:?}");
            node.assert_clean();
            match crash {
                // Leaked pins are found: the acknowledged pair stays, and b
                // stays only when its pair was complete.
                CrashKind::ProcessKill => {
                    assert_eq!(node.pin_inodes("acked"), Some(acked));
                    let b_complete = acknowledged;
                    assert_eq!(
                        node.pinned_pods(),
                        if b_complete {
                            BTreeSet::from(["acked".to_owned(), "b".to_owned()])
                        } else {
                            BTreeSet::from(["acked".to_owned()])
                        },
                        "{crash:?} at {budget}: {report:?}"
                    );
                }
                CrashKind::PowerLoss => assert!(node.pinned_pods().is_empty()),
            }
            // Creating again always works, and every kept pod gets its pins.
            node.create("acked").unwrap();
            node.create("b").unwrap();
            node.assert_clean();
            assert_eq!(
                node.pinned_pods(),
                BTreeSet::from(["acked".to_owned(), "b".to_owned()])
            );
        }
    }
}

#[test]
fn crash_at_every_effect_of_a_remove_then_sweep() {
    for crash in [CrashKind::ProcessKill, CrashKind::PowerLoss] {
        for budget in 0..6 {
            let mut node = NsNode::new();
            node.create("a").unwrap();
            node.create("other").unwrap();
            let outcome = node.run_bounded(NsRequest::Remove { pod: pod("a") }, budget);
            assert!(outcome.is_none(), "{crash:?} at {budget}");
            node.restart_after(crash);
            // The pod was being removed: the caller no longer keeps it.
            let report = node.sweep(&["other"]);
            assert!(report.failures.is_empty(), "{report:?}");
            node.assert_clean();
            let expected: BTreeSet<String> = match crash {
                CrashKind::ProcessKill => BTreeSet::from(["other".to_owned()]),
                CrashKind::PowerLoss => BTreeSet::new(),
            };
            assert_eq!(node.pinned_pods(), expected, "{crash:?} at {budget}");
        }
    }
}

#[test]
fn a_failure_at_any_step_of_a_create_is_rolled_back() {
    let total = effects_of_a_fresh_create();
    for errno in [Errno::EIO, Errno::EPERM, Errno::ENOSPC] {
        for failing in 0..total {
            let mut node = NsNode::new();
            node.create("kept").unwrap();
            let maps = node.maps("b");
            let next = node.backend.executed();
            node.backend.fail_nth(next + failing as u64, errno);
            let error = node
                .run(NsRequest::Create {
                    pod: pod("b"),
                    maps,
                })
                .unwrap_err();
            assert!(
                !error.to_string().contains("sweep"),
                "step {failing}: the rollback removes everything: {error}"
            );
            node.backend.clear_faults();
            assert_eq!(
                node.pinned_pods(),
                BTreeSet::from(["kept".to_owned()]),
                "{errno} at step {failing}: {error}"
            );
            node.assert_clean();
        }
    }
}

#[test]
fn sweep_removes_what_should_not_be_there_and_nothing_else() {
    let mut node = NsNode::new();
    for uid in ["keep", "gone", "released", "half", "stray"] {
        node.create(uid).unwrap();
    }
    // A pin whose allocation was released.
    node.release("released");
    // Half a pair: the user pin's mount is gone, its file stays.
    let half_user = pin_path(&pod("half"), PinKind::User);
    pollster::block_on(podns_core::Backend::execute(
        &mut node.backend,
        &Effect::DetachMount {
            target: half_user.clone(),
        },
    ))
    .unwrap();
    // A pin file that is not a mount, in a directory of its own, and a file
    // at the top of the run directory podns never created.
    node.backend.fs_mut().plant(
        &RootPath {
            root: Root::Run,
            path: podns_core::RelPath::parse("killed/net").unwrap(),
        },
        Node::unsynced_file(Vec::new()),
    );
    node.backend.fs_mut().plant(
        &RootPath {
            root: Root::Run,
            path: podns_core::RelPath::parse("not-a-pod-dir").unwrap(),
        },
        Node::durable_file(b"x".to_vec()),
    );
    node.maps("killed");
    let report = node.sweep(&["keep", "released", "half", "killed", "stray"]);
    let reasons: BTreeMap<String, String> = report
        .swept
        .iter()
        .map(|swept| (swept.pod.to_string(), swept.reason.to_string()))
        .collect();
    assert_eq!(
        reasons,
        BTreeMap::from([
            ("gone".to_owned(), "not in the keep set".to_owned()),
            (
                "half".to_owned(),
                "incomplete: the user pin is not an nsfs mount".to_owned()
            ),
            (
                "killed".to_owned(),
                "incomplete: the net pin is not an nsfs mount; the user pin is not an nsfs mount"
                    .to_owned()
            ),
            (
                "released".to_owned(),
                "the pod has no user-namespace allocation".to_owned()
            ),
        ])
    );
    assert_eq!(
        report.kept.iter().map(PodUid::as_str).collect::<Vec<_>>(),
        ["keep", "stray"]
    );
    assert!(report.failures.is_empty());
    assert_eq!(
        node.pinned_pods(),
        BTreeSet::from(["keep".to_owned(), "stray".to_owned()])
    );
    // Only the file podns did not create is left besides the kept pins.
    let tree = node.run_tree();
    assert!(tree.contains(&"not-a-pod-dir".to_owned()), "{tree:?}");
    assert_eq!(tree.len(), 7, "{tree:?}");
    assert_eq!(node.backend.namespaces().namespaces().len(), 4);
}

#[test]
fn pins_that_do_not_match_the_allocation_are_refused_and_swept() {
    let mut node = NsNode::new();
    let maps = node.maps("a");
    // Pins made with another range (the allocation changed since).
    let other = PodIdMaps {
        uid_map: podns_core::IdMap::parse("0 196608 65536").unwrap(),
        gid_map: podns_core::IdMap::parse("0 196608 65536").unwrap(),
    };
    node.run(NsRequest::Create {
        pod: pod("a"),
        maps: other,
    })
    .unwrap();
    let error = node
        .run(NsRequest::Create {
            pod: pod("a"),
            maps,
        })
        .unwrap_err();
    assert_eq!(error.kind(), "pins-mismatch");
    assert!(
        error
            .to_string()
            .contains("the UID map is `0 196608 65536`, not the pod's `0 65536 65536`"),
        "{error}"
    );
    // Left alone by the create (a sandbox may use them), removed by a sweep.
    assert_eq!(node.pinned_pods(), BTreeSet::from(["a".to_owned()]));
    let report = node.sweep(&["a"]);
    assert!(
        matches!(report.swept[0].reason, podns_core::SweepReason::Mismatch(_)),
        "{report:?}"
    );
    assert!(node.pinned_pods().is_empty());
    node.create("a").unwrap();
    node.assert_clean();
}

#[test]
fn a_failed_run_dir_set_up_fails_the_request_and_is_retried() {
    let mut node = NsNode::new();
    let maps = node.maps("a");
    let next = node.backend.executed();
    node.backend.fail_nth(next, Errno::EACCES);
    let error = node
        .run(NsRequest::Create {
            pod: pod("a"),
            maps: maps.clone(),
        })
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot set up the run directory /run/podns:"),
        "{error}"
    );
    assert!(!node.ns().is_run_dir_ready());
    node.run(NsRequest::Create {
        pod: pod("a"),
        maps,
    })
    .unwrap();
    assert!(node.ns().is_run_dir_ready());
    node.assert_clean();
}

#[test]
fn list_shows_every_pod_directory_and_its_pins() {
    let mut node = NsNode::new();
    node.create("a").unwrap();
    node.backend.fs_mut().plant(
        &RootPath {
            root: Root::Run,
            path: podns_core::RelPath::parse("b/net").unwrap(),
        },
        Node::unsynced_file(Vec::new()),
    );
    let Ok(NsResponse::Listed(listing)) = node.run(NsRequest::List) else {
        panic!("list failed");
    };
    assert_eq!(listing.pods.len(), 2);
    let (a, b) = (&listing.pods[0], &listing.pods[1]);
    assert_eq!(a.incomplete, None);
    assert!(a.net_ns.is_some() && a.user_ns.is_some());
    assert_eq!(b.net_pin, "/run/podns/b/net");
    assert_eq!(b.net_ns, None);
    assert!(
        b.incomplete
            .as_deref()
            .unwrap()
            .contains("net pin is not an nsfs mount")
    );
}

#[test]
fn a_create_after_a_crashed_create_repairs_what_it_left() {
    let total = effects_of_a_fresh_create();
    for budget in 0..total {
        let mut node = NsNode::new();
        let maps = node.maps("b");
        // The run directory is set up first: one more effect.
        let outcome = node.run_bounded(
            NsRequest::Create {
                pod: pod("b"),
                maps: maps.clone(),
            },
            budget + 1,
        );
        assert!(outcome.is_none());
        node.restart_after(CrashKind::ProcessKill);
        let pins = created(node.run(NsRequest::Create {
            pod: pod("b"),
            maps,
        }));
        assert!(pins.created, "at {budget}");
        node.assert_clean();
    }
}
