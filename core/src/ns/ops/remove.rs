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
use super::{Ctx, Handled, Step};
use crate::effect::{Effect, Outcome};
use crate::ns::request::{NsRemoval, NsResponse};
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
}

impl RemoveOp {
    pub fn new(pod: PodUid) -> Self {
        Self {
            pod,
            stage: Stage::ReadMountInfo,
        }
    }

    pub fn poll(&mut self) -> Step {
        match &mut self.stage {
            Stage::ReadMountInfo => Step::Run(Effect::ReadMountInfo),
            Stage::Teardown(op) => match op.poll() {
                Ok(effect) => Step::Run(effect),
                Err(outcome) => Step::Finish(match outcome.failures.into_iter().next() {
                    Some(error) => Err(error),
                    None => Ok(NsResponse::Removed(NsRemoval {
                        pod: self.pod.clone(),
                        removed: outcome.removed,
                        unmounted: outcome.unmounted,
                    })),
                }),
            },
        }
    }

    pub fn handle(&mut self, ctx: &Ctx, outcome: Outcome) -> Handled {
        match &mut self.stage {
            Stage::ReadMountInfo => match ctx.mounts(outcome) {
                Ok(mounts) => {
                    let order = mounts.of(&self.pod).unmount_order();
                    self.stage = Stage::Teardown(TeardownOp::whole_pod(&self.pod, order));
                }
                Err(error) => return Handled::Finish(Err(error)),
            },
            Stage::Teardown(op) => op.handle(ctx, outcome),
        }
        Handled::Continue
    }
}
