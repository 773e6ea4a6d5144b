//! Durable allocation: reserve a slot in memory, then write the `userns` file
//! through a temp file and acknowledge only after the directory is synced.
//!
//! ```text
//! create-dir <pod>            (sync-dir <pods> when it was created)
//! write-new-file <pod>/.userns.podns-tmp.N
//! sync-file <pod>/.userns.podns-tmp.N
//! rename .userns.podns-tmp.N -> userns
//! sync-dir <pod>              -> acknowledged
//! ```
//!
//! A failure before the rename removes the temp file and frees the slot. A
//! failure after it removes `userns` and syncs the directory before freeing the
//! slot; if that cannot be made durable either, the slot stays reserved and the
//! pod is marked in doubt, so no other pod can be given the same range.

use super::super::broken_variant::BrokenVariant;
use super::super::file_format::{USERNS_FILE_NAME, render_userns_file};
use super::super::mapping::{IdMapping, UserNamespace};
use super::super::pool::SlotIndex;
use super::super::registry::Registry;
use super::super::request::{PodUserNamespace, UsernsError, UsernsResponse};
use super::{Handled, Step, io_error};
use crate::effect::{Effect, Observation, Outcome};
use crate::path::{PodUid, Root, RootPath};

/// Permission bits of a pod directory podns creates (kubelet uses 0750).
pub(crate) const POD_DIR_MODE: u32 = 0o750;
/// Permission bits of the `userns` file.
pub(crate) const USERNS_FILE_MODE: u32 = 0o600;

#[derive(Debug, Clone)]
pub(crate) struct AllocateOp {
    pod: PodUid,
    slot: SlotIndex,
    mapping: IdMapping,
    pod_dir: RootPath,
    temp: RootPath,
    file: RootPath,
    stage: Stage,
    broken: Option<BrokenVariant>,
}

/// Where the allocation is. The rollback stages carry the failure that
/// started the rollback: it is what the request ends with, whatever the
/// rollback's own effects answer.
#[derive(Debug, Clone)]
enum Stage {
    CreatePodDir,
    SyncPodsDir,
    WriteTemp,
    SyncTemp,
    RenameTemp,
    SyncPodDir,
    /// Rollback before the rename: the temp file is all there is.
    RemoveTemp(UsernsError),
    /// The rename failed: if the temp file is still there, the rename did not
    /// happen; if it is gone, `userns` may hold our contents.
    ProbeTemp(UsernsError),
    RemoveFile(UsernsError),
    SyncPodDirAfterRemove(UsernsError),
}

impl AllocateOp {
    /// `slot` must already be reserved in the registry.
    pub fn new(
        pod: PodUid,
        slot: SlotIndex,
        mapping: IdMapping,
        temp_name: &str,
        broken: Option<BrokenVariant>,
    ) -> Self {
        let pod_dir = RootPath::pod_dir(Root::Pods, &pod);
        Self {
            temp: pod_dir.join(temp_name),
            file: pod_dir.join(USERNS_FILE_NAME),
            pod_dir,
            pod,
            slot,
            mapping,
            stage: Stage::CreatePodDir,
            broken,
        }
    }

    pub fn poll(&mut self) -> Step {
        Step::Run(match &self.stage {
            Stage::CreatePodDir => Effect::CreateDir {
                dir: self.pod_dir.clone(),
                mode: POD_DIR_MODE,
            },
            Stage::SyncPodsDir => Effect::SyncDir {
                dir: RootPath::root(Root::Pods),
            },
            Stage::WriteTemp => Effect::WriteNewFile {
                file: self.temp.clone(),
                mode: USERNS_FILE_MODE,
                contents: render_userns_file(self.mapping),
            },
            Stage::SyncTemp => Effect::SyncFile {
                file: self.temp.clone(),
            },
            Stage::RenameTemp => Effect::Rename {
                from: self.temp.clone(),
                to: self.file.clone(),
            },
            Stage::SyncPodDir | Stage::SyncPodDirAfterRemove(_) => Effect::SyncDir {
                dir: self.pod_dir.clone(),
            },
            Stage::RemoveTemp(_) | Stage::ProbeTemp(_) => Effect::RemoveFile {
                file: self.temp.clone(),
            },
            Stage::RemoveFile(_) => Effect::RemoveFile {
                file: self.file.clone(),
            },
        })
    }

    pub fn handle(&mut self, registry: &mut Registry, outcome: Outcome) -> Handled {
        let labels = registry.labels();
        let next = match (&self.stage, outcome) {
            (Stage::CreatePodDir, Ok(Observation::DirCreated { created: false }))
                if registry.pod_dir_is_durable(&self.pod) =>
            {
                Stage::WriteTemp
            }
            // A new directory, or one someone else made since recovery: its
            // entry must be durable before anything in it is acknowledged.
            (Stage::CreatePodDir, Ok(_)) => Stage::SyncPodsDir,
            (Stage::CreatePodDir, Err(error)) => {
                let error = io_error(labels, "create the pod directory", &self.pod_dir, error);
                return self.give_back(registry, error);
            }
            (Stage::SyncPodsDir, Ok(_)) => {
                registry.mark_pod_dir_durable(&self.pod);
                Stage::WriteTemp
            }
            (Stage::SyncPodsDir, Err(error)) => {
                let error = io_error(labels, "sync", &RootPath::root(Root::Pods), error);
                return self.give_back(registry, error);
            }
            (Stage::WriteTemp, Ok(_)) if self.broken == Some(BrokenVariant::NoTempFileSync) => {
                Stage::RenameTemp
            }
            (Stage::WriteTemp, Ok(_)) => Stage::SyncTemp,
            (Stage::WriteTemp, Err(error)) => {
                Stage::RemoveTemp(io_error(labels, "write", &self.temp, error))
            }
            (Stage::SyncTemp, Ok(_)) => Stage::RenameTemp,
            (Stage::SyncTemp, Err(error)) => {
                Stage::RemoveTemp(io_error(labels, "sync", &self.temp, error))
            }
            (Stage::RenameTemp, Ok(_)) if self.broken == Some(BrokenVariant::AckBeforeDirSync) => {
                return self.acknowledge(registry);
            }
            (Stage::RenameTemp, Ok(_)) => Stage::SyncPodDir,
            (Stage::RenameTemp, Err(error)) => {
                Stage::ProbeTemp(io_error(labels, "rename into place", &self.temp, error))
            }
            (Stage::SyncPodDir, Ok(_)) => return self.acknowledge(registry),
            (Stage::SyncPodDir, Err(error)) => {
                Stage::RemoveFile(io_error(labels, "sync", &self.pod_dir, error))
            }
            // The temp file is never trusted by recovery, so the slot can be
            // given back whether or not its removal worked.
            (Stage::RemoveTemp(failure), _) => return self.give_back(registry, failure.clone()),
            (Stage::ProbeTemp(failure), Ok(Observation::FileRemoved { existed: true })) => {
                return self.give_back(registry, failure.clone());
            }
            (Stage::ProbeTemp(failure), Ok(_)) => Stage::RemoveFile(failure.clone()),
            (Stage::RemoveFile(failure), Ok(_)) => Stage::SyncPodDirAfterRemove(failure.clone()),
            (Stage::SyncPodDirAfterRemove(failure), Ok(_)) => {
                return self.give_back(registry, failure.clone());
            }
            (
                Stage::ProbeTemp(failure)
                | Stage::RemoveFile(failure)
                | Stage::SyncPodDirAfterRemove(failure),
                Err(_),
            ) => return self.keep_in_doubt(registry, failure.clone()),
        };
        self.stage = next;
        Handled::Continue
    }

    fn acknowledge(&mut self, registry: &mut Registry) -> Handled {
        registry.record_allocated(self.pod.clone(), self.slot);
        Handled::Finish(Ok(UsernsResponse::UserNamespace(PodUserNamespace {
            pod: self.pod.clone(),
            userns: UserNamespace::pod(self.mapping),
            created: true,
        })))
    }

    /// Nothing of the allocation can survive: free the slot.
    fn give_back(&mut self, registry: &mut Registry, failure: UsernsError) -> Handled {
        registry.unreserve_slot(self.slot);
        Handled::Finish(Err(failure))
    }

    /// The file may survive a power loss: keep the slot reserved for the pod.
    fn keep_in_doubt(&mut self, registry: &mut Registry, failure: UsernsError) -> Handled {
        registry.record_in_doubt(self.pod.clone(), self.slot);
        Handled::Finish(Err(failure))
    }
}
