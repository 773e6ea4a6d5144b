//! Simulator throughput: one seeded scenario of 100 operations with its
//! faults, crashes and invariant checks.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use podns_sim::run_seed;

fn simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulation");
    let mut seed = 0;
    group.bench_function("scenario_100_ops", |b| {
        b.iter(|| {
            seed += 1;
            black_box(run_seed(seed, 100, None, false).violation.is_none())
        });
    });
    group.finish();
}

criterion_group!(benches, simulation);
criterion_main!(benches);
