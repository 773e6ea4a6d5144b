//! One state machine per namespace request, in the style of the userns
//! engine: each issues one effect at a time and moves on only when its
//! outcome is known, so a crash between any two effects leaves a state that
//! a later create or sweep recognises and repairs.

mod create;
mod list;
mod remove;
mod sweep;
mod teardown;

pub(crate) use create::CreateOp;
pub(crate) use list::ListOp;
pub(crate) use remove::RemoveOp;
pub(crate) use sweep::SweepOp;

use std::collections::BTreeSet;

use super::layout::RunDirPath;
use super::mounts::RunMounts;
use super::request::{NsError, NsResponse};
use crate::effect::{DirEntry, EffectError, EntryKind, Observation, Outcome};
use crate::mountinfo::parse_mountinfo_bytes;
pub(crate) use crate::op_error::unexpected;
use crate::path::{PodUid, RootLabels, RootPath};

/// What an operation wants next.
pub(crate) type Step = crate::request_slot::Step<NsResponse, NsError>;
/// What an operation says once it has taken an outcome.
pub(crate) type Handled = crate::request_slot::Handled<NsResponse, NsError>;

/// An operation in progress.
#[derive(Debug, Clone)]
pub(crate) enum ActiveOp {
    Create(CreateOp),
    Remove(RemoveOp),
    Sweep(SweepOp),
    List(ListOp),
    /// A listing on a run directory that is not set up (read-only).
    Inspect(ListOp),
}

impl ActiveOp {
    pub fn poll(&mut self) -> Step {
        match self {
            ActiveOp::Create(op) => op.poll(),
            ActiveOp::Remove(op) => op.poll(),
            ActiveOp::Sweep(op) => op.poll(),
            ActiveOp::List(op) | ActiveOp::Inspect(op) => op.poll(),
        }
    }

    pub fn handle(&mut self, ctx: &Ctx, outcome: Outcome) -> Handled {
        match self {
            ActiveOp::Create(op) => op.handle(ctx, outcome),
            ActiveOp::Remove(op) => op.handle(ctx, outcome),
            ActiveOp::Sweep(op) => op.handle(ctx, outcome),
            ActiveOp::List(op) | ActiveOp::Inspect(op) => op.handle(ctx, outcome),
        }
    }
}

/// What every operation may read: where the run directory is, and how to
/// name paths in messages.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub run: RunDirPath,
    pub labels: RootLabels,
}

impl Ctx {
    pub fn io(&self, action: &'static str, path: &RootPath, source: EffectError) -> NsError {
        crate::op_error::io_error(&self.labels, action, path, source)
    }

    /// The absolute path of a run path, for output a runtime can use.
    pub fn absolute(&self, path: &RootPath) -> String {
        self.run.absolute(path)
    }

    /// The mounts below the run directory, from a `ReadMountInfo` outcome.
    pub fn mounts(&self, outcome: Outcome) -> Result<RunMounts, NsError> {
        match outcome {
            Ok(Observation::Contents(bytes)) => parse_mountinfo_bytes(&bytes)
                .map(|table| RunMounts::new(&self.run, &table))
                .map_err(|source| NsError::MountInfo { source }),
            Ok(other) => Err(unexpected("read-mount-info", &other)),
            Err(error) => Err(self.io(
                "read the mount table for",
                &RootPath::root(crate::path::Root::Run),
                error,
            )),
        }
    }
}

/// The pods whose directories a listing of the run directory shows: only
/// directories named like a pod, so the lock file and anything else podns
/// did not create are never taken for one.
pub(crate) fn pod_dirs(entries: Vec<DirEntry>) -> BTreeSet<PodUid> {
    entries
        .into_iter()
        .filter(|entry| entry.kind == EntryKind::Directory)
        .filter_map(|entry| PodUid::new(entry.name).ok())
        .collect()
}

#[cfg(test)]
mod tests;
