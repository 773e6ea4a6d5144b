//! Runs both examples as root, each in a private mount namespace of its own
//! (so nothing they mount can reach the machine), on fresh directories, and
//! checks what they print and that their teardown left no mount, pin or
//! range behind.

use std::path::Path;
use std::process::Command;

/// Runs `program args...` in a private mount namespace, then, in that same
/// namespace, counts the mounts left below `run_dir`; returns stdout.
fn run_in_mount_namespace(program: &str, args: &[&str], run_dir: &Path) -> String {
    let script = format!(
        "\"$0\" \"$@\" && echo \"mounts left: $(grep -c ' {}/' /proc/self/mountinfo)\"",
        run_dir.display()
    );
    let output = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            &script,
            program,
        ])
        .args(args)
        .output()
        .expect("unshare(1) from util-linux runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(stderr, "", "nothing on stderr");
    stdout
}

fn root_or_skip(test: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        println!("skipping {test}: the examples pin namespaces and mount, which needs root");
    }
    root
}

/// Ranges still allocated in `pods_dir`: every pod directory with a file.
fn userns_files(pods_dir: &Path) -> Vec<String> {
    std::fs::read_dir(pods_dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path().join("userns");
            path.exists().then(|| path.display().to_string())
        })
        .collect()
}

#[test]
fn the_kubelet_like_example_sets_up_and_cleans_up() {
    if !root_or_skip("the_kubelet_like_example_sets_up_and_cleans_up") {
        return;
    }
    let temp = tempfile::TempDir::new().unwrap();
    let (pods, run) = (temp.path().join("pods"), temp.path().join("run"));
    let stdout = run_in_mount_namespace(
        env!("CARGO_BIN_EXE_kubelet-like"),
        &[
            "--pods-dir",
            pods.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
        ],
        &run,
    );
    for pod in ["web", "db", "cache", "stale"] {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("{pod}: host IDs ")))
            .unwrap_or_else(|| panic!("no line for {pod}: {stdout}"));
        assert!(line.ends_with("5 namespaces to join"), "{line}");
        assert!(
            line.contains(&format!("{}/{pod}/net", run.display())),
            "{line}"
        );
    }
    assert!(stdout.contains("db: released true"), "{stdout}");
    assert!(
        stdout.contains("housekeeping: 1 swept, 1 released, 2 allocations left"),
        "{stdout}"
    );
    assert!(stdout.ends_with("mounts left: 0\n"), "{stdout}");
    assert_eq!(userns_files(&pods), Vec::<String>::new());
}

#[test]
fn the_containerd_like_example_sets_up_and_tears_down() {
    if !root_or_skip("the_containerd_like_example_sets_up_and_tears_down") {
        return;
    }
    let temp = tempfile::TempDir::new().unwrap();
    let (pods, run, volume) = (
        temp.path().join("pods"),
        temp.path().join("run"),
        temp.path().join("volume"),
    );
    std::fs::create_dir(&volume).unwrap();
    let stdout = run_in_mount_namespace(
        env!("CARGO_BIN_EXE_containerd-like"),
        &[
            "--pods-dir",
            pods.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
            "--volume",
            volume.to_str().unwrap(),
        ],
        &run,
    );
    let spec = stdout
        .lines()
        .find_map(|line| line.strip_prefix("spec: "))
        .unwrap_or_else(|| panic!("no spec: {stdout}"));
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap();
    assert_eq!(spec["namespaces"].as_array().unwrap().len(), 5, "{spec}");
    assert_eq!(spec["uidMappings"][0]["size"], 65536, "{spec}");
    let mounted = format!(
        "mounted {}/sandbox-1/volume-subpaths/vol/app/0",
        pods.display()
    );
    assert!(stdout.contains(&mounted), "{stdout}");
    assert!(
        stdout.contains("teardown: 1 unmounted, 2 pins unmounted, range released: true"),
        "{stdout}"
    );
    assert!(stdout.ends_with("mounts left: 0\n"), "{stdout}");
    // kubelet's SafeMakeDir mode, setgid bit included.
    let mode = std::fs::metadata(volume.join("data/logs")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o7777,
        0o2750
    );
    assert_eq!(userns_files(&pods), Vec::<String>::new());
}
