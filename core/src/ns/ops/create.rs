//! Get or create a pod's namespaces: a user namespace with the pod's maps and
//! a network namespace owned by it, each pinned by a bind mount.
//!
//! ```text
//! list-dir <run>/<pod>
//!   (net or user there)  read-mount-info
//!       complete pair:   inspect-pod-namespaces -> checked: returned as is
//!       incomplete:      detach-mount..., remove-file net, remove-file user
//! create-dir <run>/<pod>
//! create-pin-file <run>/<pod>/net
//! create-pin-file <run>/<pod>/user
//! create-pod-namespaces            -> facts checked by the core -> acknowledged
//! ```
//!
//! A check ([`crate::NsRequest::Check`]) is the same walk up to the
//! inspection: where a create would clear an incomplete pair or make pins,
//! it fails with not-pinned instead, having changed nothing.
//!
//! Any failure from `create-dir` on rolls back what this request made:
//! detach both pins (once `create-pod-namespaces` ran), remove the pin
//! files it created, remove the directory if it created it. A crash leaves
//! a prefix of the steps; the next create (or a sweep) recognises an
//! incomplete pair from the mount table and removes it. Nothing is
//! acknowledged before the kernel's own answer (the owner of the network
//! namespace, the maps of the user namespace) is checked here.

use super::teardown::{TeardownOp, TeardownPolicy};
use super::{Ctx, Handled, Step, unexpected};
use crate::effect::{Effect, Observation, Outcome};
use crate::ns::facts::PodIdMaps;
use crate::ns::layout::{POD_NS_DIR_MODE, PinKind, pin_path, pod_ns_dir};
use crate::ns::request::{NsError, NsResponse, PodNamespaces};
use crate::path::{PodUid, RootPath};

#[derive(Debug, Clone)]
pub(crate) struct CreateOp {
    pod: PodUid,
    maps: PodIdMaps,
    dir: RootPath,
    net: RootPath,
    user: RootPath,
    stage: Stage,
    made_dir: bool,
    made_files: Vec<RootPath>,
    /// Only check an existing complete pair ([`crate::NsRequest::Check`]):
    /// where a create would clear or make pins, fail instead.
    check_only: bool,
    pinned: bool,
}

#[derive(Debug, Clone)]
enum Stage {
    ListPodDir,
    ReadMountInfo,
    Inspect,
    /// Removing the incomplete pair an earlier create left behind.
    ClearIncomplete(TeardownOp),
    CreateDir,
    CreatePinFile(PinKind),
    Pin,
    /// Undoing what this request made; `cause` is what the request fails
    /// with, whatever the rollback's own effects answer.
    Rollback {
        op: TeardownOp,
        cause: NsError,
    },
}

impl CreateOp {
    pub fn new(pod: PodUid, maps: PodIdMaps) -> Self {
        Self {
            dir: pod_ns_dir(&pod),
            net: pin_path(&pod, PinKind::Net),
            user: pin_path(&pod, PinKind::User),
            pod,
            maps,
            stage: Stage::ListPodDir,
            made_dir: false,
            made_files: Vec::new(),
            pinned: false,
            check_only: false,
        }
    }

    /// The check of `pod`'s existing pins against `maps`, changing nothing.
    pub fn check(pod: PodUid, maps: PodIdMaps) -> Self {
        Self {
            check_only: true,
            ..Self::new(pod, maps)
        }
    }

    pub fn poll(&mut self) -> Step {
        loop {
            let effect = match &mut self.stage {
                Stage::ListPodDir => Effect::ListDir {
                    dir: self.dir.clone(),
                },
                Stage::ReadMountInfo => Effect::ReadMountInfo,
                Stage::Inspect => Effect::InspectPodNamespaces {
                    net_pin: self.net.clone(),
                    user_pin: self.user.clone(),
                },
                Stage::ClearIncomplete(op) => match op.poll() {
                    Ok(effect) => effect,
                    Err(outcome) => match outcome.failures.into_iter().next() {
                        None => {
                            self.stage = Stage::CreateDir;
                            continue;
                        }
                        Some(error) => return Step::Finish(Err(error)),
                    },
                },
                Stage::CreateDir => Effect::CreateDir {
                    dir: self.dir.clone(),
                    mode: POD_NS_DIR_MODE,
                },
                Stage::CreatePinFile(kind) => Effect::CreatePinFile {
                    file: pin_path(&self.pod, *kind),
                },
                Stage::Pin => Effect::CreatePodNamespaces {
                    pod: self.pod.clone(),
                    uid_map: self.maps.uid_map.clone(),
                    gid_map: self.maps.gid_map.clone(),
                    net_pin: self.net.clone(),
                    user_pin: self.user.clone(),
                },
                Stage::Rollback { op, cause } => match op.poll() {
                    Ok(effect) => effect,
                    Err(outcome) => {
                        return Step::Finish(Err(NsError::CreateFailed {
                            pod: self.pod.clone(),
                            cause: Box::new(cause.clone()),
                            left_behind: outcome.failures,
                        }));
                    }
                },
            };
            return Step::Run(effect);
        }
    }

    pub fn handle(&mut self, ctx: &Ctx, outcome: Outcome) -> Handled {
        let next = match (&mut self.stage, outcome) {
            (Stage::ListPodDir, Ok(Observation::Listing(entries))) => {
                if entries
                    .iter()
                    .any(|entry| PinKind::from_file_name(&entry.name).is_some())
                {
                    Stage::ReadMountInfo
                } else if self.check_only {
                    return self.not_pinned();
                } else {
                    Stage::CreateDir
                }
            }
            (Stage::ListPodDir, Err(error)) if error.is_not_found() && self.check_only => {
                return self.not_pinned();
            }
            (Stage::ListPodDir, Err(error)) if error.is_not_found() => Stage::CreateDir,
            (Stage::ListPodDir, Err(error)) => {
                return Handled::Finish(Err(ctx.io("list", &self.dir, error)));
            }
            (Stage::ListPodDir, Ok(other)) => {
                return Handled::Finish(Err(unexpected("list-dir", &other)));
            }
            (Stage::ReadMountInfo, outcome) => match ctx.mounts(outcome) {
                Ok(mounts) => {
                    let mounts = mounts.of(&self.pod);
                    if mounts.incomplete(&self.pod).is_none() {
                        Stage::Inspect
                    } else if self.check_only {
                        return self.not_pinned();
                    } else {
                        Stage::ClearIncomplete(TeardownOp::new(
                            mounts.unmount_order(),
                            vec![self.net.clone(), self.user.clone()],
                            None,
                            TeardownPolicy::StopAtFirstFailure,
                        ))
                    }
                }
                Err(error) => return Handled::Finish(Err(error)),
            },
            (Stage::Inspect, Ok(Observation::PodNamespaces(facts))) => {
                let problems = facts.problems(&self.maps);
                return if problems.is_empty() {
                    self.acknowledge(ctx, facts, false)
                } else {
                    Handled::Finish(Err(NsError::Mismatch {
                        pod: self.pod.clone(),
                        problems,
                    }))
                };
            }
            (Stage::Inspect, Ok(other)) => {
                return Handled::Finish(Err(unexpected("inspect-pod-namespaces", &other)));
            }
            (Stage::Inspect, Err(error)) => {
                return Handled::Finish(Err(ctx.io("inspect the pins in", &self.dir, error)));
            }
            (Stage::ClearIncomplete(op) | Stage::Rollback { op, .. }, outcome) => {
                op.handle(ctx, outcome);
                return Handled::Continue;
            }
            (Stage::CreateDir, Ok(Observation::DirCreated { created })) => {
                self.made_dir = created;
                Stage::CreatePinFile(PinKind::Net)
            }
            (Stage::CreateDir, Ok(other)) => self.roll_back(unexpected("create-dir", &other)),
            (Stage::CreateDir, Err(error)) => {
                let error = ctx.io("create the pin directory", &self.dir, error);
                self.roll_back(error)
            }
            (Stage::CreatePinFile(kind), Ok(_)) => {
                let kind = *kind;
                self.made_files.push(pin_path(&self.pod, kind));
                match kind {
                    PinKind::Net => Stage::CreatePinFile(PinKind::User),
                    PinKind::User => Stage::Pin,
                }
            }
            (Stage::CreatePinFile(kind), Err(error)) => {
                let error = ctx.io("create the pin file", &pin_path(&self.pod, *kind), error);
                self.roll_back(error)
            }
            (Stage::Pin, outcome) => {
                self.pinned = true;
                match outcome {
                    Ok(Observation::PodNamespaces(facts)) => {
                        let problems = facts.problems(&self.maps);
                        if problems.is_empty() {
                            return self.acknowledge(ctx, facts, true);
                        } else {
                            self.roll_back(NsError::Verification { problems })
                        }
                    }
                    Ok(other) => self.roll_back(unexpected("create-pod-namespaces", &other)),
                    Err(error) => {
                        let error = ctx.io("create and pin the namespaces in", &self.dir, error);
                        self.roll_back(error)
                    }
                }
            }
        };
        self.stage = next;
        Handled::Continue
    }

    /// A check of a pod without a complete pair.
    fn not_pinned(&self) -> Handled {
        Handled::Finish(Err(NsError::NotPinned {
            pod: self.pod.clone(),
        }))
    }

    fn acknowledge(&self, ctx: &Ctx, facts: crate::ns::PinnedNamespaces, created: bool) -> Handled {
        Handled::Finish(Ok(NsResponse::Created(PodNamespaces {
            pod: self.pod.clone(),
            net_pin: ctx.absolute(&self.net),
            user_pin: ctx.absolute(&self.user),
            facts,
            maps: self.maps.clone(),
            created,
        })))
    }

    /// Undo what this request made, newest first, and fail with `error`.
    fn roll_back(&mut self, cause: NsError) -> Stage {
        let mounts = if self.pinned {
            vec![self.net.clone(), self.user.clone()]
        } else {
            Vec::new()
        };
        let files = self.made_files.iter().rev().cloned().collect();
        let dir = self.made_dir.then(|| self.dir.clone());
        Stage::Rollback {
            op: TeardownOp::new(mounts, files, dir, TeardownPolicy::BestEffort),
            cause,
        }
    }
}
