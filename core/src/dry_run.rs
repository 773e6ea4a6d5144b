//! A backend wrapper that executes only reads and answers every mutation as if
//! it had succeeded, so a caller can see the effects a request would run
//! without changing anything.

use async_trait::async_trait;
use serde::Serialize;

use crate::backend::Backend;
use crate::effect::{Effect, EffectError, Observation};
use crate::path::RootPath;

/// One effect as the dry run saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    /// The effect.
    pub effect: Effect,
    /// True when it was only simulated (it would change the file system).
    pub simulated: bool,
}

/// Executes [`Effect::ListDir`] and [`Effect::ReadFile`] on the inner backend;
/// simulates the rest, using reads to answer the questions a real execution
/// would answer (did the directory exist, was there a file to remove).
#[derive(Debug)]
pub struct DryRun<B> {
    inner: B,
    plan: Vec<Planned>,
}

impl<B> DryRun<B> {
    /// Wraps `inner`.
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            plan: Vec::new(),
        }
    }

    /// Every effect seen, in order.
    pub fn plan(&self) -> &[Planned] {
        &self.plan
    }
}

impl<B: Backend> DryRun<B> {
    async fn entry_exists(&mut self, path: &RootPath) -> bool {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return true;
        };
        match self.inner.execute(&Effect::ListDir { dir: parent }).await {
            Ok(Observation::Listing(entries)) => entries.iter().any(|entry| entry.name == name),
            _ => false,
        }
    }
}

#[async_trait]
impl<B: Backend> Backend for DryRun<B> {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        self.plan.push(Planned {
            effect: effect.clone(),
            simulated: effect.mutates(),
        });
        match effect {
            Effect::ListDir { .. } | Effect::ReadFile { .. } => self.inner.execute(effect).await,
            Effect::CreateDir { dir, .. } => Ok(Observation::DirCreated {
                created: !self.entry_exists(dir).await,
            }),
            Effect::RemoveFile { file } => Ok(Observation::FileRemoved {
                existed: self.entry_exists(file).await,
            }),
            _ => Ok(Observation::Done),
        }
    }
}
