//! Bounded-exhaustive mode: every workload of up to `depth` operations over
//! each small alphabet ([`Alphabet`]: userns, namespaces, subpaths), a crash
//! after every effect (a process kill, and a power loss under every subset of
//! the pending operations when there are at most 8 of them, a seeded sample
//! beyond that), then recovery and the rest of the workload, checking every
//! invariant; and each effect failing ambiguously (it takes place and still
//! reports `EIO`), then the rest of the workload and a restart.

use podns_backend_mock::CrashKind;
use podns_core::{BrokenVariant, Errno};

use crate::invariants::Violation;
use crate::sim::{Attempt, Sim, Stats};
use crate::workload::{FaultPlan, Op, Step};
use crate::world::Fates;

/// Power losses with more pending operations than this are sampled.
const MAX_ENUMERATED_PENDING: usize = 8;
/// Samples taken when there are more.
const SAMPLED_FATES: u64 = 32;

/// What the exhaustive run covered.
#[derive(Debug, Clone, Default)]
pub struct ExhaustiveReport {
    /// Workloads enumerated.
    pub workloads: u64,
    /// Scenarios run (one crash point and fate each, or one crash-free run).
    pub scenarios: u64,
    /// Counters over every scenario.
    pub stats: Stats,
    /// The first violation: the workload, where it crashed, and what broke.
    pub violation: Option<(Vec<Step>, String, Violation)>,
}

/// The operations workloads are built from: one small alphabet per area, so
/// that every sequence of up to three of an area's operations meets a crash
/// after each of its effects, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// Allocations, releases, cleanups, restarts, and an unsynced
    /// out-of-band removal of one pod's file.
    Userns,
    /// Pod namespaces: create, remove and sweep, beside a release of the
    /// pod's range and restarts.
    Namespaces,
    /// Subpath mounts of one volume at two indexes (one idmapped with a
    /// pod's user namespace, beside that pod's `ns create`), its clean, and
    /// restarts.
    Subpaths,
}

impl Alphabet {
    /// Every alphabet.
    pub const ALL: [Alphabet; 3] = [Alphabet::Userns, Alphabet::Namespaces, Alphabet::Subpaths];

    /// The operations of this alphabet.
    pub fn ops(self) -> Vec<Op> {
        match self {
            Alphabet::Userns => vec![
                Op::Alloc { pod: 0 },
                Op::Alloc { pod: 1 },
                Op::Release { pod: 0 },
                Op::Cleanup { keep: vec![1] },
                Op::Restart,
                Op::RemoveOutOfBand {
                    pod: 0,
                    whole_dir: false,
                },
            ],
            Alphabet::Namespaces => vec![
                Op::NsCreate { pod: 0 },
                Op::NsRemove { pod: 0 },
                Op::NsSweep,
                Op::Release { pod: 0 },
                Op::Restart,
            ],
            Alphabet::Subpaths => vec![
                Op::SubpathMount {
                    volume: 0,
                    index: 0,
                    idmap_pod: None,
                },
                Op::SubpathMount {
                    volume: 0,
                    index: 1,
                    idmap_pod: Some(0),
                },
                Op::NsCreate { pod: 0 },
                Op::SubpathClean { volume: 0 },
                Op::Restart,
            ],
        }
    }

    /// How many workloads of 1 to `depth` operations it makes.
    pub fn workload_count(self, depth: usize) -> u64 {
        let letters = self.ops().len() as u64;
        (1..=depth as u32).map(|length| letters.pow(length)).sum()
    }
}

fn plain(op: &Op) -> Step {
    Step {
        op: op.clone(),
        fault: None,
        crash: None,
    }
}

/// Every workload of 1 to `depth` operations of `alphabet`.
fn workloads(alphabet: Alphabet, depth: usize) -> Vec<Vec<Step>> {
    let ops = alphabet.ops();
    let mut all: Vec<Vec<Step>> = Vec::new();
    let mut frontier: Vec<Vec<Step>> = vec![Vec::new()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for prefix in &frontier {
            for op in &ops {
                let mut workload = prefix.clone();
                workload.push(plain(op));
                next.push(workload);
            }
        }
        all.extend(next.iter().cloned());
        frontier = next;
    }
    all
}

/// Runs the bounded-exhaustive exploration over every alphabet, stopping at
/// the first violation.
pub fn explore(depth: usize, variant: Option<BrokenVariant>) -> ExhaustiveReport {
    let mut report = ExhaustiveReport::default();
    for alphabet in Alphabet::ALL {
        explore_into(alphabet, depth, variant, &mut report);
        if report.violation.is_some() {
            break;
        }
    }
    report
}

/// The bounded-exhaustive exploration of one alphabet.
pub fn explore_alphabet(
    alphabet: Alphabet,
    depth: usize,
    variant: Option<BrokenVariant>,
) -> ExhaustiveReport {
    let mut report = ExhaustiveReport::default();
    explore_into(alphabet, depth, variant, &mut report);
    report
}

fn explore_into(
    alphabet: Alphabet,
    depth: usize,
    variant: Option<BrokenVariant>,
    report: &mut ExhaustiveReport,
) {
    for steps in workloads(alphabet, depth) {
        report.workloads += 1;
        if let Err((at, violation)) = explore_workload(&steps, variant, report) {
            report.violation = Some((steps, at, violation));
            return;
        }
    }
}

fn explore_workload(
    steps: &[Step],
    variant: Option<BrokenVariant>,
    report: &mut ExhaustiveReport,
) -> Result<(), (String, Violation)> {
    // The crash-free run, which also counts each step's effects and keeps
    // the node as it was before each step: runs are deterministic, so every
    // crash point of a step starts from that snapshot instead of replaying
    // the steps before it.
    let mut sim =
        Sim::start(0, variant, false).map_err(|violation| ("start".to_owned(), violation))?;
    let mut effect_counts = Vec::new();
    let mut snapshots = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        snapshots.push(sim.clone());
        let before = sim.world.effects_executed();
        sim.run_step(step)
            .map_err(|violation| (format!("step {index}, no crash"), violation))?;
        effect_counts.push(sim.world.effects_executed() - before);
    }
    report.scenarios += 1;
    report.stats.add(&sim.stats);

    for (index, step) in steps.iter().enumerate() {
        // Effects the step runs itself, recovery effects of restarts included
        // (the step's own clean recovery afterwards is not crashed here).
        for after in 0..effect_counts[index] {
            let mut prefix = snapshots[index].clone();
            let attempt = prefix.attempt(step, after as usize);
            if !matches!(attempt, Attempt::Interrupted) {
                continue;
            }
            let pending = prefix.world.pending_operations();
            let mut fates = vec![(CrashKind::ProcessKill, Fates::Seeded(0))];
            if pending <= MAX_ENUMERATED_PENDING {
                fates.extend(
                    (0..1u64 << pending).map(|mask| (CrashKind::PowerLoss, Fates::Subset(mask))),
                );
            } else {
                fates.extend(
                    (0..SAMPLED_FATES).map(|seed| (CrashKind::PowerLoss, Fates::Seeded(seed))),
                );
            }
            for (kind, fate) in fates {
                let mut scenario = prefix.clone();
                let at = format!("step {index} after {after} effects, {kind:?} {fate:?}");
                scenario
                    .settle(step, Attempt::Interrupted, Some((kind, fate)))
                    .map_err(|violation| (at.clone(), violation))?;
                for later in &steps[index + 1..] {
                    scenario
                        .run_step(later)
                        .map_err(|violation| (at.clone(), violation))?;
                }
                report.scenarios += 1;
                report.stats.add(&scenario.stats);
            }
        }
        // The same effects failing ambiguously instead: each takes place and
        // still reports EIO; the workload goes on and ends with a restart,
        // so what the step acknowledged is checked against the disk.
        for after in 0..effect_counts[index] {
            let mut scenario = snapshots[index].clone();
            let at = format!("step {index}, effect {after} failing ambiguously");
            let faulted = Step {
                fault: Some(FaultPlan {
                    after: after as u32,
                    errno: Errno::EIO,
                    persistent: false,
                    ambiguous: true,
                }),
                ..step.clone()
            };
            let restart = plain(&Op::Restart);
            for run in std::iter::once(&faulted)
                .chain(&steps[index + 1..])
                .chain(std::iter::once(&restart))
            {
                scenario
                    .run_step(run)
                    .map_err(|violation| (at.clone(), violation))?;
            }
            report.scenarios += 1;
            report.stats.add(&scenario.stats);
        }
    }
    Ok(())
}
