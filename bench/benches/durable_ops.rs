//! Durable allocation and release end to end through the Linux backend, on
//! tmpfs and on the disk: the latency a runtime sees per pod.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use podns_backend_linux::LinuxBackend;
use podns_bench::fixtures::default_engine;
use podns_core::{GetOrCreate, PodUid, UsernsEngine, UsernsRequest, drive};

fn setup(parent: &Path) -> (tempfile::TempDir, UsernsEngine, LinuxBackend, PodUid) {
    let dir = tempfile::tempdir_in(parent).expect("a temp dir");
    let pod = PodUid::new("bench-pod").expect("valid");
    std::fs::create_dir(dir.path().join(pod.as_str())).expect("pod dir");
    let mut backend = LinuxBackend::open(dir.path()).expect("open");
    let mut engine = default_engine();
    pollster::block_on(drive(&mut engine, &mut backend, UsernsRequest::Recover)).expect("recovery");
    (dir, engine, backend, pod)
}

fn durable(c: &mut Criterion, name: &str, parent: &Path) {
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    let (_dir, mut engine, mut backend, pod) = setup(parent);
    let alloc = |engine: &mut UsernsEngine, backend: &mut LinuxBackend| {
        pollster::block_on(drive(
            engine,
            backend,
            UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod.clone())),
        ))
        .expect("allocation");
    };
    let release = |engine: &mut UsernsEngine, backend: &mut LinuxBackend, pod: &PodUid| {
        pollster::block_on(drive(
            engine,
            backend,
            UsernsRequest::Release { pod: pod.clone() },
        ))
        .expect("release");
    };
    group.bench_function("alloc", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                alloc(&mut engine, &mut backend);
                spent += started.elapsed();
                release(&mut engine, &mut backend, &pod);
            }
            spent
        });
    });
    group.bench_function("release", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                alloc(&mut engine, &mut backend);
                let started = Instant::now();
                release(&mut engine, &mut backend, &pod);
                spent += started.elapsed();
            }
            spent
        });
    });
    group.finish();
}

fn durable_ops(c: &mut Criterion) {
    durable(c, "durable_tmpfs", Path::new("/dev/shm"));
    durable(c, "durable_disk", &std::env::temp_dir());
}

criterion_group!(benches, durable_ops);
criterion_main!(benches);
