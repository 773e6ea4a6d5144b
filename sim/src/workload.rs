use std::collections::BTreeMap;

use podns_backend_mock::{CrashKind, MockBackend};
use podns_core::{
    AllocationPolicy, GetOrCreate, HostIdRange, PodUid, PoolConfig, Request, Response, SeededRng,
    UsernsEngine, drive_bounded,
};

use crate::invariants::{self, Violation};

/// What one seed did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeedReport {
    /// Operations run.
    pub operations: u64,
    /// Operations cut short by a crash.
    pub crashes: u64,
    /// Invariant checks performed.
    pub checks: u64,
}

/// A small pool so that slots are reused and collisions are likely.
fn pool() -> PoolConfig {
    PoolConfig {
        first_id: 65536,
        id_count: 65536 * 8,
        ids_per_pod: 65536,
        max_pods: 8,
    }
}

/// Runs `operations` random operations from `seed`; returns the first
/// violation found.
pub fn run_seed(seed: u64, operations: u64) -> Result<SeedReport, (Violation, SeedReport)> {
    let mut rng = SeededRng::new(seed);
    let validated = pool().validate().expect("the simulation pool is valid");
    let mut backend = MockBackend::new();
    let new_engine = |rng: &mut SeededRng| {
        UsernsEngine::new(
            validated,
            rng.next_u64(),
            AllocationPolicy::RandomStartThenNextFree,
        )
    };
    let mut engine = new_engine(&mut rng);
    let mut acknowledged: BTreeMap<String, HostIdRange> = BTreeMap::new();
    let mut report = SeedReport::default();
    pollster::block_on(drive_bounded(
        &mut engine,
        &mut backend,
        Request::Recover,
        usize::MAX,
    ));
    for _ in 0..operations {
        report.operations += 1;
        let pod = PodUid::new(format!("pod-{}", rng.below(12))).expect("valid");
        let request = if rng.below(3) == 0 {
            Request::Release { pod: pod.clone() }
        } else {
            Request::GetOrCreate(GetOrCreate::pod_mode(pod.clone()))
        };
        let crash_after = (rng.below(4) == 0).then(|| rng.below(8) as usize);
        let budget = crash_after.unwrap_or(usize::MAX);
        match pollster::block_on(drive_bounded(
            &mut engine,
            &mut backend,
            request.clone(),
            budget,
        )) {
            Some(Ok(Response::UserNamespace(userns))) => {
                let mapping = userns.userns.uid_mappings[0];
                acknowledged.insert(pod.to_string(), mapping.host_range());
            }
            Some(Ok(Response::Released(_))) => {
                acknowledged.remove(pod.as_str());
            }
            Some(_) => {}
            None => {
                report.crashes += 1;
                let kind = if rng.below(2) == 0 {
                    CrashKind::ProcessKill
                } else {
                    CrashKind::PowerLoss
                };
                backend.crash(kind);
                engine = new_engine(&mut rng);
                // A release that was cut short may or may not have happened.
                if matches!(request, Request::Release { .. }) {
                    acknowledged.remove(pod.as_str());
                }
                pollster::block_on(drive_bounded(
                    &mut engine,
                    &mut backend,
                    Request::Recover,
                    usize::MAX,
                ));
            }
        }
        for check in [
            invariants::no_overlap(&engine),
            invariants::no_reserved_ids(&engine),
            invariants::acknowledged_survive(&engine, &acknowledged),
        ] {
            report.checks += 1;
            if let Err(violation) = check {
                return Err((violation, report));
            }
        }
    }
    Ok(report)
}
