//! Real process crashes: `podns alloc` and `podns release` die at every
//! effect boundary and at random moments (SIGABRT through the test knob,
//! SIGKILL from outside); afterwards `podns list` on the real file system
//! must show no overlap, every acknowledged allocation with its range, no
//! acknowledged release come back, and no temp file.
//!
//! `PODNS_HARDEN_CRASHES` sets the number of random crashes (default 1,000).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use common::{Node, Range, allocations, assert_disjoint, range_of, run, snapshot};
use podns_core::SeededRng;

/// What the callers were told.
#[derive(Debug, Default)]
struct Acknowledged {
    allocations: BTreeMap<String, Range>,
}

/// Runs podns; `None` when it died by a signal.
fn run_raw(
    node: &Node,
    args: &[&str],
    crash_after: Option<u64>,
    kill_at_once: bool,
) -> Option<(i32, String)> {
    let mut command = node.command(args);
    if let Some(count) = crash_after {
        command.env("PODNS_TEST_CRASH_AFTER_EFFECTS", count.to_string());
    }
    if !kill_at_once {
        let done = run(command);
        return done.signal.is_none().then_some((done.code, done.stdout));
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("podns starts");
    // SIGKILL wherever the child happens to be: not started yet, in
    // recovery, or in the middle of the operation.
    let _ = child.kill();
    let output = child.wait_with_output().expect("podns is reaped");
    let code = output.status.code()?;
    Some((code, String::from_utf8_lossy(&output.stdout).into_owned()))
}

fn check(node: &Node, acknowledged: &Acknowledged, released: &[String]) {
    let list = node.list();
    let live = allocations(&list);
    let ranges: Vec<Range> = live.values().map(range_of).collect();
    assert_disjoint(&ranges);
    for range in &ranges {
        assert!(
            range.first >= 65536 && range.end() <= 4294967295,
            "{range:?}"
        );
    }
    assert!(list["problems"].as_array().unwrap().is_empty(), "{list}");
    for (pod, range) in &acknowledged.allocations {
        let now = live.get(pod).map(range_of);
        assert_eq!(
            now,
            Some(*range),
            "acknowledged allocation of {pod} changed: {list}"
        );
    }
    for pod in released {
        assert!(!live.contains_key(pod), "released {pod} came back: {list}");
    }
    let temp_files: Vec<PathBuf> = snapshot(&node.pods())
        .into_keys()
        .filter(|path| path.to_string_lossy().contains(".userns.podns-tmp"))
        .collect();
    assert!(temp_files.is_empty(), "{temp_files:?}");
}

/// A crash before every single effect of an allocation and of a release.
#[test]
fn a_crash_at_every_effect_boundary_loses_nothing() {
    let node = Node::with_options(&["--policy", "lowest-free"]);
    let mut acknowledged = Acknowledged::default();
    for pod in ["a", "b", "c"] {
        acknowledged
            .allocations
            .insert(pod.to_owned(), range_of(&node.alloc(pod)));
    }
    // Recovery of 3 pods and an allocation take fewer than 20 effects.
    let mut allocs_completed = 0;
    for crash_after in 0..20 {
        let outcome = run_raw(&node, &["alloc", "new"], Some(crash_after), false);
        let completed = match &outcome {
            Some((0, stdout)) => {
                let value: serde_json::Value = serde_json::from_str(stdout).unwrap();
                acknowledged
                    .allocations
                    .insert("new".into(), range_of(&value));
                true
            }
            Some((code, _)) => panic!("alloc failed with {code} without a crash"),
            None => false,
        };
        check(&node, &acknowledged, &[]);
        if completed {
            allocs_completed += 1;
            // It completed: release it (durably) for the next round.
            assert_eq!(node.run(&["release", "new"]).code, 0);
            acknowledged.allocations.remove("new");
        }
    }
    // The larger budgets let the allocation finish: otherwise the crash
    // points never reached its end.
    assert!(allocs_completed >= 1, "no alloc completed in 20 effects");
    let mut release_completed = false;
    for crash_after in 0..20 {
        let outcome = run_raw(&node, &["release", "a"], Some(crash_after), false);
        let released = match outcome {
            Some((0, _)) => true,
            Some((code, _)) => panic!("release failed with {code} without a crash"),
            None => false,
        };
        // A release cut short promises nothing either way about "a".
        acknowledged.allocations.remove("a");
        check(&node, &acknowledged, &[]);
        if released {
            assert!(!allocations(&node.list()).contains_key("a"));
            release_completed = true;
            break;
        }
        // Put "a" back (the crash may or may not have released it).
        acknowledged
            .allocations
            .insert("a".into(), range_of(&node.alloc("a")));
    }
    assert!(release_completed, "no release completed in 20 effects");
}

/// Many crashes at random moments over many pods.
#[test]
fn random_crashes_of_alloc_and_release_lose_nothing() {
    let crashes: u64 = std::env::var("PODNS_HARDEN_CRASHES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1000);
    let node = Node::new();
    let mut rng = SeededRng::new(2026);
    let mut acknowledged = Acknowledged::default();
    let mut released: Vec<String> = Vec::new();
    let (mut allocs_completed, mut releases_completed) = (0, 0);
    for round in 0..crashes {
        let pod = format!("pod-{}", rng.below(40));
        let release = rng.below(3) == 0;
        // Every tenth crash is a real SIGKILL at whatever moment; the others
        // abort before a chosen effect (recovery of 40 pods and the operation
        // take fewer than 100 effects).
        let kill_at_once = round % 10 == 0;
        let crash_after = (!kill_at_once).then(|| u64::from(rng.below(100)));
        let args = if release {
            ["release", pod.as_str()]
        } else {
            ["alloc", pod.as_str()]
        };
        // An operation that is cut short promises nothing about its pod.
        released.retain(|name| *name != pod);
        let outcome = run_raw(&node, &args, crash_after, kill_at_once);
        match outcome {
            Some((0, stdout)) if !release => {
                let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                acknowledged
                    .allocations
                    .insert(pod.clone(), range_of(&value));
                allocs_completed += 1;
            }
            Some((0, _)) => {
                acknowledged.allocations.remove(&pod);
                released.push(pod.clone());
                releases_completed += 1;
            }
            Some((code, _)) => panic!("{args:?} failed with {code} without a crash"),
            None if release => {
                acknowledged.allocations.remove(&pod);
            }
            None => {}
        }
        if round % 25 == 0 {
            check(&node, &acknowledged, &released);
        }
    }
    check(&node, &acknowledged, &released);
    println!(
        "{crashes} crash rounds: {allocs_completed} allocs and {releases_completed} releases \
         completed before their crash point"
    );
    // Crash points beyond an operation's last effect let it finish; if none
    // did, the acknowledged-state checks above checked nothing.
    assert!(allocs_completed >= 1, "no alloc completed");
    assert!(releases_completed >= 1, "no release completed");
}
