//! Orphan cleanup with kubelet's semantics: a pod found on disk that is not in
//! the keep set is released, and so is an in-memory allocation whose pod
//! directory is gone. Each release is the durable release; one failure does not
//! stop the others.

use std::collections::{BTreeSet, VecDeque};

use super::super::broken_variant::BrokenVariant;
use super::super::registry::Registry;
use super::super::request::{CleanupFailure, CleanupReport, OperationError, Response};
use super::release::ReleaseOp;
use super::{Step, io_error, unexpected};
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
    Finished(Option<Result<Response, OperationError>>),
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

    pub fn poll(&mut self, registry: &mut Registry) -> Step {
        loop {
            match &mut self.stage {
                Stage::ListPods => {
                    return Step::Run(Effect::ListDir {
                        dir: RootPath::root(Root::Pods),
                    });
                }
                Stage::Finished(result) => {
                    return Step::Finish(result.take().unwrap_or(Err(OperationError::Busy)));
                }
                Stage::Releasing(release) => match release.poll() {
                    Step::Run(effect) => return Step::Run(effect),
                    Step::Finish(result) => {
                        self.record(result);
                        self.stage = self.next_release(registry);
                    }
                },
            }
        }
    }

    pub fn handle(&mut self, registry: &mut Registry, outcome: Outcome) {
        match &mut self.stage {
            Stage::ListPods => {
                let found = match outcome {
                    Ok(Observation::Listing(entries)) => entries
                        .into_iter()
                        .filter(|entry| entry.kind == EntryKind::Directory)
                        .filter_map(|entry| PodUid::new(entry.name).ok())
                        .collect(),
                    Ok(other) => {
                        self.stage = Stage::Finished(Some(Err(unexpected("list-dir", &other))));
                        return;
                    }
                    Err(error) if error.is_not_found() => BTreeSet::new(),
                    Err(error) => {
                        self.stage = Stage::Finished(Some(Err(io_error(
                            registry.labels(),
                            "list",
                            &RootPath::root(Root::Pods),
                            error,
                        ))));
                        return;
                    }
                };
                // The registry's claims are already sorted and unique.
                self.targets = registry
                    .claims()
                    .map(|(pod, _)| pod)
                    .filter(|pod| !found.contains(*pod) || !self.keep.contains(*pod))
                    .cloned()
                    .collect();
                self.stage = self.next_release(registry);
            }
            Stage::Releasing(release) => release.handle(registry, outcome),
            Stage::Finished(_) => {}
        }
    }

    fn next_release(&mut self, registry: &Registry) -> Stage {
        match self.targets.pop_front() {
            Some(pod) => Stage::Releasing(ReleaseOp::new(pod, registry, self.broken)),
            None => Stage::Finished(Some(Ok(Response::CleanedUp(std::mem::take(
                &mut self.report,
            ))))),
        }
    }

    fn record(&mut self, result: Result<Response, OperationError>) {
        let Stage::Releasing(release) = &self.stage else {
            return;
        };
        match result {
            Ok(Response::Released(done)) if done.released => self.report.released.push(done),
            Ok(_) => {}
            Err(error) => self.report.failures.push(CleanupFailure {
                pod: release.pod().clone(),
                error,
            }),
        }
    }
}
