//! Pod namespaces per second: create + pin + remove, beside `ip netns add`
//! + `ip netns delete`, measured in the same run.
//!
//! - `namespaces/podns_library_create_remove`: one create (a user namespace
//!   with a pod's maps, a network namespace owned by it, both pinned and
//!   checked) and one remove, through the library in this process;
//! - `namespaces/podns_cli_create_remove`: the same as two `podns ns`
//!   invocations (`target/release/podns`, built by `bench/run.sh`), each
//!   recovering the pods directory first;
//! - `namespaces/ip_netns_add_delete`: `ip netns add` then `ip netns delete`
//!   (a network namespace only, owned by the initial user namespace, no
//!   check), two invocations.
//!
//! Needs root. So that no mount leaks onto the machine, the benchmark
//! re-executes itself in a private mount namespace (`unshare -m`); `ip`
//! still creates its pin file in the host's `/run/netns` and deletes it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::Criterion;
use podns_backend_linux::LinuxBackend;
use podns_bench::mount_namespace::rerun_in_private_mount_namespace;
use podns_core::{
    AllocationPolicy, GetOrCreate, NsEngine, NsRequest, PodIdMaps, PodUid, PoolConfig, RunDirPath,
    UsernsEngine, UsernsRequest, UsernsResponse, drive,
};

/// The `ip netns` name the benchmark uses.
const IP_NETNS_NAME: &str = "podns-bench";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn have(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn run(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("start the command");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn library(c: &mut Criterion, dir: &Path) {
    let pods = dir.join("pods");
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&pods).expect("pods dir");
    std::fs::create_dir_all(&run_dir).expect("run dir");
    let run_dir = std::fs::canonicalize(&run_dir).expect("canonical run dir");
    let mut backend = LinuxBackend::open(&pods)
        .expect("open the pods dir")
        .with_run_dir(&run_dir);
    let mut userns = UsernsEngine::new(
        PoolConfig::default().validate().expect("valid"),
        1,
        AllocationPolicy::LowestFree,
    );
    pollster::block_on(drive(&mut userns, &mut backend, UsernsRequest::Recover)).expect("recover");
    let pod = PodUid::new("bench-pod").expect("valid");
    let Ok(UsernsResponse::UserNamespace(allocation)) = pollster::block_on(drive(
        &mut userns,
        &mut backend,
        UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod.clone())),
    )) else {
        panic!("allocation failed");
    };
    let maps = PodIdMaps::from_userns(&allocation.userns).expect("POD mode");
    let mut ns =
        NsEngine::new(RunDirPath::new(run_dir.to_str().expect("UTF-8")).expect("absolute"));
    let mut group = c.benchmark_group("namespaces");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("podns_library_create_remove", |b| {
        b.iter(|| {
            let create = NsRequest::Create {
                pod: pod.clone(),
                maps: maps.clone(),
            };
            pollster::block_on(drive(&mut ns, &mut backend, create)).expect("create");
            let remove = NsRequest::Remove { pod: pod.clone() };
            pollster::block_on(drive(&mut ns, &mut backend, remove)).expect("remove");
        });
    });
    let podns = workspace_root().join("target/release/podns");
    if podns.exists() {
        // Directories of their own: the library's backend holds the run
        // directory's lock for its lifetime, as a runtime's would.
        let (cli_pods, cli_run) = (dir.join("cli-pods"), dir.join("cli-run"));
        let dirs = [
            "--pods-dir".as_ref(),
            cli_pods.as_os_str(),
            "--run-dir".as_ref(),
            cli_run.as_os_str(),
        ];
        group.bench_function("podns_cli_create_remove", |b| {
            b.iter(|| {
                run(Command::new(&podns)
                    .args(dirs)
                    .args(["ns", "create", "cli-pod"]));
                run(Command::new(&podns)
                    .args(dirs)
                    .args(["ns", "remove", "cli-pod"]));
            });
        });
    } else {
        eprintln!(
            "{} is missing (cargo build --release --bin podns): the CLI figure is skipped",
            podns.display()
        );
    }
    if have("ip", "-V") {
        // A leftover of an interrupted run would make `add` fail.
        let _ = Command::new("ip")
            .args(["netns", "delete", IP_NETNS_NAME])
            .stderr(Stdio::null())
            .status();
        group.bench_function("ip_netns_add_delete", |b| {
            b.iter(|| {
                run(Command::new("ip").args(["netns", "add", IP_NETNS_NAME]));
                run(Command::new("ip").args(["netns", "delete", IP_NETNS_NAME]));
            });
        });
    } else {
        eprintln!("`ip` (iproute2) is not installed: the ratio to ip netns is skipped");
    }
    group.finish();
}

fn main() {
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "skipping the namespaces benchmark: creating namespaces and bind mounts needs root"
        );
        return;
    }
    if !rerun_in_private_mount_namespace("namespaces") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut criterion = Criterion::default().configure_from_args();
    library(&mut criterion, dir.path());
    criterion.final_summary();
}
