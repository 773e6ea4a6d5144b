//! The boundary between the core and the world.

use async_trait::async_trait;

use crate::effect::{Effect, EffectError, Observation};

/// Executes effects. Implementations: `podns-backend-linux` (real syscalls),
/// `podns-backend-mock` (in-memory, with faults and crashes), and the
/// wrappers [`crate::DryRun`] and [`crate::Recording`].
///
/// Each [`Effect`] variant documents what an implementation MUST do, which
/// errors it may return and what is durable afterwards.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Backend: Send {
    /// Executes one effect and reports what happened.
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError>;
}

#[async_trait]
impl<B: Backend + ?Sized> Backend for &mut B {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        (**self).execute(effect).await
    }
}

#[async_trait]
impl<B: Backend + ?Sized> Backend for Box<B> {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        (**self).execute(effect).await
    }
}
