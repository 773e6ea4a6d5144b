//! Durable release: remove the `userns` file, sync the pod directory, and only
//! then free the slot. (kubelet frees first and never syncs: after a power loss
//! its file can come back while the range went to another pod.)
//!
//! ```text
//! remove-file <pod>/userns
//! sync-dir <pod>               (sync-dir <pods> when the pod dir is gone)
//! -> slot freed, acknowledged
//! ```
//!
//! A pod "directory" that is a symlink (recovery reports it as unreadable,
//! and its unknown range stops new allocations) makes the first step fail
//! with `ELOOP`, since no path is followed through a symlink. For such an
//! unknown claim the release then removes the link itself, never what it
//! points to, and syncs the pods directory: `remove-file <pod>`, `sync-dir
//! <pods>`. A known range whose directory became a link since is not
//! released that way: the range stays reserved.
//!
//! A removal that fails may still have taken place (an unlink applied before
//! its journal commit failed): the release then looks (`stat-no-follow`).
//! Gone: it goes on as if the removal had succeeded, since the range is no
//! longer on disk and must not stay handed out only in memory. Still there:
//! nothing changed, and the error is the answer. Unknown: the claim stays
//! reserved, in doubt.

use super::super::broken_variant::BrokenVariant;
use super::super::file_format::USERNS_FILE_NAME;
use super::super::registry::{Claim, Registry};
use super::super::request::{Release, UsernsResponse};
use super::{Handled, Step, io_error};
use crate::effect::{Effect, EffectError, Errno, Observation, Outcome};
use crate::path::{PodUid, Root, RootPath};

#[derive(Debug, Clone)]
pub(crate) struct ReleaseOp {
    pod: PodUid,
    pod_dir: RootPath,
    file: RootPath,
    stage: Stage,
    broken: Option<BrokenVariant>,
}

#[derive(Debug, Clone)]
enum Stage {
    RemoveFile,
    /// The pod directory is a symlink: remove the link.
    RemoveLink,
    /// A removal failed: did it take place? `link` says which removal.
    ProbeRemoval {
        link: bool,
        error: EffectError,
    },
    SyncPodDir,
    /// The pod directory itself is gone: make that durable instead.
    SyncPodsDir,
}

impl ReleaseOp {
    /// The release of `pod`'s claim, or `Err` with the answer at once when
    /// the pod holds none: there is nothing to remove.
    pub fn of_claim(
        pod: PodUid,
        registry: &Registry,
        broken: Option<BrokenVariant>,
    ) -> Result<Self, Release> {
        if registry.claim(&pod).is_none() {
            return Err(Release {
                pod,
                range: None,
                released: false,
            });
        }
        let pod_dir = RootPath::pod_dir(Root::Pods, &pod);
        Ok(Self {
            file: pod_dir.join(USERNS_FILE_NAME),
            pod_dir,
            pod,
            stage: Stage::RemoveFile,
            broken,
        })
    }

    pub fn poll(&mut self) -> Step {
        Step::Run(match &self.stage {
            Stage::RemoveFile => Effect::RemoveFile {
                file: self.file.clone(),
            },
            Stage::RemoveLink => Effect::RemoveFile {
                file: self.pod_dir.clone(),
            },
            Stage::ProbeRemoval { link, .. } => Effect::StatNoFollow {
                path: if *link {
                    self.pod_dir.clone()
                } else {
                    self.file.clone()
                },
            },
            Stage::SyncPodDir => Effect::SyncDir {
                dir: self.pod_dir.clone(),
            },
            Stage::SyncPodsDir => Effect::SyncDir {
                dir: RootPath::root(Root::Pods),
            },
        })
    }

    pub fn handle(&mut self, registry: &mut Registry, outcome: Outcome) -> Handled {
        self.stage = match (&self.stage, outcome) {
            (Stage::RemoveFile, Ok(_))
                if self.broken == Some(BrokenVariant::ReleaseFreesBeforeDirSync) =>
            {
                return self.acknowledge(registry);
            }
            (Stage::RemoveFile, Ok(Observation::FileRemoved { existed: false }))
                if self.broken == Some(BrokenVariant::ReleaseOfMissingFileSkipsSync) =>
            {
                return self.acknowledge(registry);
            }
            (Stage::RemoveFile, Ok(_)) => Stage::SyncPodDir,
            (Stage::RemoveFile, Err(error))
                if error.is_not_found()
                    && self.broken == Some(BrokenVariant::ReleaseOfMissingFileSkipsSync) =>
            {
                return self.acknowledge(registry);
            }
            (Stage::RemoveFile, Err(error)) if error.is_not_found() => Stage::SyncPodsDir,
            // Only a claim recovery could not read is the link's: a known
            // range whose directory became a link since (moved away, a link
            // left in its place) may still be claimed by the file it points
            // to, so it stays reserved.
            (Stage::RemoveFile, Err(error))
                if error.errno == Errno::ELOOP
                    && matches!(registry.claim(&self.pod), Some(Claim::Unknown { .. })) =>
            {
                Stage::RemoveLink
            }
            // Nothing was resolved, so nothing was removed.
            (Stage::RemoveFile, Err(error)) if error.errno == Errno::ELOOP => {
                return self.unchanged(registry, false, error);
            }
            // Removed, or gone already: either way the name is free.
            (Stage::RemoveLink, Ok(_)) => Stage::SyncPodsDir,
            (Stage::RemoveLink, Err(error)) if error.is_not_found() => Stage::SyncPodsDir,
            // A directory again (EISDIR): nothing was removed.
            (Stage::RemoveLink, Err(error)) if error.errno == Errno::EISDIR => {
                return self.unchanged(registry, true, error);
            }
            (Stage::RemoveLink, Err(error)) => Stage::ProbeRemoval { link: true, error },
            (Stage::RemoveFile, Err(error))
                if self.broken == Some(BrokenVariant::ReleaseTrustsFailedRemoval) =>
            {
                return self.unchanged(registry, false, error);
            }
            (Stage::RemoveFile, Err(error)) => Stage::ProbeRemoval { link: false, error },
            (Stage::ProbeRemoval { link, .. }, Err(probe)) if probe.is_not_found() => {
                if *link {
                    Stage::SyncPodsDir
                } else {
                    Stage::SyncPodDir
                }
            }
            // Still there: nothing changed, the claim stays as it was.
            (Stage::ProbeRemoval { link, error }, Ok(_)) => {
                let (link, error) = (*link, error.clone());
                return self.unchanged(registry, link, error);
            }
            // Cannot tell: keep the range reserved.
            (Stage::ProbeRemoval { link, error }, Err(_)) => {
                let (action, path) = self.removal(*link);
                let error = error.clone();
                return self.keep_in_doubt(registry, action, &path, error);
            }
            (Stage::SyncPodDir | Stage::SyncPodsDir, Ok(_)) => return self.acknowledge(registry),
            (Stage::SyncPodDir, Err(error)) if error.is_not_found() => Stage::SyncPodsDir,
            // The file is gone from the page cache but may come back after a
            // power loss: keep the range reserved.
            (Stage::SyncPodDir, Err(error)) => {
                let dir = self.pod_dir.clone();
                return self.keep_in_doubt(registry, "sync", &dir, error);
            }
            (Stage::SyncPodsDir, Err(error)) => {
                return self.keep_in_doubt(registry, "sync", &RootPath::root(Root::Pods), error);
            }
        };
        Handled::Continue
    }

    /// What a removal was, for messages: the file, or the symlink that
    /// stands for the pod directory.
    fn removal(&self, link: bool) -> (&'static str, RootPath) {
        if link {
            ("remove the symlink", self.pod_dir.clone())
        } else {
            ("remove", self.file.clone())
        }
    }

    /// Fails with `error` from a removal (of the symlink, with `link`) that
    /// changed nothing: the claim stays as it was.
    fn unchanged(&self, registry: &Registry, link: bool, error: EffectError) -> Handled {
        let (action, path) = self.removal(link);
        Handled::Finish(Err(io_error(registry.labels(), action, &path, error)))
    }

    fn acknowledge(&mut self, registry: &mut Registry) -> Handled {
        let range = match registry.remove(&self.pod) {
            Some(Claim::Known(known)) => Some(known.range),
            _ => None,
        };
        Handled::Finish(Ok(UsernsResponse::Released(Release {
            pod: self.pod.clone(),
            range,
            released: true,
        })))
    }

    fn keep_in_doubt(
        &mut self,
        registry: &mut Registry,
        action: &'static str,
        path: &RootPath,
        error: EffectError,
    ) -> Handled {
        registry.mark_in_doubt(&self.pod);
        Handled::Finish(Err(io_error(registry.labels(), action, path, error)))
    }
}

impl ReleaseOp {
    /// The pod being released.
    pub fn pod(&self) -> &PodUid {
        &self.pod
    }
}
