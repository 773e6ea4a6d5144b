//! Workloads: what a seed asks the simulated node to do, with the faults and
//! crashes attached to each step. Everything is drawn up front from the seed,
//! so a workload can be replayed, printed and shrunk.

use std::fmt;

use podns_backend_mock::CrashKind;
use podns_core::{Errno, PoolConfig, SeededRng};

/// One operation on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Get or create the range of `pod-N`.
    Alloc {
        /// N.
        pod: u8,
    },
    /// Release `pod-N`.
    Release {
        /// N.
        pod: u8,
    },
    /// Release every allocation except those of the listed pods.
    Cleanup {
        /// Pods kept (known or running).
        keep: Vec<u8>,
    },
    /// A clean process restart.
    Restart,
    /// A restart with different pool settings.
    ChangePool {
        /// Index into [`pool`].
        pool: u8,
    },
    /// Create (or check) `pod-N`'s pinned namespaces, allocating its range
    /// first, as `podns ns create` does.
    NsCreate {
        /// N.
        pod: u8,
    },
    /// Remove `pod-N`'s pinned namespaces.
    NsRemove {
        /// N.
        pod: u8,
    },
    /// Sweep the run directory, keeping the pods whose pins were
    /// acknowledged.
    NsSweep,
    /// Bind-mount a subpath of the volume at
    /// `volume-subpaths/vol-V/app/I` of the pod directory, idmapped with
    /// `pod-P`'s pinned user namespace when `idmap_pod` is `Some(P)`.
    SubpathMount {
        /// V.
        volume: u8,
        /// I.
        index: u8,
        /// P.
        idmap_pod: Option<u8>,
    },
    /// Clean `volume-subpaths/vol-V`.
    SubpathClean {
        /// V.
        volume: u8,
    },
    /// kubelet removes `pod-N`'s directory (`whole_dir`), or an operator its
    /// `userns` file, out of band and without syncing; the process does not
    /// know (a power loss may undo the removal).
    RemoveOutOfBand {
        /// N.
        pod: u8,
        /// The whole pod directory, not only the file.
        whole_dir: bool,
    },
    /// An operator or a bug damages `pod-N`'s `userns` file out of band; then
    /// the process restarts.
    Corrupt {
        /// N.
        pod: u8,
        /// How.
        how: Corruption,
    },
}

/// Ways a `userns` file is damaged out of band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Random bytes.
    Garbage,
    /// Zero bytes.
    Empty,
    /// The first half of a valid file.
    Truncated,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Alloc { pod } => write!(f, "alloc pod-{pod}"),
            Op::Release { pod } => write!(f, "release pod-{pod}"),
            Op::Cleanup { keep } => {
                let kept: Vec<String> = keep.iter().map(|pod| format!("pod-{pod}")).collect();
                write!(f, "cleanup --keep [{}]", kept.join(", "))
            }
            Op::Restart => write!(f, "restart"),
            Op::ChangePool { pool } => write!(f, "restart with pool #{pool}"),
            Op::NsCreate { pod } => write!(f, "ns create pod-{pod}"),
            Op::NsRemove { pod } => write!(f, "ns remove pod-{pod}"),
            Op::NsSweep => write!(f, "ns sweep"),
            Op::SubpathMount {
                volume,
                index,
                idmap_pod,
            } => {
                write!(f, "subpath mount vol-{volume} index {index}")?;
                match idmap_pod {
                    Some(pod) => write!(f, " idmapped with pod-{pod}"),
                    None => Ok(()),
                }
            }
            Op::SubpathClean { volume } => write!(f, "subpath clean vol-{volume}"),
            Op::Corrupt { pod, how } => write!(f, "corrupt pod-{pod} ({how:?})"),
            Op::RemoveOutOfBand { pod, whole_dir } => {
                let what = if *whole_dir {
                    "directory"
                } else {
                    "userns file"
                };
                write!(f, "remove pod-{pod}'s {what} out of band (unsynced)")
            }
        }
    }
}

/// An injected fault: effect number `after` of the step (0-based) fails with
/// `errno`, and with `persistent` every later effect of the step too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    /// Effects of the step that run before the fault.
    pub after: u32,
    /// The errno.
    pub errno: Errno,
    /// Whether the fault persists for the rest of the step.
    pub persistent: bool,
    /// Whether a failing mutating effect takes place anyway.
    pub ambiguous: bool,
}

/// A crash in the middle of a step, after `after` of its effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashPlan {
    /// Effects of the step that complete before the crash.
    pub after: u32,
    /// Process kill or power loss.
    pub kind: CrashKind,
    /// Decides, at a power loss, what becomes of each pending operation.
    pub fates_seed: u64,
}

/// One step of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The operation.
    pub op: Op,
    /// A fault injected during it.
    pub fault: Option<FaultPlan>,
    /// A crash that cuts it short.
    pub crash: Option<CrashPlan>,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        if let Some(fault) = &self.fault {
            let kind = match (fault.persistent, fault.ambiguous) {
                (true, false) => "persistent",
                (true, true) => "persistent, ambiguous",
                (false, false) => "once",
                (false, true) => "once, ambiguous",
            };
            write!(
                f,
                " [fault {} at effect {} ({kind})]",
                fault.errno, fault.after
            )?;
        }
        if let Some(crash) = &self.crash {
            write!(f, " [{:?} after {} effects]", crash.kind, crash.after)?;
        }
        Ok(())
    }
}

/// A seed's whole workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// The seed it was drawn from; it also seeds the engines.
    pub seed: u64,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// The pools a workload moves between. Small, so slots are reused often.
pub fn pool(index: u8) -> PoolConfig {
    match index % 3 {
        0 => PoolConfig {
            first_id: 65536,
            id_count: 65536 * 8,
            ids_per_pod: 65536,
            max_pods: 8,
        },
        1 => PoolConfig {
            first_id: 65536 * 3,
            id_count: 65536 * 8,
            ids_per_pod: 65536,
            max_pods: 8,
        },
        _ => PoolConfig {
            first_id: 131072,
            id_count: 131072 * 5,
            ids_per_pod: 131072,
            max_pods: 5,
        },
    }
}

/// The errnos a fault can carry.
pub const FAULT_ERRNOS: [Errno; 6] = [
    Errno::EIO,
    Errno::ENOSPC,
    Errno::EACCES,
    Errno::EPERM,
    Errno::EINTR,
    Errno::EAGAIN,
];

/// Per-seed rates, in percent (swarm testing: each seed stresses its own mix,
/// so rare combinations are not drowned out by an average).
#[derive(Debug, Clone, Copy)]
struct Swarm {
    pods: u32,
    release: u32,
    cleanup: u32,
    restart: u32,
    change_pool: u32,
    corrupt: u32,
    out_of_band: u32,
    fault: u32,
    persistent_fault: u32,
    ambiguous_fault: u32,
    crash: u32,
    power_loss: u32,
    namespaces: u32,
    subpaths: u32,
}

impl Swarm {
    fn draw(rng: &mut SeededRng) -> Self {
        let pick = |rng: &mut SeededRng, choices: &[u32]| {
            choices[rng.below(choices.len() as u32) as usize]
        };
        Self {
            pods: pick(rng, &[2, 4, 6, 12]),
            release: pick(rng, &[10, 25, 40]),
            cleanup: pick(rng, &[0, 3, 10]),
            restart: pick(rng, &[0, 5, 15]),
            change_pool: pick(rng, &[0, 0, 3]),
            corrupt: pick(rng, &[0, 0, 2]),
            out_of_band: pick(rng, &[0, 0, 4]),
            fault: pick(rng, &[0, 5, 20]),
            persistent_fault: pick(rng, &[0, 30, 100]),
            ambiguous_fault: pick(rng, &[0, 30, 70]),
            crash: pick(rng, &[0, 10, 30]),
            power_loss: pick(rng, &[0, 50, 100]),
            namespaces: pick(rng, &[0, 10, 30]),
            subpaths: pick(rng, &[0, 10, 30]),
        }
    }
}

impl Workload {
    /// The workload of `seed`, with `ops` steps.
    pub fn generate(seed: u64, ops: u64) -> Self {
        let mut rng = SeededRng::new(seed ^ 0x005E_ED0F_9D05);
        let swarm = Swarm::draw(&mut rng);
        let chance = |rng: &mut SeededRng, percent: u32| rng.below(100) < percent;
        let steps = (0..ops)
            .map(|_| {
                let pod = rng.below(swarm.pods) as u8;
                let op = if chance(&mut rng, swarm.corrupt) {
                    let how = [
                        Corruption::Garbage,
                        Corruption::Empty,
                        Corruption::Truncated,
                    ][rng.below(3) as usize];
                    Op::Corrupt { pod, how }
                } else if chance(&mut rng, swarm.out_of_band) {
                    Op::RemoveOutOfBand {
                        pod,
                        whole_dir: rng.below(2) == 0,
                    }
                } else if chance(&mut rng, swarm.change_pool) {
                    Op::ChangePool {
                        pool: rng.below(3) as u8,
                    }
                } else if chance(&mut rng, swarm.namespaces) {
                    match rng.below(4) {
                        0 => Op::NsRemove { pod },
                        1 => Op::NsSweep,
                        _ => Op::NsCreate { pod },
                    }
                } else if chance(&mut rng, swarm.subpaths) {
                    let volume = rng.below(2) as u8;
                    if rng.below(3) == 0 {
                        Op::SubpathClean { volume }
                    } else {
                        Op::SubpathMount {
                            volume,
                            index: rng.below(3) as u8,
                            idmap_pod: (rng.below(2) == 0).then_some(pod),
                        }
                    }
                } else if chance(&mut rng, swarm.restart) {
                    Op::Restart
                } else if chance(&mut rng, swarm.cleanup) {
                    let keep = (0..swarm.pods as u8)
                        .filter(|_| rng.below(2) == 0)
                        .collect();
                    Op::Cleanup { keep }
                } else if chance(&mut rng, swarm.release) {
                    Op::Release { pod }
                } else {
                    Op::Alloc { pod }
                };
                let fault = chance(&mut rng, swarm.fault).then(|| FaultPlan {
                    after: rng.below(8),
                    errno: FAULT_ERRNOS[rng.below(FAULT_ERRNOS.len() as u32) as usize],
                    persistent: chance(&mut rng, swarm.persistent_fault),
                    ambiguous: chance(&mut rng, swarm.ambiguous_fault),
                });
                let crash = chance(&mut rng, swarm.crash).then(|| CrashPlan {
                    after: rng.below(8),
                    kind: if chance(&mut rng, swarm.power_loss) {
                        CrashKind::PowerLoss
                    } else {
                        CrashKind::ProcessKill
                    },
                    fates_seed: rng.next_u64(),
                });
                Step { op, fault, crash }
            })
            .collect();
        Self { seed, steps }
    }
}
