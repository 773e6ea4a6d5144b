//! The real engine with the Linux backend on a real directory: allocations
//! survive a restart, and each operation costs exactly the fsyncs the protocol
//! needs.

use podns_backend_linux::LinuxBackend;
use podns_core::{
    AllocationPolicy, GetOrCreate, PoolConfig, UsernsEngine, UsernsRequest, UsernsResponse, drive,
};
use podns_tests::{kubelet_userns_file, pod};

fn engine(seed: u64) -> UsernsEngine {
    UsernsEngine::new(
        PoolConfig::default().validate().unwrap(),
        seed,
        AllocationPolicy::RandomStartThenNextFree,
    )
}

fn run(
    engine: &mut UsernsEngine,
    backend: &mut LinuxBackend,
    request: UsernsRequest,
) -> UsernsResponse {
    pollster::block_on(drive(engine, backend, request)).expect("request succeeds")
}

fn alloc(uid: &str) -> UsernsRequest {
    UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod(uid)))
}

#[test]
fn allocations_survive_a_restart_with_two_fsyncs_each() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("existing")).unwrap();
    let mut backend = LinuxBackend::open(dir.path()).unwrap();
    let mut first = engine(9);
    run(&mut first, &mut backend, UsernsRequest::Recover);
    assert_eq!(backend.syncfs_count(), 1);

    let before = backend.fsync_count();
    let UsernsResponse::UserNamespace(existing) = run(&mut first, &mut backend, alloc("existing"))
    else {
        panic!("not an allocation");
    };
    assert_eq!(backend.fsync_count() - before, 2, "file and pod dir");

    let before = backend.fsync_count();
    run(&mut first, &mut backend, alloc("new-dir"));
    assert_eq!(
        backend.fsync_count() - before,
        3,
        "file, pod dir and the new dir's parent"
    );

    let before = backend.fsync_count();
    run(
        &mut first,
        &mut backend,
        UsernsRequest::Release {
            pod: pod("new-dir"),
        },
    );
    assert_eq!(backend.fsync_count() - before, 1, "the pod dir only");

    // A new process: a fresh engine and backend over the same directory.
    let mut backend = LinuxBackend::open(dir.path()).unwrap();
    let mut second = engine(10);
    run(&mut second, &mut backend, UsernsRequest::Recover);
    let allocations = second.allocations();
    assert_eq!(allocations.len(), 1);
    assert_eq!(allocations[0].mapping, existing.userns.uid_mappings[0]);
    let UsernsResponse::UserNamespace(again) = run(&mut second, &mut backend, alloc("existing"))
    else {
        panic!("not an allocation");
    };
    assert_eq!(again.userns, existing.userns);
}

#[test]
fn a_kubelet_file_is_read_back_and_never_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("kpod")).unwrap();
    let file = dir.path().join("kpod/userns");
    std::fs::write(&file, kubelet_userns_file(196608, 65536)).unwrap();
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let mut backend = LinuxBackend::open(dir.path()).unwrap();
    let mut engine = engine(1);
    run(&mut engine, &mut backend, UsernsRequest::Recover);
    let UsernsResponse::UserNamespace(userns) = run(&mut engine, &mut backend, alloc("kpod"))
    else {
        panic!("not an allocation");
    };
    assert_eq!(userns.userns.uid_mappings[0].host_id, 196608);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        kubelet_userns_file(196608, 65536)
    );
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);
}

#[test]
fn recovery_removes_stale_temp_files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("p")).unwrap();
    std::fs::write(dir.path().join("p/.userns.podns-tmp.3"), b"{\"uid").unwrap();
    let mut backend = LinuxBackend::open(dir.path()).unwrap();
    let mut engine = engine(1);
    let UsernsResponse::Recovered(report) = run(&mut engine, &mut backend, UsernsRequest::Recover)
    else {
        panic!("not a recovery");
    };
    assert_eq!(report.temp_files_removed.len(), 1);
    assert!(!dir.path().join("p/.userns.podns-tmp.3").exists());
    assert!(engine.allocations().is_empty());
}
