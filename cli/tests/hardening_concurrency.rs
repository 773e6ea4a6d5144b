//! Concurrency across real processes: parallel CLI processes on one pods
//! directory never hand out one range twice, never lose an allocation, and a
//! process killed while it holds the lock does not block the next one.
//!
//! `PODNS_HARDEN_OPS` sets the operations per process (default 200).

mod common;

use std::collections::BTreeMap;

use common::{
    Node, Pause, Range, allocations, assert_disjoint, podns_command, range_of, run, spawn_paused,
};

const PROCESSES: usize = 8;

#[test]
fn eight_processes_allocating_and_releasing_never_collide() {
    let ops: usize = std::env::var("PODNS_HARDEN_OPS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200);
    let node = Node::new();
    let workers: Vec<_> = (0..PROCESSES)
        .map(|worker| {
            let pods = node.pods();
            std::thread::spawn(move || {
                // Allocate pods one after another and release every other
                // one, so allocations and releases interleave across
                // processes.
                let mut kept = BTreeMap::new();
                for op in 0..ops {
                    let pod = format!("w{worker}-p{}", op / 2);
                    let command = if op % 4 == 3 { "release" } else { "alloc" };
                    let mut invocation = podns_command(&["--pods-dir"]);
                    invocation.arg(&pods).args([command, &pod]);
                    let output = run(invocation);
                    output.assert_code(0);
                    let value: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
                    if command == "alloc" {
                        let range = range_of(&value);
                        if let Some(previous) = kept.insert(pod.clone(), range) {
                            assert_eq!(previous, range, "{pod} changed range");
                        }
                    } else {
                        assert_eq!(value["released"], true, "{pod}: {value}");
                        kept.remove(&pod);
                    }
                }
                kept
            })
        })
        .collect();
    let mut expected: BTreeMap<String, Range> = BTreeMap::new();
    for worker in workers {
        expected.extend(worker.join().expect("a worker panicked"));
    }
    let list = node.list();
    let live: BTreeMap<String, Range> = allocations(&list)
        .into_iter()
        .map(|(pod, value)| (pod, range_of(&value)))
        .collect();
    assert_eq!(
        live, expected,
        "the node's allocations differ from what was acknowledged"
    );
    assert_disjoint(&live.values().copied().collect::<Vec<_>>());
    println!(
        "{PROCESSES} processes x {ops} operations: {} allocations live, none overlapping",
        live.len()
    );
}

#[test]
fn a_process_killed_while_holding_the_lock_does_not_block_the_next() {
    let node = Node::new();
    node.alloc("first");
    // The holder says it paused once it holds the lock and has run one
    // effect.
    let mut holder = spawn_paused(node.command(&["alloc", "held"]), Pause::AfterEffects(1))
        .unwrap_or_else(|(_, line)| panic!("the holder did not pause: {line:?}"));
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The kernel released the flock with the process: the next one runs.
    let second = range_of(&node.alloc("second"));
    let list = node.list();
    let live = allocations(&list);
    assert!(live.contains_key("first") && live.contains_key("second"));
    assert!(!live.contains_key("held"), "{list}");
    assert_disjoint(&[range_of(&live["first"]), second]);
}
