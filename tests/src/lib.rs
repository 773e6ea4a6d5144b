//! Shared helpers for podns's cross-crate tests: a quinn-style pair of the real
//! core engine and the mock backend, driven to completion step by step, and a
//! one-line rendering of effects for readable snapshots.

mod ns_node;

pub use ns_node::{NsNode, RUN, created};

use std::collections::BTreeSet;

use podns_backend_mock::{CrashKind, MockBackend, Node};
use podns_core::{
    AllocationPolicy, Effect, Executed, GetOrCreate, Observation, Outcome, PodUid, PoolConfig,
    Root, RootPath, UsernsEngine, UsernsError, UsernsRequest, UsernsResponse,
};

/// One executed effect on one line, `effect => outcome`: the format of
/// every effect snapshot, whichever engine issued the effect.
pub fn trace_line(effect: &Effect, outcome: &Outcome) -> String {
    format!("{effect} => {}", render_outcome(outcome))
}

/// Renders a log of executed effects, one [`trace_line`] each.
pub fn trace(log: &[Executed]) -> Vec<String> {
    log.iter()
        .map(|executed| trace_line(&executed.effect, &executed.outcome))
        .collect()
}

/// An outcome, short: a mount table as its mount points (the root left
/// out), a listing as its names and kinds, pinned namespaces as their IDs
/// and maps, an error as its errno.
fn render_outcome(outcome: &Outcome) -> String {
    match outcome {
        Ok(Observation::Inode(inode)) => {
            format!("{:?} {} mode={:o}", inode.kind, inode.id, inode.mode)
        }
        Ok(Observation::Contents(bytes)) => match podns_core::parse_mountinfo_bytes(bytes) {
            Ok(table) => {
                let points: Vec<&str> = table
                    .iter()
                    .map(|entry| entry.mount_point.as_str())
                    .filter(|point| *point != "/")
                    .collect();
                format!("mount points: {points:?}")
            }
            Err(_) => format!("{} bytes", bytes.len()),
        },
        Ok(Observation::Listing(entries)) => {
            let names: Vec<String> = entries
                .iter()
                .map(|entry| format!("{}:{:?}", entry.name, entry.kind))
                .collect();
            format!("[{}]", names.join(", "))
        }
        Ok(Observation::PodNamespaces(pinned)) => format!(
            "net={} user={} net_owner={} maps_from={} uid_map=[{}] gid_map=[{}]",
            pinned.net,
            pinned.user,
            pinned.net_owner,
            pinned.maps_from,
            pinned.uid_map.one_line(),
            pinned.gid_map.one_line()
        ),
        Ok(other) => format!("{other:?}"),
        Err(error) => error.errno.to_string(),
    }
}

/// A pod UID from a literal.
pub fn pod(uid: &str) -> PodUid {
    PodUid::new(uid).expect("test pod UIDs are valid")
}

/// The kubelet file for a host range.
pub use podns_backend_mock::kubelet_userns_file;

/// A path below one of the roots, from a literal.
pub fn root_path(root: Root, text: &str) -> RootPath {
    RootPath {
        root,
        path: podns_core::RelPath::parse(text).expect("valid test path"),
    }
}

/// The subpath tests' volume fixture: a mock backend whose pod directory is
/// at `pod_dir` and whose volume, at `volume_dir`, holds `entries`, planted
/// durably in this order (the order fixes the inode numbers snapshots show).
pub fn mock_volume(pod_dir: &str, volume_dir: &str, entries: Vec<(&str, Node)>) -> MockBackend {
    let mut mock = MockBackend::new();
    mock.mounts_mut().set_root_dir(Root::PodDir, pod_dir);
    mock.mounts_mut().set_root_dir(Root::Volume, volume_dir);
    for (path, node) in entries {
        mock.fs_mut().plant(&root_path(Root::Volume, path), node);
    }
    mock
}

/// Every path below `root` on the mock's file system, sorted.
pub fn paths_below(backend: &MockBackend, root: Root) -> Vec<String> {
    backend
        .fs()
        .tree(root)
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}

/// The real engine and the mock backend, as one node.
#[derive(Debug)]
pub struct TestNode {
    /// The engine.
    pub engine: UsernsEngine,
    /// The backend.
    pub backend: MockBackend,
    pool: PoolConfig,
    seed: u64,
    policy: AllocationPolicy,
}

impl TestNode {
    /// A node with the default pool and the lowest-free policy (predictable
    /// ranges for snapshots), not yet recovered.
    pub fn new() -> Self {
        Self::with(PoolConfig::default(), 7, AllocationPolicy::LowestFree)
    }

    /// A node with the given settings, not yet recovered.
    pub fn with(pool: PoolConfig, seed: u64, policy: AllocationPolicy) -> Self {
        Self {
            engine: UsernsEngine::new(pool.validate().expect("valid test pool"), seed, policy),
            backend: MockBackend::new(),
            pool,
            seed,
            policy,
        }
    }

    /// Runs one request to completion; returns the result and the effects it
    /// executed.
    pub fn run(
        &mut self,
        request: UsernsRequest,
    ) -> (Result<UsernsResponse, UsernsError>, Vec<Executed>) {
        self.backend.take_log();
        let result = pollster::block_on(podns_core::drive(
            &mut self.engine,
            &mut self.backend,
            request,
        ));
        (result, self.backend.take_log())
    }

    /// Recovers; panics if recovery fails.
    pub fn recover(&mut self) -> Vec<Executed> {
        let (result, effects) = self.run(UsernsRequest::Recover);
        result.expect("recovery succeeds");
        effects
    }

    /// Get-or-create in POD mode.
    pub fn alloc(&mut self, uid: &str) -> (Result<UsernsResponse, UsernsError>, Vec<Executed>) {
        self.run(UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod(uid))))
    }

    /// Release.
    pub fn release(&mut self, uid: &str) -> (Result<UsernsResponse, UsernsError>, Vec<Executed>) {
        self.run(UsernsRequest::Release { pod: pod(uid) })
    }

    /// Cleanup keeping `keep`.
    pub fn cleanup(
        &mut self,
        keep: &[&str],
    ) -> (Result<UsernsResponse, UsernsError>, Vec<Executed>) {
        let keep: BTreeSet<PodUid> = keep.iter().map(|uid| pod(uid)).collect();
        self.run(UsernsRequest::Cleanup { keep })
    }

    /// Ends the process the given way and starts a fresh engine over the same
    /// disk (not yet recovered).
    pub fn restart_after(&mut self, crash: CrashKind) {
        self.backend.crash(crash);
        self.engine = UsernsEngine::new(
            self.pool.validate().expect("valid test pool"),
            self.seed,
            self.policy,
        );
    }

    /// Restarts with a different pool (the operator changed the settings).
    pub fn restart_with_pool(&mut self, pool: PoolConfig) {
        self.pool = pool;
        self.restart_after(CrashKind::ProcessKill);
    }

    /// Plants a file durably, as if written before this process started.
    pub fn plant_file(&mut self, path: &str, contents: &[u8]) {
        self.plant(path, Node::durable_file(contents));
    }

    /// Plants any node durably.
    pub fn plant(&mut self, path: &str, node: Node) {
        self.backend
            .fs_mut()
            .plant(&root_path(Root::Pods, path), node);
    }

    /// Every path under the pods root.
    pub fn paths(&self) -> Vec<String> {
        paths_below(&self.backend, Root::Pods)
    }
}

impl Default for TestNode {
    fn default() -> Self {
        Self::new()
    }
}
