//! The canonical loop that runs a request to completion against a backend.

use crate::backend::Backend;
use crate::userns::{OperationError, Request, Response, UsernsEngine};

/// Runs `request` on `engine` to completion, executing each effect on
/// `backend` and feeding its outcome back. When a step fails, the engine's
/// rollback effects are executed the same way before the error is returned.
pub async fn drive<B: Backend + ?Sized>(
    engine: &mut UsernsEngine,
    backend: &mut B,
    request: Request,
) -> Result<Response, OperationError> {
    engine.submit(request)?;
    while let Some(effect) = engine.poll_effect() {
        let outcome = backend.execute(&effect).await;
        engine.handle_outcome(outcome);
    }
    engine
        .poll_completion()
        .expect("poll_effect returned None with no effect outstanding, so the request is complete")
}

/// Like [`drive`], but gives up after `max_effects` effects, leaving the
/// request half-done exactly as a process kill at that point would. Returns
/// `None` when the budget ran out first.
pub async fn drive_bounded<B: Backend + ?Sized>(
    engine: &mut UsernsEngine,
    backend: &mut B,
    request: Request,
    max_effects: usize,
) -> Option<Result<Response, OperationError>> {
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
