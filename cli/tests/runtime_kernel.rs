//! Real OCI runtimes (crun and runc) joining a pod's pinned namespaces with
//! the join spec `podns ns create` prints: the container runs as the pod's
//! root with the pod's maps, is in the pinned network and user namespaces,
//! and mounts a sysfs of its own, which shows only `lo`; a second container
//! joins the same namespaces. The contrast: with a network namespace owned
//! by the initial user namespace (as `ip netns add` makes), crun cannot
//! mount sysfs there and bind-mounts the host's `/sys`, whose interfaces it
//! then shows; runc does not start the container at all.
//!
//! Volumes: host root's file in a volume is the pod's root's inside a
//! container through a subpath podns idmapped with the pod's pinned user
//! namespace, and what the container creates there is host root's on disk;
//! through a plain subpath mount it is the overflow ID 65534. crun also
//! idmaps a volume itself from the join spec's `mounts` entry.
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

use common::{
    NsDirs, PODNS_ENV, ROLE_ENV, podns_command_at, rerun_in_private_mount_namespace, role, run,
    run_role_in_userns, sh, subpath_clean_args, subpath_mount_args, which,
};

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
    bundle_with(dir, namespaces, oci, REPORT, Vec::new())
}

/// [`bundle`] running `script`, with `volumes` added to its mounts.
fn bundle_with(
    dir: &Path,
    namespaces: Vec<Value>,
    oci: &Value,
    script: &str,
    volumes: Vec<Value>,
) -> PathBuf {
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
    for applet in ["sh", "cat", "echo", "ls", "readlink", "stat", "touch"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let mut namespaces = namespaces;
    namespaces.push(json!({"type": "mount"}));
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "mode=755", "size=1m"]}),
    ];
    for volume in &volumes {
        let destination = volume["destination"]
            .as_str()
            .unwrap()
            .trim_start_matches('/');
        std::fs::create_dir_all(rootfs.join(destination)).unwrap();
    }
    mounts.extend(volumes);
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "-c", script],
            "env": ["PATH=/bin"],
            "cwd": "/",
        },
        "root": {"path": "rootfs", "readonly": true},
        "mounts": mounts,
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

/// Checks a container's [`REPORT`]: it has the pod's maps (the OCI
/// mappings `podns ns create` printed, extent by extent), is in the pinned
/// network and user namespaces, and has a sysfs of its own showing only
/// `lo`.
fn assert_in_the_pod(report: &str, created: &Value) {
    let maps: Vec<Vec<u64>> = report
        .lines()
        .take_while(|line| !line.starts_with("net="))
        .map(|line| {
            line.split_whitespace()
                .map(|n| n.parse().unwrap())
                .collect()
        })
        .collect();
    let oci = |name: &str| -> Vec<Vec<u64>> {
        created["oci"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                ["containerID", "hostID", "size"]
                    .iter()
                    .map(|field| m[*field].as_u64().unwrap())
                    .collect()
            })
            .collect()
    };
    let mut expected = oci("uidMappings");
    expected.extend(oci("gidMappings"));
    assert_eq!(maps, expected, "{report}");
    assert_eq!(field(report, "net"), created["netNs"], "{report}");
    assert_eq!(field(report, "user"), created["userNs"], "{report}");
    assert_eq!(field(report, "sys"), "lo", "its own sysfs: {report}");
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
        assert_eq!(
            created["oci"]["uidMappings"][0]["hostID"], host_id,
            "one extent, at the allocation"
        );
        assert_in_the_pod(&report, &created);
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

/// What a container prints about a volume mounted three ways: idmapped by
/// podns (`subpath mount --idmap-pod`), plain (`subpath mount`), and, where
/// the runtime can, idmapped by the runtime from the join spec's `mounts`.
const VOLUME_REPORT: &str = "stat -c 'idmapped-owner=%u:%g' /idmapped/owned-by-root; \
    stat -c 'plain-owner=%u:%g' /plain/owned-by-root; \
    touch /idmapped/made-inside && echo idmapped-write=ok; \
    touch /plain/made-inside-plain 2>/dev/null && echo plain-write=ok || echo plain-write=denied; \
    if [ -d /runtime ]; then stat -c 'runtime-owner=%u:%g' /runtime/owned-by-root; \
    touch /runtime/made-inside && echo runtime-write=ok; fi";

/// `podns subpath mount` of `volume`'s `data` at index `index` of container
/// `app` of pod-1, with `extra` flags; returns the mount point.
fn subpath_mount(dirs: &NsDirs, volume: &Path, index: &str, extra: &[&str]) -> String {
    let pod_dir = dirs.pods.join("pod-1");
    let mut args = subpath_mount_args(volume, "data", &pod_dir, "vol", index);
    args.extend_from_slice(extra);
    dirs.ok(&args)["target"].as_str().unwrap().to_owned()
}

/// A directory `<dir>/data` holding `owned-by-root`, both host root's.
fn root_owned_volume(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/owned-by-root"), b"x").unwrap();
    dir.to_owned()
}

/// The owner of `path` on disk.
fn owner(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.uid(), meta.gid())
}

fn sees_idmapped_volumes_as_the_pods_own(runtime: Runtime) {
    let temp = scratch();
    let dirs = NsDirs::new();
    let created = dirs.ok(&["ns", "create", "pod-1"]);
    // The runtime resolves mount sources as the pod's root, which is no
    // one to host root's directories: let it through the test's own.
    for dir in [
        dirs.pods.parent().unwrap(),
        &dirs.pods,
        &dirs.pods.join("pod-1"),
    ] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let volume = root_owned_volume(&temp.path().join("volume"));
    let idmapped = subpath_mount(&dirs, &volume, "0", &["--idmap-pod", "pod-1"]);
    let plain = subpath_mount(&dirs, &volume, "1", &[]);
    let bind = |source: &str, destination: &str| {
        json!({"destination": destination, "type": "bind", "source": source,
               "options": ["rbind"]})
    };
    let mut volumes = vec![bind(&idmapped, "/idmapped"), bind(&plain, "/plain")];
    let runtime_volume = root_owned_volume(&temp.path().join("runtime-volume")).join("data");
    if let Runtime::Crun = runtime {
        // runc 1.1 has no idmapped mounts of its own (1.2 has).
        let entry = format!("{}:/runtime", runtime_volume.display());
        let spec = dirs.ok(&["ns", "spec", "pod-1", "--idmapped-volume", &entry]);
        volumes.extend(spec["mounts"].as_array().unwrap().iter().cloned());
    }
    let oci = &created["oci"];
    let namespaces = oci["namespaces"].as_array().unwrap().clone();
    let bundle = bundle_with(temp.path(), namespaces, oci, VOLUME_REPORT, volumes);
    let report = runtime.run(&temp.path().join("state"), &bundle, "volumes");

    // Host root's file is the pod's root's through podns's idmapped mount,
    // and the overflow ID through the plain one.
    assert_eq!(field(&report, "idmapped-owner"), "0:0", "{report}");
    assert_eq!(field(&report, "plain-owner"), "65534:65534", "{report}");
    assert_eq!(field(&report, "idmapped-write"), "ok", "{report}");
    assert_eq!(field(&report, "plain-write"), "denied", "{report}");
    // What the pod's root made through it is host root's on disk.
    assert_eq!(owner(&volume.join("data/made-inside")), (0, 0));
    assert!(!volume.join("data/made-inside-plain").exists());
    if let Runtime::Crun = runtime {
        assert_eq!(field(&report, "runtime-owner"), "0:0", "{report}");
        assert_eq!(field(&report, "runtime-write"), "ok", "{report}");
        assert_eq!(owner(&runtime_volume.join("made-inside")), (0, 0));
    }
    let pod_dir = dirs.pods.join("pod-1");
    dirs.ok(&subpath_clean_args(&pod_dir, "vol"));
    assert!(common::mounts_below(&pod_dir).is_empty());
    dirs.ok(&["ns", "remove", "pod-1"]);
    dirs.assert_nothing_left(runtime.program());
}

#[test]
fn crun_sees_idmapped_volumes_as_the_pods_own() {
    if rerun_in_private_mount_namespace("crun_sees_idmapped_volumes_as_the_pods_own") {
        sees_idmapped_volumes_as_the_pods_own(Runtime::Crun);
    }
}

#[test]
fn runc_sees_a_podns_idmapped_subpath_as_the_pods_own() {
    if rerun_in_private_mount_namespace("runc_sees_a_podns_idmapped_subpath_as_the_pods_own") {
        sees_idmapped_volumes_as_the_pods_own(Runtime::Runc);
    }
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

/// The test the rootless role runs in.
const HELPER_TEST: &str = "runtime_kernel_helper";
/// The maps a two-line `/etc/subuid` gives a rootless user, root being host
/// UID 1001 (as in `idmap_kernel.rs`).
const TWO_RANGE_MAP: &str = "0 1001 1\n1 1000000 100000\n100001 3000000 1000000\n";
/// The directory the rootless role works in.
const SCRATCH_ENV: &str = "PODNS_TEST_SCRATCH";

/// podns run by root of a rootless-layout user namespace (its defaults: the
/// pool from the namespace's IDs, state under `$XDG_STATE_HOME`, pins under
/// `$XDG_RUNTIME_DIR`), and crun and runc run there too: their containers
/// join the pins with the pod's split maps and mount their own sysfs. An
/// idmapped subpath of a volume on the host's file system is refused there
/// (the namespace does not own it); one on a tmpfs the namespace mounted is
/// made, and crun's container owns its files.
#[test]
fn crun_and_runc_join_the_pods_pins_in_a_rootless_namespace() {
    if rerun_in_private_mount_namespace("crun_and_runc_join_the_pods_pins_in_a_rootless_namespace")
    {
        let temp = scratch();
        // Written by host UID 1001, root of the namespace.
        std::fs::set_permissions(
            temp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        run_role_in_userns(
            HELPER_TEST,
            "rootless-runtime",
            TWO_RANGE_MAP,
            &[(SCRATCH_ENV, temp.path().as_os_str())],
        );
    }
}

/// The roles of the re-executed test binary; without one (a normal test
/// run) there is nothing to do.
#[test]
fn runtime_kernel_helper() {
    match role().as_deref() {
        Some("rootless-runtime") => rootless_runtime_role(),
        Some(other) => panic!("unknown {ROLE_ENV} {other:?}"),
        None => {}
    }
}

fn rootless_runtime_role() {
    let podns = std::env::var_os(PODNS_ENV).expect("podns path");
    let scratch = PathBuf::from(std::env::var_os(SCRATCH_ENV).expect("scratch directory"));
    // The pins are bind mounts: in a mount namespace of this user
    // namespace's own, they die with this process.
    // SAFETY: NEWNS unshares no fd table (what makes unshare unsafe), only
    // the mount namespace.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
        .expect("unshare a mount namespace");
    let podns_run = |args: &[&str]| {
        let mut command = podns_command_at(Path::new(&podns), args);
        command
            .env("XDG_STATE_HOME", scratch.join("state"))
            .env("XDG_RUNTIME_DIR", scratch.join("run"));
        let done = run(command);
        println!("$ podns {}\n{}{}", args.join(" "), done.stdout, done.stderr);
        done
    };
    let podns_json = |args: &[&str]| -> Value {
        let done = podns_run(args);
        done.assert_code(0);
        serde_json::from_str(&done.stdout).unwrap()
    };
    let created = podns_json(&["--json", "--policy", "lowest-free", "ns", "create", "p0"]);
    // The lowest slot spans the namespace's extent boundary at 100001.
    assert_eq!(
        created["oci"]["uidMappings"].as_array().unwrap().len(),
        2,
        "{created}"
    );
    let oci = &created["oci"];
    for runtime in [Runtime::Crun, Runtime::Runc] {
        let dir = scratch.join(runtime.program());
        std::fs::create_dir(&dir).unwrap();
        let namespaces = oci["namespaces"].as_array().unwrap().clone();
        let bundle = bundle(&dir, namespaces, oci);
        let report = runtime.run(&dir.join("state"), &bundle, "rootless");
        assert_in_the_pod(&report, &created);
    }

    // Idmapped volumes: a rootless namespace may idmap only a file system it
    // owns. The scratch directory's (mounted by host root) is refused...
    let pod_dir = scratch.join("state/podns/pods/p0");
    let mount = |volume: &Path, name: &str| {
        let mut args = vec!["--json"];
        args.extend(subpath_mount_args(volume, "data", &pod_dir, name, "0"));
        args.extend(["--idmap-pod", "p0"]);
        podns_run(&args)
    };
    let host_volume = root_owned_volume(&scratch.join("host-volume"));
    let refused = mount(&host_volume, "host");
    refused.assert_code(1);
    assert!(
        refused.stderr.contains(r#""kind":"not-idmappable""#)
            && refused.stderr.contains("CAP_SYS_ADMIN"),
        "{}",
        refused.stderr
    );
    assert!(common::mounts_below(&pod_dir).is_empty());
    // ... and a tmpfs mounted in its own mount namespace is idmapped: its
    // root's file is the container's root's, and back.
    let tmpfs = scratch.join("tmpfs-volume");
    std::fs::create_dir(&tmpfs).unwrap();
    sh("mount", &["-t", "tmpfs", "tmpfs", tmpfs.to_str().unwrap()]);
    let own_volume = root_owned_volume(&tmpfs);
    let mounted = mount(&own_volume, "own");
    mounted.assert_code(0);
    let target: Value = serde_json::from_str(&mounted.stdout).unwrap();
    let volume = json!({"destination": "/vol", "type": "bind",
                        "source": target["target"], "options": ["rbind"]});
    let dir = scratch.join("crun-volume");
    std::fs::create_dir(&dir).unwrap();
    let script = "stat -c 'owner=%u:%g' /vol/owned-by-root; \
                  touch /vol/made-inside && echo write=ok";
    let namespaces = oci["namespaces"].as_array().unwrap().clone();
    let bundle = bundle_with(&dir, namespaces, oci, script, vec![volume]);
    let report = Runtime::Crun.run(&dir.join("state"), &bundle, "volume");
    assert_eq!(field(&report, "owner"), "0:0", "{report}");
    assert_eq!(field(&report, "write"), "ok", "{report}");
    assert_eq!(owner(&own_volume.join("data/made-inside")), (0, 0));
    let mut clean = vec!["--json"];
    clean.extend(subpath_clean_args(&pod_dir, "own"));
    podns_json(&clean);
    podns_json(&["--json", "ns", "remove", "p0"]);
    println!("rootless-runtime role: done");
}
