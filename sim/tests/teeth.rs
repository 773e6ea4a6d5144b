//! A simulator that cannot fail proves nothing: each deliberately broken
//! variant of the protocol must be caught within a bounded number of seeds,
//! and shrunk to a small reproducer.

use podns_core::BrokenVariant;
use podns_sim::{Workload, exhaustive, run_seed, run_workload, shrink};

const SEED_BUDGET: u64 = 2000;

fn first_violating_seed(variant: BrokenVariant) -> Option<(u64, &'static str)> {
    (0..SEED_BUDGET).find_map(|seed| {
        run_seed(seed, 100, Some(variant), false)
            .violation
            .map(|(_, violation)| (seed, violation.invariant))
    })
}

#[test]
fn every_broken_variant_is_caught_and_shrunk() {
    for variant in BrokenVariant::ALL {
        let Some((seed, invariant)) = first_violating_seed(variant) else {
            panic!("{variant:?} survived {SEED_BUDGET} seeds: the simulator has no teeth for it");
        };
        let workload = Workload::generate(seed, 100);
        let small = shrink(&workload, Some(variant), invariant);
        assert!(
            small.steps.len() <= 8,
            "{variant:?}: shrunk only to {} steps",
            small.steps.len()
        );
        let replay = run_workload(&small, Some(variant), true);
        let (_, violation) = replay.violation.expect("the shrunk workload still fails");
        assert_eq!(violation.invariant, invariant);
        assert!(!replay.trace.is_empty());
    }
}

#[test]
fn the_correct_protocol_passes_the_seeds_that_catch_the_broken_ones() {
    for seed in 0..200 {
        assert!(
            run_seed(seed, 100, None, false).violation.is_none(),
            "seed {seed}"
        );
    }
}

#[test]
fn exhaustive_mode_catches_the_single_crash_variants() {
    for variant in [
        BrokenVariant::ReleaseFreesBeforeDirSync,
        BrokenVariant::NoTempFileSync,
        BrokenVariant::AckBeforeDirSync,
        BrokenVariant::RecoveryTrustsTempFile,
    ] {
        let report = exhaustive::explore(3, Some(variant));
        assert!(
            report.violation.is_some(),
            "{variant:?} not caught exhaustively"
        );
    }
}

#[test]
fn the_pin_invariant_fails_when_pins_and_acknowledgements_differ() {
    use podns_sim::{Op, Sim, Step};
    let mut sim = Sim::start(1, None, false).unwrap();
    // An acknowledged pin that is not there.
    sim.model.pinned.insert("pod-9".into());
    assert!(podns_sim::invariants::pins_match_acknowledged(&sim.world, &sim.model).is_err());
    // A pin that was never acknowledged.
    sim.model.pinned.clear();
    let create = Step {
        op: Op::NsCreate { pod: 1 },
        fault: None,
        crash: None,
    };
    sim.run_step(&create).unwrap();
    sim.model.pinned.clear();
    assert!(podns_sim::invariants::pins_match_acknowledged(&sim.world, &sim.model).is_err());
}

#[test]
fn the_subpath_invariant_fails_while_a_mount_is_left() {
    use podns_sim::{Op, Sim, Step};
    let mut sim = Sim::start(1, None, false).unwrap();
    let mount = Step {
        op: Op::SubpathMount {
            volume: 0,
            index: 0,
        },
        fault: None,
        crash: None,
    };
    sim.run_step(&mount).unwrap();
    assert!(podns_sim::invariants::cleaned_subpaths_are_gone(&sim.world, "vol-0").is_err());
    let clean = Step {
        op: Op::SubpathClean { volume: 0 },
        fault: None,
        crash: None,
    };
    sim.run_step(&clean).unwrap();
    assert!(podns_sim::invariants::cleaned_subpaths_are_gone(&sim.world, "vol-0").is_ok());
}
