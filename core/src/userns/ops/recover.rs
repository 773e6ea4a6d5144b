//! Recovery at startup: list the pod directories, read each `userns` file
//! (bounded, never through a symlink), remove stale temp files, and rebuild the
//! registry in one step at the end.
//!
//! Unlike kubelet, one bad file never stops the node: every problem is recorded
//! and reported together (see [`crate::ProblemKind`]).

use std::collections::{BTreeSet, VecDeque};

use super::super::broken_variant::BrokenVariant;
use super::super::file_format::{
    MAX_USERNS_FILE_LEN, TEMP_FILE_PREFIX, USERNS_FILE_NAME, parse_userns_file,
};
use super::super::problem::ProblemKind;
use super::super::registry::{FoundClaim, Registry};
use super::super::request::{Inspection, RecoveryReport, UsernsResponse};
use super::{Handled, Step, io_error, unexpected};
use crate::effect::{DirEntry, Effect, EffectError, EntryKind, Errno, Observation, Outcome};
use crate::op_error::DrivingError;
use crate::path::{PodUid, Root, RootLabels, RootPath};

#[derive(Debug, Clone)]
pub(crate) struct RecoverOp {
    stage: Stage,
    pod_dirs: BTreeSet<PodUid>,
    pods: VecDeque<PodUid>,
    steps: VecDeque<PodStep>,
    found: Vec<(PodUid, FoundClaim)>,
    report: RecoveryReport,
    broken: Option<BrokenVariant>,
    /// An inspection: remove nothing, sync nothing, rebuild no registry.
    read_only: bool,
    /// Temp files an inspection saw.
    temp_files_kept: Vec<RootPath>,
}

/// Where recovery is.
#[derive(Debug, Clone)]
enum Stage {
    /// Listing the pods directory.
    ListRoot,
    /// Walking the pods: the next step comes from the queues.
    Walk,
    /// One step of the walk awaits its outcome.
    Awaiting(InFlight),
    /// The final `syncfs` was issued; the next poll builds the registry.
    SyncFs,
}

/// The effect awaiting its outcome.
#[derive(Debug, Clone)]
enum InFlight {
    List(PodUid),
    Read(PodUid),
    RemoveTemp(RootPath),
}

#[derive(Debug, Clone)]
enum PodStep {
    List(PodUid),
    /// Read this file as the pod's `userns`.
    Read(PodUid, RootPath),
    RemoveTemp(RootPath),
}

impl RecoverOp {
    pub fn new(broken: Option<BrokenVariant>) -> Self {
        Self {
            stage: Stage::ListRoot,
            pod_dirs: BTreeSet::new(),
            pods: VecDeque::new(),
            steps: VecDeque::new(),
            found: Vec::new(),
            report: RecoveryReport::default(),
            broken,
            read_only: false,
            temp_files_kept: Vec::new(),
        }
    }

    /// The walk of a recovery that changes nothing: temp files are listed,
    /// not removed; no `syncfs`; the problems are computed on a copy of the
    /// registry, which stays as it was.
    pub fn inspect() -> Self {
        Self {
            read_only: true,
            ..Self::new(None)
        }
    }

    /// True for an inspection.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn poll(&mut self, registry: &mut Registry) -> Step {
        match self.stage {
            Stage::ListRoot => {
                return Step::Run(Effect::ListDir {
                    dir: RootPath::root(Root::Pods),
                });
            }
            Stage::SyncFs => return self.finish(registry),
            Stage::Walk | Stage::Awaiting(_) => {}
        }
        if self.steps.is_empty() {
            if let Some(pod) = self.pods.pop_front() {
                self.steps.push_back(PodStep::List(pod));
            }
        }
        let Some(step) = self.steps.pop_front() else {
            // What was read, and whatever a killed process left in the page
            // cache, must be durable before anything is built on it: an entry
            // trusted now must not vanish, and one removed by a crashed
            // release must not come back, after a later power loss.
            if self.read_only || self.broken == Some(BrokenVariant::NoSyncFsAtRecovery) {
                return self.finish(registry);
            }
            self.stage = Stage::SyncFs;
            return Step::Run(Effect::SyncFs { root: Root::Pods });
        };
        // The path moves into the effect; the in-flight record keeps only
        // what handling the outcome needs.
        let (effect, in_flight) = match step {
            PodStep::List(pod) => (
                Effect::ListDir {
                    dir: RootPath::pod_dir(Root::Pods, &pod),
                },
                InFlight::List(pod),
            ),
            PodStep::Read(pod, file) => (
                Effect::ReadFile {
                    file,
                    max_len: MAX_USERNS_FILE_LEN,
                },
                InFlight::Read(pod),
            ),
            PodStep::RemoveTemp(file) => (
                Effect::RemoveFile { file: file.clone() },
                InFlight::RemoveTemp(file),
            ),
        };
        self.stage = Stage::Awaiting(in_flight);
        Step::Run(effect)
    }

    pub fn handle(&mut self, registry: &mut Registry, outcome: Outcome) -> Handled {
        let labels = registry.labels();
        match std::mem::replace(&mut self.stage, Stage::Walk) {
            Stage::ListRoot => self.handle_root_listing(labels, outcome),
            Stage::SyncFs => match outcome {
                Ok(_) => {
                    self.stage = Stage::SyncFs;
                    Handled::Continue
                }
                Err(error) => Handled::Finish(Err(io_error(
                    labels,
                    "syncfs",
                    &RootPath::root(Root::Pods),
                    error,
                ))),
            },
            Stage::Awaiting(InFlight::List(pod)) => self.handle_listing(labels, pod, outcome),
            Stage::Awaiting(InFlight::Read(pod)) => self.handle_read(labels, pod, outcome),
            Stage::Awaiting(InFlight::RemoveTemp(file)) => {
                match outcome {
                    Ok(_) => self.report.temp_files_removed.push(file),
                    Err(error) => self.report.temp_files_left.push((file, error)),
                }
                Handled::Continue
            }
            // The walk issues an effect only by moving to `Awaiting`.
            Stage::Walk => Handled::Finish(Err(DrivingError.into())),
        }
    }

    fn handle_root_listing(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        match outcome {
            Ok(Observation::Listing(entries)) => {
                let mut pods = Vec::new();
                for entry in entries {
                    let Ok(pod) = PodUid::new(entry.name) else {
                        continue;
                    };
                    match entry.kind {
                        EntryKind::Directory => pods.push(pod),
                        // Whatever it points to could hold a userns file
                        // with any range; podns never follows it.
                        EntryKind::Symlink => {
                            let detail = format!(
                                "{} is a symbolic link, not a directory; podns never follows it: replace it with the pod's directory or remove it",
                                labels.show(&pod_dir(&pod))
                            );
                            self.unreadable(pod, detail);
                        }
                        _ => {}
                    }
                }
                pods.sort();
                self.report.pod_dirs = pods.len();
                self.pod_dirs = pods.iter().cloned().collect();
                self.pods = pods.into();
                Handled::Continue
            }
            Ok(other) => Handled::Finish(Err(unexpected("list-dir", &other))),
            // No pods directory yet: nothing was ever allocated.
            Err(error) if error.is_not_found() => Handled::Continue,
            Err(error) => Handled::Finish(Err(io_error(
                labels,
                "list",
                &RootPath::root(Root::Pods),
                error,
            ))),
        }
    }

    fn handle_listing(&mut self, labels: &RootLabels, pod: PodUid, outcome: Outcome) -> Handled {
        let mut entries: Vec<DirEntry> = match outcome {
            Ok(Observation::Listing(entries)) => entries,
            Ok(other) => return Handled::Finish(Err(unexpected("list-dir", &other))),
            // Removed since the root was listed.
            Err(error) if error.is_not_found() => return Handled::Continue,
            Err(error) => {
                let detail = format!(
                    "cannot list pod directory {}: {error}",
                    labels.show(&pod_dir(&pod))
                );
                self.unreadable(pod, detail);
                return Handled::Continue;
            }
        };
        entries.sort();
        let mut userns_kind = None;
        for entry in &entries {
            if entry.name == USERNS_FILE_NAME {
                userns_kind = Some(entry.kind);
            } else if entry.name.starts_with(TEMP_FILE_PREFIX) && entry.kind != EntryKind::Directory
            {
                let file = RootPath::pod_file(Root::Pods, &pod, &entry.name);
                if self.broken == Some(BrokenVariant::RecoveryTrustsTempFile)
                    && !entries.iter().any(|entry| entry.name == USERNS_FILE_NAME)
                {
                    self.steps.push_back(PodStep::Read(pod.clone(), file));
                    continue;
                }
                if self.read_only {
                    self.temp_files_kept.push(file);
                    continue;
                }
                self.steps.push_back(PodStep::RemoveTemp(file));
            }
        }
        // Temp names sort before `userns`, so reading it last keeps the
        // listing's order, and the pod moves into the step.
        match userns_kind {
            None => {}
            Some(EntryKind::File) => {
                let file = userns_path(&pod);
                self.steps.push_back(PodStep::Read(pod, file));
            }
            Some(kind) => {
                let detail = format!(
                    "{} is {}, not a regular file",
                    labels.show(&userns_path(&pod)),
                    describe_kind(kind)
                );
                self.found.push((
                    pod,
                    FoundClaim::Unknown {
                        kind: ProblemKind::Unreadable,
                        detail,
                    },
                ));
            }
        }
        Handled::Continue
    }

    fn handle_read(&mut self, labels: &RootLabels, pod: PodUid, outcome: Outcome) -> Handled {
        // Rendered only for a message: recovery reads one file per pod.
        let path = || labels.show(&userns_path(&pod));
        let claim = match outcome {
            Ok(Observation::Contents(bytes)) => match parse_userns_file(&bytes) {
                Ok(range) => FoundClaim::Range(range),
                Err(error) => FoundClaim::Unknown {
                    kind: ProblemKind::Corrupt,
                    detail: format!("{}: {error}", path()),
                },
            },
            Ok(other) => return Handled::Finish(Err(unexpected("read-file", &other))),
            // Removed since the directory was listed.
            Err(error) if error.is_not_found() => return Handled::Continue,
            Err(error) => FoundClaim::Unknown {
                kind: ProblemKind::Unreadable,
                detail: describe_read_error(&path(), &error),
            },
        };
        self.found.push((pod, claim));
        Handled::Continue
    }

    /// Records a claim whose range cannot be known.
    fn unreadable(&mut self, pod: PodUid, detail: String) {
        self.found.push((
            pod,
            FoundClaim::Unknown {
                kind: ProblemKind::Unreadable,
                detail,
            },
        ));
    }

    fn finish(&mut self, registry: &mut Registry) -> Step {
        if self.read_only {
            let mut copy = registry.clone();
            let step = self.rebuild(&mut copy);
            let Step::Finish(Ok(UsernsResponse::Recovered(mut report))) = step else {
                return step;
            };
            report.inspection = Some(Box::new(Inspection {
                temp_files_kept: std::mem::take(&mut self.temp_files_kept),
                claimed_pods: copy.claims().map(|(pod, _)| pod.clone()).collect(),
            }));
            return Step::Finish(Ok(UsernsResponse::Recovered(report)));
        }
        self.rebuild(registry)
    }

    fn rebuild(&mut self, registry: &mut Registry) -> Step {
        registry.rebuild(
            std::mem::take(&mut self.found),
            std::mem::take(&mut self.pod_dirs),
        );
        let problems = registry.problems();
        // Every claim without a problem is a usable allocation.
        self.report.allocations = registry.claim_count() - problems.len();
        self.report.problems = problems;
        Step::Finish(Ok(UsernsResponse::Recovered(std::mem::take(
            &mut self.report,
        ))))
    }
}

fn pod_dir(pod: &PodUid) -> RootPath {
    RootPath::pod_dir(Root::Pods, pod)
}

fn userns_path(pod: &PodUid) -> RootPath {
    RootPath::pod_file(Root::Pods, pod, USERNS_FILE_NAME)
}

fn describe_kind(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Directory => "a directory",
        EntryKind::File => "a regular file",
        EntryKind::Symlink => "a symbolic link",
        EntryKind::Other => "a FIFO, socket or device",
    }
}

fn describe_read_error(path: &str, error: &EffectError) -> String {
    match error.errno {
        Errno::ELOOP => format!("{path} is a symbolic link, not a regular file"),
        Errno::EISDIR => format!("{path} is a directory, not a regular file"),
        Errno::EINVAL => format!("{path} is a FIFO, socket or device, not a regular file"),
        Errno::EFBIG => format!("{path} is larger than {MAX_USERNS_FILE_LEN} bytes"),
        _ => format!("cannot read {path}: {error}"),
    }
}
