//! Recovery planning for 110, 1,000, 10,000 and 65,535 pods: the core alone,
//! every observation built beforehand and handed over from memory.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use podns_bench::fixtures::default_engine;
use podns_bench::recovery_sizes::SIZES;
use podns_bench::sync_drive::{RecoveredDisk, run};
use podns_core::UsernsRequest;

fn planning(c: &mut Criterion) {
    let mut group = c.benchmark_group("recovery_planning");
    group.sample_size(20);
    for pods in SIZES {
        let disk = RecoveredDisk::new(pods);
        group.throughput(Throughput::Elements(u64::from(pods)));
        group.bench_function(BenchmarkId::from_parameter(pods), |b| {
            // The observations are built outside the timed part: a backend
            // makes them, the core only consumes them. Dropping the engine
            // (every claim) is timed.
            b.iter_batched(
                || disk.observations(),
                |mut observations| {
                    let mut engine = default_engine();
                    run(&mut engine, UsernsRequest::Recover, &mut |effect| {
                        observations.answer(effect)
                    })
                    .expect("recovery");
                    black_box(engine.free())
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, planning);
criterion_main!(benches);
