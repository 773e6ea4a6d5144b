//! Real OCI runtimes (crun and runc) joining a pod's pinned namespaces with
//! the join spec `podns ns create` prints: the container runs as the pod's
//! root with the pod's maps, is in the pinned network and user namespaces,
//! and mounts a sysfs of its own, which shows only `lo`; a second container
//! joins the same namespaces. The contrast: with a network namespace owned
//! by the initial user namespace (as `ip netns add` makes), crun cannot
//! mount sysfs there and bind-mounts the host's `/sys`, whose interfaces it
//! then shows; runc does not start the container at all.
//!
//! Each test runs as root in a re-run of this binary in a private mount
//! namespace (`common::rerun_in_private_mount_namespace`), so the pins, the
//! runtimes' mounts and a cgroup2 mount for crun all die with it. The
//! runtimes and a static busybox for the container's root file system are
//! required: `.ci/run` installs them (Debian's crun, runc, busybox-static);
//! when one is missing the test fails and says which package to install.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tempfile::TempDir;

use common::{NsDirs, rerun_in_private_mount_namespace, sh, which};

/// The static busybox Debian's busybox-static installs.
const BUSYBOX: &str = "/usr/bin/busybox";

/// What a container prints about itself.
const REPORT: &str = "cat /proc/self/uid_map; cat /proc/self/gid_map; \
    echo net=$(readlink /proc/self/ns/net); echo user=$(readlink /proc/self/ns/user); \
    echo sys=$(ls /sys/class/net)";

/// A runtime under test.
#[derive(Debug, Clone, Copy)]
enum Runtime {
    Crun,
    Runc,
}

impl Runtime {
    fn program(self) -> &'static str {
        match self {
            Runtime::Crun => "crun",
            Runtime::Runc => "runc",
        }
    }

    /// Runs the bundle's container to completion; returns its stdout.
    fn run(self, state: &Path, bundle: &Path, id: &str) -> String {
        self.try_run(state, bundle, id)
            .unwrap_or_else(|failure| panic!("{failure}"))
    }

    /// [`Runtime::run`], or why the runtime failed.
    fn try_run(self, state: &Path, bundle: &Path, id: &str) -> Result<String, String> {
        let program = which(self.program()).unwrap_or_else(|| {
            panic!(
                "{} is not installed: install Debian's {} package (.ci/run does)",
                self.program(),
                self.program()
            )
        });
        let mut command = Command::new(program);
        command.arg("--root").arg(state);
        if let Runtime::Crun = self {
            // The container needs no cgroup of its own.
            command.arg("--cgroup-manager=disabled");
        }
        let output = command
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .expect("the runtime starts");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "{} run {id} failed ({}): {stdout}{stderr}",
                self.program(),
                output.status
            ));
        }
        println!("{} {id}:\n{stdout}", self.program());
        Ok(stdout)
    }
}

/// A bundle whose root file system is a static busybox, running
/// [`REPORT`] in the namespaces `namespaces` with `oci`'s ID mappings.
fn bundle(dir: &Path, namespaces: Vec<Value>, oci: &Value) -> PathBuf {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static package (.ci/run does)"
    );
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    for sub in ["bin", "proc", "sys", "dev"] {
        std::fs::create_dir_all(rootfs.join(sub)).unwrap();
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "cat", "echo", "ls", "readlink"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let mut namespaces = namespaces;
    namespaces.push(json!({"type": "mount"}));
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "-c", REPORT],
            "env": ["PATH=/bin"],
            "cwd": "/",
        },
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "mode=755", "size=1m"]},
        ],
        "linux": {
            "namespaces": namespaces,
            "uidMappings": oci["uidMappings"],
            "gidMappings": oci["gidMappings"],
        },
    });
    std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
    bundle
}

/// A scratch directory the pod's root (an unmapped host root's "other")
/// can enter, and cgroup2 where a hybrid host has cgroup v1: crun refuses
/// hybrid mode even with no cgroup manager.
fn scratch() -> TempDir {
    let temp = TempDir::new().unwrap();
    std::fs::set_permissions(
        temp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let cgroup2 = rustix::fs::statfs("/sys/fs/cgroup").is_ok_and(|stat| stat.f_type == 0x6367_7270);
    if !cgroup2 {
        sh("mount", &["-t", "cgroup2", "none", "/sys/fs/cgroup"]);
    }
    temp
}

/// The value of `name=` in a container's report.
fn field<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {report}"))
}

fn joins_the_pods_pins(runtime: Runtime) {
    let temp = scratch();
    let dirs = NsDirs::new();
    let created = dirs.ok(&["ns", "create", "pod-1"]);
    let oci = &created["oci"];
    let namespaces = oci["namespaces"].as_array().unwrap().clone();
    let bundle = bundle(temp.path(), namespaces, oci);
    let state = temp.path().join("state");
    let host_id = created["uidMappings"][0]["hostId"].as_u64().unwrap();
    let mut seen = Vec::new();
    for id in ["sandbox", "app"] {
        let report = runtime.run(&state, &bundle, id);
        let maps: Vec<Vec<&str>> = report
            .lines()
            .take(2)
            .map(|line| line.split_whitespace().collect())
            .collect();
        let expected = ["0".to_owned(), host_id.to_string(), "65536".to_owned()];
        assert_eq!(maps, [expected.clone(), expected], "{report}");
        assert_eq!(field(&report, "net"), created["netNs"], "{report}");
        assert_eq!(field(&report, "user"), created["userNs"], "{report}");
        assert_eq!(field(&report, "sys"), "lo", "its own sysfs: {report}");
        seen.push((
            field(&report, "net").to_owned(),
            field(&report, "user").to_owned(),
        ));
    }
    assert_eq!(
        seen[0], seen[1],
        "both containers share the pod's namespaces"
    );
    dirs.ok(&["ns", "remove", "pod-1"]);
    dirs.assert_nothing_left(runtime.program());
}

fn a_netns_of_the_initial_userns_shows_the_hosts_sysfs(runtime: Runtime) {
    let temp = scratch();
    let dirs = NsDirs::new();
    let created = dirs.ok(&["ns", "create", "pod-1"]);
    // What `ip netns add` makes: a network namespace owned by the initial
    // user namespace, pinned on a file.
    let foreign = temp.path().join("foreign-net");
    std::fs::write(&foreign, b"").unwrap();
    sh(
        "unshare",
        &[&format!("--net={}", foreign.display()), "true"],
    );
    let oci = &created["oci"];
    let namespaces = oci["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|namespace| match namespace["type"].as_str() {
            Some("network") => json!({"type": "network", "path": foreign}),
            _ => namespace.clone(),
        })
        .collect();
    let bundle = bundle(temp.path(), namespaces, oci);
    let result = runtime.try_run(&temp.path().join("state"), &bundle, "contrast");
    match runtime {
        // crun joins the network namespace before the user namespace, so
        // it gets in, cannot mount a sysfs there, and bind-mounts the
        // host's /sys instead: the container sees the host's interfaces.
        Runtime::Crun => {
            let report = result.unwrap_or_else(|failure| panic!("{failure}"));
            let interfaces = field(&report, "sys");
            assert_ne!(interfaces, "lo", "the host's /sys, not its own: {report}");
            assert!(
                interfaces.split_whitespace().any(|name| name == "lo"),
                "{report}"
            );
        }
        // runc joins the user namespace first, and from there may not
        // enter a network namespace the pod's namespace does not own: the
        // container does not start.
        Runtime::Runc => {
            let failure = result.expect_err("runc must refuse the foreign network namespace");
            assert!(
                failure.contains("setns into net namespace: Operation not permitted"),
                "{failure}"
            );
        }
    }
    sh("umount", &[foreign.to_str().unwrap()]);
    dirs.ok(&["ns", "remove", "pod-1"]);
}

#[test]
fn crun_joins_the_pods_pins_and_mounts_its_own_sysfs() {
    if rerun_in_private_mount_namespace("crun_joins_the_pods_pins_and_mounts_its_own_sysfs") {
        joins_the_pods_pins(Runtime::Crun);
    }
}

#[test]
fn runc_joins_the_pods_pins_and_mounts_its_own_sysfs() {
    if rerun_in_private_mount_namespace("runc_joins_the_pods_pins_and_mounts_its_own_sysfs") {
        joins_the_pods_pins(Runtime::Runc);
    }
}

#[test]
fn crun_in_a_netns_of_the_initial_userns_sees_the_hosts_interfaces() {
    if rerun_in_private_mount_namespace(
        "crun_in_a_netns_of_the_initial_userns_sees_the_hosts_interfaces",
    ) {
        a_netns_of_the_initial_userns_shows_the_hosts_sysfs(Runtime::Crun);
    }
}

#[test]
fn runc_refuses_a_netns_of_the_initial_userns() {
    if rerun_in_private_mount_namespace("runc_refuses_a_netns_of_the_initial_userns") {
        a_netns_of_the_initial_userns_shows_the_hosts_sysfs(Runtime::Runc);
    }
}
