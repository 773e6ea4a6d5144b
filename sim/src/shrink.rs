//! Shrinking a failing workload to a small reproducer: drop steps, then drop
//! the faults and crashes of the remaining steps, as long as the same
//! invariant still breaks.

use podns_core::BrokenVariant;

use crate::run::run_workload;
use crate::workload::Workload;

/// Runs at most this many candidate workloads.
const MAX_ATTEMPTS: usize = 400;

/// The smallest workload found that still breaks `invariant`.
pub fn shrink(workload: &Workload, variant: Option<BrokenVariant>, invariant: &str) -> Workload {
    let mut best = workload.clone();
    // The steps after the violation never ran.
    if let Some((index, _)) = run_workload(&best, variant, false).violation {
        best.steps.truncate(index + 1);
    }
    let mut attempts = 0;
    let still_fails = |candidate: &Workload, attempts: &mut usize| {
        *attempts += 1;
        run_workload(candidate, variant, false)
            .violation
            .is_some_and(|(_, violation)| violation.invariant == invariant)
    };
    let mut progress = true;
    while progress && attempts < MAX_ATTEMPTS {
        progress = false;
        // Delta debugging: drop chunks of halving size, then single steps.
        let mut chunk = best.steps.len().div_ceil(2).max(1);
        loop {
            let mut index = 0;
            while index < best.steps.len() && attempts < MAX_ATTEMPTS {
                let mut candidate = best.clone();
                let end = (index + chunk).min(candidate.steps.len());
                candidate.steps.drain(index..end);
                if still_fails(&candidate, &mut attempts) {
                    best = candidate;
                    progress = true;
                } else {
                    index += chunk;
                }
            }
            if chunk == 1 || attempts >= MAX_ATTEMPTS {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
        for index in 0..best.steps.len() {
            if attempts >= MAX_ATTEMPTS {
                break;
            }
            for strip_fault in [true, false] {
                let mut candidate = best.clone();
                let step = &mut candidate.steps[index];
                let changed = if strip_fault {
                    step.fault.take().is_some()
                } else {
                    step.crash.take().is_some()
                };
                if changed && still_fails(&candidate, &mut attempts) {
                    best = candidate;
                    progress = true;
                }
            }
        }
    }
    best
}
