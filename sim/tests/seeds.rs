//! The CI gate: thousands of seeds (more with PODNS_SIM_SEEDS), each run twice
//! for determinism, and the bounded-exhaustive mode at depth 3, with no
//! violation.

use podns_sim::{exhaustive, run_seed};

fn seed_count() -> u64 {
    std::env::var("PODNS_SIM_SEEDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn seeded_runs_hold_every_invariant_and_replay_identically() {
    let mut crashes = 0;
    let mut faults = 0;
    for seed in 0..seed_count() {
        let outcome = run_seed(seed, 100, None, true);
        if let Some((step, violation)) = outcome.violation {
            panic!(
                "seed {seed}, step {step}: {}: {}\nreplay: cargo run --release --bin podns-sim -- --seed {seed} --ops 100 --trace",
                violation.invariant, violation.detail
            );
        }
        crashes += outcome.stats.process_kills + outcome.stats.power_losses;
        faults += outcome.stats.faults_injected;
    }
    // The workloads must actually crash and fault, or the run proves nothing.
    assert!(crashes > seed_count(), "only {crashes} crashes");
    assert!(faults > seed_count(), "only {faults} faults");
}

#[test]
fn every_workload_of_three_operations_survives_a_crash_after_every_effect() {
    let report = exhaustive::explore(3, None);
    if let Some((steps, at, violation)) = report.violation {
        panic!("{steps:?} at {at}: {violation:?}");
    }
    assert_eq!(report.workloads, 5 + 25 + 125);
    assert!(report.stats.power_losses > 1000, "{:?}", report.stats);
}
