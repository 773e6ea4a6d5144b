//! Removing a pod's namespaces: detach every mount in its directory (as the
//! mount table lists them), unlink the pins, remove the directory.
//!
//! ```text
//! read-mount-info
//! detach-mount <run>/<pod>/...     once per mount, newest first
//! remove-file <run>/<pod>/net
//! remove-file <run>/<pod>/user
//! remove-dir <run>/<pod>
//! ```

use super::teardown::TeardownOp;
use super::{Ctx, Step};
use crate::effect::{Effect, Outcome};
use crate::ns::request::{NsError, NsRemoval, NsResponse};
use crate::path::PodUid;

#[derive(Debug, Clone)]
pub(crate) struct RemoveOp {
    pod: PodUid,
    stage: Stage,
}

#[derive(Debug, Clone)]
enum Stage {
    ReadMountInfo,
    Teardown(TeardownOp),
    Finished(Option<Result<NsResponse, NsError>>),
}

impl RemoveOp {
    pub fn new(pod: PodUid) -> Self {
        Self {
            pod,
            stage: Stage::ReadMountInfo,
        }
    }

    pub fn poll(&mut self) -> Step {
        loop {
            match &mut self.stage {
                Stage::ReadMountInfo => return Step::Run(Effect::ReadMountInfo),
                Stage::Teardown(op) => match op.poll() {
                    Ok(effect) => return Step::Run(effect),
                    Err(outcome) => {
                        let result = match outcome.failures.into_iter().next() {
                            Some(error) => Err(error),
                            None => Ok(NsResponse::Removed(NsRemoval {
                                pod: self.pod.clone(),
                                removed: outcome.removed,
                                unmounted: outcome.unmounted,
                            })),
                        };
                        self.stage = Stage::Finished(Some(result));
                    }
                },
                Stage::Finished(result) => {
                    return Step::Finish(result.take().unwrap_or(Err(NsError::Busy)));
                }
            }
        }
    }

    pub fn handle(&mut self, ctx: &Ctx, outcome: Outcome) {
        match &mut self.stage {
            Stage::ReadMountInfo => {
                self.stage = match ctx.mounts(outcome) {
                    Ok(mounts) => Stage::Teardown(TeardownOp::whole_pod(
                        &self.pod,
                        mounts.of(&self.pod).unmount_order(),
                    )),
                    Err(error) => Stage::Finished(Some(Err(error))),
                };
            }
            Stage::Teardown(op) => op.handle(ctx, outcome),
            Stage::Finished(_) => {}
        }
    }
}
