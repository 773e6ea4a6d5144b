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
    if !witness.fired || reported {
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
