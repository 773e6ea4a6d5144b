//! The loop that runs a subpath request to completion against a backend.

use super::engine::SubpathEngine;
use super::request::{SubpathError, SubpathRequest, SubpathResponse};
use crate::backend::Backend;
use crate::driver::{Engine, drive_engine, drive_engine_bounded};
use crate::effect::{Effect, Outcome};

impl Engine for SubpathEngine {
    type Request = SubpathRequest;
    type Response = SubpathResponse;
    type Error = SubpathError;

    fn submit(&mut self, request: SubpathRequest) -> Result<(), SubpathError> {
        SubpathEngine::submit(self, request)
    }

    fn poll_effect(&mut self) -> Option<Effect> {
        SubpathEngine::poll_effect(self)
    }

    fn handle_outcome(&mut self, outcome: Outcome) {
        SubpathEngine::handle_outcome(self, outcome);
    }

    fn poll_completion(&mut self) -> Option<Result<SubpathResponse, SubpathError>> {
        SubpathEngine::poll_completion(self)
    }
}

/// Runs `request` on `engine` to completion, executing each effect on
/// `backend` and handing its outcome back (the subpath twin of
/// [`crate::drive`]).
pub async fn drive_subpath<B: Backend + ?Sized>(
    engine: &mut SubpathEngine,
    backend: &mut B,
    request: SubpathRequest,
) -> Result<SubpathResponse, SubpathError> {
    drive_engine(engine, backend, request).await
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
    drive_engine_bounded(engine, backend, request, max_effects).await
}
