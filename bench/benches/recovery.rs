//! Recovery for 110, 1,000, 10,000 and 65,535 pods through the Linux backend,
//! end to end, on tmpfs (/dev/shm) and on the disk, next to a reconstruction
//! of kubelet's recovery path over the same directory in the same group. The
//! core's planning alone is in `recovery_planning.rs`.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use podns_backend_linux::LinuxBackend;
use podns_bench::fixtures::{DEFAULT_SLOTS, default_engine, populate_pods_dir};
use podns_bench::kubelet_recovery;
use podns_bench::recovery_sizes::SIZES;
use podns_core::{UsernsRequest, drive};

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
                let mut engine = default_engine();
                pollster::block_on(drive(&mut engine, &mut backend, UsernsRequest::Recover))
                    .expect("recovery");
                black_box(engine.free())
            });
        });
        group.bench_function(BenchmarkId::new("kubelet-path", pods), |b| {
            b.iter(|| {
                let recovery =
                    kubelet_recovery::recover(dir.path(), DEFAULT_SLOTS).expect("recovery");
                assert_eq!(recovery.recorded(), pods as usize);
                black_box(recovery)
            });
        });
    }
    group.finish();
}

fn linux(c: &mut Criterion) {
    end_to_end(c, "recovery_linux_tmpfs", Path::new("/dev/shm"));
    end_to_end(c, "recovery_linux_disk", &std::env::temp_dir());
}

criterion_group!(benches, linux);
criterion_main!(benches);
