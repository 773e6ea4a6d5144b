//! Subpath mounts per second: prepare (resolve below the volume, make the
//! mount point, bind fd to fd, check) + clean (unmount, remove the empty
//! directories), through the library, on tmpfs.
//!
//! Needs root. So that no mount leaks onto the machine, the benchmark
//! re-executes itself in a private mount namespace (`unshare -m`).

use std::path::Path;

use criterion::Criterion;
use podns_backend_linux::LinuxBackend;
use podns_bench::mount_namespace::rerun_in_private_mount_namespace;
use podns_core::{
    CleanSubpaths, HostDir, PrepareSubpath, SubpathEngine, SubpathName, SubpathNameField,
    SubpathRequest, SubpathTarget, drive, parse_subpath,
};

fn run(engine: &mut SubpathEngine, backend: &mut LinuxBackend, request: SubpathRequest) {
    pollster::block_on(drive(engine, backend, request)).expect("the subpath request");
}

fn mount_and_clean(c: &mut Criterion, dir: &Path) {
    let volume = dir.join("volume");
    let pod_dir = dir.join("pod");
    std::fs::create_dir_all(volume.join("data/config")).expect("volume");
    std::fs::create_dir_all(&pod_dir).expect("pod dir");
    let volume = std::fs::canonicalize(volume).expect("real path");
    let pod_dir = std::fs::canonicalize(pod_dir).expect("real path");
    let host_dir = HostDir::parse(pod_dir.to_str().expect("UTF-8")).expect("absolute");
    let mut backend = LinuxBackend::open_for_subpaths(&volume, &pod_dir).expect("open the roots");
    let mut engine = SubpathEngine::new();
    let prepare = SubpathRequest::Prepare(PrepareSubpath {
        subpath: parse_subpath("data/config").expect("a clean subpath"),
        target: SubpathTarget::new("vol", "app", "0").expect("valid names"),
        pod_dir: host_dir.clone(),
        idmap: None,
    });
    let clean = SubpathRequest::Clean(CleanSubpaths {
        volume: SubpathName::new(SubpathNameField::Volume, "vol").expect("valid"),
        pod_dir: host_dir,
    });
    let mut group = c.benchmark_group("subpath");
    group.bench_function("mount_and_clean", |b| {
        b.iter(|| {
            run(&mut engine, &mut backend, prepare.clone());
            run(&mut engine, &mut backend, clean.clone());
        });
    });
    group.finish();
}

fn main() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping the subpath benchmark: bind mounts need root");
        return;
    }
    if !rerun_in_private_mount_namespace("subpath") {
        return;
    }
    // tmpfs, as a kubelet volume dir often is; the private namespace takes
    // the mount with it.
    let dir = tempfile::tempdir_in("/dev/shm").expect("a temp dir");
    let mut criterion = Criterion::default().configure_from_args();
    mount_and_clean(&mut criterion, dir.path());
    criterion.final_summary();
}
