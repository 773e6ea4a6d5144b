//! Allocation + release pairs at 0 %, 50 %, 99 % and 99.99 % occupancy of the
//! 65,535 slots of kubelet's default pool: podns's slot map, kubelet's
//! bit-by-bit strategy in the same run, and the whole engine (every effect it
//! plans included, answered instantly).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use podns_bench::fixtures::{DEFAULT_SLOTS, default_engine, occupied_slots, pod_name};
use podns_bench::kubelet_style::BitByBitAllocator;
use podns_bench::sync_drive::{healthy_disk, run};
use podns_core::{GetOrCreate, PodUid, SeededRng, SlotMap, UsernsRequest};

/// Occupancies in basis points (1/100 %).
const OCCUPANCIES: [u32; 4] = [0, 5000, 9900, 9999];

fn allocator(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_release_pair");
    for occupancy in OCCUPANCIES {
        let taken = occupied_slots(DEFAULT_SLOTS, occupancy);

        let mut map = SlotMap::new(DEFAULT_SLOTS);
        for slot in &taken {
            map.take(*slot);
        }
        let mut rng = SeededRng::new(1);
        group.bench_function(BenchmarkId::new("podns", occupancy), |b| {
            b.iter(|| {
                let start = rng.below(DEFAULT_SLOTS);
                let slot = map.first_free_from(start).expect("a free slot");
                map.take(slot);
                map.free(slot);
                black_box(slot)
            });
        });

        let mut kubelet = BitByBitAllocator::new(DEFAULT_SLOTS);
        for slot in &taken {
            kubelet.take(*slot);
        }
        let mut rng = SeededRng::new(1);
        group.bench_function(BenchmarkId::new("kubelet-style", occupancy), |b| {
            b.iter(|| {
                let start = rng.below(DEFAULT_SLOTS);
                let slot = kubelet.allocate_from(start).expect("a free slot");
                kubelet.free(slot);
                black_box(slot)
            });
        });

        let mut engine = default_engine();
        run(&mut engine, UsernsRequest::Recover, &mut healthy_disk).expect("recovery");
        for index in 0..taken.len() as u32 {
            let pod = PodUid::new(pod_name(index)).expect("valid");
            run(
                &mut engine,
                UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod)),
                &mut healthy_disk,
            )
            .expect("allocation");
        }
        let pod = PodUid::new("bench-pod").expect("valid");
        group.bench_function(BenchmarkId::new("engine", occupancy), |b| {
            b.iter(|| {
                // A failing request would be timed as a (fast) pair: fail
                // the benchmark instead.
                let allocated = run(
                    &mut engine,
                    UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod.clone())),
                    &mut healthy_disk,
                )
                .expect("allocation");
                let released = run(
                    &mut engine,
                    UsernsRequest::Release { pod: pod.clone() },
                    &mut healthy_disk,
                )
                .expect("release");
                black_box((allocated, released))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, allocator);
criterion_main!(benches);
