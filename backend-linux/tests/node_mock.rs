//! The embedder's `Node`, run over the mock machine: what it promises about
//! dropped futures, other processes, kills and power loss, checked at every
//! effect boundary.
//!
//! A future is polled once (which hands its request to the node's thread),
//! the machine pauses that request before effect N, the future is dropped,
//! and the request is let go. Then the next requests must succeed, the
//! node's memory must equal what a fresh node recovers from the disk, and no
//! temp file may be left.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use podns_backend_linux::{Allocation, Node, NodeSettings, PodUid, UsernsOptions, block_on};
use podns_backend_mock::{CrashKind, MockBackend, MockHost, MockMachine};
use podns_core::{ErrorDetails, PoolConfig, Root, RunDirPath};

const RUN: &str = "/run/podns";

fn pod(uid: &str) -> PodUid {
    PodUid::new(uid).unwrap()
}

fn machine() -> MockMachine {
    let mut backend = MockBackend::new();
    backend.set_run_dir(RUN);
    MockMachine::new(backend)
}

/// A node, as a new process on `machine`.
fn open(machine: &MockMachine, seed: u64) -> Node<MockHost> {
    let settings = NodeSettings::new(
        PoolConfig::default().validate().unwrap(),
        seed,
        Some(RunDirPath::new(RUN).unwrap()),
    );
    block_on(Node::with_host(machine.host(), settings)).unwrap()
}

/// Polls `future` once: its request is queued on the node's thread.
fn start<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let mut future = Box::pin(future);
    let mut context = Context::from_waker(Waker::noop());
    assert!(
        matches!(future.as_mut().poll(&mut context), Poll::Pending),
        "the request cannot be answered before the node's thread runs it"
    );
    future
}

/// What a node that starts now recovers from the disk.
fn on_disk(machine: &MockMachine) -> Vec<Allocation> {
    let fresh = open(machine, 99);
    let allocations = fresh.allocations();
    block_on(fresh.shutdown());
    allocations
}

fn temp_files(machine: &MockMachine) -> Vec<String> {
    machine.with_backend(|backend| {
        backend
            .fs()
            .tree(Root::Pods)
            .into_iter()
            .map(|(path, _)| path)
            .filter(|path| path.contains(".userns.podns-tmp"))
            .collect()
    })
}

/// The number of effects `operation` runs on a node whose pods `setup`
/// prepared.
/// A request on a node, its result ignored.
type Operation = for<'n> fn(&'n Node<MockHost>) -> Pin<Box<dyn Future<Output = ()> + Send + 'n>>;

/// What a pod needs before the operation.
type Setup = fn(&Node<MockHost>);

fn effects_of(setup: Setup, operation: Operation) -> u64 {
    let machine = machine();
    let node = open(&machine, 1);
    setup(&node);
    let before = machine.executed();
    block_on(operation(&node));
    machine.executed() - before
}

/// Drops the future of `operation` after each possible number of its
/// effects, and checks what the node promises.
fn drop_at_every_effect(name: &str, setup: Setup, operation: Operation) -> u64 {
    let total = effects_of(setup, operation);
    assert!(total > 0, "{name} runs effects");
    for executed in 0..total {
        let machine = machine();
        let node = open(&machine, 1);
        setup(&node);
        machine.pause_at(machine.executed() + executed);
        let future = start(operation(&node));
        machine.wait_until_paused();
        drop(future);
        machine.resume();
        // The node is not wedged: a new pod gets a range and can give it back.
        let next =
            block_on(node.get_or_create_user_namespace(&pod("next"), UsernsOptions::pod_mode()))
                .unwrap_or_else(|error| panic!("{name} dropped after {executed}: {error}"));
        assert!(!next.userns.uid_mappings.is_empty());
        block_on(node.release(&pod("next"))).unwrap();
        // Memory and disk agree, and nothing is left half-done.
        assert_eq!(
            node.allocations(),
            on_disk(&machine),
            "{name} dropped after {executed}"
        );
        assert!(node.problems().is_empty(), "{name}: {:?}", node.problems());
        assert_eq!(
            temp_files(&machine),
            Vec::<String>::new(),
            "{name} at {executed}"
        );
        assert_eq!(
            node.free() + node.allocations().len() as u32,
            node.capacity()
        );
        block_on(node.shutdown());
    }
    total
}

fn alloc(node: &Node<MockHost>, uid: &str) -> Allocation {
    block_on(node.get_or_create_user_namespace(&pod(uid), UsernsOptions::pod_mode())).unwrap();
    node.allocation(&pod(uid)).unwrap()
}

fn no_setup(_: &Node<MockHost>) {}

fn one_pod(node: &Node<MockHost>) {
    alloc(node, "a");
}

fn pinned_pod(node: &Node<MockHost>) {
    block_on(node.create_pod_namespaces(&pod("a"))).unwrap();
}

fn allocate(node: &Node<MockHost>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node
            .get_or_create_user_namespace(&pod("a"), UsernsOptions::pod_mode())
            .await;
    })
}

fn release(node: &Node<MockHost>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node.release(&pod("a")).await;
    })
}

fn cleanup(node: &Node<MockHost>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node
            .cleanup_orphaned(&BTreeSet::new(), &BTreeSet::new())
            .await;
    })
}

fn create_namespaces(node: &Node<MockHost>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node.create_pod_namespaces(&pod("a")).await;
    })
}

fn remove_namespaces(node: &Node<MockHost>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node.remove_pod_namespaces(&pod("a")).await;
    })
}

#[test]
fn a_dropped_future_never_leaves_the_node_or_the_disk_half_done() {
    let mut tried = 0;
    tried += drop_at_every_effect("allocate", no_setup, allocate);
    tried += drop_at_every_effect("release", one_pod, release);
    tried += drop_at_every_effect("cleanup", one_pod, cleanup);
    tried += drop_at_every_effect("create-pod-namespaces", no_setup, create_namespaces);
    tried += drop_at_every_effect("remove-pod-namespaces", pinned_pod, remove_namespaces);
    println!("dropped futures at {tried} effect boundaries");
    assert!(tried >= 20, "{tried}");
}

#[test]
fn a_request_whose_future_is_dropped_before_it_starts_never_runs() {
    let machine = machine();
    let node = open(&machine, 1);
    machine.pause_at(machine.executed());
    let (first_pod, second_pod) = (pod("first"), pod("second"));
    let first = start(node.get_or_create_user_namespace(&first_pod, UsernsOptions::pod_mode()));
    machine.wait_until_paused();
    // Queued behind the paused request, then dropped.
    let second = start(node.get_or_create_user_namespace(&second_pod, UsernsOptions::pod_mode()));
    drop(second);
    machine.resume();
    let first = block_on(first).unwrap();
    assert_eq!(first.pod, pod("first"));
    assert!(node.allocation(&pod("second")).is_none());
    assert_eq!(
        on_disk(&machine)
            .iter()
            .map(|a| a.pod.as_str().to_owned())
            .collect::<Vec<_>>(),
        ["first"]
    );
}

#[test]
fn two_nodes_on_one_disk_never_hand_out_one_range_twice() {
    let machine = machine();
    let left = open(&machine, 5);
    // The same seed: left alone, both would pick the same first slot.
    let right = open(&machine, 5);
    let a = alloc(&left, "a");
    let b = alloc(&right, "b");
    assert_ne!(a.range, b.range);
    assert!(a.range.end() <= b.range.first || b.range.end() <= a.range.first);
    // Each sees the other's range once it asks again.
    assert!(left.allocation(&pod("b")).is_none(), "getters do no I/O");
    assert!(block_on(left.refresh()).unwrap());
    assert_eq!(left.allocation(&pod("b")).map(|b| b.range), Some(b.range));
    assert!(!block_on(left.refresh()).unwrap(), "nothing changed since");
    // A release by one is seen by the other.
    block_on(right.release(&pod("a"))).unwrap();
    block_on(left.refresh()).unwrap();
    assert!(left.allocation(&pod("a")).is_none());
    // Many requests interleaved from two threads, then one view.
    std::thread::scope(|scope| {
        for (node, name) in [(&left, "l"), (&right, "r")] {
            scope.spawn(move || {
                for i in 0..40 {
                    let uid = format!("{name}{i}");
                    alloc(node, &uid);
                    if i % 3 == 0 {
                        block_on(node.release(&pod(&uid))).unwrap();
                    }
                }
            });
        }
    });
    let all = on_disk(&machine);
    assert_eq!(all.len(), 1 + 2 * (40 - 14));
    for (index, one) in all.iter().enumerate() {
        for other in &all[index + 1..] {
            assert!(
                one.range.end() <= other.range.first || other.range.end() <= one.range.first,
                "{one:?} overlaps {other:?}"
            );
        }
    }
}

#[test]
fn a_node_killed_at_any_effect_loses_nothing_acknowledged() {
    let steps = effects_of(no_setup, create_namespaces);
    for crash in [CrashKind::ProcessKill, CrashKind::PowerLoss] {
        for at in 0..steps {
            let machine = machine();
            let node = open(&machine, 1);
            let kept = alloc(&node, "kept");
            machine.kill_at(machine.executed() + at);
            let error = block_on(node.create_pod_namespaces(&pod("a"))).unwrap_err();
            assert_eq!(error.errno(), Some(podns_core::Errno::EIO), "{error}");
            block_on(node.shutdown());
            machine.crash(crash);
            let restarted = open(&machine, 2);
            assert_eq!(
                restarted.allocation(&pod("kept")).map(|a| a.range),
                Some(kept.range),
                "{crash:?} at {at}"
            );
            assert!(
                restarted.problems().is_empty(),
                "{:?}",
                restarted.problems()
            );
            // Whatever was left, sweeping and creating again work.
            let keep = BTreeSet::from([pod("kept"), pod("a")]);
            let report = block_on(restarted.sweep(&keep)).unwrap();
            assert!(report.failures.is_empty(), "{report:?}");
            let sandbox = block_on(restarted.create_pod_namespaces(&pod("a"))).unwrap();
            assert_ne!(sandbox.userns.userns.uid_mappings, vec![kept.mapping]);
            assert_eq!(temp_files(&machine), Vec::<String>::new());
        }
    }
}

#[test]
fn kubelet_rules_and_typed_errors() {
    let machine = machine();
    let node = open(&machine, 1);
    // hostUsers unset or true: NODE mode, no range.
    for host_users in [None, Some(true)] {
        let options = UsernsOptions {
            host_users,
            ..UsernsOptions::pod_mode()
        };
        let userns = block_on(node.get_or_create_user_namespace(&pod("n"), options)).unwrap();
        assert_eq!(userns.userns.mode, podns_core::NamespaceMode::Node);
    }
    // A handler without user namespaces is an error naming it.
    let options = UsernsOptions {
        host_users: Some(false),
        runtime_handler: "kata".to_owned(),
        handler_supports_userns: false,
    };
    let error = block_on(node.get_or_create_user_namespace(&pod("p"), options)).unwrap_err();
    assert_eq!(error.kind(), "handler-without-userns");
    assert!(error.to_string().contains("kata"), "{error}");
    assert!(!error.is_retryable());
    // An I/O failure carries its errno and path, and says whether to retry.
    let next = machine.executed();
    // Effect 2 of a new pod's allocation writes its temp file.
    machine.with_backend(|backend| backend.fail_nth(next + 2, podns_core::Errno::EIO));
    let error = block_on(node.get_or_create_user_namespace(&pod("p"), UsernsOptions::pod_mode()))
        .unwrap_err();
    assert_eq!(error.kind(), "io");
    assert_eq!(error.errno(), Some(podns_core::Errno::EIO));
    assert!(error.is_retryable());
    assert!(
        error.path().is_some_and(|path| path.contains("/p/")),
        "{error:?}"
    );
    // Retrying does succeed, and cleanup keeps the union of kubelet's sets.
    alloc(&node, "p");
    alloc(&node, "running");
    alloc(&node, "orphan");
    let report = block_on(node.cleanup_orphaned(
        &BTreeSet::from([pod("p")]),
        &BTreeSet::from([pod("running")]),
    ))
    .unwrap();
    let released: Vec<&str> = report.released.iter().map(|r| r.pod.as_str()).collect();
    assert_eq!(released, ["orphan"]);
    assert!(report.failures.is_empty());
    // A join spec for a pod that was never pinned names what to do.
    let error = block_on(node.join_spec(&pod("p"), podns_core::PidMode::Pod, None)).unwrap_err();
    assert_eq!(error.kind(), "not-pinned", "{error}");
    let error =
        block_on(node.join_spec(&pod("never"), podns_core::PidMode::Pod, None)).unwrap_err();
    assert_eq!(error.kind(), "not-allocated", "{error}");
}

#[test]
fn node_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Node<MockHost>>();
    assert_send_sync::<Node>();
    // Its futures can be spawned on a multi-threaded executor.
    fn assert_send<T: Send>(_: &T) {}
    let machine = machine();
    let node = open(&machine, 1);
    let x = pod("x");
    let future = node.get_or_create_user_namespace(&x, UsernsOptions::pod_mode());
    assert_send(&future);
    drop(future);
}
