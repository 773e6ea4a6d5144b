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

use podns_backend_mock::{CrashKind, MockBackend, Node};
use podns_core::{
    AllocationPolicy, Effect, Errno, ErrorDetails, GetOrCreate, NamespaceEngine, NamespaceKind,
    NodeEngine, NodeError, NodeRequest, NodeResponse, NsError, NsRequest, NsResponse, PinKind,
    PodIdMaps, PodSandbox, PodUid, PoolConfig, Request, Response, Root, RootPath, RunDirPath,
    UsernsEngine, drive, drive_bounded, pin_path,
};
use podns_tests::{describe_all, pod};

const RUN: &str = "/run/podns";

/// A node engine over a mock backend: its flows set pods up, and its
/// namespace engine is also driven directly, with maps of the test's.
struct NsNode {
    backend: MockBackend,
    engine: NodeEngine,
}

fn node_engine() -> NodeEngine {
    let userns = UsernsEngine::new(
        PoolConfig::default().validate().unwrap(),
        7,
        AllocationPolicy::LowestFree,
    );
    NodeEngine::new(userns, Some(RunDirPath::new(RUN).unwrap()))
}

impl NsNode {
    fn new() -> Self {
        let mut backend = MockBackend::new();
        backend.set_run_dir(RUN);
        let mut node = Self {
            backend,
            engine: node_engine(),
        };
        node.recover();
        node
    }

    fn request(&mut self, request: NodeRequest) -> Result<NodeResponse, NodeError> {
        pollster::block_on(drive(&mut self.engine, &mut self.backend, request))
    }

    fn recover(&mut self) {
        self.request(NodeRequest::Userns(Request::Recover))
            .expect("recovery succeeds");
    }

    /// The pod's range (allocated if needed), as maps.
    fn maps(&mut self, uid: &str) -> PodIdMaps {
        let request = Request::GetOrCreate(GetOrCreate::pod_mode(pod(uid)));
        match self.request(NodeRequest::Userns(request)) {
            Ok(NodeResponse::Userns(Response::UserNamespace(userns))) => {
                PodIdMaps::from_userns(&userns.userns).unwrap()
            }
            other => panic!("alloc {uid}: {other:?}"),
        }
    }

    fn release(&mut self, uid: &str) {
        let request = Request::Release { pod: pod(uid) };
        self.request(NodeRequest::Userns(request)).unwrap();
    }

    fn ns(&mut self) -> &mut NamespaceEngine {
        self.engine
            .namespaces_mut()
            .expect("the node has a run directory")
    }

    /// A namespace request with maps of the test's, on the namespace
    /// engine itself.
    fn run(&mut self, request: NsRequest) -> Result<NsResponse, NsError> {
        let ns = self.engine.namespaces_mut().expect("a run directory");
        pollster::block_on(drive(ns, &mut self.backend, request))
    }

    /// Runs `request` until it completes or `budget` effects have run;
    /// `None` when the budget ran out first (the process "crashes" there).
    fn run_bounded(
        &mut self,
        request: NsRequest,
        budget: usize,
    ) -> Option<Result<NsResponse, NsError>> {
        let ns = self.engine.namespaces_mut().expect("a run directory");
        pollster::block_on(drive_bounded(ns, &mut self.backend, request, budget))
    }

    /// The effects executed since the log was last taken, one line each.
    fn take_effects(&mut self) -> Vec<String> {
        describe_all(&self.backend.take_log())
    }

    /// The node's own flow: allocate, then create the namespaces.
    fn create(&mut self, uid: &str) -> Result<PodSandbox, NodeError> {
        match self.request(NodeRequest::CreatePodNamespaces { pod: pod(uid) })? {
            NodeResponse::PodNamespaces(sandbox) => Ok(*sandbox),
            other => panic!("create {uid}: {other:?}"),
        }
    }

    fn allocations(&self) -> BTreeMap<PodUid, PodIdMaps> {
        self.engine.allocation_maps()
    }

    fn sweep(&mut self, keep: &[&str]) -> podns_core::SweepReport {
        let keep = keep.iter().map(|uid| pod(uid)).collect();
        match self.request(NodeRequest::SweepNamespaces { keep }) {
            Ok(NodeResponse::Swept(report)) => report,
            other => panic!("sweep: {other:?}"),
        }
    }

    /// Ends the process and starts fresh engines, which recover.
    fn restart_after(&mut self, crash: CrashKind) {
        self.backend.crash(crash);
        self.engine = node_engine();
        self.recover();
    }

    /// Pods with at least one pin.
    fn pinned_pods(&self) -> BTreeSet<String> {
        self.backend
            .pins()
            .keys()
            .map(|path| path.path.first_component().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every path under the run directory.
    fn run_tree(&self) -> Vec<String> {
        self.backend
            .fs()
            .tree(Root::Run)
            .into_iter()
            .map(|(path, _)| path)
            .collect()
    }

    /// The (net, user) inodes of a pod's pins.
    fn pin_inodes(&self, uid: &str) -> Option<(u64, u64)> {
        let pins = self.backend.pins();
        Some((
            *pins.get(&pin_path(&pod(uid), PinKind::Net))?,
            *pins.get(&pin_path(&pod(uid), PinKind::User))?,
        ))
    }

    /// The invariants that hold after any sweep: each pinned pod has one
    /// complete pair (a network namespace owned by the pinned user
    /// namespace, with the pod's maps), the run directory holds exactly the
    /// pinned pods' directories and pins, and no namespace is unpinned.
    fn assert_clean(&self) {
        let pinned = self.pinned_pods();
        let allocations = self.allocations();
        let namespaces = self.backend.namespaces().namespaces();
        let mut expected_tree = Vec::new();
        for uid in &pinned {
            let (net, user) = self
                .pin_inodes(uid)
                .unwrap_or_else(|| panic!("{uid} has half a pair: {:?}", self.backend.pins()));
            assert_eq!(namespaces[&net].kind, NamespaceKind::Net);
            assert_eq!(namespaces[&user].kind, NamespaceKind::User);
            assert_eq!(namespaces[&net].owner, Some(user), "{uid}");
            let maps = &allocations[&pod(uid)];
            assert_eq!(namespaces[&user].uid_map, maps.uid_map, "{uid}");
            expected_tree.extend([uid.clone(), format!("{uid}/net"), format!("{uid}/user")]);
        }
        assert_eq!(self.run_tree(), expected_tree, "pins: {pinned:?}");
        assert_eq!(namespaces.len(), 2 * pinned.len(), "{namespaces:?}");
    }
}

fn created(result: Result<NsResponse, NsError>) -> podns_core::PodNamespaces {
    match result {
        Ok(NsResponse::Created(pins)) => pins,
        other => panic!("create: {other:?}"),
    }
}

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
fn a_create_makes_a_checked_pair_and_is_idempotent() {
    let mut node = NsNode::new();
    let maps = node.maps("a");
    node.backend.take_log();
    let first = created(node.run(NsRequest::Create {
        pod: pod("a"),
        maps: maps.clone(),
    }));
    let effects = node.take_effects();
    assert_eq!(
        effects,
        [
            "set-up-run-dir <run>",
            "list-dir <run>/a",
            "create-dir <run>/a mode=755",
            "create-pin-file <run>/a/net",
            "create-pin-file <run>/a/user",
            "create-pod-namespaces a net=<run>/a/net user=<run>/a/user uid_map=[0 65536 65536] \
             gid_map=[0 65536 65536]",
        ]
    );
    assert!(first.created);
    assert_eq!(first.net_pin, "/run/podns/a/net");
    assert_eq!(first.user_pin, "/run/podns/a/user");
    assert_eq!(first.facts.net_owner, first.facts.user);
    node.assert_clean();

    // Again: the existing pair is checked and returned, nothing is created.
    let again = created(node.run(NsRequest::Create {
        pod: pod("a"),
        maps,
    }));
    let effects = node.take_effects();
    assert_eq!(
        effects,
        [
            "list-dir <run>/a",
            "read-mount-info",
            "inspect-pod-namespaces net=<run>/a/net user=<run>/a/user",
        ]
    );
    assert!(!again.created);
    assert_eq!(again.facts, first.facts);

    // Remove: detach both, unlink both, rmdir.
    let removed = node.run(NsRequest::Remove { pod: pod("a") }).unwrap();
    assert!(matches!(
        removed,
        NsResponse::Removed(ref removal) if removal.removed && removal.unmounted == 2
    ));
    let effects = node.take_effects();
    assert_eq!(
        effects,
        [
            "read-mount-info",
            "detach-mount <run>/a/user",
            "detach-mount <run>/a/net",
            "remove-file <run>/a/net",
            "remove-file <run>/a/user",
            "remove-dir <run>/a",
        ]
    );
    node.assert_clean();
    assert!(node.run_tree().is_empty());
    // Removing again is a no-op.
    let again = node.run(NsRequest::Remove { pod: pod("a") }).unwrap();
    assert!(matches!(again, NsResponse::Removed(ref r) if !r.removed));
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
    // From the failing effect on: the five before it are set-up to the
    // second pin file, as above.
    let log = describe_all(&node.backend.log()[5..]);
    assert_eq!(
        log,
        [
            "create-pod-namespaces b net=<run>/b/net user=<run>/b/user uid_map=[0 65536 65536] \
             gid_map=[0 65536 65536]",
            "detach-mount <run>/b/net",
            "detach-mount <run>/b/user",
            "remove-file <run>/b/user",
            "remove-file <run>/b/net",
            "remove-dir <run>/b",
        ]
    );
    node.assert_clean();
    assert!(node.pinned_pods().is_empty());
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
        Node::File {
            data: Vec::new(),
            durable_data: Vec::new(),
        },
    );
    node.backend.fs_mut().plant(
        &RootPath {
            root: Root::Run,
            path: podns_core::RelPath::parse("not-a-pod-dir").unwrap(),
        },
        Node::File {
            data: b"x".to_vec(),
            durable_data: b"x".to_vec(),
        },
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
        Node::File {
            data: Vec::new(),
            durable_data: Vec::new(),
        },
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
    // Half a pair left by a helper that failed between its mounts (and a
    // process killed before the rollback): the next create clears it first.
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
    let effects = node.take_effects();
    assert_eq!(
        &effects[..6],
        [
            "set-up-run-dir <run>",
            "list-dir <run>/b",
            "read-mount-info",
            "detach-mount <run>/b/net",
            "remove-file <run>/b/net",
            "remove-file <run>/b/user",
        ]
    );
    node.assert_clean();
}
