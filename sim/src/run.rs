//! Running seeds: a workload from a seed, step by step, stopping at the first
//! violation.

use podns_core::BrokenVariant;

use crate::invariants::{self, Violation};
use crate::sim::{Sim, Stats};
use crate::workload::Workload;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Counters.
    pub stats: Stats,
    /// The trace hash.
    pub trace_hash: u64,
    /// The trace lines, when kept.
    pub trace: Vec<String>,
    /// The first violation, with the index of the step that showed it.
    pub violation: Option<(usize, Violation)>,
}

/// Runs `workload` from an empty disk.
pub fn run_workload(
    workload: &Workload,
    variant: Option<BrokenVariant>,
    keep_trace: bool,
) -> RunOutcome {
    let mut sim = match Sim::start(workload.seed, variant, keep_trace) {
        Ok(sim) => sim,
        Err(violation) => {
            return RunOutcome {
                stats: Stats::default(),
                trace_hash: 0,
                trace: Vec::new(),
                violation: Some((0, violation)),
            };
        }
    };
    let mut violation = None;
    for (index, step) in workload.steps.iter().enumerate() {
        sim.trace.record(&index, || format!("step {index}: {step}"));
        if let Err(found) = sim.run_step(step) {
            violation = Some((index, found));
            break;
        }
    }
    RunOutcome {
        stats: sim.stats,
        trace_hash: sim.trace.hash(),
        trace: sim.trace.lines().to_vec(),
        violation,
    }
}

/// Runs the workload of `seed`; with `check_determinism`, runs it twice and
/// compares the trace hashes (invariant 7).
pub fn run_seed(
    seed: u64,
    ops: u64,
    variant: Option<BrokenVariant>,
    check_determinism: bool,
) -> RunOutcome {
    let workload = Workload::generate(seed, ops);
    let mut outcome = run_workload(&workload, variant, false);
    if check_determinism && outcome.violation.is_none() {
        let again = run_workload(&workload, variant, false);
        outcome.stats.checks += 1;
        if let Err(violation) =
            invariants::deterministic(seed, outcome.trace_hash, again.trace_hash)
        {
            outcome.violation = Some((workload.steps.len(), violation));
        }
    }
    outcome
}
