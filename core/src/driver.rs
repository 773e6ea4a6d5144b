//! [`Engine`], the driving contract every podns engine follows, and
//! [`drive`], the one loop that follows it.

use crate::backend::Backend;
use crate::effect::{Effect, Outcome};

/// A sans-IO state machine: it is given requests and the outcomes of the
/// effects it asked for, and gives effects and results. [`crate::UsernsEngine`],
/// [`crate::NsEngine`], [`crate::SubpathEngine`] and
/// [`crate::NodeEngine`] implement it; each one's docs say only what differs
/// (which request comes first, which roots its backend must hold).
///
/// # Methods, by group
/// - Commands: [`Engine::submit`] starts a request.
/// - Driving: [`Engine::poll_effect`] gives the next effect;
///   [`Engine::handle_outcome`] takes what executing it produced.
/// - Completion: [`Engine::poll_completion`] gives the request's result.
///
/// # The driving contract
/// 1. `submit` one request. While it runs, `submit` fails with the engine's
///    `Busy` error; some requests fail at once (a request before recovery).
/// 2. Call `poll_effect`. For `Some(effect)`, execute it and pass its outcome,
///    unchanged, to `handle_outcome`; then go back to 2. Never skip, reorder,
///    retry or batch effects: each one may be a durability step, and a crash
///    may fall between any two.
/// 3. When `poll_effect` returns `None`, the request is complete:
///    `poll_completion` returns its result once. Go back to 1.
///
/// # The invariant
/// **At most one effect awaits its outcome.** Between a `poll_effect` that
/// gave an effect and the `handle_outcome` of that effect's outcome, the
/// driver calls neither again. Debug builds assert it on `poll_effect`; an
/// outcome handed back with no effect awaiting it fails the running request
/// with a [`crate::DrivingError`]. What an engine learns from the disk takes
/// effect only once the outcomes it depends on are in, so the state it
/// keeps is always one the protocol was designed for.
///
/// [`drive`] is this loop; [`drive_bounded`] stops it after a number of
/// effects, as a crash there would.
pub trait Engine {
    /// What the engine is asked to do.
    type Request;
    /// What a completed request produces.
    type Response;
    /// Why a request failed.
    type Error;

    /// 1. Starts `request`.
    fn submit(&mut self, request: Self::Request) -> Result<(), Self::Error>;
    /// 2. The next effect to execute, or `None` when the request is complete.
    fn poll_effect(&mut self) -> Option<Effect>;
    /// 2. The outcome of the effect `poll_effect` last gave.
    fn handle_outcome(&mut self, outcome: Outcome);
    /// 3. The result, once the request is complete.
    fn poll_completion(&mut self) -> Option<Result<Self::Response, Self::Error>>;
}

/// Runs `request` on `engine` to completion: each effect is executed on
/// `backend` and its outcome handed back, rollback effects included, before
/// the result is returned.
pub async fn drive<E: Engine + ?Sized, B: Backend + ?Sized>(
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

/// Like [`drive`], but gives up after `max_effects` effects, leaving the
/// request half-done exactly as a process kill at that point would. Returns
/// `None` when the budget ran out first.
pub async fn drive_bounded<E: Engine + ?Sized, B: Backend + ?Sized>(
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

/// Implements [`Engine`] for an engine type by forwarding to its inherent
/// methods of the same names, so each engine states its contract types once,
/// beside its own code.
macro_rules! impl_engine {
    ($engine:ty, $request:ty, $response:ty, $error:ty) => {
        impl $crate::driver::Engine for $engine {
            type Request = $request;
            type Response = $response;
            type Error = $error;

            fn submit(&mut self, request: $request) -> Result<(), $error> {
                <$engine>::submit(self, request)
            }

            fn poll_effect(&mut self) -> Option<$crate::effect::Effect> {
                <$engine>::poll_effect(self)
            }

            fn handle_outcome(&mut self, outcome: $crate::effect::Outcome) {
                <$engine>::handle_outcome(self, outcome);
            }

            fn poll_completion(&mut self) -> Option<Result<$response, $error>> {
                <$engine>::poll_completion(self)
            }
        }
    };
}
pub(crate) use impl_engine;
