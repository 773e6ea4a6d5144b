//! Durable release: remove the `userns` file, sync the pod directory, and only
//! then free the slot. (kubelet frees first and never syncs: after a power loss
//! its file can come back while the range went to another pod.)
//!
//! ```text
//! remove-file <pod>/userns
//! sync-dir <pod>               (sync-dir <pods> when the pod dir is gone)
//! -> slot freed, acknowledged
//! ```

use super::super::broken_variant::BrokenVariant;
use super::super::file_format::USERNS_FILE_NAME;
use super::super::registry::{Claim, Registry};
use super::super::request::{OperationError, Release, Response};
use super::{Step, io_error};
use crate::effect::{Effect, Outcome};
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
    SyncPodDir,
    /// The pod directory itself is gone: make that durable instead.
    SyncPodsDir,
    Finished(Option<Result<Response, OperationError>>),
}

impl ReleaseOp {
    pub fn new(pod: PodUid, registry: &Registry, broken: Option<BrokenVariant>) -> Self {
        let pod_dir = RootPath::pod_dir(Root::Pods, &pod);
        let stage = if registry.claim(&pod).is_some() {
            Stage::RemoveFile
        } else {
            Stage::Finished(Some(Ok(Response::Released(Release {
                pod: pod.clone(),
                range: None,
                released: false,
            }))))
        };
        Self {
            file: pod_dir.join(USERNS_FILE_NAME),
            pod_dir,
            pod,
            stage,
            broken,
        }
    }

    pub fn poll(&mut self) -> Step {
        match &mut self.stage {
            Stage::RemoveFile => Step::Run(Effect::RemoveFile {
                file: self.file.clone(),
            }),
            Stage::SyncPodDir => Step::Run(Effect::SyncDir {
                dir: self.pod_dir.clone(),
            }),
            Stage::SyncPodsDir => Step::Run(Effect::SyncDir {
                dir: RootPath::root(Root::Pods),
            }),
            Stage::Finished(result) => {
                Step::Finish(result.take().unwrap_or(Err(OperationError::Busy)))
            }
        }
    }

    pub fn handle(&mut self, registry: &mut Registry, outcome: Outcome) {
        self.stage = match (&self.stage, outcome) {
            (Stage::RemoveFile, Ok(_))
                if self.broken == Some(BrokenVariant::ReleaseFreesBeforeDirSync) =>
            {
                self.acknowledge(registry)
            }
            (Stage::RemoveFile, Ok(_)) => Stage::SyncPodDir,
            (Stage::RemoveFile, Err(error)) if error.is_not_found() => Stage::SyncPodsDir,
            // Nothing changed on disk: the claim stays as it was.
            (Stage::RemoveFile, Err(error)) => Stage::Finished(Some(Err(io_error(
                registry.labels(),
                "remove",
                &self.file,
                error,
            )))),
            (Stage::SyncPodDir, Ok(_)) | (Stage::SyncPodsDir, Ok(_)) => self.acknowledge(registry),
            (Stage::SyncPodDir, Err(error)) if error.is_not_found() => Stage::SyncPodsDir,
            // The file is gone from the page cache but may come back after a
            // power loss: keep the range reserved.
            (Stage::SyncPodDir, Err(error)) => {
                registry.mark_in_doubt(&self.pod);
                Stage::Finished(Some(Err(io_error(
                    registry.labels(),
                    "sync",
                    &self.pod_dir,
                    error,
                ))))
            }
            (Stage::SyncPodsDir, Err(error)) => {
                registry.mark_in_doubt(&self.pod);
                Stage::Finished(Some(Err(io_error(
                    registry.labels(),
                    "sync",
                    &RootPath::root(Root::Pods),
                    error,
                ))))
            }
            (Stage::Finished(_), _) => return,
        };
    }

    fn acknowledge(&mut self, registry: &mut Registry) -> Stage {
        let range = match registry.remove(&self.pod) {
            Some(Claim::Known(known)) => Some(known.range),
            _ => None,
        };
        Stage::Finished(Some(Ok(Response::Released(Release {
            pod: self.pod.clone(),
            range,
            released: true,
        }))))
    }
}

impl ReleaseOp {
    /// The pod being released.
    pub fn pod(&self) -> &PodUid {
        &self.pod
    }
}
