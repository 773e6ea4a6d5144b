//! The ID map writer and the core's split against the real kernel. Needs
//! root (it is skipped, with the reason printed, otherwise).
//!
//! The kernel accepts a child namespace's extent only when its outside range
//! lies inside ONE extent of the parent namespace's map. These tests build a
//! parent namespace with a rootless layout and show that the unsplit map
//! `0 0 100` is refused with `EPERM`, while podns's split of it is written
//! and read back equal.
//!
//! How the namespaces are built (`common::run_role_in_userns`):
//!
//! 1. This test process (T, real root) re-executes its own test binary as P,
//!    role `parent`, in a new user namespace whose maps T writes: `0 1000 1`
//!    and `1 100000 65536` (root is host ID 1000; 65536 subordinate IDs
//!    start at host ID 100000). P is UID/GID 0 of it (host 1000).
//! 2. P, root of that rootless namespace, starts grandchildren G the same
//!    way and writes their maps itself. G runs the test binary as role
//!    `grandchild` and checks its own view of its map.
//!
//! P also runs the `podns idmap rootless` and `podns idmap split` commands,
//! whose default parent map is the real `/proc/self/uid_map` of a rootless
//! namespace. [`cli_idmap_commands_and_subuid_pool`] checks the commands'
//! output and exit codes outside any namespace (no root needed).

mod common;

use std::path::Path;
use std::process::Command;

use podns_backend_linux::{
    FaultyExtent, IdMapKind, IdMapWriteError, IdMapWriter, SetgroupsPolicy, read_own_id_map,
    read_process_id_map,
};
use podns_core::{Errno, IdExtent, IdMap, split_for_parent};
use rustix::process::Uid;
use rustix::thread::UnshareFlags;

use common::{
    BlockedInUserns, PODNS, PODNS_ENV, ROLE_ENV, Run, podns_command, podns_command_at, role,
    role_command, run, run_role_in_userns,
};

/// The map a grandchild must see in its own `/proc/self/uid_map`.
const EXPECT_ENV: &str = "PODNS_IDMAP_KERNEL_EXPECT_UID_MAP";
/// The test the helper roles run in.
const HELPER_TEST: &str = "idmap_kernel_helper";
/// P's maps, as a rootless user's namespace has them (newuidmap writes the
/// same from `/etc/subuid`).
const PARENT_MAP: &str = "0 1000 1\n1 100000 65536\n";
/// What the grandchild asks for: 100 IDs from 0, unsplit.
const REQUEST: &str = "0 0 100\n";
/// podns's split of [`REQUEST`] against [`PARENT_MAP`].
const SPLIT: &str = "0 0 1\n1 1 99\n";

#[test]
fn rootless_parent_refuses_the_unsplit_map_and_takes_the_split_one() {
    run_role_in_userns(HELPER_TEST, "parent", PARENT_MAP, &[]);
}

/// The maps a two-line `/etc/subuid` gives (100000 IDs at host ID 1000000,
/// then 1000000 at 3000000), root being host UID 1001: inside IDs 0-1100000
/// across three extents.
const TWO_RANGE_MAP: &str = "0 1001 1\n1 1000000 100000\n100001 3000000 1000000\n";
/// Where the rootless node role keeps its state (`XDG_STATE_HOME`).
const STATE_ENV: &str = "PODNS_IDMAP_KERNEL_STATE";

/// podns run by root of a rootless namespace, with no flags, keeps its
/// pods under `$XDG_STATE_HOME` and takes its pool from the IDs the
/// namespace maps.
#[test]
fn a_rootless_node_takes_its_defaults_from_the_namespace() {
    let state = tempfile::TempDir::new().unwrap();
    std::fs::set_permissions(
        state.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    run_role_in_userns(
        HELPER_TEST,
        "rootless-node",
        TWO_RANGE_MAP,
        &[(STATE_ENV, state.path().as_os_str())],
    );
    // Written by host UID 1001, root of that namespace.
    let file = state.path().join("podns/pods/p1/userns");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&file).unwrap());
    assert_eq!(owner, 1001, "{}", file.display());
}

/// The roles of the re-executed test binary; without [`ROLE_ENV`] (a normal
/// test run) there is nothing to do.
#[test]
fn idmap_kernel_helper() {
    match role().as_deref() {
        Some("parent") => parent_role(),
        Some("grandchild") => grandchild_role(),
        Some("rootless-node") => rootless_node_role(),
        Some(other) => panic!("unknown {ROLE_ENV} {other:?}"),
        None => {}
    }
}

/// Runs in P: root of a namespace whose map is [`PARENT_MAP`].
fn parent_role() {
    let own_uid_map = read_own_id_map(IdMapKind::Uid).unwrap();
    let own_gid_map = read_own_id_map(IdMapKind::Gid).unwrap();
    assert_eq!(own_uid_map.render_for_write(), PARENT_MAP);
    assert_eq!(own_gid_map.render_for_write(), PARENT_MAP);
    assert_eq!(rustix::process::geteuid(), Uid::ROOT);
    let exe = std::env::current_exe().unwrap();
    let request = IdMap::parse(REQUEST).unwrap();
    let uid_split = split_for_parent(&request, &own_uid_map).unwrap();
    let gid_split = split_for_parent(&request, &own_gid_map).unwrap();
    assert_eq!(uid_split.render_for_write(), SPLIT);

    // Grandchild 1: the unsplit map is refused with EPERM, and the error
    // names its only extent; the split map is written and read back equal.
    let child = BlockedInUserns::spawn(grandchild_command(&exe), false);
    let writer = IdMapWriter::new(child.pid);
    let error = writer
        .write_map(IdMapKind::Uid, &request)
        .expect_err("the kernel must refuse an extent that spans two parent extents");
    println!("unsplit map refused as expected: {error}");
    match &error {
        IdMapWriteError::Write { errno, culprit, .. } => {
            assert_eq!(*errno, Errno::EPERM, "{error}");
            assert_eq!(
                *culprit,
                Some(FaultyExtent {
                    line: 1,
                    extent: IdExtent::new(0, 0, 100)
                }),
                "{error}"
            );
        }
        other => panic!("expected a refused write, got {other}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&format!("/proc/{}/uid_map", child.pid)),
        "{message}"
    );
    assert!(message.contains("extent 1 (`0 0 100`)"), "{message}");
    // A failed write leaves the map unwritten: the split map still goes in.
    writer
        .write(&uid_split, &gid_split)
        .unwrap_or_else(|error| panic!("writing the split maps: {error}"));
    assert_eq!(
        read_process_id_map(child.pid, IdMapKind::Uid).unwrap(),
        uid_split
    );
    assert_eq!(
        read_process_id_map(child.pid, IdMapKind::Gid).unwrap(),
        gid_split
    );
    // A root writer leaves setgroups alone.
    assert_eq!(setgroups_of(child.pid), "allow");
    // Written once: a second write is refused, and the error says why.
    let again = writer.write_map(IdMapKind::Uid, &uid_split).unwrap_err();
    assert!(again.to_string().contains("already written"), "{again}");
    finish(child, "grandchild 1");

    // Grandchild 2: an explicit "deny" goes to setgroups between the maps.
    let child = BlockedInUserns::spawn(grandchild_command(&exe), false);
    IdMapWriter::new(child.pid)
        .with_setgroups(SetgroupsPolicy::Deny)
        .write(&uid_split, &gid_split)
        .unwrap_or_else(|error| panic!("writing the split maps with setgroups deny: {error}"));
    assert_eq!(setgroups_of(child.pid), "deny");
    finish(child, "grandchild 2");

    // The CLI sees the same rootless map, and splits against it by default.
    let podns = std::env::var_os(PODNS_ENV).expect("podns path");
    let (code, stdout, _) = run_podns(&podns, &["idmap", "rootless"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        r#"{"rootless":true,"availableIds":65537,"mappings":[{"containerId":0,"hostId":1000,"size":1},{"containerId":1,"hostId":100000,"size":65536}]}"#
    );
    let (code, stdout, _) = run_podns(&podns, &["idmap", "split", "--request", "0:0:100"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        r#"{"mappings":[{"containerId":0,"hostId":0,"size":1},{"containerId":1,"hostId":1,"size":99}]}"#
    );
    // Host ID 65537 is one past what the parent maps.
    let (code, _, stderr) = run_podns(
        &podns,
        &["--json", "idmap", "split", "--request", "0:0:65538"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(r#""kind":"not-in-parent""#), "{stderr}");
    assert!(stderr.contains("host ID 65537 "), "{stderr}");

    // 65537 IDs hold no aligned pod range above the first block: a clear
    // error, exit 1, and nothing written.
    let pods = tempfile::TempDir::new().unwrap();
    let pods_dir = pods.path().to_str().unwrap();
    let (code, _, stderr) = run_podns(&podns, &["--json", "--pods-dir", pods_dir, "alloc", "p1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(r#""kind":"too-few-ids""#), "{stderr}");
    assert!(stderr.contains("maps 65537 IDs"), "{stderr}");
    assert_eq!(std::fs::read_dir(pods.path()).unwrap().count(), 0);
    println!("parent role: done");
}

/// Runs in P, root of a namespace whose maps are [`TWO_RANGE_MAP`]: podns
/// with no flags.
fn rootless_node_role() {
    let podns = std::env::var_os(PODNS_ENV).expect("podns path");
    let state = std::env::var_os(STATE_ENV).expect("state directory");
    // Each command and its output, as a session transcript.
    let shown = |args: &[&str], result: (i32, String, String)| {
        println!("transcript: $ podns {}", args.join(" "));
        for line in result.1.lines().chain(result.2.lines()) {
            println!("transcript: {line}");
        }
        result
    };
    let no_flags = |args: &[&str]| {
        let mut command = podns_command_at(Path::new(&podns), args);
        command
            .env("XDG_STATE_HOME", &state)
            .env_remove("XDG_RUNTIME_DIR");
        shown(args, parts(run(command)))
    };
    let (code, stdout, stderr) = no_flags(&["--json", "list"]);
    assert_eq!(code, 0, "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // Inside IDs 65536-1048575: 15 slots of 65536, the first one across
    // the extent boundary at 100001.
    assert_eq!(list["capacity"], 15, "{stdout}");
    assert_eq!(list["free"], 15, "{stdout}");
    // Pod namespaces, in a mount namespace of this user namespace's own
    // (the pins are bind mounts; shared mounts of the parent became slaves,
    // so none reaches the machine, and all die with this process).
    // SAFETY: NEWNS unshares no fd table (what makes unshare unsafe), only
    // the mount namespace.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }.expect("unshare a mount ns");
    let run_dir = Path::new(&state).join("run");
    let ns = |args: &[&str]| {
        let mut command = podns_command_at(Path::new(&podns), args);
        command
            .env("XDG_STATE_HOME", &state)
            .env("XDG_RUNTIME_DIR", &run_dir);
        shown(args, parts(run(command)))
    };
    // The lowest slot, 65536-131071, spans the extent boundary at 100001.
    let (code, stdout, stderr) = ns(&["--json", "--policy", "lowest-free", "ns", "create", "p0"]);
    assert_eq!(code, 0, "{stderr}");
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let net_pin = created["netPin"].as_str().unwrap().to_owned();
    assert!(
        net_pin.starts_with(&format!("{}/podns/", run_dir.display())),
        "{stdout}"
    );
    let oci: Vec<(u64, u64, u64)> = created["oci"]["uidMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let field = |name: &str| m[name].as_u64().unwrap();
            (field("containerID"), field("hostID"), field("size"))
        })
        .collect();
    assert_eq!(oci, [(0, 65536, 34465), (34465, 100001, 31071)], "{stdout}");
    // The allocation's OCI form for a runtime is split the same way.
    let (code, stdout, stderr) = no_flags(&["alloc", "p0", "--format", "oci"]);
    assert_eq!(code, 0, "{stderr}");
    let alloc_oci: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        alloc_oci["uidMappings"], created["oci"]["uidMappings"],
        "{stdout}"
    );
    let (code, stdout, stderr) = ns(&["--json", "ns", "sweep", "--keep", "p0"]);
    assert_eq!(code, 0, "{stderr}");
    let swept: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(swept["kept"], serde_json::json!(["p0"]), "{stdout}");
    let (code, _, stderr) = ns(&["--json", "ns", "remove", "p0"]);
    assert_eq!(code, 0, "{stderr}");
    println!("rootless-node role: namespaces of p0 created with split maps, kept, removed");
    // The doctor says what the defaults resolved to and how many pods fit.
    let (code, stdout, stderr) = ns(&["--json", "doctor"]);
    assert_eq!(code, 0, "{stderr}");
    let doctor: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doctor["capacity"], 15, "{stdout}");
    assert_eq!(doctor["pool"], list["poolSource"], "{stdout}");
    assert!(
        doctor["podsDir"]
            .as_str()
            .unwrap()
            .starts_with(&*std::path::Path::new(&state).to_string_lossy()),
        "{stdout}"
    );

    let (code, stdout, stderr) = no_flags(&["--json", "alloc", "p1"]);
    assert_eq!(code, 0, "{stderr}");
    let allocated: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let host_id = allocated["uidMappings"][0]["hostId"].as_u64().unwrap();
    assert!(
        (65536..1_048_576).contains(&host_id) && host_id % 65536 == 0,
        "{stdout}"
    );
    let file = Path::new(&state).join("podns/pods/p1/userns");
    assert!(file.exists(), "{} is missing", file.display());
    println!("rootless-node role: allocated host ID {host_id}");

    // One pod per slot: p0 and p1 hold two of the 15, thirteen more fill the
    // pool, and the next is refused with the capacity.
    let mut hosts = std::collections::BTreeSet::from([host_id, 65536]);
    for index in 2..15 {
        let (code, stdout, stderr) = no_flags(&["--json", "alloc", &format!("p{index}")]);
        assert_eq!(code, 0, "p{index}: {stderr}");
        let allocated: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        hosts.insert(allocated["uidMappings"][0]["hostId"].as_u64().unwrap());
    }
    let every_slot: std::collections::BTreeSet<u64> = (1..16).map(|slot| slot * 65536).collect();
    assert_eq!(hosts, every_slot);
    let (code, _, stderr) = no_flags(&["--json", "alloc", "p15"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(r#""kind":"pool-exhausted""#), "{stderr}");
    assert!(stderr.contains("all 15 usable slots"), "{stderr}");
    println!("rootless-node role: 15 pods fill the pool, the 16th is refused");
    println!("rootless-node role: done");
}

/// Runs in G: its own view of its map is the split map, relative to P.
fn grandchild_role() {
    let expected = std::env::var(EXPECT_ENV).unwrap();
    let own = read_own_id_map(IdMapKind::Uid).unwrap();
    assert_eq!(own.render_for_write(), expected);
    println!(
        "grandchild role: sees {}",
        own.render_for_write().trim_end().replace('\n', ", ")
    );
}

fn grandchild_command(exe: &Path) -> Command {
    let mut command = role_command(exe, HELPER_TEST, "grandchild");
    command.env(EXPECT_ENV, SPLIT);
    command
}

/// Lets a grandchild exec and checks that it succeeded.
fn finish(child: BlockedInUserns, name: &str) {
    let status = child
        .release()
        .wait()
        .unwrap_or_else(|error| panic!("wait for {name}: {error}"));
    assert!(status.success(), "{name} failed: {status}");
}

fn setgroups_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/setgroups"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Runs the podns at `podns` with `args`; returns its exit code, stdout
/// (without the final newline) and stderr.
fn run_podns(podns: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> (i32, String, String) {
    parts(run(podns_command_at(Path::new(podns.as_ref()), args)))
}

fn parts(run: Run) -> (i32, String, String) {
    let stdout = run
        .stdout
        .strip_suffix('\n')
        .unwrap_or(&run.stdout)
        .to_owned();
    (run.code, stdout, run.stderr)
}

/// `podns idmap` and `--subuid-user` outside any namespace: output, exit
/// code 2 for bad input naming the file and line, 1 for a split that cannot
/// be done.
#[test]
fn cli_idmap_commands_and_subuid_pool() {
    let dir = tempfile::TempDir::new().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };

    // parse: the kernel's padded format; bad lines are named.
    let good = file(
        "uid_map",
        "         0       1000          1\n         1     100000      65536\n",
    );
    let (code, stdout, _) = run_podns(PODNS, &["idmap", "parse", &good]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        r#"{"mappings":[{"containerId":0,"hostId":1000,"size":1},{"containerId":1,"hostId":100000,"size":65536}]}"#
    );
    let bad = file("bad_map", "0 0 1\n1 1 -5\n");
    let (code, stdout, stderr) = run_podns(PODNS, &["--json", "idmap", "parse", &bad]);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert!(stderr.contains(r#""kind":"invalid-idmap""#), "{stderr}");
    assert!(
        stderr.contains(&format!("{bad}: line 2: count (field 3) `-5`")),
        "{stderr}"
    );

    // split: the four reference vectors, the parent given as a file.
    let split = |request: &str, parent: &str| {
        let parent = file("parent_map", parent);
        run_podns(
            PODNS,
            &["idmap", "split", "--request", request, "--parent", &parent],
        )
    };
    assert_eq!(
        split("0:0:2", "1 1000000 65536\n0 1000 1\n"),
        (
            0,
            r#"{"mappings":[{"containerId":0,"hostId":0,"size":1},{"containerId":1,"hostId":1,"size":1}]}"#.to_owned(),
            String::new()
        )
    );
    assert_eq!(
        split("0:0:2", "0 1000000 65536\n").1,
        r#"{"mappings":[{"containerId":0,"hostId":0,"size":2}]}"#
    );
    let (code, _, stderr) = split("0:0:1", "10000 10000 65536\n");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("host ID 0 "), "{stderr}");
    assert_eq!(
        split("0:0:4", "0 0 1\n1 1 1\n2 2 1\n3 3 1\n").1,
        r#"{"mappings":[{"containerId":0,"hostId":0,"size":1},{"containerId":1,"hostId":1,"size":1},{"containerId":2,"hostId":2,"size":1},{"containerId":3,"hostId":3,"size":1}]}"#
    );
    let (code, _, stderr) = split("0:0", "0 0 1\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("expected CONTAINER:HOST:SIZE"), "{stderr}");

    // --subuid-user: the pool is the user's single range in both files.
    let pods = dir.path().join("pods");
    let pods = pods.to_str().unwrap();
    let passwd = file(
        "passwd",
        "root:x:0:0::/root:/bin/sh\nkubelet:x:1000:1000::/:/bin/sh\n",
    );
    let as_user = |user: &str, subuid: &str, subgid: &str, args: &[&str]| {
        let mut all = vec!["--pods-dir", pods, "--subuid-user", user];
        all.extend_from_slice(args);
        let mut command = podns_command(&all);
        command
            .env("PODNS_SUBUID_FILE", file("subuid", subuid))
            .env("PODNS_SUBGID_FILE", file("subgid", subgid))
            .env("PODNS_PASSWD_FILE", &passwd);
        parts(run(command))
    };
    let with_subids =
        |subuid: &str, subgid: &str, args: &[&str]| as_user("kubelet", subuid, subgid, args);
    let ranges = "# kubelet's pool\nalice:100000:65536\nkubelet:65536:7208960\n";
    let (code, stdout, stderr) = with_subids(ranges, ranges, &["list"]);
    assert_eq!(code, 0, "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["capacity"], 110, "{stdout}");
    let (code, _, stderr) = with_subids(ranges, "kubelet:131072:7208960\n", &["list"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("subordinate UIDs 65536-7274495"),
        "{stderr}"
    );
    assert!(stderr.contains("subgid:1"), "{stderr}");
    let (code, _, stderr) = with_subids("kubelet:65536:x\n", ranges, &["list"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("subuid:1: count `x`"), "{stderr}");
    let twice = "kubelet:65536:65536\nkubelet:196608:65536\n";
    let (code, _, stderr) = with_subids(twice, twice, &["list"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("(lines 1, 2)"), "{stderr}");
    let (code, _, stderr) = with_subids(ranges, ranges, &["--first-id", "65536", "list"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("do not also pass --first-id"), "{stderr}");

    // Lines may name the owner by UID, and the user may be given by UID:
    // the passwd file links the two, as shadow-utils does.
    let by_uid = "alice:100000:65536\n1000:65536:7208960\n";
    for (user, subuid, subgid) in [
        ("kubelet", by_uid, by_uid),
        ("kubelet", by_uid, ranges),
        ("1000", ranges, ranges),
        ("1000", by_uid, ranges),
    ] {
        let (code, stdout, stderr) = as_user(user, subuid, subgid, &["list"]);
        assert_eq!(code, 0, "{user}: {stderr}");
        let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(list["capacity"], 110, "{user}: {stdout}");
    }
    // A user the passwd file does not know is matched by the form given.
    let (code, _, stderr) = as_user("bob", by_uid, by_uid, &["list"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bob"), "{stderr}");
    let (_, stdout, _) = with_subids(ranges, ranges, &["list"]);
    assert!(
        stdout.contains(r#""poolSource":"the subordinate range of kubelet, from "#)
            && stdout.contains("subuid and "),
        "{stdout}"
    );

    // getsubids first, when installed: its ranges win over the files'. One
    // that knows only kubelet, as sssd might serve it.
    let getsubids = file(
        "getsubids",
        "#!/bin/sh\nif [ \"$1\" = -g ]; then user=$2; else user=$1; fi\n\
         [ \"$user\" = kubelet ] || { echo 'Error fetching ranges' >&2; exit 1; }\n\
         echo '0: kubelet 262144 655360'\n",
    );
    std::fs::set_permissions(
        &getsubids,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let with_getsubids = |program: &std::ffi::OsStr, user: &str| {
        let args = [
            "--pods-dir",
            pods,
            "--subuid-user",
            user,
            "--max-pods",
            "10",
            "list",
        ];
        let mut command = podns_command(&args);
        command
            .env("PODNS_SUBUID_FILE", file("subuid", ranges))
            .env("PODNS_SUBGID_FILE", file("subgid", ranges))
            .env("PODNS_PASSWD_FILE", &passwd)
            .env("PODNS_GETSUBIDS", program);
        parts(run(command))
    };
    let (code, stdout, stderr) = with_getsubids(std::ffi::OsStr::new(&getsubids), "kubelet");
    assert_eq!(code, 0, "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["capacity"], 10, "{stdout}");
    let source = list["poolSource"].as_str().unwrap();
    assert!(source.ends_with("getsubids kubelet"), "{source}");
    // A user getsubids does not know, or no getsubids at all: the files.
    for (program, user) in [
        (std::ffi::OsStr::new(&getsubids), "1000"),
        (std::ffi::OsStr::new("/nonexistent/getsubids"), "kubelet"),
    ] {
        let (code, stdout, stderr) = with_getsubids(program, user);
        if user == "1000" {
            // The UID is kubelet's, and getsubids is asked by name.
            assert_eq!(code, 0, "{stderr}");
            assert!(stdout.contains("getsubids kubelet"), "{stdout}");
            continue;
        }
        // The files' range is 110 slots; --max-pods 10 fits.
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("subuid and "), "{stdout}");
        assert!(stdout.contains(r#""capacity":110"#), "{stdout}");
    }
    // One that hangs (a name service that never answers) is killed at its
    // deadline, and the files answer.
    let hanging = file("getsubids-hanging", "#!/bin/sh\nexec sleep 600\n");
    std::fs::set_permissions(
        &hanging,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (code, stdout, stderr) = with_getsubids(std::ffi::OsStr::new(&hanging), "kubelet");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(r#""capacity":110"#), "{stdout}");
    let (code, stdout, stderr) = with_getsubids(std::ffi::OsStr::new(&getsubids), "bob");
    assert_eq!(code, 2, "bob is in neither: {stdout} {stderr}");
}
