//! The simulated node: the real engine and driver over the mock backend.

use podns_backend_mock::{CrashKind, MockBackend, Node, Pending, Survival};
use podns_core::Recording;
use podns_core::{
    AllocationPolicy, BrokenVariant, NodeEngine, NodeError, NodeRequest, NodeResponse, RelPath,
    Root, RootPath, RunDirPath, SeededRng, UsernsEngine, UsernsError, UsernsRequest,
    UsernsResponse, drive_bounded,
};

/// Where the simulated node pins namespaces (the run root of the mock).
pub const RUN_DIR: &str = "/run/podns";
/// The simulated pod directory that subpaths are mounted under.
pub const POD_DIR: &str = "/pods/sim-pod";

use crate::workload::pool;

/// What a power loss does with the operations that were not durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fates {
    /// Each operation independently survives, is lost, torn, zero-filled or
    /// garbled, drawn from this seed.
    Seeded(u64),
    /// Operation `i` survives whole when bit `i` is set, else is lost.
    Subset(u64),
}

/// One node: the disk outlives the process, the engine does not.
#[derive(Debug, Clone)]
pub struct World {
    /// The running process's engines: ranges and pod namespaces, and the
    /// flows across them (as the library's `Node` runs them).
    pub node: NodeEngine,
    /// The disk, with a log of every effect and outcome.
    pub backend: Recording<MockBackend>,
    /// The pool in force.
    pub pool: u8,
    seeds: SeededRng,
    variant: Option<BrokenVariant>,
}

impl World {
    /// An empty disk and a fresh, not yet recovered, process.
    pub fn new(seed: u64, variant: Option<BrokenVariant>) -> Self {
        let mut seeds = SeededRng::new(seed);
        let node = Self::node(&mut seeds, 0, variant);
        let mut backend = MockBackend::new();
        backend.set_run_dir(RUN_DIR);
        backend.mounts_mut().set_root_dir(Root::PodDir, POD_DIR);
        backend
            .mounts_mut()
            .set_root_dir(Root::Volume, "/volumes/data");
        for (path, node) in [
            (
                "config",
                Node::File {
                    data: b"c".to_vec(),
                    durable_data: b"c".to_vec(),
                },
            ),
            (
                "dir/file",
                Node::File {
                    data: b"f".to_vec(),
                    durable_data: b"f".to_vec(),
                },
            ),
        ] {
            let path = RootPath {
                root: Root::Volume,
                path: RelPath::parse(path).expect("a valid path"),
            };
            backend.fs_mut().plant(&path, node);
        }
        Self {
            node,
            backend: Recording::new(backend),
            pool: 0,
            seeds,
            variant,
        }
    }

    fn node(seeds: &mut SeededRng, pool_index: u8, variant: Option<BrokenVariant>) -> NodeEngine {
        let pool = pool(pool_index)
            .validate()
            .expect("the simulation pools are valid");
        let mut engine = UsernsEngine::new(
            pool,
            seeds.next_u64(),
            AllocationPolicy::RandomStartThenNextFree,
        );
        engine.set_broken_variant(variant);
        let run_dir = RunDirPath::new(RUN_DIR).expect("an absolute run dir");
        NodeEngine::new(engine, Some(run_dir))
    }

    /// The running process's range engine.
    pub fn engine(&self) -> &UsernsEngine {
        self.node.userns()
    }

    /// The process ends cleanly or is killed; a new one starts (unrecovered).
    pub fn restart(&mut self) {
        self.backend.inner_mut().clear_faults();
        self.node = Self::node(&mut self.seeds, self.pool, self.variant);
    }

    /// The process dies the given way; a new one starts (unrecovered).
    pub fn crash(&mut self, kind: CrashKind, fates: Fates) {
        match kind {
            CrashKind::ProcessKill => self.backend.inner_mut().crash(kind),
            CrashKind::PowerLoss => {
                let mut rng = match fates {
                    Fates::Seeded(seed) => SeededRng::new(seed),
                    Fates::Subset(_) => SeededRng::new(0),
                };
                let mut index = 0u32;
                let mut decide = |pending: &Pending| {
                    let fate = match fates {
                        Fates::Subset(mask) if index < 64 && mask & (1 << index) != 0 => {
                            Survival::Kept
                        }
                        Fates::Subset(_) => Survival::Lost,
                        Fates::Seeded(_) => match (pending, rng.below(6)) {
                            (_, 0 | 1) => Survival::Kept,
                            (_, 2) => Survival::Lost,
                            (Pending::Entry { .. }, _) => Survival::Lost,
                            (Pending::Data { .. }, 3) => Survival::Torn(rng.below(512) as usize),
                            (Pending::Data { .. }, 4) => Survival::ZeroFilled,
                            (Pending::Data { .. }, _) => Survival::Garbage(rng.next_u64()),
                        },
                    };
                    index += 1;
                    fate
                };
                self.backend.inner_mut().lose_power_with(&mut decide);
            }
        }
        self.restart();
    }

    /// Runs `request`, stopping after `budget` effects as a crash would.
    /// `None` means the budget ran out first.
    pub fn drive(
        &mut self,
        request: UsernsRequest,
        budget: usize,
    ) -> Option<Result<UsernsResponse, UsernsError>> {
        Some(
            match self.drive_node(NodeRequest::Userns(request), budget)? {
                Ok(NodeResponse::Userns(response)) => Ok(response),
                Err(NodeError::Userns(error)) => Err(error),
                // The node answers a range request only with the range engine's
                // answer; anything else is a bug for the invariants to report.
                other => Err(UsernsError::UnexpectedObservation {
                    effect: "node",
                    got: format!("{other:?}"),
                }),
            },
        )
    }

    /// Recovers, with no limit on effects. The error renders what the
    /// recovery gave instead of success, for a violation to quote.
    pub fn recover(&mut self) -> Result<(), String> {
        match self.drive(UsernsRequest::Recover, usize::MAX) {
            Some(Ok(_)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }

    /// Runs any node request, stopping after `budget` effects.
    pub fn drive_node(
        &mut self,
        request: NodeRequest,
        budget: usize,
    ) -> Option<Result<NodeResponse, NodeError>> {
        pollster::block_on(drive_bounded(
            &mut self.node,
            &mut self.backend,
            request,
            budget,
        ))
    }

    /// Effects executed on the disk so far.
    pub fn effects_executed(&self) -> u64 {
        self.backend.inner().executed()
    }

    /// Operations a power loss now could keep or lose.
    pub fn pending_operations(&self) -> usize {
        self.backend.inner().fs().pending().len()
    }
}
