//! `podns ns create` killed with SIGKILL at random moments, over many pods:
//! after each `podns ns sweep` the pins are exactly those of the pods whose
//! create was acknowledged, each a complete pair, and the ID ranges never
//! overlap. Runs as root in a private mount namespace; skips otherwise.
//!
//! `PODNS_HARDEN_NS_CRASHES` sets the number of killed creates (default
//! 1,000).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{PODNS, Range, assert_disjoint, range_of, rerun_in_private_mount_namespace};
use podns_core::SeededRng;
use serde_json::Value;

/// Where `ns create` can be stopped (see the knob in `ns_cmd.rs`), plus
/// `None` for a SIGKILL at whatever moment the process has reached.
const STEPS: [Option<&str>; 13] = [
    None,
    Some("before-set-up-run-dir"),
    Some("after-set-up-run-dir"),
    Some("after-create-dir#2"),
    Some("after-create-pin-file"),
    Some("after-create-pin-file#2"),
    Some("before-create-pod-namespaces"),
    Some("helper-in-userns"),
    Some("maps-written"),
    Some("helper-in-netns"),
    Some("net-pinned"),
    Some("user-pinned"),
    Some("after-create-pod-namespaces"),
];

struct Node {
    _temp: tempfile::TempDir,
    pods: PathBuf,
    run: PathBuf,
}

impl Node {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(PODNS);
        command
            .arg("--pods-dir")
            .arg(&self.pods)
            .arg("--run-dir")
            .arg(&self.run)
            .arg("--json")
            .args(args);
        command
    }

    fn ok(&self, args: &[&str]) -> Value {
        let output = self.command(args).stdin(Stdio::null()).output().unwrap();
        assert!(output.status.success(), "podns {args:?}: {output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Starts `ns create pod` and kills it at `step` (or at once).
    fn kill_create(&self, pod: &str, step: Option<&str>) {
        let mut command = self.command(&["ns", "create", pod]);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(step) = step {
            command.env("PODNS_TEST_PAUSE_AT", step);
        }
        let mut child = command.spawn().unwrap();
        if step.is_some() {
            // Wait until it says it paused (or exits: an idempotent create of
            // an existing pod never reaches some steps).
            let mut line = String::new();
            let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn mounts_below_run(&self) -> usize {
        let prefix = format!("{}/", std::fs::canonicalize(&self.run).unwrap().display());
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|line| {
                line.split(' ')
                    .nth(4)
                    .is_some_and(|point| point.starts_with(&prefix))
            })
            .count()
    }

    fn check(&self, created: &BTreeSet<String>, round: u64) {
        let mut args = vec!["ns", "sweep"];
        for pod in created {
            args.extend(["--keep", pod.as_str()]);
        }
        let swept = self.ok(&args);
        assert_eq!(
            swept["failures"],
            Value::Array(Vec::new()),
            "round {round}: {swept}"
        );
        let list = self.ok(&["ns", "list"]);
        let pinned: BTreeSet<String> = list["pods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pod| pod["pod"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(&pinned, created, "round {round}: {list}");
        assert_eq!(self.mounts_below_run(), 2 * created.len(), "round {round}");
        let ranges: Vec<Range> = self.ok(&["list"])["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .map(range_of)
            .collect();
        assert_disjoint(&ranges);
    }
}

#[test]
fn ns_create_killed_at_random_moments_leaves_nothing_after_sweep() {
    if !rerun_in_private_mount_namespace(
        "ns_create_killed_at_random_moments_leaves_nothing_after_sweep",
    ) {
        return;
    }
    let rounds: u64 = std::env::var("PODNS_HARDEN_NS_CRASHES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1000);
    let temp = tempfile::tempdir().unwrap();
    let node = Node {
        pods: temp.path().join("pods"),
        run: temp.path().join("run"),
        _temp: temp,
    };
    let mut rng = SeededRng::new(7);
    let mut created = BTreeSet::new();
    for round in 0..rounds {
        let pod = format!("p{}", rng.below(30));
        if round % 10 == 9 {
            // Now and then a create or a remove that completes.
            if created.contains(&pod) {
                node.ok(&["ns", "remove", &pod]);
                created.remove(&pod);
            } else {
                node.ok(&["ns", "create", &pod]);
                created.insert(pod);
            }
        } else {
            node.kill_create(&pod, STEPS[rng.below(STEPS.len() as u32) as usize]);
        }
        if round % 50 == 49 {
            node.check(&created, round);
        }
    }
    node.check(&created, rounds);
    println!("{rounds} rounds; {} pods pinned at the end", created.len());
    let swept = node.ok(&["ns", "sweep"]);
    assert_eq!(swept["failures"], Value::Array(Vec::new()), "{swept}");
    assert_eq!(node.mounts_below_run(), 0);
}
