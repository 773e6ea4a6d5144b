//! Taking a pod's pins down: detach every mount in its directory, unlink
//! the pin files, remove the directory.
//!
//! ```text
//! detach-mount <run>/<pod>/...     once per mount, newest first
//! remove-file <run>/<pod>/net
//! remove-file <run>/<pod>/user
//! remove-dir <run>/<pod>
//! ```
//!
//! `ip netns delete` does the same (`umount2(MNT_DETACH)`, `unlink`). The
//! run directory is not durable, so nothing is synced. A crash anywhere
//! leaves a subset of this, which the next remove or sweep finishes: every
//! step is idempotent (nothing mounted, no file and no directory all count
//! as done).

use std::collections::VecDeque;

use super::Ctx;
use crate::effect::{Effect, Errno, Observation, Outcome};
use crate::ns::layout::{PinKind, pin_path, pod_ns_dir};
use crate::ns::request::NsError;
use crate::path::{PodUid, RootPath};

/// What to do when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TeardownPolicy {
    /// Stop at the first failure (a remove, a sweep, or a create clearing an
    /// incomplete pair: later steps would only fail again, e.g. `EBUSY` on a
    /// pin still mounted).
    StopAtFirstFailure,
    /// Try every step and collect the failures (the rollback of a failed
    /// create: remove as much as possible).
    BestEffort,
}

/// What a finished teardown did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TeardownOutcome {
    /// Mounts detached.
    pub unmounted: usize,
    /// True when anything was there to take down.
    pub removed: bool,
    /// Steps that failed, in order.
    pub failures: Vec<NsError>,
}

#[derive(Debug, Clone)]
enum Stage {
    Detach(RootPath),
    RemoveFile(RootPath),
    RemoveDir(RootPath),
}

#[derive(Debug, Clone)]
pub(crate) struct TeardownOp {
    policy: TeardownPolicy,
    stages: VecDeque<Stage>,
    outcome: TeardownOutcome,
}

impl TeardownOp {
    /// Detach `mounts` (in that order), then remove both pin files of `pod`
    /// and its directory.
    pub fn whole_pod(pod: &PodUid, mounts: Vec<RootPath>) -> Self {
        let files = PinKind::ALL.map(|kind| pin_path(pod, kind)).to_vec();
        Self::new(
            mounts,
            files,
            Some(pod_ns_dir(pod)),
            TeardownPolicy::StopAtFirstFailure,
        )
    }

    /// Any subset, with a chosen policy.
    pub fn new(
        mounts: Vec<RootPath>,
        files: Vec<RootPath>,
        dir: Option<RootPath>,
        policy: TeardownPolicy,
    ) -> Self {
        let stages = mounts
            .into_iter()
            .map(Stage::Detach)
            .chain(files.into_iter().map(Stage::RemoveFile))
            .chain(dir.map(Stage::RemoveDir))
            .collect();
        Self {
            policy,
            stages,
            outcome: TeardownOutcome::default(),
        }
    }

    /// The next effect, or the outcome once every step is done.
    pub fn poll(&mut self) -> Result<Effect, TeardownOutcome> {
        match self.stages.front() {
            Some(Stage::Detach(target)) => Ok(Effect::DetachMount {
                target: target.clone(),
            }),
            Some(Stage::RemoveFile(file)) => Ok(Effect::RemoveFile { file: file.clone() }),
            Some(Stage::RemoveDir(dir)) => Ok(Effect::RemoveDir { dir: dir.clone() }),
            None => Err(std::mem::take(&mut self.outcome)),
        }
    }

    pub fn handle(&mut self, ctx: &Ctx, outcome: Outcome) {
        let Some(stage) = self.stages.pop_front() else {
            return;
        };
        let failure = match (&stage, outcome) {
            (Stage::Detach(_), Ok(_)) => {
                self.outcome.unmounted += 1;
                self.outcome.removed = true;
                None
            }
            (Stage::Detach(_), Err(error)) if error.is_not_mounted() => None,
            (Stage::Detach(target), Err(error)) => {
                Some(ctx.io("detach the mount on", target, error))
            }
            (Stage::RemoveFile(_), Ok(Observation::FileRemoved { existed })) => {
                self.outcome.removed |= existed;
                None
            }
            (Stage::RemoveFile(_), Ok(other)) => Some(super::unexpected("remove-file", &other)),
            // The pod directory itself is gone: so are the other pins.
            (Stage::RemoveFile(_), Err(error)) if error.is_not_found() => {
                self.stages.clear();
                None
            }
            (Stage::RemoveFile(file), Err(error)) => Some(ctx.io("remove the pin", file, error)),
            (Stage::RemoveDir(_), Ok(_)) => {
                self.outcome.removed = true;
                None
            }
            (Stage::RemoveDir(_), Err(error)) if error.is_not_found() => None,
            (Stage::RemoveDir(dir), Err(error)) if error.errno == Errno::ENOTEMPTY => Some(ctx.io(
                "remove (it holds entries podns did not create: remove them by hand)",
                dir,
                error,
            )),
            (Stage::RemoveDir(dir), Err(error)) => Some(ctx.io("remove", dir, error)),
        };
        if let Some(failure) = failure {
            self.outcome.failures.push(failure);
            if self.policy == TeardownPolicy::StopAtFirstFailure {
                self.stages.clear();
            }
        }
    }
}
