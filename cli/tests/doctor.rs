//! `podns doctor` on a kubelet-like pods directory, one pod per problem kind,
//! read through a read-only bind mount: every finding names its pod, the
//! directory's listing, contents and mtimes are as they were, no lock file
//! appears. Then each finding's remedy is followed, and the node is healthy
//! and allocates again. A healthy directory exits 0. Root, in a private
//! mount namespace.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use common::{Nobody, NsDirs, Run, mounts_below, sh};
use common::{kubelet_userns_file, mkfifo, podns_command, rerun_in_private_mount_namespace, run};

const BLOCK: u64 = 65536;
/// 20 slots from host ID 65536, for 10 pods.
const POOL: [&str; 8] = [
    "--first-id",
    "65536",
    "--id-count",
    "1310720",
    "--ids-per-pod",
    "65536",
    "--max-pods",
    "10",
];

/// What kubelet keeps in a pod directory besides the `userns` file.
fn kubelet_pod_dir(pods: &Path, pod: &str) -> PathBuf {
    let dir = pods.join(pod);
    for sub in [
        "containers/app",
        "volumes/kubernetes.io~empty-dir/data",
        "plugins",
    ] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("etc-hosts"), b"127.0.0.1 localhost\n").unwrap();
    // kubelet's own atomic-writer temp file, which is not podns's.
    std::fs::write(dir.join("containers/app/.tmp-0123"), b"x").unwrap();
    dir
}

fn plant(pods: &Path, pod: &str, userns: impl AsRef<[u8]>) {
    std::fs::write(kubelet_pod_dir(pods, pod).join("userns"), userns).unwrap();
}

/// Each entry below `root` (not following symlinks, not reading FIFOs):
/// its type, size, mtime and, for a regular file, its bytes.
fn fingerprint(root: &Path) -> BTreeMap<PathBuf, (u32, u64, i64, i64, Vec<u8>)> {
    let mut entries = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let bytes = if meta.file_type().is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            if meta.file_type().is_dir() {
                stack.push(path.clone());
            }
            let key = path.strip_prefix(root).unwrap().to_owned();
            entries.insert(
                key,
                (
                    meta.mode(),
                    meta.size(),
                    meta.mtime(),
                    meta.mtime_nsec(),
                    bytes,
                ),
            );
        }
    }
    entries
}

fn doctor(pods: &Path, json: bool) -> Run {
    let args: &[&str] = if json {
        &["--json", "doctor"]
    } else {
        &["doctor"]
    };
    podns_with_pool(pods, args)
}

fn checks_a_live_pods_directory_read_only() {
    let temp = TempDir::new().unwrap();
    let pods = temp.path().join("pods");
    std::fs::create_dir(&pods).unwrap();
    plant(&pods, "good", kubelet_userns_file(2 * BLOCK, BLOCK));
    std::fs::write(pods.join("good/.userns.podns-tmp.4242"), b"{").unwrap();
    plant(&pods, "corrupt", b"{\"uidMappings\":");
    plant(&pods, "conflict-a", kubelet_userns_file(3 * BLOCK, BLOCK));
    plant(&pods, "conflict-b", kubelet_userns_file(3 * BLOCK, BLOCK));
    plant(&pods, "out-of-pool", kubelet_userns_file(40 * BLOCK, BLOCK));
    plant(
        &pods,
        "misaligned",
        kubelet_userns_file(5 * BLOCK + 4096, BLOCK),
    );
    plant(
        &pods,
        "wrong-length",
        kubelet_userns_file(7 * BLOCK, 2 * BLOCK),
    );
    plant(&pods, "unsafe-range", kubelet_userns_file(0, BLOCK));
    mkfifo(&kubelet_pod_dir(&pods, "fifo").join("userns"));
    let elsewhere = temp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    symlink(&elsewhere, pods.join("linked")).unwrap();
    // kubelet's live directory, as podns may only read it.
    let dir = pods.to_str().unwrap();
    sh("mount", &["--bind", dir, dir]);
    sh("mount", &["-o", "remount,bind,ro", dir]);
    let before = fingerprint(&pods);

    let checked = doctor(&pods, true);
    checked.assert_code(1);
    assert!(
        checked.stderr.contains(r#""kind":"needs-action""#),
        "{}",
        checked.stderr
    );
    let report: Value = serde_json::from_str(&checked.stdout).unwrap();
    let found: BTreeMap<String, (String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["area"] == "pods" && finding["pod"].is_string())
        .map(|finding| {
            let text = |name: &str| finding[name].as_str().unwrap_or_default().to_owned();
            (text("pod"), (text("kind"), text("severity")))
        })
        .collect();
    let expected: BTreeMap<String, (String, String)> = [
        ("good", "leftover-temp-file", "info"),
        ("corrupt", "corrupt", "error"),
        ("conflict-a", "conflict", "error"),
        ("conflict-b", "conflict", "error"),
        ("out-of-pool", "out-of-pool", "warning"),
        ("misaligned", "misaligned", "warning"),
        ("wrong-length", "wrong-length", "warning"),
        ("unsafe-range", "unsafe-range", "error"),
        ("fifo", "unreadable", "error"),
        ("linked", "unreadable", "error"),
    ]
    .into_iter()
    .map(|(pod, kind, severity)| (pod.to_owned(), (kind.to_owned(), severity.to_owned())))
    .collect();
    assert_eq!(found, expected, "{report:#}");
    assert_eq!(report["allocations"], 1, "{report}");
    assert_eq!(report["capacity"], 20, "{report}");

    // The human form: one line a finding, naming its pod, and a summary.
    let human = doctor(&pods, false);
    human.assert_code(1);
    println!("{}", human.stdout);
    for pod in expected.keys() {
        assert!(
            human.stdout.contains(&format!(" pod {pod}")),
            "{pod}: {}",
            human.stdout
        );
    }
    assert!(
        human.stdout.contains("\n6 error(s), 3 warning(s), ")
            && human.stdout.ends_with(": needs action\n"),
        "{}",
        human.stdout
    );
    assert_eq!(
        fingerprint(&pods),
        before,
        "the doctor changed the directory"
    );
    assert!(!pods.join(".podns.lock").exists());
    sh("umount", &[dir]);

    // Every remedy the findings name works: releasing the pod (one of the
    // two for a conflict) leaves a healthy node that allocates again.
    for (pod, (kind, _)) in &expected {
        let message = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|finding| finding["pod"] == pod.as_str())
            .and_then(|finding| finding["message"].as_str())
            .unwrap();
        if kind != "leftover-temp-file" {
            assert!(message.contains("release"), "{pod}: {message}");
        }
    }
    for pod in expected
        .keys()
        .filter(|pod| !["good", "conflict-a"].contains(&pod.as_str()))
    {
        podns_with_pool(&pods, &["release", pod]).assert_code(0);
    }
    assert!(elsewhere.exists(), "the link is removed, not its target");
    let healthy = doctor(&pods, false);
    healthy.assert_code(0);
    assert!(
        healthy.stdout.contains("\n0 error(s), 0 warning(s), ")
            && healthy.stdout.ends_with(": healthy\n"),
        "{}",
        healthy.stdout
    );
    podns_with_pool(&pods, &["alloc", "new"]).assert_code(0);
}

/// `podns --pods-dir <pods> --run-dir <pods>/../run <POOL> args...` (a run
/// directory of the test's own, which need not exist).
fn podns_with_pool(pods: &Path, args: &[&str]) -> Run {
    let run_dir = pods.with_file_name("run");
    let mut all = vec!["--pods-dir", pods.to_str().unwrap()];
    all.extend(["--run-dir", run_dir.to_str().unwrap()]);
    all.extend(POOL);
    all.extend_from_slice(args);
    run(podns_command(&all))
}

fn a_healthy_directory_exits_zero() {
    let temp = TempDir::new().unwrap();
    let pods = temp.path().join("pods");
    std::fs::create_dir(&pods).unwrap();
    plant(&pods, "good", kubelet_userns_file(2 * BLOCK, BLOCK));
    let checked = doctor(&pods, false);
    checked.assert_code(0);
    assert!(
        checked.stdout.ends_with(": healthy\n"),
        "{}",
        checked.stdout
    );
    let json = doctor(&pods, true);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    // The pods directory's file system is named; the run directory (next
    // to it) does not exist yet.
    let file_system = of_kind(&report, "file-system");
    assert_eq!(file_system[0]["area"], "pods", "{report:#}");
    assert_eq!(of_kind(&report, "no-run-dir")[0]["severity"], "info");
    let missing = doctor(&temp.path().join("missing"), true);
    missing.assert_code(0);
    assert!(
        missing.stdout.contains(r#""kind":"no-pods-dir""#),
        "{}",
        missing.stdout
    );
    assert!(!temp.path().join("missing").exists(), "nothing is created");
}

#[test]
fn doctor_reads_a_live_pods_directory_through_a_read_only_mount_and_changes_nothing() {
    if rerun_in_private_mount_namespace(
        "doctor_reads_a_live_pods_directory_through_a_read_only_mount_and_changes_nothing",
    ) {
        checks_a_live_pods_directory_read_only();
    }
}

/// A run directory with a complete pair (`kept`), the pins of a pod whose
/// allocation is gone (`orphan`) and a pair of plain files (`half`).
fn checks_the_run_directory() {
    let dirs = NsDirs::new();
    dirs.ok(&["ns", "create", "kept"]);
    dirs.ok(&["ns", "create", "orphan"]);
    std::fs::remove_dir_all(dirs.pods.join("orphan")).unwrap();
    std::fs::create_dir(dirs.run.join("half")).unwrap();
    for pin in ["net", "user"] {
        std::fs::write(dirs.run.join("half").join(pin), b"").unwrap();
    }
    let entries = |dir: &Path| -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        names.sort();
        names
    };
    let before = (entries(&dirs.run), mounts_below(&dirs.run));

    let (code, report, stderr) = dirs.podns(&["doctor"]);
    assert_eq!(code, 1, "{stderr}");
    let run: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["area"] == "run" && finding["pod"].is_string())
        .map(|finding| {
            let text = |name: &str| finding[name].as_str().unwrap_or_default().to_owned();
            (text("pod"), text("kind"))
        })
        .collect();
    assert_eq!(
        run,
        [
            ("half".to_owned(), "incomplete-pins".to_owned()),
            ("orphan".to_owned(), "pins-without-allocation".to_owned())
        ],
        "{report:#}"
    );
    assert_eq!((entries(&dirs.run), mounts_below(&dirs.run)), before);

    // The remedy both name.
    dirs.ok(&["ns", "sweep", "--keep", "kept"]);
    let (code, report, stderr) = dirs.podns(&["doctor"]);
    assert_eq!(code, 0, "{report:#} {stderr}");
    dirs.ok(&["ns", "remove", "kept"]);
}

#[test]
fn doctor_finds_incomplete_and_orphaned_pins_without_touching_them() {
    if rerun_in_private_mount_namespace(
        "doctor_finds_incomplete_and_orphaned_pins_without_touching_them",
    ) {
        checks_the_run_directory();
    }
}

/// The findings of `kind` in a doctor's JSON report.
fn of_kind<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["kind"] == kind)
        .collect()
}

/// Directories and pools the doctor cannot use, or that would not work.
fn reports_directory_and_pool_problems() {
    let temp = TempDir::new().unwrap();
    let (pods, run_dir) = (temp.path().join("pods"), temp.path().join("run"));
    let doctor_at = |pods: &Path, extra: &[&str]| {
        let mut args = vec!["--pods-dir", pods.to_str().unwrap()];
        args.extend(["--run-dir", run_dir.to_str().unwrap(), "--json"]);
        args.extend_from_slice(extra);
        args.push("doctor");
        let done = run(podns_command(&args));
        let report: Value = serde_json::from_str(&done.stdout).unwrap();
        (done.code, report)
    };
    // A run directory that is not a mount yet: a note.
    std::fs::create_dir(&run_dir).unwrap();
    let (code, report) = doctor_at(&pods, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        of_kind(&report, "run-dir-not-a-mount").len(),
        1,
        "{report:#}"
    );
    // A run directory that lost its shared propagation: a warning.
    let dir = run_dir.to_str().unwrap();
    sh("mount", &["--bind", dir, dir]);
    sh("mount", &["--make-private", dir]);
    let (code, report) = doctor_at(&pods, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        of_kind(&report, "run-dir-not-shared")[0]["severity"],
        "warning"
    );
    sh("mount", &["--make-shared", dir]);
    let (code, report) = doctor_at(&pods, &[]);
    assert_eq!(code, 0, "{report:#}");
    sh("umount", &[dir]);
    // A pods "directory" that is a file: an error naming it.
    let file = temp.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let (code, report) = doctor_at(&file, &[]);
    assert_eq!(code, 1, "{report:#}");
    let unreadable = of_kind(&report, "pods-dir-unreadable");
    assert_eq!(unreadable[0]["path"], file.to_str().unwrap(), "{report:#}");
    // A pool that cannot be built: an error, and the pods are not checked.
    let (code, report) = doctor_at(&pods, &["--ids-per-pod", "1000"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(of_kind(&report, "invalid-pool")[0]["severity"], "error");
    assert!(!pods.exists(), "nothing is created");
}

#[test]
fn doctor_reports_directories_and_pools_it_cannot_use() {
    if rerun_in_private_mount_namespace("doctor_reports_directories_and_pools_it_cannot_use") {
        reports_directory_and_pool_problems();
    }
}

/// As a user who may not read the run directory, or who has none by
/// default: an error naming it, or a warning that it was not checked.
#[test]
fn doctor_as_nobody_names_the_run_directory_it_cannot_use() {
    let nobody = Nobody::new().expect("the tests run as root");
    let temp = TempDir::new().unwrap();
    std::fs::set_permissions(temp.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let pods = temp.path().join("pods");
    std::fs::create_dir(&pods).unwrap();
    std::fs::set_permissions(&pods, PermissionsExt::from_mode(0o755)).unwrap();
    let private_run = temp.path().join("run");
    std::fs::create_dir(&private_run).unwrap();
    std::fs::set_permissions(&private_run, PermissionsExt::from_mode(0o700)).unwrap();
    let report_of = |command: std::process::Command| -> Value {
        let done = run(command);
        serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{e}: {done:?}"))
    };
    let pods_arg = pods.to_str().unwrap();
    let unreadable = nobody.command(&[
        "--pods-dir",
        pods_arg,
        "--run-dir",
        private_run.to_str().unwrap(),
        "--json",
        "doctor",
    ]);
    let report = report_of(unreadable);
    assert_eq!(
        of_kind(&report, "run-dir-unreadable")[0]["severity"],
        "error",
        "{report:#}"
    );
    let mut unknown = nobody.command(&["--pods-dir", pods_arg, "--json", "doctor"]);
    unknown.env_remove("XDG_RUNTIME_DIR");
    let report = report_of(unknown);
    let finding = &of_kind(&report, "run-dir-unknown")[0];
    assert_eq!(finding["severity"], "warning", "{report:#}");
    assert!(
        finding["message"].as_str().unwrap().contains("--run-dir"),
        "{report:#}"
    );
}

#[test]
fn doctor_of_a_healthy_node_exits_zero() {
    a_healthy_directory_exits_zero();
}
