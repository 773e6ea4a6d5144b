//! Invariant 6: no panic, and every operation whose step failed returned an
//! error (or, for recovery, cleanup, sweep and subpath clean, reported the
//! failure in its report).

use std::fmt::Debug;

use podns_core::{NodeResponse, SubpathResponse, UsernsError, UsernsResponse};

use super::Violation;

const NAME: &str = "6. no panic; every failed operation returned an error";

/// Whether an injected fault hit one of the operation's effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultWitness {
    /// The fault fired.
    pub fired: bool,
    /// It was ambiguous: the effect may have taken place despite the error,
    /// so an operation that looked and found it done may rightly succeed
    /// (the other invariants judge what it then acknowledged).
    pub ambiguous: bool,
    /// The operation looked and found what the failed effect was for done
    /// anyway (a removal whose file is gone), so it may rightly succeed.
    pub verified: bool,
}

/// True when the failed effect at `at` of a step's log is a removal whose
/// path a later `stat-no-follow` of the step found gone.
pub fn removal_verified(log: &[podns_core::Executed], at: usize) -> bool {
    let Some(failed) = log.get(at) else {
        return false;
    };
    let podns_core::Effect::RemoveFile { file } = &failed.effect else {
        return false;
    };
    failed.outcome.is_err()
        && log[at + 1..].iter().any(|later| {
            matches!(&later.effect, podns_core::Effect::StatNoFollow { path } if path == file)
                && matches!(&later.outcome, Err(error) if error.is_not_found())
        })
}

/// The one rule: a fault that fired must show in the result.
fn judge<T: Debug, E: Debug>(
    operation: &str,
    witness: FaultWitness,
    result: &Result<T, E>,
    reported_in: impl FnOnce(&T) -> bool,
) -> Result<(), Violation> {
    let reported = match result {
        Err(_) => true,
        Ok(response) => reported_in(response),
    };
    if !witness.fired || witness.ambiguous || witness.verified || reported {
        return Ok(());
    }
    Err(Violation::new(
        NAME,
        format!("{operation}: an effect failed but the operation reported success: {result:?}"),
    ))
}

/// Checks one completed user-namespace operation.
pub fn check(
    operation: &str,
    witness: FaultWitness,
    result: &Result<UsernsResponse, UsernsError>,
) -> Result<(), Violation> {
    judge(operation, witness, result, |response| match response {
        UsernsResponse::Recovered(report) => {
            !report.problems.is_empty() || !report.temp_files_left.is_empty()
        }
        UsernsResponse::CleanedUp(report) => !report.failures.is_empty(),
        _ => false,
    })
}

/// Checks one completed namespace operation.
pub fn check_namespaces(
    operation: &str,
    witness: FaultWitness,
    result: &Result<NodeResponse, String>,
) -> Result<(), Violation> {
    judge(
        operation,
        witness,
        result,
        |response| matches!(response, NodeResponse::Swept(report) if !report.failures.is_empty()),
    )
}

/// Checks one completed subpath operation.
pub fn check_subpath(
    operation: &str,
    witness: FaultWitness,
    result: &Result<SubpathResponse, String>,
) -> Result<(), Violation> {
    judge(
        operation,
        witness,
        result,
        |response| matches!(response, SubpathResponse::Cleaned(report) if !report.is_complete()),
    )
}

/// A panic caught while running a step.
pub fn panicked(step: &str, message: String) -> Violation {
    Violation::new(NAME, format!("panic during {step}: {message}"))
}
