//! The embedder's `Node` on the real kernel: futures dropped after every
//! number of effects, a node sharing its pods directory with `podns`
//! processes, and what `-v` and a closed stdout do to the CLI.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use common::{NsDirs, Range, allocations, assert_disjoint, podns, podns_command, range_of};
use podns_backend_linux::{
    EffectPhase, LinuxHost, Node as PodnsNode, NodeConfig, PodUid, UsernsOptions, block_on,
};

/// Pauses its host before an exact effect, until the test lets it go.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    executed: u64,
    pause_at: Option<u64>,
    paused: bool,
}

impl Gate {
    fn executed(&self) -> u64 {
        self.state.lock().unwrap().executed
    }

    fn pause_at(&self, index: u64) {
        let mut state = self.state.lock().unwrap();
        state.pause_at = Some(index);
        state.paused = false;
    }

    fn wait_until_paused(&self) {
        let mut state = self.state.lock().unwrap();
        while !state.paused {
            state = self.changed.wait(state).unwrap();
        }
    }

    fn resume(&self) {
        let mut state = self.state.lock().unwrap();
        state.pause_at = None;
        self.changed.notify_all();
    }

    /// Holds the node's thread before the effect the test paused at.
    fn before_effect(&self) {
        let mut state = self.state.lock().unwrap();
        if state.pause_at == Some(state.executed) {
            state.paused = true;
            self.changed.notify_all();
            while state.pause_at.is_some() {
                state = self.changed.wait(state).unwrap();
            }
        }
        state.executed += 1;
    }
}

type GatedNode = PodnsNode<LinuxHost>;

fn pod(uid: &str) -> PodUid {
    PodUid::new(uid).unwrap()
}

fn config(dirs: &NsDirs, namespaces: bool) -> NodeConfig {
    let config = NodeConfig::default().with_pods_dir(&dirs.pods).with_seed(3);
    if namespaces {
        config.with_run_dir(&dirs.run)
    } else {
        config.without_namespaces()
    }
}

fn open_gated(config: &NodeConfig) -> (GatedNode, Arc<Gate>) {
    let (mut host, settings) = LinuxHost::open(config).unwrap();
    let gate = Arc::new(Gate::default());
    let held = Arc::clone(&gate);
    host.set_effect_hook(Box::new(move |phase, _| {
        if phase == EffectPhase::Before {
            held.before_effect();
        }
    }));
    (
        block_on(PodnsNode::with_host(host, settings)).unwrap(),
        gate,
    )
}

/// Polls `future` once, which hands its request to the node's thread.
fn start<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let mut future = Box::pin(future);
    let mut context = Context::from_waker(Waker::noop());
    assert!(matches!(future.as_mut().poll(&mut context), Poll::Pending));
    future
}

/// Temp files anywhere in the pods directory.
fn temp_files(pods: &Path) -> Vec<String> {
    common::snapshot(pods)
        .into_keys()
        .map(|path| path.display().to_string())
        .filter(|path| path.contains(".userns.podns-tmp"))
        .collect()
}

type Operation = for<'n> fn(&'n GatedNode) -> Pin<Box<dyn Future<Output = ()> + Send + 'n>>;
type Setup = fn(&GatedNode);

fn no_setup(_: &GatedNode) {}

fn one_pod(node: &GatedNode) {
    block_on(node.get_or_create_user_namespace(&pod("a"), UsernsOptions::pod_mode())).unwrap();
}

fn pinned_pod(node: &GatedNode) {
    block_on(node.create_pod_namespaces(&pod("a"))).unwrap();
}

fn allocate(node: &GatedNode) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node
            .get_or_create_user_namespace(&pod("a"), UsernsOptions::pod_mode())
            .await;
    })
}

fn release(node: &GatedNode) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node.release(&pod("a")).await;
    })
}

fn cleanup(node: &GatedNode) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node
            .cleanup_orphaned(&BTreeSet::new(), &BTreeSet::new())
            .await;
    })
}

fn create_namespaces(node: &GatedNode) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node.create_pod_namespaces(&pod("a")).await;
    })
}

fn remove_namespaces(node: &GatedNode) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let _ = node.remove_pod_namespaces(&pod("a")).await;
    })
}

/// Drops the future of `operation` after each possible number of its
/// effects on a real directory; returns how many boundaries were tried.
fn drop_at_every_effect(name: &str, namespaces: bool, setup: Setup, operation: Operation) -> u64 {
    let total = {
        let dirs = NsDirs::new();
        let (node, gate) = open_gated(&config(&dirs, namespaces));
        setup(&node);
        let before = gate.executed();
        block_on(operation(&node));
        gate.executed() - before
    };
    assert!(total > 0, "{name}");
    for executed in 0..total {
        let dirs = NsDirs::new();
        let config = config(&dirs, namespaces);
        let (node, gate) = open_gated(&config);
        setup(&node);
        gate.pause_at(gate.executed() + executed);
        let future = start(operation(&node));
        gate.wait_until_paused();
        drop(future);
        gate.resume();
        let next = pod("next");
        block_on(node.get_or_create_user_namespace(&next, UsernsOptions::pod_mode()))
            .unwrap_or_else(|error| panic!("{name} dropped after {executed}: {error}"));
        block_on(node.release(&next)).unwrap();
        let fresh = block_on(PodnsNode::open(config.clone())).unwrap();
        assert_eq!(
            node.allocations(),
            fresh.allocations(),
            "{name} at {executed}"
        );
        assert!(node.problems().is_empty(), "{:?}", node.problems());
        assert_eq!(
            temp_files(&dirs.pods),
            Vec::<String>::new(),
            "{name} at {executed}"
        );
        if namespaces {
            // The request ran to its end: the pod's pins are there or gone
            // exactly as the request says, and removing leaves nothing.
            let listing = block_on(fresh.list_namespaces()).unwrap();
            assert!(
                listing
                    .listing
                    .pods
                    .iter()
                    .all(|pins| pins.incomplete.is_none())
            );
            block_on(fresh.remove_pod_namespaces(&pod("a"))).unwrap();
            dirs.assert_nothing_left(&format!("{name} dropped after {executed}"));
        }
        block_on(node.shutdown());
        block_on(fresh.shutdown());
    }
    total
}

#[test]
fn dropped_futures_leave_nothing_half_done_on_disk() {
    let mut tried = 0;
    tried += drop_at_every_effect("allocate", false, no_setup, allocate);
    tried += drop_at_every_effect("release", false, one_pod, release);
    tried += drop_at_every_effect("cleanup", false, one_pod, cleanup);
    println!("dropped futures at {tried} effect boundaries on disk");
    assert!(tried >= 10, "{tried}");
}

#[test]
fn dropped_namespace_futures_leave_no_pin_behind() {
    if !common::rerun_in_private_mount_namespace("dropped_namespace_futures_leave_no_pin_behind") {
        return;
    }
    let mut tried = 0;
    tried += drop_at_every_effect("create-pod-namespaces", true, no_setup, create_namespaces);
    tried += drop_at_every_effect("remove-pod-namespaces", true, pinned_pod, remove_namespaces);
    println!("dropped namespace futures at {tried} effect boundaries");
    assert!(tried >= 10, "{tried}");
}

/// What a caller was told, per pod: its range while allocated.
type Acknowledged = BTreeMap<String, Range>;

#[test]
fn a_node_and_cli_processes_share_one_pods_dir() {
    const TASKS: usize = 16;
    const TASK_OPS: usize = 40;
    const PROCESSES: usize = 4;
    const PROCESS_OPS: usize = 90;
    let dirs = NsDirs::new();
    let node = Arc::new(block_on(PodnsNode::open(config(&dirs, false))).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let pods_dir = dirs.pods.to_str().unwrap().to_owned();
    let (from_tasks, from_processes) = std::thread::scope(|scope| {
        let processes: Vec<_> = (0..PROCESSES)
            .map(|process| {
                let pods_dir = pods_dir.clone();
                scope.spawn(move || {
                    let mut acknowledged = Acknowledged::new();
                    let mut ops = 0;
                    let mut i = 0;
                    while ops < PROCESS_OPS {
                        let uid = format!("cli{process}-{i}");
                        let output =
                            podns(&["--pods-dir", &pods_dir, "--json", "alloc", &uid]).ok_json();
                        acknowledged.insert(uid.clone(), range_of(&output));
                        ops += 1;
                        if i % 2 == 0 && ops < PROCESS_OPS {
                            podns(&["--pods-dir", &pods_dir, "--json", "release", &uid]).ok_json();
                            acknowledged.remove(&uid);
                            ops += 1;
                        }
                        i += 1;
                    }
                    (acknowledged, ops)
                })
            })
            .collect();
        let tasks = runtime.block_on(async {
            let handles: Vec<_> = (0..TASKS)
                .map(|task| {
                    let node = Arc::clone(&node);
                    tokio::spawn(async move {
                        let mut acknowledged = Acknowledged::new();
                        let mut ops = 0;
                        let mut i = 0;
                        while ops < TASK_OPS {
                            let uid = pod(&format!("task{task}-{i}"));
                            let userns = node
                                .get_or_create_user_namespace(&uid, UsernsOptions::pod_mode())
                                .await
                                .unwrap();
                            let mapping = userns.userns.uid_mappings[0];
                            acknowledged.insert(
                                uid.to_string(),
                                Range {
                                    first: u64::from(mapping.host_id),
                                    len: u64::from(mapping.length),
                                },
                            );
                            ops += 1;
                            if i % 2 == 0 && ops < TASK_OPS {
                                node.release(&uid).await.unwrap();
                                acknowledged.remove(uid.as_str());
                                ops += 1;
                            }
                            i += 1;
                        }
                        (acknowledged, ops)
                    })
                })
                .collect();
            let mut all = Vec::new();
            for handle in handles {
                all.push(handle.await.unwrap());
            }
            all
        });
        let processes: Vec<_> = processes.into_iter().map(|p| p.join().unwrap()).collect();
        (tasks, processes)
    });
    let mut expected = Acknowledged::new();
    let mut ops = 0;
    for (acknowledged, count) in from_tasks.into_iter().chain(from_processes) {
        expected.extend(acknowledged);
        ops += count;
    }
    assert_eq!(ops, TASKS * TASK_OPS + PROCESSES * PROCESS_OPS);
    assert_eq!(ops, 1000);
    // podns list: every acknowledged allocation, with its range, and no
    // overlap or conflict.
    let list = podns(&["--pods-dir", &pods_dir, "--json", "list"]).ok_json();
    common::check_list_shape(&list);
    assert_eq!(list["problems"], serde_json::json!([]), "{list}");
    let listed: Acknowledged = allocations(&list)
        .into_iter()
        .map(|(uid, allocation)| (uid, range_of(&allocation)))
        .collect();
    assert_eq!(listed, expected);
    assert_disjoint(&listed.values().copied().collect::<Vec<_>>());
    // The node sees the same once it re-reads what the processes wrote.
    block_on(node.refresh()).unwrap();
    let seen: Acknowledged = node
        .allocations()
        .into_iter()
        .map(|allocation| {
            (
                allocation.pod.to_string(),
                Range {
                    first: u64::from(allocation.mapping.host_id),
                    len: u64::from(allocation.mapping.length),
                },
            )
        })
        .collect();
    assert_eq!(seen, expected);
    println!(
        "{ops} operations ({} by {TASKS} tasks, {} by {PROCESSES} processes): {} allocations \
         listed, no overlap, no problem",
        TASKS * TASK_OPS,
        PROCESSES * PROCESS_OPS,
        listed.len()
    );
}

#[test]
fn verbose_logs_each_operation_and_each_effect_and_nothing_by_default() {
    let dirs = NsDirs::new();
    let pods = dirs.pods.to_str().unwrap();
    let quiet = podns(&["--pods-dir", pods, "alloc", "p"]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert_eq!(quiet.stderr, "", "nothing on stderr by default");
    let verbose = podns(&["--pods-dir", pods, "-v", "release", "p"]);
    assert_eq!(verbose.code, 0, "{verbose:?}");
    for expected in [
        r#"operation="open""#,
        r#"operation="release""#,
        r#"pod="p""#,
        r#"outcome="ok""#,
    ] {
        assert!(
            verbose.stderr.contains(expected),
            "{expected}: {}",
            verbose.stderr
        );
    }
    assert!(!verbose.stderr.contains("effect="), "{}", verbose.stderr);
    let effects = podns(&["--pods-dir", pods, "-vv", "alloc", "p"]);
    assert!(
        effects.stderr.contains("done effect=create-dir"),
        "{}",
        effects.stderr
    );
    let failing = podns(&[
        "--pods-dir",
        pods,
        "-v",
        "alloc",
        "q",
        "--handler-supports-userns",
        "false",
    ]);
    assert_eq!(failing.code, 1);
    assert!(
        failing
            .stderr
            .contains(r#"outcome="handler-without-userns""#),
        "{}",
        failing.stderr
    );
}

#[test]
fn a_closed_stdout_is_an_error_and_never_a_panic() {
    let dirs = NsDirs::new();
    let (read, write) = std::io::pipe().unwrap();
    drop(read);
    let output = podns_command(&["--pods-dir", dirs.pods.to_str().unwrap(), "alloc", "p"])
        .stdout(std::process::Stdio::from(write))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write the result"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The allocation itself was made.
    let list = podns(&["--pods-dir", dirs.pods.to_str().unwrap(), "--json", "list"]).ok_json();
    assert!(allocations(&list).contains_key("p"));
}
