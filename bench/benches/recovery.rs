//! Recovery for 110, 1,000, 10,000 and 65,535 pods: the core's planning alone
//! (observations answered from memory), and the Linux backend end to end on
//! tmpfs (/dev/shm) and on the disk.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use podns_backend_linux::LinuxBackend;
use podns_bench::fixtures::populate_pods_dir;
use podns_bench::sync_drive::{RecoveredDisk, run};
use podns_core::{AllocationPolicy, PoolConfig, Request, UsernsEngine, drive};

const SIZES: [u32; 4] = [110, 1000, 10_000, 65_535];

fn engine() -> UsernsEngine {
    UsernsEngine::new(
        PoolConfig::default()
            .validate()
            .expect("the default pool is valid"),
        1,
        AllocationPolicy::RandomStartThenNextFree,
    )
}

fn planning(c: &mut Criterion) {
    let mut group = c.benchmark_group("recovery_planning");
    group.sample_size(20);
    for pods in SIZES {
        let disk = RecoveredDisk::new(pods);
        group.throughput(Throughput::Elements(u64::from(pods)));
        group.bench_function(BenchmarkId::from_parameter(pods), |b| {
            b.iter(|| {
                let mut engine = engine();
                run(&mut engine, Request::Recover, &mut |effect| {
                    disk.answer(effect)
                })
                .expect("recovery");
                black_box(engine.free())
            });
        });
    }
    group.finish();
}

fn end_to_end(c: &mut Criterion, group_name: &str, parent: &Path) {
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10);
    for pods in SIZES {
        let dir = tempfile::tempdir_in(parent).expect("a temp dir");
        populate_pods_dir(dir.path(), pods).expect("populate");
        group.throughput(Throughput::Elements(u64::from(pods)));
        group.bench_function(BenchmarkId::from_parameter(pods), |b| {
            b.iter(|| {
                let mut backend = LinuxBackend::open(dir.path()).expect("open");
                let mut engine = engine();
                pollster::block_on(drive(&mut engine, &mut backend, Request::Recover))
                    .expect("recovery");
                black_box(engine.free())
            });
        });
    }
    group.finish();
}

fn linux(c: &mut Criterion) {
    end_to_end(c, "recovery_linux_tmpfs", Path::new("/dev/shm"));
    end_to_end(c, "recovery_linux_disk", &std::env::temp_dir());
}

criterion_group!(benches, planning, linux);
criterion_main!(benches);
