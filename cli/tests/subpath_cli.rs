//! `podns subpath mount` and `podns subpath clean`: output, exit codes, and
//! processes killed at every effect boundary. Bad input needs no privilege;
//! the rest runs as root in a private mount namespace (`subpath_support`).

mod common;
mod subpath_support;

use std::path::Path;

use common::{Run, mounts_below, podns_command, run, subpath_clean_args, subpath_mount_args};
use serde_json::Value;
use subpath_support::{Layout, id_of, in_private_mount_ns, plant_tree};

/// `podns args...` with `env` added to its environment.
fn podns(args: &[&str], env: &[(&str, String)]) -> Run {
    let mut command = podns_command(args);
    command.envs(env.iter().map(|(name, value)| (name, value)));
    run(command)
}

fn mount_args<'a>(layout: &'a Layout, subpath: &'a str, index: &'a str) -> Vec<&'a str> {
    subpath_mount_args(&layout.volume, subpath, &layout.pod, "vol", index)
}

fn clean_args(layout: &Layout) -> Vec<&str> {
    subpath_clean_args(&layout.pod, "vol")
}

#[test]
fn bad_input_exits_2_before_touching_anything() {
    let temp = tempfile::TempDir::new().unwrap();
    let layout = Layout::new(temp.path());
    let volume = layout.volume.to_str().unwrap();
    let pod = layout.pod.to_str().unwrap();
    let missing = temp.path().join("missing");
    let missing = missing.to_str().unwrap();
    for (args, kind) in [
        (
            vec![
                "--subpath",
                "../outside",
                "--volume-name",
                "vol",
                "--index",
                "0",
            ],
            "invalid-subpath",
        ),
        (
            vec![
                "--subpath",
                "a/../../x",
                "--volume-name",
                "vol",
                "--index",
                "0",
            ],
            "invalid-subpath",
        ),
        (
            vec!["--subpath", "/etc", "--volume-name", "vol", "--index", "0"],
            "invalid-subpath",
        ),
        (
            vec!["--subpath", "a", "--volume-name", "..", "--index", "0"],
            "invalid-name",
        ),
        (
            vec!["--subpath", "a", "--volume-name", "vol", "--index", "0/1"],
            "invalid-name",
        ),
        (
            vec![
                "--subpath",
                "a",
                "--volume-name",
                "vol",
                "--index",
                ".podns",
            ],
            "invalid-name",
        ),
    ] {
        let mut full = vec![
            "subpath",
            "mount",
            "--json",
            "--volume",
            volume,
            "--pod-dir",
            pod,
            "--container",
            "app",
        ];
        full.extend(args);
        let output = podns(&full, &[]);
        assert_eq!(output.code, 2, "{full:?}: {output:?}");
        assert_eq!(output.json_error().kind, kind, "{full:?}");
    }
    let output = podns(
        &[
            "subpath",
            "mount",
            "--volume",
            missing,
            "--subpath",
            "a",
            "--pod-dir",
            pod,
            "--volume-name",
            "vol",
            "--container",
            "app",
            "--index",
            "0",
        ],
        &[],
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("pass an existing directory"));
    let output = podns(
        &[
            "subpath",
            "clean",
            "--pod-dir",
            pod,
            "--volume-name",
            "a/b",
            "--json",
        ],
        &[],
    );
    assert_eq!(output.code, 2);
    assert_eq!(output.json_error().kind, "invalid-name");
    let output = podns(
        &[
            "subpath",
            "clean",
            "--pod-dir",
            pod,
            "--volume-name",
            "vol",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(output.code, 2);
    // Nothing was created anywhere.
    assert_eq!(std::fs::read_dir(&layout.pod).unwrap().count(), 0);
}

#[test]
fn mount_prints_the_target_and_clean_prints_what_it_did() {
    in_private_mount_ns(
        "mount_prints_the_target_and_clean_prints_what_it_did",
        |scratch| {
            let layout = Layout::new(scratch);
            plant_tree(
                &layout.volume,
                &["d:dir", "f:file", "l:inside>dir", "l:escape>/"],
            );
            let target = layout.pod.join("volume-subpaths/vol/app/0");

            let output = podns(&mount_args(&layout, "dir", "0"), &[]);
            output.assert_code(0);
            assert_eq!(output.stdout, format!("{}\n", target.display()));
            assert_eq!(id_of(&target), id_of(&layout.volume.join("dir")));

            let mut args = mount_args(&layout, "inside", "0");
            args.push("--json");
            let output = podns(&args, &[]);
            output.assert_code(0);
            let json: Value = serde_json::from_str(&output.stdout).unwrap();
            assert_eq!(json["target"], target.to_str().unwrap());
            assert_eq!(json["alreadyMounted"], true);

            let output = podns(&mount_args(&layout, "file", "1"), &[]);
            output.assert_code(0);

            let mut args = mount_args(&layout, "escape", "2");
            args.push("--json");
            let output = podns(&args, &[]);
            assert_eq!(output.code, 1, "{output:?}");
            let error = output.json_error();
            assert_eq!(error.kind, "unsafe-subpath");
            assert!(error.error.contains("escape"), "{error:?}");
            assert_eq!(mounts_below(&layout.pod).len(), 2);

            let output = podns(&clean_args(&layout), &[]);
            output.assert_code(0);
            let pod = layout.pod.display();
            assert_eq!(
                output.stdout,
                format!(
                    "unmounted {pod}/volume-subpaths/vol/app/0\n\
                     unmounted {pod}/volume-subpaths/vol/app/1\n\
                     removed {pod}/volume-subpaths/vol/app/0\n\
                     removed {pod}/volume-subpaths/vol/app/1\n\
                     removed {pod}/volume-subpaths/vol/app\n\
                     removed {pod}/volume-subpaths/vol\n\
                     removed {pod}/volume-subpaths\n"
                )
            );
            assert!(mounts_below(&layout.pod).is_empty());
            let mut args = clean_args(&layout);
            args.push("--json");
            let output = podns(&args, &[]);
            output.assert_code(0);
            assert_eq!(
                output.stdout,
                "{\"unmounted\":[],\"removed\":[],\"kept\":[]}\n"
            );
        },
    );
}

fn killed(output: &Run) -> bool {
    output.signal.is_some()
}

#[test]
fn a_killed_mount_or_clean_leaves_nothing_a_clean_does_not_remove() {
    in_private_mount_ns(
        "a_killed_mount_or_clean_leaves_nothing_a_clean_does_not_remove",
        |scratch| {
            let layout = Layout::new(scratch);
            plant_tree(&layout.volume, &["d:dir", "f:file"]);
            let crash = |after: usize| vec![("PODNS_TEST_CRASH_AFTER_EFFECTS", after.to_string())];
            let assert_nothing_left = |context: &str| {
                assert!(mounts_below(&layout.pod).is_empty(), "{context}");
                assert!(!layout.pod.join("volume-subpaths").exists(), "{context}");
            };
            // A mount killed before each of its effects, then cleaned.
            for subpath in ["dir", "file"] {
                let mut kills = 0;
                for after in 0.. {
                    // Another mount of the same volume is in place each time.
                    let output = podns(&mount_args(&layout, subpath, "9"), &[]);
                    output.assert_code(0);
                    let output = podns(&mount_args(&layout, subpath, "0"), &crash(after));
                    if !killed(&output) {
                        output.assert_code(0);
                        break;
                    }
                    kills += 1;
                    let output = podns(&clean_args(&layout), &[]);
                    assert!(output.code == 0, "{subpath} after {after}: {output:?}");
                    assert_nothing_left(&format!("{subpath}, mount killed after {after}"));
                }
                assert_eq!(kills, 5, "a mount runs five effects");
                // The completed mount (and the other) are there until clean.
                assert_eq!(mounts_below(&layout.pod).len(), 2);
                let output = podns(&clean_args(&layout), &[]);
                output.assert_code(0);
                assert_nothing_left(subpath);
            }
            // A clean killed before each of its effects, then cleaned again.
            for after in 0.. {
                for index in ["0", "1"] {
                    let output = podns(&mount_args(&layout, "dir", index), &[]);
                    output.assert_code(0);
                }
                let output = podns(&clean_args(&layout), &crash(after));
                if !killed(&output) {
                    output.assert_code(0);
                    assert_nothing_left("a clean that completed");
                    break;
                }
                let output = podns(&clean_args(&layout), &[]);
                assert!(output.code == 0, "clean killed after {after}: {output:?}");
                assert_nothing_left(&format!("clean killed after {after}"));
            }
            assert!(layout.volume.join("file").exists());
            assert!(Path::new(&layout.volume.join("dir")).is_dir());
        },
    );
}
