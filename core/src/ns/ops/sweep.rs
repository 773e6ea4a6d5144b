//! Sweeping the run directory after crashes: from the pod directories on
//! disk and the mount table, remove every pin that should not be there.
//!
//! ```text
//! list-dir <run>
//! read-mount-info
//! per pod, sorted:
//!   kept, allocated, complete pair:  inspect-pod-namespaces -> checked: kept
//!   otherwise (or not checking out): detach-mount..., remove-file net,
//!                                    remove-file user, remove-dir <pod>
//! ```
//!
//! A pod's pins stay only when all of these hold: the pod is in the keep
//! set, it has a user-namespace allocation, both pins are single nsfs mounts
//! of their types, no other mount is in the pod's directory, and the kernel
//! confirms that the network namespace is owned by the pinned user
//! namespace, whose maps are the allocation's.
//! Everything else in a pod directory's two pins goes: a pin file that is
//! not a mount (a create killed before pinning), half a pair, a pair whose
//! allocation was released. Only mounts at or below `<run>/<pod>` and the
//! two pin names are ever touched; anything else in the run directory is
//! reported and left alone. One pod's failure does not stop the others.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::teardown::TeardownOp;
use super::{Ctx, Handled, Step, pod_dirs, unexpected};
use crate::effect::{Effect, Observation, Outcome};
use crate::ns::facts::PodIdMaps;
use crate::ns::layout::{PinKind, pin_path, pod_ns_dir};
use crate::ns::mounts::RunMounts;
use crate::ns::request::{NsError, NsFailure, NsResponse, SweepReason, SweepReport, SweptPod};
use crate::op_error::DrivingError;
use crate::path::{PodUid, Root, RootPath};

#[derive(Debug, Clone)]
pub(crate) struct SweepOp {
    keep: BTreeSet<PodUid>,
    allocations: BTreeMap<PodUid, PodIdMaps>,
    on_disk: BTreeSet<PodUid>,
    mounts: RunMounts,
    queue: VecDeque<PodUid>,
    stage: Stage,
    report: SweepReport,
}

#[derive(Debug, Clone)]
enum Stage {
    ListRun,
    ReadMountInfo,
    /// Pick the next pod.
    Next,
    /// Check a kept, allocated, complete pair against its allocation's maps.
    Inspect {
        pod: PodUid,
        maps: PodIdMaps,
    },
    Teardown {
        pod: PodUid,
        reason: SweepReason,
        op: TeardownOp,
    },
}

impl SweepOp {
    pub fn new(keep: BTreeSet<PodUid>, allocations: BTreeMap<PodUid, PodIdMaps>) -> Self {
        Self {
            keep,
            allocations,
            on_disk: BTreeSet::new(),
            mounts: RunMounts::default(),
            queue: VecDeque::new(),
            stage: Stage::ListRun,
            report: SweepReport::default(),
        }
    }

    pub fn poll(&mut self) -> Step {
        loop {
            let effect = match &mut self.stage {
                Stage::ListRun => Effect::ListDir {
                    dir: RootPath::root(Root::Run),
                },
                Stage::ReadMountInfo => Effect::ReadMountInfo,
                Stage::Next => match self.next() {
                    Some(stage) => {
                        self.stage = stage;
                        continue;
                    }
                    None => {
                        return Step::Finish(Ok(NsResponse::Swept(std::mem::take(
                            &mut self.report,
                        ))));
                    }
                },
                Stage::Inspect { pod, .. } => Effect::InspectPodNamespaces {
                    net_pin: pin_path(pod, PinKind::Net),
                    user_pin: pin_path(pod, PinKind::User),
                },
                Stage::Teardown { pod, reason, op } => match op.poll() {
                    Ok(effect) => effect,
                    Err(outcome) => {
                        match outcome.failures.into_iter().next() {
                            None => self.report.swept.push(SweptPod {
                                pod: pod.clone(),
                                reason: reason.clone(),
                                unmounted: outcome.unmounted,
                            }),
                            Some(error) => self.report.failures.push(NsFailure {
                                pod: pod.clone(),
                                error,
                            }),
                        }
                        self.stage = Stage::Next;
                        continue;
                    }
                },
            };
            return Step::Run(effect);
        }
    }

    pub fn handle(&mut self, ctx: &Ctx, outcome: Outcome) -> Handled {
        let next = match (&mut self.stage, outcome) {
            (Stage::ListRun, Ok(Observation::Listing(entries))) => {
                self.on_disk = pod_dirs(entries);
                Stage::ReadMountInfo
            }
            (Stage::ListRun, Ok(other)) => {
                return Handled::Finish(Err(unexpected("list-dir", &other)));
            }
            (Stage::ListRun, Err(error)) => {
                return Handled::Finish(Err(ctx.io("list", &RootPath::root(Root::Run), error)));
            }
            (Stage::ReadMountInfo, outcome) => match ctx.mounts(outcome) {
                Ok(mounts) => {
                    self.queue = mounts.pods_with(&self.on_disk).into_iter().collect();
                    self.report.ignored_mounts = mounts.ignored.clone();
                    self.mounts = mounts;
                    Stage::Next
                }
                Err(error) => return Handled::Finish(Err(error)),
            },
            (Stage::Inspect { pod, maps }, Ok(Observation::PodNamespaces(facts))) => {
                let problems = facts.problems(maps);
                let pod = pod.clone();
                if problems.is_empty() {
                    self.report.kept.push(pod);
                    Stage::Next
                } else {
                    self.teardown(pod, SweepReason::Mismatch(problems))
                }
            }
            (Stage::Inspect { pod, .. }, Ok(other)) => {
                let pod = pod.clone();
                self.fail(pod, unexpected("inspect-pod-namespaces", &other))
            }
            (Stage::Inspect { pod, .. }, Err(error)) => {
                let pod = pod.clone();
                let error = ctx.io("inspect the pins in", &pod_ns_dir(&pod), error);
                self.fail(pod, error)
            }
            (Stage::Teardown { op, .. }, outcome) => {
                op.handle(ctx, outcome);
                return Handled::Continue;
            }
            // `poll` moves on from `Next` before it issues any effect.
            (Stage::Next, _) => return Handled::Finish(Err(DrivingError.into())),
        };
        self.stage = next;
        Handled::Continue
    }

    /// The stage for the next pod in the queue: a check for a pod whose
    /// pins may stay, a teardown otherwise; `None` once every pod is done.
    fn next(&mut self) -> Option<Stage> {
        let pod = self.queue.pop_front()?;
        if !self.keep.contains(&pod) {
            return Some(self.teardown(pod, SweepReason::NotKept));
        }
        // Each pod is queued once, so its allocation is not needed again.
        let Some(maps) = self.allocations.remove(&pod) else {
            return Some(self.teardown(pod, SweepReason::NoAllocation));
        };
        Some(match self.mounts.of(&pod).incomplete(&pod) {
            Some(why) => self.teardown(pod, SweepReason::Incomplete(why)),
            None => Stage::Inspect { pod, maps },
        })
    }

    fn teardown(&self, pod: PodUid, reason: SweepReason) -> Stage {
        let op = TeardownOp::whole_pod(&pod, self.mounts.of(&pod).unmount_order());
        Stage::Teardown { pod, reason, op }
    }

    fn fail(&mut self, pod: PodUid, error: NsError) -> Stage {
        self.report.failures.push(NsFailure { pod, error });
        Stage::Next
    }
}
