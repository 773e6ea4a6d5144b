//! One simulated node running a workload: each step is attempted, possibly
//! cut short by a crash, then settled: the model learns what was
//! acknowledged and the invariants are checked.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};

use podns_backend_mock::{CrashKind, Fault, FaultTrigger, Node};
use podns_core::{
    BrokenVariant, GetOrCreate, NodeResponse, PodUid, RelPath, Root, RootPath, SubpathResponse,
    USERNS_FILE_NAME, UsernsError, UsernsRequest, UsernsResponse,
};
use serde::Serialize;

use crate::invariants::{self, FaultWitness, Violation};
use crate::model::Model;
use crate::trace::Trace;
use crate::workload::{Corruption, Op, Step};
use crate::world::{Fates, World};

mod pod_namespaces;
mod subpaths;

/// Counters of one run, serialized under the keys of the printed report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Steps run.
    pub operations: u64,
    /// Process kills.
    pub process_kills: u64,
    /// Power losses.
    pub power_losses: u64,
    /// Faults that fired.
    pub faults_injected: u64,
    /// Of those, the ones whose effect took place anyway.
    pub ambiguous_faults: u64,
    /// Invariant checks performed.
    #[serde(rename = "invariantChecks")]
    pub checks: u64,
    /// Subpath mounts acknowledged as idmapped with a pod's user namespace.
    pub idmapped_mounts: u64,
    /// `userns` files and pod directories removed out of band, unsynced.
    pub out_of_band_removals: u64,
}

impl Stats {
    /// Adds `other` to these counters.
    pub fn add(&mut self, other: &Stats) {
        self.operations += other.operations;
        self.process_kills += other.process_kills;
        self.power_losses += other.power_losses;
        self.faults_injected += other.faults_injected;
        self.ambiguous_faults += other.ambiguous_faults;
        self.checks += other.checks;
        self.idmapped_mounts += other.idmapped_mounts;
        self.out_of_band_removals += other.out_of_band_removals;
    }
}

/// How far a step got.
#[derive(Debug)]
pub enum Attempt {
    /// It completed with this result.
    Completed(Result<UsernsResponse, UsernsError>, FaultWitness),
    /// A namespace step completed with this result.
    CompletedNamespaces(Result<NodeResponse, String>, FaultWitness),
    /// A subpath step completed with this result.
    CompletedSubpath(Result<SubpathResponse, String>, FaultWitness),
    /// A crash cut it short; the disk is as the crash left it.
    Interrupted,
}

/// A node and what its callers were told.
#[derive(Debug, Clone)]
pub struct Sim {
    /// The node.
    pub world: World,
    /// The reference.
    pub model: Model,
    /// Counters.
    pub stats: Stats,
    /// The trace.
    pub trace: Trace,
}

fn pod_name(index: u8) -> String {
    format!("pod-{index}")
}

fn pod_uid(index: u8) -> PodUid {
    PodUid::new(pod_name(index)).expect("simulated pod names are valid")
}

impl Sim {
    /// A node on an empty disk, recovered and checked.
    pub fn start(
        seed: u64,
        variant: Option<BrokenVariant>,
        keep_trace: bool,
    ) -> Result<Self, Violation> {
        let mut sim = Self {
            world: World::new(seed, variant),
            model: Model::default(),
            stats: Stats::default(),
            trace: Trace::new(keep_trace),
        };
        sim.recover_cleanly()?;
        Ok(sim)
    }

    /// Runs one step to the end (its own crash included) and checks.
    pub fn run_step(&mut self, step: &Step) -> Result<(), Violation> {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let budget = step
                .crash
                .as_ref()
                .map_or(usize::MAX, |crash| crash.after as usize);
            let attempt = self.attempt(step, budget);
            let crash = step
                .crash
                .as_ref()
                .map(|crash| (crash.kind, Fates::Seeded(crash.fates_seed)));
            self.settle(step, attempt, crash)
        }));
        match outcome {
            Ok(result) => result,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                    .unwrap_or_else(|| "non-string panic".to_owned());
                Err(invariants::panicked(&step.to_string(), message))
            }
        }
    }

    /// Starts `step` and stops after `budget` effects, as a crash would.
    pub fn attempt(&mut self, step: &Step, budget: usize) -> Attempt {
        self.stats.operations += 1;
        let request = match &step.op {
            Op::NsCreate { .. } | Op::NsRemove { .. } | Op::NsSweep => {
                return self.attempt_namespaces(step, budget);
            }
            Op::SubpathMount {
                volume,
                index,
                idmap_pod,
            } => {
                return self.attempt_subpath(
                    step,
                    subpaths::mount_request(*volume, *index, *idmap_pod),
                    budget,
                );
            }
            Op::SubpathClean { volume } => {
                return self.attempt_subpath(step, subpaths::clean_request(*volume), budget);
            }
            Op::Alloc { pod } => {
                self.model.released.remove(&pod_name(*pod));
                UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod_uid(*pod)))
            }
            Op::Release { pod } => UsernsRequest::Release { pod: pod_uid(*pod) },
            Op::Cleanup { keep } => UsernsRequest::Cleanup {
                keep: keep.iter().map(|pod| pod_uid(*pod)).collect(),
            },
            Op::Restart => {
                self.world.restart();
                UsernsRequest::Recover
            }
            Op::ChangePool { pool } => {
                self.world.pool = *pool;
                self.world.restart();
                UsernsRequest::Recover
            }
            Op::Corrupt { pod, how } => {
                self.corrupt(*pod, *how);
                self.world.restart();
                UsernsRequest::Recover
            }
            // The process does not notice; a read-only inspection stands in
            // for whatever it does meanwhile.
            Op::RemoveOutOfBand { pod, whole_dir } => {
                self.remove_out_of_band(*pod, *whole_dir);
                UsernsRequest::Inspect
            }
        };
        match self.run_armed(step, |sim, _| sim.world.drive(request, budget)) {
            Some((result, witness)) => Attempt::Completed(result, witness),
            None => Attempt::Interrupted,
        }
    }

    /// Runs `drive` (given the effect count at its start) with the step's
    /// fault armed, then traces its effects and, unless a crash cut it
    /// short (`None`), its result.
    fn run_armed<T: Debug>(
        &mut self,
        step: &Step,
        drive: impl FnOnce(&mut Self, u64) -> Option<T>,
    ) -> Option<(T, FaultWitness)> {
        let start = self.arm_fault(step);
        let result = drive(self, start);
        let witness = self.disarm_fault(step, start);
        self.record_effects();
        let result = result?;
        self.trace
            .record(&format!("{result:?}"), || format!("  => {result:?}"));
        Some((result, witness))
    }

    /// Arms the step's fault, if any, from the next effect on.
    fn arm_fault(&mut self, step: &Step) -> u64 {
        let start = self.world.effects_executed();
        if let Some(fault) = &step.fault {
            let first = start + u64::from(fault.after);
            self.world.backend.inner_mut().inject(Fault {
                trigger: if fault.persistent {
                    FaultTrigger::From(first)
                } else {
                    FaultTrigger::Nth(first)
                },
                errno: fault.errno,
                ambiguous: fault.ambiguous,
            });
        }
        start
    }

    /// Disarms the fault and says whether it fired.
    fn disarm_fault(&mut self, step: &Step, start: u64) -> FaultWitness {
        self.world.backend.inner_mut().clear_faults();
        let fired = step
            .fault
            .as_ref()
            .is_some_and(|fault| self.world.effects_executed() > start + u64::from(fault.after));
        let ambiguous = fired && step.fault.as_ref().is_some_and(|fault| fault.ambiguous);
        let verified = fired
            && step.fault.as_ref().is_some_and(|fault| {
                invariants::removal_verified(self.world.backend.log(), fault.after as usize)
            });
        if fired {
            self.stats.faults_injected += 1;
        }
        if ambiguous {
            self.stats.ambiguous_faults += 1;
        }
        FaultWitness {
            fired,
            ambiguous,
            verified,
        }
    }

    /// Finishes a step: applies the crash if it was interrupted, updates the
    /// model and checks the invariants.
    pub fn settle(
        &mut self,
        step: &Step,
        attempt: Attempt,
        crash: Option<(CrashKind, Fates)>,
    ) -> Result<(), Violation> {
        let recovering = matches!(
            step.op,
            Op::Restart | Op::ChangePool { .. } | Op::Corrupt { .. }
        );
        match attempt {
            Attempt::Interrupted => {
                let (kind, fates) = crash.unwrap_or((CrashKind::ProcessKill, Fates::Seeded(0)));
                self.forget_interrupted(&step.op);
                match kind {
                    CrashKind::ProcessKill => self.stats.process_kills += 1,
                    CrashKind::PowerLoss => self.stats.power_losses += 1,
                }
                self.trace.record(&format!("{kind:?} {fates:?}"), || {
                    format!("  !! {kind:?} ({fates:?})")
                });
                if kind == CrashKind::PowerLoss {
                    // Namespaces and the pins on the run tmpfs are gone.
                    self.model.pinned.clear();
                }
                self.world.crash(kind, fates);
                self.recover_cleanly()?;
                if kind == CrashKind::PowerLoss {
                    self.stats.checks += 2;
                    invariants::pins_match_acknowledged(&self.world, &self.model)?;
                    invariants::no_mount_survives_power_loss(&self.world)?;
                }
                Ok(())
            }
            Attempt::CompletedSubpath(result, witness) => {
                self.stats.checks += 1;
                invariants::subpath_failures_are_errors(&step.to_string(), witness, &result)?;
                if let Ok(SubpathResponse::Prepared(prepared)) = &result {
                    self.stats.checks += 1;
                    self.stats.idmapped_mounts += u64::from(prepared.idmapped.is_some());
                    invariants::mounts_map_as_acknowledged(&self.world, prepared)?;
                }
                if let (Op::SubpathClean { volume }, Ok(SubpathResponse::Cleaned(report))) =
                    (&step.op, &result)
                {
                    if report.is_complete() {
                        self.stats.checks += 1;
                        invariants::cleaned_subpaths_are_gone(
                            &self.world,
                            &format!("vol-{volume}"),
                        )?;
                    }
                }
                self.check()
            }
            Attempt::CompletedNamespaces(result, witness) => {
                self.stats.checks += 1;
                invariants::namespace_failures_are_errors(&step.to_string(), witness, &result)?;
                let swept = self.learn_namespaces(&step.op, &result);
                if swept {
                    self.stats.checks += 1;
                    invariants::pins_match_acknowledged(&self.world, &self.model)?;
                }
                self.check()
            }
            Attempt::Completed(result, witness) => {
                self.stats.checks += 1;
                invariants::failures_are_errors(&step.to_string(), witness, &result)?;
                self.learn(&step.op, &result);
                if recovering && result.is_ok() && !witness.fired {
                    self.model.removed_out_of_band.clear();
                }
                if recovering {
                    if witness.fired || result.is_err() {
                        // A supervisor restarts a process whose recovery failed.
                        self.world.restart();
                        return self.recover_cleanly();
                    }
                    self.check_recovery_is_idempotent()?;
                }
                self.check()
            }
        }
    }

    /// Recovers with no fault and checks everything, recovery included.
    fn recover_cleanly(&mut self) -> Result<(), Violation> {
        // The node reads the pods directory again: what it answers from now
        // on is what the disk holds.
        self.model.removed_out_of_band.clear();
        let recovered = self.world.recover();
        self.record_effects();
        recovered.map_err(|outcome| {
            Violation::new(
                "6. no panic; every failed operation returned an error",
                format!("recovery without faults failed: {outcome}"),
            )
        })?;
        self.check_recovery_is_idempotent()?;
        self.check()
    }

    /// Checks invariant 5 right after a successful recovery. The check
    /// recovers a second time; its effects are traced here, with the step
    /// whose recovery it checks, even when the check fails.
    fn check_recovery_is_idempotent(&mut self) -> Result<(), Violation> {
        self.stats.checks += 1;
        let checked = invariants::recovery_is_idempotent(&mut self.world);
        self.record_effects();
        checked
    }

    fn check(&mut self) -> Result<(), Violation> {
        self.stats.checks += 5;
        invariants::no_shared_host_ids(self.world.engine())?;
        invariants::no_reserved_host_ids(self.world.engine())?;
        invariants::free_slots_match_claims(self.world.engine())?;
        invariants::acknowledged_allocations_survive(self.world.engine(), &self.model)?;
        invariants::acknowledged_releases_stay(self.world.engine(), &self.model)
    }

    fn learn(&mut self, op: &Op, result: &Result<UsernsResponse, UsernsError>) {
        match (op, result) {
            // A node that has not re-read its pods directory since a pod's
            // file was removed out of band answers for it from memory; that
            // answer is no durable promise until the pod is released or the
            // directory re-read.
            (Op::Alloc { pod }, Ok(_))
                if self.model.removed_out_of_band.contains(&pod_name(*pod)) => {}
            (Op::Alloc { pod }, Ok(UsernsResponse::UserNamespace(userns))) => {
                if let Some(mapping) = userns.userns.uid_mappings.first() {
                    self.model
                        .acknowledged
                        .insert(pod_name(*pod), mapping.host_range());
                }
            }
            (Op::Release { pod }, Ok(UsernsResponse::Released(_))) => {
                self.model.removed_out_of_band.remove(&pod_name(*pod));
                self.model.acknowledged.remove(&pod_name(*pod));
                self.model.pinned.remove(&pod_name(*pod));
                self.model.released.insert(pod_name(*pod));
            }
            (Op::Release { pod }, Err(_)) => self.model.forget(&pod_name(*pod)),
            (Op::Cleanup { .. }, Ok(UsernsResponse::CleanedUp(report))) => {
                for release in &report.released {
                    self.model.removed_out_of_band.remove(release.pod.as_str());
                    self.model.acknowledged.remove(release.pod.as_str());
                    self.model.pinned.remove(release.pod.as_str());
                    self.model.released.insert(release.pod.to_string());
                }
                for failure in &report.failures {
                    self.model.forget(failure.pod.as_str());
                }
            }
            (Op::Cleanup { keep }, Err(_)) => self.forget_unkept(keep),
            _ => {}
        }
    }

    fn forget_interrupted(&mut self, op: &Op) {
        match op {
            Op::NsCreate { pod } | Op::NsRemove { pod } => {
                self.model.pinned.remove(&pod_name(*pod));
            }
            Op::Release { pod } => self.model.forget(&pod_name(*pod)),
            Op::Cleanup { keep } => self.forget_unkept(keep),
            _ => {}
        }
    }

    fn forget_unkept(&mut self, keep: &[u8]) {
        let kept: BTreeSet<String> = keep.iter().map(|pod| pod_name(*pod)).collect();
        let pods: Vec<String> = self
            .model
            .acknowledged
            .keys()
            .chain(self.model.released.iter())
            .filter(|pod| !kept.contains(*pod))
            .cloned()
            .collect();
        for pod in pods {
            self.model.forget(&pod);
        }
    }

    /// Removes `pod`'s `userns` file (and, with `whole_dir`, its directory)
    /// without a sync, behind the node's back, as kubelet or an operator
    /// would: nothing about the pod is promised any more.
    fn remove_out_of_band(&mut self, pod: u8, whole_dir: bool) {
        let name = pod_name(pod);
        self.stats.out_of_band_removals += 1;
        self.model.forget(&name);
        self.model.removed_out_of_band.insert(name.clone());
        let dir = RootPath {
            root: Root::Pods,
            path: RelPath::parse(&name).expect("valid path"),
        };
        let fs = self.world.backend.inner_mut().fs_mut();
        let entries = fs.list_dir(&dir).unwrap_or_default();
        for entry in entries
            .iter()
            .filter(|entry| whole_dir || entry.name == USERNS_FILE_NAME)
        {
            let file = RootPath {
                root: Root::Pods,
                path: RelPath::parse(&format!("{name}/{}", entry.name)).expect("valid path"),
            };
            let _ = fs.remove_file(&file);
        }
        if whole_dir {
            let _ = fs.remove_dir(&dir);
        }
        self.trace
            .record(&format!("out of band {name} {whole_dir}"), || {
                format!(
                    "  (out of band, unsynced: removed {name}'s {}",
                    if whole_dir { "directory)" } else { "userns)" }
                )
            });
    }

    fn corrupt(&mut self, pod: u8, how: Corruption) {
        let name = pod_name(pod);
        self.model.forget(&name);
        let valid = br#"{"uidMappings":[{"hostId":131072,"containerId":0,"length":65536}],"gidMappings":[{"hostId":131072,"containerId":0,"length":65536}]}"#;
        let data = match how {
            Corruption::Garbage => b"\x7f\x00\xffnot json at all".to_vec(),
            Corruption::Empty => Vec::new(),
            Corruption::Truncated => valid[..valid.len() / 2].to_vec(),
        };
        let path = RootPath {
            root: Root::Pods,
            path: RelPath::parse(&format!("{name}/{USERNS_FILE_NAME}")).expect("valid path"),
        };
        self.world.backend.inner_mut().fs_mut().plant(
            &path,
            Node::File {
                data: data.clone(),
                durable_data: data,
            },
        );
        self.trace.record(&format!("corrupt {name} {how:?}"), || {
            format!("  (out of band: {name}/userns {how:?})")
        });
    }

    /// Traces the effects run since the last call. The mock keeps a log of
    /// its own, which nothing here reads: it is emptied too, or it would
    /// grow for the whole run and be copied with every clone of the node.
    fn record_effects(&mut self) {
        self.world.backend.inner_mut().take_log();
        for executed in self.world.backend.take_log() {
            self.trace.record(&executed, || {
                let outcome = match &executed.outcome {
                    Ok(observation) => format!("{observation:?}"),
                    Err(error) => format!("error {error}"),
                };
                format!("  {} -> {outcome}", executed.effect)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(op: Op) -> Step {
        Step {
            op,
            fault: None,
            crash: None,
        }
    }

    #[test]
    fn the_second_recovery_of_a_restart_is_traced_with_it() {
        let mut sim = Sim::start(0, None, true).expect("a clean start");
        sim.run_step(&plain(Op::Alloc { pod: 0 }))
            .expect("an allocation");
        let before = sim.trace.lines().len();
        sim.run_step(&plain(Op::Restart)).expect("a restart");
        let syncs = sim.trace.lines()[before..]
            .iter()
            .filter(|line| line.starts_with("  sync-fs"))
            .count();
        assert_eq!(syncs, 2, "{:#?}", &sim.trace.lines()[before..]);
    }

    #[test]
    fn the_mock_log_does_not_grow() {
        let mut sim = Sim::start(0, None, false).expect("a clean start");
        for op in [Op::Alloc { pod: 0 }, Op::NsCreate { pod: 1 }, Op::Restart] {
            sim.run_step(&plain(op)).expect("a step");
            assert!(sim.world.backend.inner().log().is_empty());
        }
    }
}
