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

/// The variant that trusts a failed removal shows only when the removal
/// took place anyway: its shrunk reproducer has an ambiguous fault, and the
/// same workload with that fault made an ordinary one passes.
#[test]
fn the_ambiguous_failure_variant_needs_an_ambiguous_fault() {
    let variant = BrokenVariant::ReleaseTrustsFailedRemoval;
    let (seed, invariant) = first_violating_seed(variant).expect("caught within the budget");
    let small = shrink(&Workload::generate(seed, 100), Some(variant), invariant);
    assert!(
        small
            .steps
            .iter()
            .any(|step| step.fault.as_ref().is_some_and(|fault| fault.ambiguous)),
        "{small:?}"
    );
    let mut ordinary = small.clone();
    for step in &mut ordinary.steps {
        if let Some(fault) = &mut step.fault {
            fault.ambiguous = false;
        }
    }
    assert!(
        run_workload(&ordinary, Some(variant), false)
            .violation
            .is_none()
    );
}

/// The variant that frees a slot without syncing the absence of a file it
/// found gone shows only after an unsynced out-of-band removal: its shrunk
/// reproducer has one, and without it the workload passes.
#[test]
fn the_out_of_band_variant_needs_an_unsynced_removal() {
    use podns_sim::Op;
    let variant = BrokenVariant::ReleaseOfMissingFileSkipsSync;
    let (seed, invariant) = first_violating_seed(variant).expect("caught within the budget");
    let small = shrink(&Workload::generate(seed, 100), Some(variant), invariant);
    let removal = |step: &podns_sim::Step| matches!(step.op, Op::RemoveOutOfBand { .. });
    assert!(small.steps.iter().any(removal), "{small:?}");
    let mut without = small.clone();
    without.steps.retain(|step| !removal(step));
    assert!(
        run_workload(&without, Some(variant), false)
            .violation
            .is_none()
    );
}

/// The same variant is caught whichever way the file went: an operator's
/// unsynced removal of the file (the release finds nothing to remove) or
/// kubelet's of the whole pod directory (the release finds no directory).
/// The correct protocol passes both.
#[test]
fn the_out_of_band_variant_is_caught_after_either_kind_of_removal() {
    use podns_backend_mock::CrashKind;
    use podns_sim::{CrashPlan, Op, Step};
    let step = |op| Step {
        op,
        fault: None,
        crash: None,
    };
    let workload = |whole_dir, fates_seed| Workload {
        seed: 1,
        steps: vec![
            step(Op::Alloc { pod: 0 }),
            step(Op::RemoveOutOfBand { pod: 0, whole_dir }),
            step(Op::Release { pod: 0 }),
            Step {
                crash: Some(CrashPlan {
                    after: 0,
                    kind: CrashKind::PowerLoss,
                    fates_seed,
                }),
                ..step(Op::Restart)
            },
        ],
    };
    let variant = BrokenVariant::ReleaseOfMissingFileSkipsSync;
    for whole_dir in [false, true] {
        let caught = (0..64).any(|fates_seed| {
            run_workload(&workload(whole_dir, fates_seed), Some(variant), false)
                .violation
                .is_some()
        });
        assert!(
            caught,
            "not caught after a removal with whole_dir = {whole_dir}"
        );
        for fates_seed in 0..64 {
            let run = run_workload(&workload(whole_dir, fates_seed), None, false);
            assert!(run.violation.is_none(), "{:?}", run.violation);
        }
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
fn exhaustive_mode_catches_the_ambiguous_failure_variant() {
    let report = exhaustive::explore(3, Some(BrokenVariant::ReleaseTrustsFailedRemoval));
    let (_, at, _) = report.violation.expect("caught exhaustively");
    assert!(at.contains("failing ambiguously"), "{at}");
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
            idmap_pod: None,
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

#[test]
fn the_idmap_invariant_fails_when_a_mount_maps_otherwise_than_acknowledged() {
    use podns_backend_mock::MountSource;
    use podns_core::{NodeRequest, NodeResponse, SubpathResponse};
    use podns_sim::{Op, Sim, Step};
    let mut sim = Sim::start(1, None, false).unwrap();
    sim.run_step(&Step {
        op: Op::NsCreate { pod: 0 },
        fault: None,
        crash: None,
    })
    .unwrap();
    let request = NodeRequest::MountIdmappedSubpath {
        pod: podns_core::PodUid::new("pod-0").unwrap(),
        prepare: podns_core::PrepareSubpath {
            subpath: podns_core::parse_subpath("dir").unwrap(),
            target: podns_core::SubpathTarget::new("vol-0", "app", "1").unwrap(),
            pod_dir: podns_core::HostDir::parse(podns_sim::POD_DIR).unwrap(),
            idmap: None,
        },
    };
    let Some(Ok(NodeResponse::Subpath(SubpathResponse::Prepared(prepared)))) =
        sim.world.drive_node(request, usize::MAX)
    else {
        panic!("the idmapped mount succeeds once the pod's namespaces are pinned");
    };
    assert!(podns_sim::invariants::mounts_map_as_acknowledged(&sim.world, &prepared).is_ok());
    // The same file, mounted plainly over it: not what was acknowledged.
    let mounts = sim.world.backend.inner_mut().mounts_mut();
    let top = mounts.unmount(&prepared.target).unwrap();
    let MountSource::Bind { ino, path, .. } = top.source else {
        panic!("a bind mount");
    };
    mounts.mount(
        prepared.target.clone(),
        MountSource::Bind {
            ino,
            path,
            idmap: None,
        },
    );
    assert!(podns_sim::invariants::mounts_map_as_acknowledged(&sim.world, &prepared).is_err());
}
