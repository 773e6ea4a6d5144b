//! The loop that runs a subpath request to completion against a backend.

use super::engine::SubpathEngine;
use super::request::{SubpathError, SubpathRequest, SubpathResponse};
use crate::backend::Backend;

/// Runs `request` on `engine` to completion, executing each effect on
/// `backend` and handing its outcome back (the subpath twin of
/// [`crate::drive`]).
pub async fn drive_subpath<B: Backend + ?Sized>(
    engine: &mut SubpathEngine,
    backend: &mut B,
    request: SubpathRequest,
) -> Result<SubpathResponse, SubpathError> {
    engine.submit(request)?;
    while let Some(effect) = engine.poll_effect() {
        let outcome = backend.execute(&effect).await;
        engine.handle_outcome(outcome);
    }
    engine
        .poll_completion()
        .expect("poll_effect returned None with no effect outstanding, so the request is complete")
}

/// Like [`drive_subpath`], but stops after `max_effects` effects, leaving the
/// request half-done exactly as a process kill at that point would. `None`
/// when the budget ran out first.
pub async fn drive_subpath_bounded<B: Backend + ?Sized>(
    engine: &mut SubpathEngine,
    backend: &mut B,
    request: SubpathRequest,
    max_effects: usize,
) -> Option<Result<SubpathResponse, SubpathError>> {
    if let Err(error) = engine.submit(request) {
        return Some(Err(error));
    }
    let mut executed = 0;
    while let Some(effect) = engine.poll_effect() {
        if executed == max_effects {
            return None;
        }
        let outcome = backend.execute(&effect).await;
        executed += 1;
        engine.handle_outcome(outcome);
    }
    engine.poll_completion()
}
