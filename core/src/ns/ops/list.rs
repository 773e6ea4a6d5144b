//! Listing the pods' pins from the run directory and the mount table,
//! changing nothing.
//!
//! ```text
//! list-dir <run>
//! read-mount-info
//! ```

use std::collections::BTreeSet;

use super::{Ctx, Handled, Step, pod_dirs, unexpected};
use crate::effect::{Effect, Observation, Outcome};
use crate::ns::layout::{PinKind, pin_path};
use crate::ns::request::{NsListing, NsResponse, PodPins};
use crate::path::{PodUid, Root, RootPath};

#[derive(Debug, Clone)]
pub(crate) struct ListOp {
    on_disk: BTreeSet<PodUid>,
    stage: Stage,
}

#[derive(Debug, Clone)]
enum Stage {
    ListRun,
    ReadMountInfo,
}

impl ListOp {
    pub fn new() -> Self {
        Self {
            on_disk: BTreeSet::new(),
            stage: Stage::ListRun,
        }
    }

    pub fn poll(&mut self) -> Step {
        Step::Run(match self.stage {
            Stage::ListRun => Effect::ListDir {
                dir: RootPath::root(Root::Run),
            },
            Stage::ReadMountInfo => Effect::ReadMountInfo,
        })
    }

    pub fn handle(&mut self, ctx: &Ctx, outcome: Outcome) -> Handled {
        Handled::Finish(match (&self.stage, outcome) {
            (Stage::ListRun, Ok(Observation::Listing(entries))) => {
                self.on_disk = pod_dirs(entries);
                self.stage = Stage::ReadMountInfo;
                return Handled::Continue;
            }
            (Stage::ListRun, Ok(other)) => Err(unexpected("list-dir", &other)),
            (Stage::ListRun, Err(error)) => Err(ctx.io("list", &RootPath::root(Root::Run), error)),
            (Stage::ReadMountInfo, outcome) => ctx.mounts(outcome).map(|mounts| {
                let pods = mounts
                    .pods_with(&self.on_disk)
                    .into_iter()
                    .map(|pod| {
                        let pod_mounts = mounts.of(&pod);
                        PodPins {
                            net_pin: ctx.absolute(&pin_path(&pod, PinKind::Net)),
                            user_pin: ctx.absolute(&pin_path(&pod, PinKind::User)),
                            net_ns: pod_mounts.ino(&pod, PinKind::Net),
                            user_ns: pod_mounts.ino(&pod, PinKind::User),
                            incomplete: pod_mounts.incomplete(&pod),
                            pod,
                        }
                    })
                    .collect();
                NsResponse::Listed(NsListing {
                    pods,
                    ignored_mounts: mounts.ignored,
                })
            }),
        })
    }
}
