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
    let mut power_losses = 0;
    for alphabet in exhaustive::Alphabet::ALL {
        let report = exhaustive::explore_alphabet(alphabet, 3, None);
        if let Some((steps, at, violation)) = report.violation {
            panic!("{alphabet:?}: {steps:?} at {at}: {violation:?}");
        }
        assert_eq!(report.workloads, alphabet.workload_count(3), "{alphabet:?}");
        // Every area's operations must actually be crashed, or its run
        // proves nothing.
        assert!(
            report.stats.process_kills > 100,
            "{alphabet:?}: {:?}",
            report.stats
        );
        power_losses += report.stats.power_losses;
    }
    assert!(power_losses > 1000, "only {power_losses} power losses");
}
