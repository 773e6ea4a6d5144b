//! Orphan cleanup with kubelet's semantics: a pod found on disk that is not in
//! the keep set is released, and so is an in-memory allocation whose pod
//! directory is gone. Each release is the durable release; one failure does not
//! stop the others.

use std::collections::{BTreeSet, VecDeque};

use super::super::broken_variant::BrokenVariant;
use super::super::registry::Registry;
use super::super::request::{CleanupFailure, CleanupReport, UsernsError, UsernsResponse};
use super::release::ReleaseOp;
use super::{Handled, Step, io_error, unexpected};
use crate::effect::Effect;
use crate::effect::{EntryKind, Observation, Outcome};
use crate::path::{PodUid, Root, RootPath};

#[derive(Debug, Clone)]
pub(crate) struct CleanupOp {
    keep: BTreeSet<PodUid>,
    stage: Stage,
    targets: VecDeque<PodUid>,
    report: CleanupReport,
    broken: Option<BrokenVariant>,
}

#[derive(Debug, Clone)]
enum Stage {
    ListPods,
    Releasing(ReleaseOp),
}

impl CleanupOp {
    pub fn new(keep: BTreeSet<PodUid>, broken: Option<BrokenVariant>) -> Self {
        Self {
            keep,
            stage: Stage::ListPods,
            targets: VecDeque::new(),
            report: CleanupReport::default(),
            broken,
        }
    }

    pub fn poll(&mut self) -> Step {
        match &mut self.stage {
            Stage::ListPods => Step::Run(Effect::ListDir {
                dir: RootPath::root(Root::Pods),
            }),
            Stage::Releasing(release) => release.poll(),
        }
    }

    pub fn handle(&mut self, registry: &mut Registry, outcome: Outcome) -> Handled {
        match &mut self.stage {
            Stage::ListPods => {
                let found = match outcome {
                    Ok(Observation::Listing(entries)) => entries
                        .into_iter()
                        .filter(|entry| entry.kind == EntryKind::Directory)
                        .filter_map(|entry| PodUid::new(entry.name).ok())
                        .collect(),
                    Ok(other) => return Handled::Finish(Err(unexpected("list-dir", &other))),
                    Err(error) if error.is_not_found() => BTreeSet::new(),
                    Err(error) => {
                        return Handled::Finish(Err(io_error(
                            registry.labels(),
                            "list",
                            &RootPath::root(Root::Pods),
                            error,
                        )));
                    }
                };
                // The registry's claims are already sorted and unique.
                self.targets = registry
                    .claims()
                    .map(|(pod, _)| pod)
                    .filter(|pod| !found.contains(*pod) || !self.keep.contains(*pod))
                    .cloned()
                    .collect();
            }
            Stage::Releasing(release) => match release.handle(registry, outcome) {
                Handled::Continue => return Handled::Continue,
                Handled::Finish(result) => {
                    let pod = release.pod().clone();
                    self.record(pod, result);
                }
            },
        }
        self.next_release(registry)
    }

    /// Starts the next release, or ends the cleanup when none is left.
    fn next_release(&mut self, registry: &Registry) -> Handled {
        while let Some(pod) = self.targets.pop_front() {
            // A target without a claim has nothing to release.
            if let Ok(release) = ReleaseOp::of_claim(pod, registry, self.broken) {
                self.stage = Stage::Releasing(release);
                return Handled::Continue;
            }
        }
        Handled::Finish(Ok(UsernsResponse::CleanedUp(std::mem::take(
            &mut self.report,
        ))))
    }

    fn record(&mut self, pod: PodUid, result: Result<UsernsResponse, UsernsError>) {
        match result {
            // Only pods with a claim are released, so every release frees one.
            Ok(UsernsResponse::Released(done)) => self.report.released.push(done),
            Ok(_) => {}
            Err(error) => self.report.failures.push(CleanupFailure { pod, error }),
        }
    }
}
