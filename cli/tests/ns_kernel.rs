//! Pod namespaces on the real kernel: `podns ns` creates a user namespace
//! with the pod's maps and a network namespace owned by it, pins both,
//! removes them without a trace, and sweeps what a `kill -9` at any step
//! left behind; 100 create/remove cycles leak no mount and no fd.
//!
//! These tests need root (each one says why it skips otherwise). So that no
//! mount can leak onto the machine, every scenario runs in a private mount
//! namespace: the test re-executes its own binary, running only itself,
//! under `unshare -m --propagation private`
//! ([`common::rerun_in_private_mount_namespace`]). The test harness is
//! multi-threaded, so it cannot unshare itself. Nothing sleeps: a podns
//! process paused by `PODNS_TEST_PAUSE_AT` says so on stdout, and orphaned
//! helpers are reaped (the re-run is a child subreaper) before anything is
//! checked.

mod common;

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use podns_backend_linux::ns::{namespace_id, owner_user_namespace};
use podns_backend_linux::{AllocationPolicy, Node, NodeConfig, PodUid, block_on};
use rustix::fs::{Mode, OFlags};
use rustix::process::{WaitId, WaitIdOptions};
use serde_json::Value;

use common::{
    NOBODY, NS_CREATE_STEPS, Nobody, NsDirs, Pause, mount_table, podns,
    rerun_in_private_mount_namespace, run, spawn_paused,
};

/// Why this machine cannot run the scenarios, if it cannot.
fn cannot_run() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some(
            "creating pod namespaces needs root (mapping a pod's host ID range, bind-mounting \
             nsfs files); run the tests as root"
                .into(),
        );
    }
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim() == "0" {
        return Some("user namespaces are disabled (max_user_namespaces is 0)".into());
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        return Some("`unshare` (util-linux) is needed for a private mount namespace".into());
    }
    None
}

/// True in the re-executed test binary, inside its private mount namespace,
/// where the scenario runs; false (after checking the re-run passed, or after
/// saying why it skips) in the outer run.
fn in_private_mount_namespace(test_name: &str) -> bool {
    if std::env::var_os(common::IN_PRIVATE_MOUNT_NAMESPACE).is_none() {
        if let Some(why) = cannot_run() {
            println!("skipping {test_name}: {why}");
            return false;
        }
    }
    if !rerun_in_private_mount_namespace(test_name) {
        return false;
    }
    // Orphaned helpers (their podns killed) are reparented to us, so we can
    // wait for them instead of guessing when they are gone.
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
    true
}

#[test]
fn create_join_and_remove() {
    if in_private_mount_namespace("create_join_and_remove") {
        create_join_remove();
    }
}

#[test]
fn kill_at_every_step_then_sweep() {
    if in_private_mount_namespace("kill_at_every_step_then_sweep") {
        kill_then_sweep();
    }
}

#[test]
fn hundred_cycles_leak_nothing() {
    if in_private_mount_namespace("hundred_cycles_leak_nothing") {
        hundred_cycles();
    }
}

fn open(path: &str) -> rustix::fd::OwnedFd {
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .unwrap_or_else(|e| panic!("open {path}: {e}"))
}

fn nsenter(args: &[&str]) -> String {
    let output = Command::new("nsenter")
        .args(args)
        .output()
        .expect("run nsenter");
    assert!(
        output.status.success(),
        "nsenter {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn create_join_remove() {
    let dirs = NsDirs::new();
    let created = dirs.ok(&["ns", "create", "pod-1"]);
    println!("created: {created}");
    assert_eq!(created["created"], true);
    let net_pin = created["netPin"].as_str().unwrap().to_owned();
    let user_pin = created["userPin"].as_str().unwrap().to_owned();
    let run = std::fs::canonicalize(&dirs.run).unwrap();
    assert_eq!(net_pin, format!("{}/pod-1/net", run.display()));
    assert_eq!(user_pin, format!("{}/pod-1/user", run.display()));
    let host_id = created["uidMappings"][0]["hostId"].as_u64().unwrap();
    let length = created["uidMappings"][0]["length"].as_u64().unwrap();
    assert_eq!(created["gidMappings"], created["uidMappings"]);
    let oci = &created["oci"];
    assert_eq!(oci["namespaces"][0]["type"], "network");
    assert_eq!(oci["namespaces"][0]["path"], net_pin.as_str());
    assert_eq!(oci["namespaces"][4]["type"], "user");
    assert_eq!(oci["namespaces"][4]["path"], user_pin.as_str());
    assert_eq!(oci["uidMappings"][0]["hostID"], host_id);

    // A process joining both pins sees the pod's maps.
    let expected = format!("0 {host_id} {length}");
    for file in ["uid_map", "gid_map"] {
        let seen = nsenter(&[
            &format!("--user={user_pin}"),
            &format!("--net={net_pin}"),
            "cat",
            &format!("/proc/self/{file}"),
        ]);
        let seen: Vec<&str> = seen.split_whitespace().collect();
        assert_eq!(seen.join(" "), expected, "{file}");
    }
    // The network namespace is new: only a loopback device.
    if have("ip") {
        let links = nsenter(&[&format!("--net={net_pin}"), "ip", "-o", "link"]);
        let names: Vec<&str> = links
            .lines()
            .filter_map(|line| line.split(':').nth(1).map(str::trim))
            .collect();
        assert_eq!(names, ["lo"], "{links}");
    } else {
        println!("`ip` is not installed: the loopback-only check is skipped");
    }
    // The ownership check, independently of podns: NS_GET_USERNS of the
    // pinned network namespace is the pinned user namespace.
    let net = open(&net_pin);
    let user = open(&user_pin);
    let owner = owner_user_namespace(net.as_fd()).unwrap();
    assert_eq!(namespace_id(&owner).unwrap(), namespace_id(&user).unwrap());
    assert_eq!(
        created["netNs"],
        format!("net:[{}]", namespace_id(&net).unwrap().ino)
    );
    drop((net, user, owner));

    // Listed, complete and allocated; a second create returns the same pair.
    let list = dirs.ok(&["ns", "list"]);
    assert_eq!(list["pods"][0]["pod"], "pod-1");
    assert_eq!(list["pods"][0]["complete"], true);
    assert_eq!(list["pods"][0]["allocated"], true);
    let again = dirs.ok(&["ns", "create", "pod-1"]);
    assert_eq!(again["created"], false);
    assert_eq!(again["netNs"], created["netNs"]);
    assert_eq!(again["userNs"], created["userNs"]);

    // The join spec for a container: IPC and UTS from the sandbox, its own
    // PID namespace in CONTAINER mode.
    let spec = dirs.ok(&[
        "ns",
        "spec",
        "pod-1",
        "--sandbox-pid",
        "1",
        "--pid-mode",
        "container",
    ]);
    let types: Vec<(&str, Option<&str>)> = spec["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ns| (ns["type"].as_str().unwrap(), ns["path"].as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("network", Some(net_pin.as_str())),
            ("ipc", Some("/proc/1/ns/ipc")),
            ("uts", Some("/proc/1/ns/uts")),
            ("pid", None),
            ("user", Some(user_pin.as_str())),
        ]
    );

    // Remove: no mount left in mountinfo, no file left.
    let removed = dirs.ok(&["ns", "remove", "pod-1"]);
    assert_eq!(removed["removed"], true);
    assert_eq!(removed["unmounted"], 2);
    dirs.assert_nothing_left("after remove");
    assert!(!Path::new(&net_pin).exists());
    let again = dirs.ok(&["ns", "remove", "pod-1"]);
    assert_eq!(again["removed"], false);
    // Without pins there is nothing to join.
    let (code, _, stderr) = dirs.podns(&["ns", "spec", "pod-1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(r#""kind":"not-pinned""#), "{stderr}");
    reap_orphans();
}

/// Waits for every child, helpers reparented to us included.
fn reap_orphans() {
    loop {
        match rustix::process::waitid(WaitId::All, WaitIdOptions::EXITED) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::CHILD) => return,
            Err(e) => panic!("waitid: {e}"),
        }
    }
}

/// Runs `podns <args>` with `PODNS_TEST_PAUSE_AT=<step>`, waits until it
/// says it paused there, and kills it with SIGKILL; then reaps every orphan.
fn kill_at(dirs: &NsDirs, step: &str, args: &[&str]) {
    kill_at_with(dirs, step, args, |_| {});
}

/// [`kill_at`], calling `paused` with podns's pid while it is paused.
fn kill_at_with(dirs: &NsDirs, step: &str, args: &[&str], paused: impl FnOnce(u32)) {
    let mut child = match spawn_paused(dirs.command(args), Pause::At(step)) {
        Ok(child) => child,
        Err((mut child, line)) => {
            let _ = child.kill();
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            let _ = child.wait();
            panic!("podns {args:?} did not pause at {step}: stdout {line:?}, stderr {stderr}");
        }
    };
    paused(child.id());
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    reap_orphans();
}

fn kill_then_sweep() {
    let dirs = NsDirs::new();
    // A pod that must survive every sweep with --keep.
    dirs.ok(&["ns", "create", "kept"]);
    let kept = dirs.ok(&["ns", "list"])["pods"][0].clone();
    for (index, step) in NS_CREATE_STEPS.iter().enumerate() {
        let pod = format!("killed-{index}");
        kill_at_with(&dirs, step, &["ns", "create", &pod], |podns| {
            if step.starts_with("helper-") || step.ends_with("-pinned") {
                assert_helper_holds_only_its_socket(podns);
            }
        });
        let left = dirs.mounts_below_run();
        let swept = dirs.ok(&["ns", "sweep", "--keep", "kept"]);
        println!(
            "killed at {step}: left {} mount(s); sweep: {swept}",
            left.len() - 2
        );
        assert_eq!(swept["failures"], Value::Array(Vec::new()), "{step}");
        assert_eq!(swept["kept"], serde_json::json!(["kept"]), "{step}");
        let list = dirs.ok(&["ns", "list"]);
        assert_eq!(list["pods"], serde_json::json!([kept]), "after {step}");
        assert_eq!(dirs.mounts_below_run().len(), 2, "after {step}");
    }
    // A remove killed half-way is finished by a sweep too.
    for step in [
        "after-read-mount-info",
        "after-detach-mount",
        "after-remove-file",
    ] {
        dirs.ok(&["ns", "create", "removed"]);
        kill_at(&dirs, step, &["ns", "remove", "removed"]);
        dirs.ok(&["ns", "sweep", "--keep", "kept"]);
        assert_eq!(dirs.mounts_below_run().len(), 2, "after {step}");
    }
    // And a sweep without --keep leaves nothing at all.
    let swept = dirs.ok(&["ns", "sweep"]);
    assert_eq!(swept["swept"][0]["pod"], "kept");
    assert_eq!(swept["swept"][0]["reason"], "not in the keep set");
    dirs.assert_nothing_left("after the last sweep");
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1) == Some(pid.to_string().as_str())
        })
        .collect()
}

/// The paused podns has one child, the helper, which holds stdio on
/// /dev/null and one socket: none of podns's fds (its locks, its roots).
fn assert_helper_holds_only_its_socket(podns: u32) {
    let helpers = children_of(podns);
    assert_eq!(helpers.len(), 1, "podns {podns} has children {helpers:?}");
    let helper = helpers[0];
    let mut fds: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{helper}/fd"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let fd = entry.file_name().to_str().unwrap().parse().unwrap();
            let target = std::fs::read_link(entry.path()).unwrap();
            (fd, target.display().to_string())
        })
        .collect();
    fds.sort();
    let targets: Vec<&str> = fds.iter().map(|(_, target)| target.as_str()).collect();
    assert_eq!(targets.len(), 4, "helper {helper} fds: {fds:?}");
    assert_eq!(
        &targets[..3],
        ["/dev/null"; 3],
        "helper {helper} fds: {fds:?}"
    );
    assert!(
        targets[3].starts_with("socket:["),
        "helper {helper} fds: {fds:?}"
    );
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|line| line.starts_with("Threads:"))
        .unwrap()
        .to_owned()
}

/// 100 create/remove cycles through the library, in this process: the
/// mount table, the fd table and the thread count end as they started.
fn hundred_cycles() {
    let dirs = NsDirs::new();
    let config = NodeConfig::default()
        .with_pods_dir(&dirs.pods)
        .with_run_dir(&dirs.run)
        .with_seed(1)
        .with_policy(AllocationPolicy::LowestFree);
    let node = block_on(Node::open(config)).unwrap();
    let pod = PodUid::new("cycling").unwrap();
    let cycle = || {
        let sandbox = block_on(node.create_pod_namespaces(&pod)).unwrap();
        assert!(sandbox.namespaces.created);
        let removed = block_on(node.remove_pod_namespaces(&pod)).unwrap();
        assert_eq!(removed.unmounted, 2);
    };
    // The first cycle sets up the run directory (a mount and a root fd) for
    // the node's lifetime, and the node's thread is running: measure after.
    cycle();
    let before = (mount_table().len(), count_fds(), threads());
    for _ in 0..100 {
        cycle();
    }
    reap_orphans();
    let after = (mount_table().len(), count_fds(), threads());
    println!(
        "100 create/remove cycles: mounts {} -> {}, open fds {} -> {}, {} -> {}",
        before.0, after.0, before.1, after.1, before.2, after.2
    );
    assert_eq!(before, after);
    dirs.assert_nothing_left("after 100 cycles");
}

/// An unprivileged user gets a clear refusal for `ns create`, while `ns
/// list` works under `$XDG_RUNTIME_DIR/podns` (no mount is attempted).
#[test]
fn unprivileged_users_get_a_clear_refusal() {
    if !rustix::process::geteuid().is_root() {
        // Then this process is the unprivileged user.
        let output = podns(&["--json", "ns", "create", "pod"]);
        let stderr = &output.stderr;
        assert_eq!(output.code, 1, "{stderr}");
        assert!(stderr.contains(r#""kind":"needs-root""#), "{stderr}");
        return;
    }
    let nobody = Nobody::new().expect("this process is root");
    let temp = tempfile::TempDir::new().unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let xdg = temp.path().join("xdg");
    std::fs::create_dir(&xdg).unwrap();
    rustix::fs::chown(&xdg, Some(rustix::fs::Uid::from_raw(NOBODY)), None).unwrap();
    let pods = temp.path().join("pods");
    let as_nobody = |args: &[&str]| {
        let mut command = nobody.command(&["--pods-dir"]);
        command
            .arg(&pods)
            .arg("--json")
            .args(args)
            .env_clear()
            .env("XDG_RUNTIME_DIR", &xdg);
        run(command)
    };
    let output = as_nobody(&["ns", "create", "pod"]);
    let stderr = &output.stderr;
    assert_eq!(output.code, 1, "{stderr}");
    assert!(stderr.contains(r#""kind":"needs-root""#), "{stderr}");
    assert!(stderr.contains("may map only its own UID"), "{stderr}");
    assert!(
        stderr.contains(&xdg.join("podns").display().to_string()),
        "{stderr}"
    );
    let output = as_nobody(&["ns", "list"]);
    let stderr = &output.stderr;
    assert_eq!(output.code, 0, "{stderr}");
    assert_eq!(output.stdout.trim(), r#"{"pods":[],"ignoredMounts":[]}"#);
    assert!(xdg.join("podns/.podns.lock").exists());
}
