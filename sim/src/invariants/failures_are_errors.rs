//! Invariant 6: no panic, and every operation whose step failed returned an
//! error (or, for recovery and cleanup, reported the failure).

use podns_core::{NsResponse, OperationError, Response, SubpathResponse};

use super::Violation;

const NAME: &str = "6. no panic; every failed operation returned an error";

/// Whether an injected fault hit one of the operation's effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultWitness {
    /// The fault fired.
    pub fired: bool,
}

/// Checks one completed operation.
pub fn check(
    operation: &str,
    witness: FaultWitness,
    result: &Result<Response, OperationError>,
) -> Result<(), Violation> {
    if !witness.fired {
        return Ok(());
    }
    let reported = match result {
        Err(_) => true,
        Ok(Response::Recovered(report)) => {
            !report.problems.is_empty() || !report.temp_files_left.is_empty()
        }
        Ok(Response::CleanedUp(report)) => !report.failures.is_empty(),
        Ok(_) => false,
    };
    if reported {
        return Ok(());
    }
    Err(Violation::new(
        NAME,
        format!("{operation}: an effect failed but the operation reported success: {result:?}"),
    ))
}

/// Checks one completed namespace operation.
pub fn check_namespaces(
    operation: &str,
    witness: FaultWitness,
    result: &Result<NsResponse, String>,
) -> Result<(), Violation> {
    let reported = match result {
        Err(_) => true,
        Ok(NsResponse::Swept(report)) => !report.failures.is_empty(),
        Ok(_) => false,
    };
    if !witness.fired || reported {
        return Ok(());
    }
    Err(Violation::new(
        NAME,
        format!("{operation}: an effect failed but the operation reported success: {result:?}"),
    ))
}

/// Checks one completed subpath operation.
pub fn check_subpath(
    operation: &str,
    witness: FaultWitness,
    result: &Result<SubpathResponse, String>,
) -> Result<(), Violation> {
    let reported = match result {
        Err(_) => true,
        Ok(SubpathResponse::Cleaned(report)) => !report.is_complete(),
        Ok(_) => false,
    };
    if !witness.fired || reported {
        return Ok(());
    }
    Err(Violation::new(
        NAME,
        format!("{operation}: an effect failed but the operation reported success: {result:?}"),
    ))
}

/// A panic caught while running a step.
pub fn panicked(step: &str, message: String) -> Violation {
    Violation::new(NAME, format!("panic during {step}: {message}"))
}
