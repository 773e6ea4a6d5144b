//! A node engine over the mock backend with a run directory, for the
//! namespace tests: its flows set pods up, and its namespace engine is also
//! driven directly, with maps of the test's.

use std::collections::{BTreeMap, BTreeSet};

use podns_backend_mock::{CrashKind, MockBackend};
use podns_core::{
    AllocationPolicy, GetOrCreate, NamespaceKind, NodeEngine, NodeError, NodeRequest, NodeResponse,
    NsEngine, NsError, NsRequest, NsResponse, ParentMaps, PinKind, PodIdMaps, PodSandbox, PodUid,
    PoolConfig, Root, RunDirPath, UsernsEngine, UsernsRequest, UsernsResponse, drive,
    drive_bounded, pin_path,
};

use crate::{paths_below, pod, trace};

/// The run directory of every [`NsNode`].
pub const RUN: &str = "/run/podns";

/// A node engine over a mock backend: its flows set pods up, and its
/// namespace engine is also driven directly, with maps of the test's.
#[derive(Debug)]
pub struct NsNode {
    /// The mock backend.
    pub backend: MockBackend,
    /// The node engine.
    pub engine: NodeEngine,
    /// The maps of the namespace the node runs in, when it is rootless.
    parent: Option<ParentMaps>,
}

fn node_engine(parent: Option<&ParentMaps>) -> NodeEngine {
    let userns = UsernsEngine::new(
        PoolConfig::default().validate().unwrap(),
        7,
        AllocationPolicy::LowestFree,
    );
    let engine = NodeEngine::new(userns, Some(RunDirPath::new(RUN).unwrap()));
    match parent {
        Some(parent) => engine.with_parent_maps(parent.clone()),
        None => engine,
    }
}

impl Default for NsNode {
    fn default() -> Self {
        Self::new()
    }
}

impl NsNode {
    /// A recovered node with an empty run directory.
    pub fn new() -> Self {
        Self::in_parent(None)
    }

    /// [`NsNode::new`] in a rootless user namespace with `parent`'s maps.
    pub fn in_parent(parent: Option<ParentMaps>) -> Self {
        let mut backend = MockBackend::new();
        backend.set_run_dir(RUN);
        let mut node = Self {
            backend,
            engine: node_engine(parent.as_ref()),
            parent,
        };
        node.recover();
        node
    }

    /// Drives one node request to completion.
    pub fn request(&mut self, request: NodeRequest) -> Result<NodeResponse, NodeError> {
        pollster::block_on(drive(&mut self.engine, &mut self.backend, request))
    }

    /// Recovers the userns engine; panics if that fails.
    pub fn recover(&mut self) {
        self.request(NodeRequest::Userns(UsernsRequest::Recover))
            .expect("recovery succeeds");
    }

    /// The pod's range (allocated if needed), as maps.
    pub fn maps(&mut self, uid: &str) -> PodIdMaps {
        let request = UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod(uid)));
        match self.request(NodeRequest::Userns(request)) {
            Ok(NodeResponse::Userns(UsernsResponse::UserNamespace(userns))) => {
                PodIdMaps::from_userns(&userns.userns).unwrap()
            }
            other => panic!("alloc {uid}: {other:?}"),
        }
    }

    /// Releases the pod's allocation.
    pub fn release(&mut self, uid: &str) {
        let request = UsernsRequest::Release { pod: pod(uid) };
        self.request(NodeRequest::Userns(request)).unwrap();
    }

    /// The namespace engine inside the node engine.
    pub fn ns(&mut self) -> &mut NsEngine {
        self.engine
            .namespaces_mut()
            .expect("the node has a run directory")
    }

    /// A namespace request with maps of the test's, on the namespace
    /// engine itself.
    pub fn run(&mut self, request: NsRequest) -> Result<NsResponse, NsError> {
        let ns = self.engine.namespaces_mut().expect("a run directory");
        pollster::block_on(drive(ns, &mut self.backend, request))
    }

    /// Runs `request` until it completes or `budget` effects have run;
    /// `None` when the budget ran out first (the process "crashes" there).
    pub fn run_bounded(
        &mut self,
        request: NsRequest,
        budget: usize,
    ) -> Option<Result<NsResponse, NsError>> {
        let ns = self.engine.namespaces_mut().expect("a run directory");
        pollster::block_on(drive_bounded(ns, &mut self.backend, request, budget))
    }

    /// The effects executed since the log was last taken, one
    /// [`trace_line`](crate::trace_line) each.
    pub fn take_effects(&mut self) -> Vec<String> {
        trace(&self.backend.take_log())
    }

    /// The node's own flow: allocate, then create the namespaces.
    pub fn create(&mut self, uid: &str) -> Result<PodSandbox, NodeError> {
        match self.request(NodeRequest::CreatePodNamespaces { pod: pod(uid) })? {
            NodeResponse::PodNamespaces(sandbox) => Ok(*sandbox),
            other => panic!("create {uid}: {other:?}"),
        }
    }

    /// Every allocation, as the maps a pod's namespace must have.
    pub fn allocations(&self) -> BTreeMap<PodUid, PodIdMaps> {
        self.engine.allocation_maps()
    }

    /// The node's sweep with keep set `keep`.
    pub fn sweep(&mut self, keep: &[&str]) -> podns_core::SweepReport {
        let keep = keep.iter().map(|uid| pod(uid)).collect();
        match self.request(NodeRequest::SweepNamespaces { keep }) {
            Ok(NodeResponse::Swept(report)) => report,
            other => panic!("sweep: {other:?}"),
        }
    }

    /// Ends the process and starts fresh engines, which recover.
    pub fn restart_after(&mut self, crash: CrashKind) {
        self.backend.crash(crash);
        self.engine = node_engine(self.parent.as_ref());
        self.recover();
    }

    /// Pods with at least one pin.
    pub fn pinned_pods(&self) -> BTreeSet<String> {
        self.backend
            .pins()
            .keys()
            .map(|path| path.path.first_component().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every path under the run directory.
    pub fn run_tree(&self) -> Vec<String> {
        paths_below(&self.backend, Root::Run)
    }

    /// The (net, user) inodes of a pod's pins.
    pub fn pin_inodes(&self, uid: &str) -> Option<(u64, u64)> {
        let pins = self.backend.pins();
        Some((
            *pins.get(&pin_path(&pod(uid), PinKind::Net))?,
            *pins.get(&pin_path(&pod(uid), PinKind::User))?,
        ))
    }

    /// The invariants that hold after any sweep: each pinned pod has one
    /// complete pair (a network namespace owned by the pinned user
    /// namespace, with the pod's maps), the run directory holds exactly the
    /// pinned pods' directories and pins, and no namespace is unpinned.
    pub fn assert_clean(&self) {
        let pinned = self.pinned_pods();
        let allocations = self.allocations();
        let namespaces = self.backend.namespaces().namespaces();
        let mut expected_tree = Vec::new();
        for uid in &pinned {
            let (net, user) = self
                .pin_inodes(uid)
                .unwrap_or_else(|| panic!("{uid} has half a pair: {:?}", self.backend.pins()));
            assert_eq!(namespaces[&net].kind, NamespaceKind::Net);
            assert_eq!(namespaces[&user].kind, NamespaceKind::User);
            assert_eq!(namespaces[&net].owner, Some(user), "{uid}");
            let maps = &allocations[&pod(uid)];
            assert_eq!(namespaces[&user].uid_map, maps.uid_map, "{uid}");
            expected_tree.extend([uid.clone(), format!("{uid}/net"), format!("{uid}/user")]);
        }
        assert_eq!(self.run_tree(), expected_tree, "pins: {pinned:?}");
        assert_eq!(namespaces.len(), 2 * pinned.len(), "{namespaces:?}");
    }
}

/// The pins of a create that succeeded.
pub fn created(result: Result<NsResponse, NsError>) -> podns_core::PodNamespaces {
    match result {
        Ok(NsResponse::Created(pins)) => pins,
        other => panic!("create: {other:?}"),
    }
}
