//! A backend wrapper that keeps a log of every effect and its outcome.

use async_trait::async_trait;
use serde::Serialize;

use crate::backend::Backend;
use crate::effect::{Effect, EffectError, Observation, Outcome};

/// One executed effect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Executed {
    /// What was asked.
    pub effect: Effect,
    /// What came back.
    pub outcome: Outcome,
}

/// Wraps a backend and records every effect it executes, in order.
#[derive(Debug, Clone)]
pub struct Recording<B> {
    inner: B,
    log: Vec<Executed>,
}

impl<B> Recording<B> {
    /// Starts recording `inner`.
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            log: Vec::new(),
        }
    }

    /// Everything executed so far.
    pub fn log(&self) -> &[Executed] {
        &self.log
    }

    /// The effects executed so far, without outcomes.
    pub fn effects(&self) -> Vec<Effect> {
        self.log
            .iter()
            .map(|executed| executed.effect.clone())
            .collect()
    }

    /// Empties the log.
    pub fn take_log(&mut self) -> Vec<Executed> {
        std::mem::take(&mut self.log)
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The wrapped backend, mutably.
    pub fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

#[async_trait]
impl<B: Backend> Backend for Recording<B> {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        let outcome = self.inner.execute(effect).await;
        self.log.push(Executed {
            effect: effect.clone(),
            outcome: outcome.clone(),
        });
        outcome
    }
}
