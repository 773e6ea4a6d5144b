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
    drive_engine(engine, backend, request).await
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
    drive_engine_bounded(engine, backend, request, max_effects).await
}

/// A sans-IO state machine with the driving contract of the crate docs:
/// submit one request, execute each polled effect and hand its outcome back,
/// then take the result. [`crate::UsernsEngine`], [`crate::NamespaceEngine`]
/// and [`crate::SubpathEngine`] implement it, so [`drive_engine`] runs any.
pub trait Engine {
    /// What the engine is asked to do.
    type Request;
    /// What a completed request produces.
    type Response;
    /// Why a request failed.
    type Error;

    /// Starts `request`; fails when another one is running.
    fn submit(&mut self, request: Self::Request) -> Result<(), Self::Error>;
    /// The next effect, or `None` when the request is complete.
    fn poll_effect(&mut self) -> Option<crate::effect::Effect>;
    /// The outcome of the effect last polled.
    fn handle_outcome(&mut self, outcome: crate::effect::Outcome);
    /// The result, once the request is complete.
    fn poll_completion(&mut self) -> Option<Result<Self::Response, Self::Error>>;
}

impl Engine for UsernsEngine {
    type Request = Request;
    type Response = Response;
    type Error = OperationError;

    fn submit(&mut self, request: Request) -> Result<(), OperationError> {
        UsernsEngine::submit(self, request)
    }

    fn poll_effect(&mut self) -> Option<crate::effect::Effect> {
        UsernsEngine::poll_effect(self)
    }

    fn handle_outcome(&mut self, outcome: crate::effect::Outcome) {
        UsernsEngine::handle_outcome(self, outcome);
    }

    fn poll_completion(&mut self) -> Option<Result<Response, OperationError>> {
        UsernsEngine::poll_completion(self)
    }
}

/// Runs `request` on any [`Engine`] to completion: the one copy of the
/// driving loop ([`drive`] and [`crate::drive_subpath`] are this loop, typed).
pub async fn drive_engine<E: Engine + ?Sized, B: Backend + ?Sized>(
    engine: &mut E,
    backend: &mut B,
    request: E::Request,
) -> Result<E::Response, E::Error> {
    engine.submit(request)?;
    while let Some(effect) = engine.poll_effect() {
        let outcome = backend.execute(&effect).await;
        engine.handle_outcome(outcome);
    }
    engine
        .poll_completion()
        .expect("poll_effect returned None with no effect outstanding, so the request is complete")
}

/// [`drive_bounded`] for any [`Engine`]: `None` when the budget of
/// `max_effects` ran out first, leaving the request half-done as a process
/// kill at that point would.
pub async fn drive_engine_bounded<E: Engine + ?Sized, B: Backend + ?Sized>(
    engine: &mut E,
    backend: &mut B,
    request: E::Request,
    max_effects: usize,
) -> Option<Result<E::Response, E::Error>> {
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
