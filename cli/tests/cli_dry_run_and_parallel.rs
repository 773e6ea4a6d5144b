//! `--dry-run` changes nothing on disk; concurrent processes on one pods
//! directory never hand out overlapping ranges.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{
    EXIT_FAILED, Node, Range, allocations, assert_disjoint, names, podns, range_of, snapshot,
};
use serde_json::{Value, json};

/// Checks the shape of a dry-run document and returns its effect strings.
fn dry_run_effects(output: &Value) -> Vec<String> {
    assert_eq!(output["dryRun"], true, "{output}");
    let effects = output["effects"]
        .as_array()
        .unwrap_or_else(|| panic!("no effects: {output}"));
    effects
        .iter()
        .map(|planned| {
            assert!(planned["simulated"].is_boolean(), "{output}");
            planned["effect"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn has_effect(effects: &[String], name: &str) -> bool {
    effects.iter().any(|effect| effect.starts_with(name))
}

#[test]
fn dry_runs_leave_the_disk_byte_for_byte_untouched() {
    let node = Node::new();
    let a = node.alloc("a");
    let b = node.alloc("b");
    node.alloc("gone");
    node.run(&["release", "gone"]).ok_json();
    // A stale temporary file, which a real recovery would remove.
    let stale = node.pods().join("b").join(".userns.podns-tmp.9");
    std::fs::write(&stale, b"half-written").unwrap();
    let before = snapshot(&node.pods());
    assert!(before.contains_key(&PathBuf::from("b/.userns.podns-tmp.9")));
    let check = |what: &str| assert_eq!(snapshot(&node.pods()), before, "{what} changed the disk");

    // alloc of a new pod: would write its file.
    let output = node.run(&["--json", "--dry-run", "alloc", "c"]).ok_json();
    check("dry-run alloc c");
    let effects = dry_run_effects(&output);
    assert!(has_effect(&effects, "write-new-file"), "{output}");
    assert!(has_effect(&effects, "rename"), "{output}");
    assert!(
        effects
            .iter()
            .any(|effect| effect.contains(".userns.podns-tmp.9")),
        "the stale temp file would be removed: {output}"
    );
    assert!(output.get("error").is_none(), "{output}");
    let result = &output["result"];
    assert_eq!(result["pod"], "c");
    assert_eq!(result["mode"], "POD");
    let c = range_of(result);
    assert!(!c.overlaps(range_of(&a)) && !c.overlaps(range_of(&b)));
    assert!(!node.pods().join("c").exists());

    // alloc of an existing pod: would write nothing, prints what alloc prints.
    let output = node.run(&["--dry-run", "alloc", "a"]).ok_json();
    check("dry-run alloc a");
    assert!(
        !has_effect(&dry_run_effects(&output), "write-new-file"),
        "{output}"
    );
    assert_eq!(output["result"], a);

    // NODE mode.
    let output = node
        .run(&["--dry-run", "alloc", "n", "--host-users", "true"])
        .ok_json();
    check("dry-run alloc --host-users true");
    assert_eq!(output["result"], json!({"pod": "n", "mode": "NODE"}));

    // release: would remove a's file.
    let output = node.run(&["--dry-run", "release", "a"]).ok_json();
    check("dry-run release a");
    assert!(
        has_effect(&dry_run_effects(&output), "remove-file"),
        "{output}"
    );
    assert_eq!(
        output["result"],
        json!({"pod": "a", "released": true, "uidMappings": a["uidMappings"]})
    );
    let output = node.run(&["--dry-run", "release", "ghost"]).ok_json();
    check("dry-run release ghost");
    assert_eq!(output["result"], json!({"pod": "ghost", "released": false}));

    // cleanup: would release a only.
    let output = node.run(&["--dry-run", "cleanup", "--keep", "b"]).ok_json();
    check("dry-run cleanup");
    dry_run_effects(&output);
    let released: Vec<&str> = output["result"]["released"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["pod"].as_str().unwrap())
        .collect();
    assert_eq!(released, ["a"], "{output}");
    assert_eq!(output["result"]["failures"], json!([]));

    // list.
    let output = node.run(&["--dry-run", "list"]).ok_json();
    check("dry-run list");
    let listed: Vec<String> = allocations(&output["result"]).into_keys().collect();
    assert_eq!(listed, ["a", "b"]);

    // A real run agrees with a dry run of the same seed.
    let dry = node
        .run(&["--seed", "7", "--dry-run", "alloc", "c"])
        .ok_json();
    check("dry-run alloc c --seed 7");
    let real = node.run(&["--seed", "7", "alloc", "c"]).ok_json();
    assert_eq!(dry["result"], real, "the dry run predicted the real result");
    assert!(
        !stale.exists(),
        "the real run's recovery removed the temp file"
    );
}

#[test]
fn a_dry_run_that_fails_reports_the_error_and_changes_nothing() {
    let node = Node::with_options(&["--id-count", "65536", "--max-pods", "1"]);
    node.alloc("only");
    let before = snapshot(&node.pods());
    let run = node.run(&["--json", "--dry-run", "alloc", "second"]);
    let message = run.assert_failure(EXIT_FAILED, "pool-exhausted");
    let output = run.stdout_json();
    dry_run_effects(&output);
    assert_eq!(output["error"], message.as_str(), "{output}");
    assert!(output.get("result").is_none(), "{output}");
    assert_eq!(snapshot(&node.pods()), before);
}

#[test]
fn a_dry_run_does_not_create_a_missing_pods_dir() {
    let node = Node::new();
    let pods = node.temp.path().join("missing").join("pods");
    let pods_arg = pods.to_str().unwrap().to_owned();
    let commands: [&[&str]; 5] = [
        &["alloc", "p"],
        &["alloc", "p", "--format", "oci"],
        &["release", "p"],
        &["cleanup", "--keep", "q"],
        &["list"],
    ];
    for command in commands {
        let mut args = vec!["--pods-dir", &pods_arg, "--json", "--dry-run"];
        args.extend(command);
        let output = podns(&args).ok_json();
        let effects = dry_run_effects(&output);
        assert!(
            names(node.temp.path()).is_empty(),
            "{command:?} created {:?}",
            names(node.temp.path())
        );
        match command[0] {
            "alloc" => assert!(has_effect(&effects, "write-new-file"), "{output}"),
            "release" => assert_eq!(output["result"], json!({"pod": "p", "released": false})),
            "cleanup" => assert_eq!(output["result"], json!({"released": [], "failures": []})),
            _ => {
                assert_eq!(output["result"]["allocations"], json!([]));
                assert_eq!(output["result"]["free"], 65534);
            }
        }
    }
    assert!(!pods.exists());
}

const WORKERS: usize = 8;
const LOWEST_FREE: [&str; 2] = ["--policy", "lowest-free"];
const PODS_PER_WORKER: usize = 25;

/// Runs `work(worker)` on `WORKERS` threads at once and collects the results.
fn on_workers<T: Send>(work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = (0..WORKERS)
            .map(|worker| scope.spawn(move || work(worker)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    })
}

fn pod_name(worker: usize, index: usize) -> String {
    format!("w{worker}-pod-{index:02}")
}

#[test]
fn concurrent_processes_allocate_and_release_without_overlap() {
    let node = Node::new();
    std::fs::create_dir(node.pods()).unwrap();

    // 8 threads, each running 25 podns processes one after another. With
    // lowest-free every process wants the same slot: only the lock keeps
    // them apart.
    let allocated: BTreeMap<String, Value> = on_workers(|worker| {
        (0..PODS_PER_WORKER)
            .map(|index| {
                let pod = pod_name(worker, index);
                let output = node.alloc_with(&pod, &LOWEST_FREE);
                (pod, output)
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(allocated.len(), WORKERS * PODS_PER_WORKER);

    let list = node.list();
    assert_eq!(list["problems"], json!([]), "{list}");
    let listed = allocations(&list);
    assert_eq!(listed.len(), WORKERS * PODS_PER_WORKER);
    let mut ranges: Vec<Range> = Vec::new();
    for (pod, output) in &allocated {
        let entry = &listed[pod];
        assert_eq!(range_of(entry), range_of(output), "{pod}");
        ranges.push(range_of(entry));
    }
    assert_disjoint(&ranges);
    // Exactly the lowest 200 slots.
    ranges.sort();
    let expected: Vec<Range> = (0..(WORKERS * PODS_PER_WORKER) as u64)
        .map(|slot| Range {
            first: 65536 * (slot + 1),
            len: 65536,
        })
        .collect();
    assert_eq!(ranges, expected);
    assert_eq!(list["free"], 65534 - (WORKERS * PODS_PER_WORKER) as u64);
    // No temporary file survived anywhere.
    for (path, _) in snapshot(&node.pods()) {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            !name.starts_with(".userns.podns-tmp."),
            "{path:?} left behind"
        );
    }

    // 8 threads releasing their own pods, concurrently.
    let released = on_workers(|worker| {
        (0..PODS_PER_WORKER)
            .map(|index| {
                let pod = pod_name(worker, index);
                let output = node.run(&["release", &pod]).ok_json();
                (pod, output)
            })
            .collect::<Vec<_>>()
    });
    for (pod, output) in released.into_iter().flatten() {
        assert_eq!(output["released"], true, "{output}");
        assert_eq!(
            output["uidMappings"], allocated[&pod]["uidMappings"],
            "{pod}"
        );
        assert!(!node.userns(&pod).exists(), "{pod}'s file is gone");
    }
    let list = node.list();
    assert_eq!(list["allocations"], json!([]), "{list}");
    assert_eq!(list["problems"], json!([]), "{list}");
    assert_eq!(list["free"], 65534);
}

/// Lists running while others allocate always see a consistent table.
#[test]
fn lists_during_concurrent_allocations_are_consistent() {
    let node = Node::new();
    std::fs::create_dir(node.pods()).unwrap();
    let lists = on_workers(|worker| {
        if worker % 2 == 0 {
            for index in 0..10 {
                node.alloc_with(&pod_name(worker, index), &LOWEST_FREE);
            }
            Vec::new()
        } else {
            (0..10).map(|_| node.list()).collect()
        }
    });
    let mut seen = 0;
    for list in lists.into_iter().flatten() {
        assert_eq!(list["problems"], json!([]), "{list}");
        let listed = allocations(&list);
        let ranges: Vec<Range> = listed.values().map(range_of).collect();
        assert_disjoint(&ranges);
        assert_eq!(
            list["free"].as_u64().unwrap() + listed.len() as u64,
            65534,
            "{list}"
        );
        seen += 1;
    }
    assert_eq!(seen, 40);
    assert_eq!(allocations(&node.list()).len(), 40);
}
