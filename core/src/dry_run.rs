//! A backend wrapper that executes only the effects that change nothing
//! (listings, reads, stats) and answers every mutation as if it had
//! succeeded, so a caller can see the effects a request would run without
//! changing anything.

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

/// Executes every effect that does not change the file system (those for
/// which [`Effect::mutates`] is false) on the inner backend; simulates the
/// mutations, using a listing to answer the questions a real execution would
/// answer (did [`Effect::CreateDir`] find the directory already there, did
/// [`Effect::RemoveFile`] find a file to remove). Every other mutation
/// answers [`Observation::Done`].
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
        let simulated = effect.mutates();
        self.plan.push(Planned {
            effect: effect.clone(),
            simulated,
        });
        if !simulated {
            return self.inner.execute(effect).await;
        }
        match effect {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{RelPath, Root};

    /// Records what reaches it and answers every effect with `Done`.
    #[derive(Default)]
    struct Seen(Vec<Effect>);

    #[async_trait]
    impl Backend for Seen {
        async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
            self.0.push(effect.clone());
            Ok(Observation::Done)
        }
    }

    fn path(text: &str) -> RootPath {
        RootPath {
            root: Root::PodDir,
            path: RelPath::parse(text).unwrap(),
        }
    }

    #[test]
    fn every_effect_that_changes_nothing_reaches_the_inner_backend() {
        let reads = [
            Effect::ListDir { dir: path("a") },
            Effect::ReadFile {
                file: path("a/b"),
                max_len: 16,
            },
            Effect::StatBeneath { path: path("a/b") },
            Effect::StatNoFollow { path: path("a/b") },
            Effect::ReadMountInfo,
        ];
        let mut dry_run = DryRun::new(Seen::default());
        for effect in &reads {
            assert!(!effect.mutates());
            let outcome = pollster::block_on(dry_run.execute(effect));
            assert_eq!(outcome, Ok(Observation::Done));
        }
        assert_eq!(dry_run.inner.0, reads);
        assert!(dry_run.plan().iter().all(|planned| !planned.simulated));
    }

    #[test]
    fn mutations_are_only_simulated() {
        let mutations = [
            Effect::WriteNewFile {
                file: path("a/b"),
                mode: 0o644,
                contents: b"x".to_vec(),
            },
            Effect::SyncDir { dir: path("a") },
            Effect::Unmount { target: path("a") },
        ];
        let mut dry_run = DryRun::new(Seen::default());
        for effect in &mutations {
            assert!(effect.mutates());
            let outcome = pollster::block_on(dry_run.execute(effect));
            assert_eq!(outcome, Ok(Observation::Done));
        }
        assert!(dry_run.inner.0.is_empty());
        assert!(dry_run.plan().iter().all(|planned| planned.simulated));
    }
}
