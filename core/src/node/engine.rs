//! [`NodeEngine`]: the three engines of one node behind one request slot,
//! and the flows that need two of them.

use std::collections::BTreeMap;

use super::request::{NamespaceListing, NodeError, NodeRequest, NodeResponse, PodSandbox};
use crate::effect::IdmapWith;
use crate::effect::{Effect, Outcome};
use crate::ns::{
    JoinTarget, NsEngine, NsRequest, NsResponse, ParentMaps, PidMode, PodIdMaps, RunDirPath,
    join_spec,
};
use crate::ns::{NsError, PinKind, pin_path};
use crate::path::{PodUid, RootLabels};
use crate::request_slot::{Handled, RequestSlot, Step};
use crate::subpath::{PrepareSubpath, SubpathEngine, SubpathRequest};
use crate::userns::{
    GetOrCreate, PodUserNamespace, UserNamespace, UsernsEngine, UsernsRequest, UsernsResponse,
};

/// Every decision of one node: the user-namespace engine (which holds the
/// allocations between requests), the namespace engine (when the node has
/// a run directory) and the subpath engine, driven as one engine.
///
/// It performs no I/O and follows the [`crate::Engine`] contract;
/// [`crate::drive`] runs it. What it adds to its parts are the flows
/// across two of them, so that no caller chains engines by hand:
/// [`NodeRequest::CreatePodNamespaces`] allocates the pod's range before it
/// creates namespaces with that range's maps, and the sweep, the listing
/// and the join spec take the allocations from the user-namespace engine.
/// The first request must be a [`UsernsRequest::Recover`].
#[derive(Debug, Clone)]
pub struct NodeEngine {
    userns: UsernsEngine,
    namespaces: Option<NsEngine>,
    /// The maps of the namespace podns runs in, when pod maps must be split
    /// against them (a rootless namespace).
    parent: Option<ParentMaps>,
    subpaths: SubpathEngine,
    request: RequestSlot<Flow, NodeResponse, NodeError>,
}

/// The request running, and which engine gets the next outcome.
#[derive(Debug, Clone)]
enum Flow {
    Userns,
    Namespaces(NsFlow),
    CreatePodNamespaces {
        pod: PodUid,
        stage: CreateStage,
    },
    Subpath,
    /// Checking the pod's pins against its allocation, then (`None`)
    /// mounting with its user namespace.
    IdmappedSubpath {
        pod: PodUid,
        prepare: Option<PrepareSubpath>,
    },
}

/// What a namespace engine's response becomes.
#[derive(Debug, Clone)]
enum NsFlow {
    Remove,
    Sweep,
    List(NamespaceListing),
    JoinSpec {
        pod: PodUid,
        maps: PodIdMaps,
        pid_mode: PidMode,
        sandbox_pid: Option<u32>,
    },
}

#[derive(Debug, Clone)]
enum CreateStage {
    Allocating,
    Pinning(PodUserNamespace, PodIdMaps),
}

/// The engines a flow drives.
struct Parts<'a> {
    userns: &'a mut UsernsEngine,
    namespaces: Option<&'a mut NsEngine>,
    subpaths: &'a mut SubpathEngine,
    parent: Option<&'a ParentMaps>,
}

impl NodeEngine {
    /// A node over `userns`, with pod namespaces when `run_dir` is given.
    pub fn new(userns: UsernsEngine, run_dir: Option<RunDirPath>) -> Self {
        Self {
            userns,
            namespaces: run_dir.map(NsEngine::new),
            parent: None,
            subpaths: SubpathEngine::new(),
            request: RequestSlot::default(),
        }
    }

    /// Names the roots in every engine's messages with `labels`.
    pub fn set_root_labels(&mut self, labels: RootLabels) {
        self.userns.set_root_labels(labels.clone());
        if let Some(namespaces) = &mut self.namespaces {
            namespaces.set_root_labels(labels.clone());
        }
        self.subpaths.set_root_labels(labels);
    }

    /// The user-namespace engine: allocations, problems, capacity.
    pub fn userns(&self) -> &UsernsEngine {
        &self.userns
    }

    /// The user-namespace engine, to change how it runs (simulator tests).
    pub fn userns_mut(&mut self) -> &mut UsernsEngine {
        &mut self.userns
    }

    /// The namespace engine, when the node has a run directory.
    pub fn namespaces(&self) -> Option<&NsEngine> {
        self.namespaces.as_ref()
    }

    /// The namespace engine, to drive it directly between node requests
    /// with maps of the caller's (tests of the namespace engine).
    pub fn namespaces_mut(&mut self) -> Option<&mut NsEngine> {
        self.namespaces.as_mut()
    }

    /// Starts `request`; fails at once when another one runs, when a part
    /// refuses it (a request before recovery), or when it needs what the
    /// node lacks (a run directory, the pod's allocation).
    pub fn submit(&mut self, request: NodeRequest) -> Result<(), NodeError> {
        if self.request.is_busy() {
            return Err(NodeError::Busy);
        }
        let flow = self.start(request)?;
        self.request.start(flow);
        Ok(())
    }

    /// The next effect to execute, or `None` when the request is complete
    /// (or the last effect's outcome has not been handed back yet).
    pub fn poll_effect(&mut self) -> Option<Effect> {
        let mut parts = Parts {
            userns: &mut self.userns,
            namespaces: self.namespaces.as_mut(),
            subpaths: &mut self.subpaths,
            parent: self.parent.as_ref(),
        };
        self.request.poll(|flow| flow.step(&mut parts))
    }

    /// The outcome of the effect last returned by
    /// [`NodeEngine::poll_effect`], handed to the engine that asked for it.
    pub fn handle_outcome(&mut self, outcome: Outcome) {
        let mut parts = Parts {
            userns: &mut self.userns,
            namespaces: self.namespaces.as_mut(),
            subpaths: &mut self.subpaths,
            parent: self.parent.as_ref(),
        };
        self.request
            .handle(outcome, |flow, outcome| flow.handle(&mut parts, outcome));
    }

    /// The result of the submitted request, once it is complete.
    pub fn poll_completion(&mut self) -> Option<Result<NodeResponse, NodeError>> {
        self.request.poll_completion()
    }

    /// Splits every pod's maps against `parent`, the maps of the user
    /// namespace podns runs in, before they are written, checked or handed
    /// to a runtime: in a rootless namespace a pod's range may span several
    /// of its extents, and the kernel takes an extent only inside one.
    pub fn with_parent_maps(mut self, parent: ParentMaps) -> Self {
        self.parent = Some(parent);
        self
    }

    /// The maps a POD-mode user namespace of `pod` gets, as they are
    /// written: split against the parent's maps when there are any
    /// ([`NodeEngine::with_parent_maps`]).
    pub fn pod_id_maps(
        &self,
        pod: &PodUid,
        userns: &UserNamespace,
    ) -> Result<PodIdMaps, NodeError> {
        pod_maps(self.parent.as_ref(), pod, userns)
    }

    /// Every allocation's maps, by pod, as written: what a sweep checks
    /// pins against.
    pub fn allocation_maps(&self) -> BTreeMap<PodUid, PodIdMaps> {
        self.userns
            .allocations()
            .into_iter()
            .filter_map(|allocation| {
                let userns = UserNamespace::pod(allocation.mapping);
                let maps = pod_maps(self.parent.as_ref(), &allocation.pod, &userns).ok()?;
                Some((allocation.pod, maps))
            })
            .collect()
    }

    fn start(&mut self, request: NodeRequest) -> Result<Flow, NodeError> {
        Ok(match request {
            NodeRequest::Userns(request) => {
                self.userns.submit(request)?;
                Flow::Userns
            }
            NodeRequest::CreatePodNamespaces { pod } => {
                if self.namespaces.is_none() {
                    return Err(NodeError::NoRunDir);
                }
                let request = UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod.clone()));
                self.userns.submit(request)?;
                Flow::CreatePodNamespaces {
                    pod,
                    stage: CreateStage::Allocating,
                }
            }
            NodeRequest::RemovePodNamespaces { pod } => {
                self.submit_ns(NsRequest::Remove { pod })?;
                Flow::Namespaces(NsFlow::Remove)
            }
            NodeRequest::SweepNamespaces { keep } => {
                let allocations = self.allocation_maps();
                self.submit_ns(NsRequest::Sweep { keep, allocations })?;
                Flow::Namespaces(NsFlow::Sweep)
            }
            NodeRequest::ListNamespaces => {
                let allocated = self.allocation_maps().into_keys().collect();
                self.submit_ns(NsRequest::List)?;
                Flow::Namespaces(NsFlow::List(NamespaceListing {
                    listing: Default::default(),
                    allocated,
                }))
            }
            NodeRequest::JoinSpec {
                pod,
                pid_mode,
                sandbox_pid,
            } => {
                let maps = self.namespace_maps(&pod)?;
                self.submit_ns(NsRequest::List)?;
                Flow::Namespaces(NsFlow::JoinSpec {
                    pod,
                    maps,
                    pid_mode,
                    sandbox_pid,
                })
            }
            NodeRequest::Subpath(request) => {
                self.subpaths.submit(request)?;
                Flow::Subpath
            }
            NodeRequest::MountIdmappedSubpath { pod, prepare } => {
                // The mount maps the pod's IDs onto host IDs: only with a
                // user namespace whose maps are the pod's allocation now.
                let maps = self.namespace_maps(&pod)?;
                self.submit_ns(NsRequest::Check {
                    pod: pod.clone(),
                    maps,
                })?;
                Flow::IdmappedSubpath {
                    pod,
                    prepare: Some(prepare),
                }
            }
        })
    }

    /// The maps the pod's namespaces must have, for a request that uses
    /// its pins: the node needs a run directory and the pod an allocation.
    fn namespace_maps(&self, pod: &PodUid) -> Result<PodIdMaps, NodeError> {
        if self.namespaces.is_none() {
            return Err(NodeError::NoRunDir);
        }
        let allocation = self
            .userns
            .allocation(pod)
            .ok_or_else(|| NodeError::NotAllocated { pod: pod.clone() })?;
        pod_maps(
            self.parent.as_ref(),
            pod,
            &UserNamespace::pod(allocation.mapping),
        )
    }

    fn submit_ns(&mut self, request: NsRequest) -> Result<(), NodeError> {
        let namespaces = self.namespaces.as_mut().ok_or(NodeError::NoRunDir)?;
        namespaces.submit(request)?;
        Ok(())
    }
}

impl Flow {
    fn step(&mut self, parts: &mut Parts<'_>) -> Step<NodeResponse, NodeError> {
        loop {
            match self {
                Flow::Userns => {
                    return match poll(parts.userns) {
                        Ok(effect) => Step::Run(effect),
                        Err(result) => Step::Finish(
                            result.map(NodeResponse::Userns).map_err(NodeError::Userns),
                        ),
                    };
                }
                Flow::Subpath | Flow::IdmappedSubpath { prepare: None, .. } => {
                    return match poll(parts.subpaths) {
                        Ok(effect) => Step::Run(effect),
                        Err(result) => Step::Finish(
                            result
                                .map(NodeResponse::Subpath)
                                .map_err(NodeError::Subpath),
                        ),
                    };
                }
                Flow::IdmappedSubpath {
                    pod,
                    prepare: prepare @ Some(_),
                } => {
                    let pins = match poll(namespaces(parts)) {
                        Ok(effect) => return Step::Run(effect),
                        Err(Err(NsError::NotPinned { .. })) => {
                            return Step::Finish(Err(not_pinned(pod, parts)));
                        }
                        Err(Err(error)) => return Step::Finish(Err(NodeError::Namespaces(error))),
                        Err(Ok(NsResponse::Created(pins))) => pins,
                        Err(Ok(other)) => {
                            return Step::Finish(Err(mismatched("mount-idmapped-subpath", &other)));
                        }
                    };
                    // The mount stage takes the request over; the next turn
                    // of the loop polls it.
                    if let Some(mut request) = prepare.take() {
                        request.idmap = Some(IdmapWith {
                            pin: pin_path(pod, PinKind::User),
                            userns: pins.facts.user,
                        });
                        if let Err(error) = parts.subpaths.submit(SubpathRequest::Prepare(request))
                        {
                            return Step::Finish(Err(NodeError::Subpath(error)));
                        }
                    }
                }
                Flow::Namespaces(ns_flow) => {
                    return match poll(namespaces(parts)) {
                        Ok(effect) => Step::Run(effect),
                        Err(Err(error)) => Step::Finish(Err(NodeError::Namespaces(error))),
                        Err(Ok(response)) => Step::Finish(ns_flow.finish(response, parts)),
                    };
                }
                Flow::CreatePodNamespaces { pod, stage } => match stage {
                    CreateStage::Allocating => match poll(parts.userns) {
                        Ok(effect) => return Step::Run(effect),
                        Err(Err(error)) => return Step::Finish(Err(NodeError::Userns(error))),
                        Err(Ok(UsernsResponse::UserNamespace(userns))) => {
                            let maps = match pod_maps(parts.parent, pod, &userns.userns) {
                                Ok(maps) => maps,
                                Err(error) => return Step::Finish(Err(error)),
                            };
                            let request = NsRequest::Create {
                                pod: pod.clone(),
                                maps: maps.clone(),
                            };
                            if let Err(error) = namespaces(parts).submit(request) {
                                return Step::Finish(Err(NodeError::Namespaces(error)));
                            }
                            *stage = CreateStage::Pinning(userns, maps);
                        }
                        Err(Ok(other)) => {
                            return Step::Finish(Err(mismatched("get-or-create", &other)));
                        }
                    },
                    CreateStage::Pinning(userns, maps) => {
                        let result = match poll(namespaces(parts)) {
                            Ok(effect) => return Step::Run(effect),
                            Err(result) => result,
                        };
                        return match result {
                            Err(error) => Step::Finish(Err(NodeError::Namespaces(error))),
                            Ok(NsResponse::Created(pins)) => {
                                let target = JoinTarget {
                                    net_pin: &pins.net_pin,
                                    user_pin: &pins.user_pin,
                                    sandbox_pid: None,
                                };
                                let join_spec = join_spec(&target, maps, PidMode::Pod);
                                Step::Finish(Ok(NodeResponse::PodNamespaces(Box::new(
                                    PodSandbox {
                                        // The flow ends with this step.
                                        userns: userns.clone(),
                                        namespaces: pins,
                                        join_spec,
                                    },
                                ))))
                            }
                            Ok(other) => {
                                Step::Finish(Err(mismatched("create-pod-namespaces", &other)))
                            }
                        };
                    }
                },
            }
        }
    }

    /// Hands `outcome` to the part that asked for it. A flow ends only
    /// when its part's `poll_effect` says the part's request is complete,
    /// so the next [`Flow::step`] finishes it.
    fn handle(
        &mut self,
        parts: &mut Parts<'_>,
        outcome: Outcome,
    ) -> Handled<NodeResponse, NodeError> {
        match self {
            Flow::Userns
            | Flow::CreatePodNamespaces {
                stage: CreateStage::Allocating,
                ..
            } => parts.userns.handle_outcome(outcome),
            Flow::Namespaces(_)
            | Flow::CreatePodNamespaces {
                stage: CreateStage::Pinning(..),
                ..
            } => namespaces(parts).handle_outcome(outcome),
            Flow::IdmappedSubpath {
                prepare: Some(_), ..
            } => namespaces(parts).handle_outcome(outcome),
            Flow::Subpath | Flow::IdmappedSubpath { prepare: None, .. } => {
                parts.subpaths.handle_outcome(outcome)
            }
        }
        Handled::Continue
    }
}

impl NsFlow {
    fn finish(
        &mut self,
        response: NsResponse,
        parts: &Parts<'_>,
    ) -> Result<NodeResponse, NodeError> {
        match (self, response) {
            (NsFlow::Remove, NsResponse::Removed(removal)) => {
                Ok(NodeResponse::NamespacesRemoved(removal))
            }
            (NsFlow::Sweep, NsResponse::Swept(report)) => Ok(NodeResponse::Swept(report)),
            (NsFlow::List(listing), NsResponse::Listed(found)) => {
                listing.listing = found;
                Ok(NodeResponse::Namespaces(std::mem::take(listing)))
            }
            (
                NsFlow::JoinSpec {
                    pod,
                    maps,
                    pid_mode,
                    sandbox_pid,
                },
                NsResponse::Listed(listing),
            ) => {
                let pins = listing
                    .pods
                    .iter()
                    .find(|pins| pins.pod == *pod && pins.incomplete.is_none())
                    .ok_or_else(|| not_pinned(pod, parts))?;
                let target = JoinTarget {
                    net_pin: &pins.net_pin,
                    user_pin: &pins.user_pin,
                    sandbox_pid: *sandbox_pid,
                };
                Ok(NodeResponse::JoinSpec(join_spec(&target, maps, *pid_mode)))
            }
            (_, other) => Err(mismatched("a namespace request", &other)),
        }
    }
}

/// The maps a pod's user namespace gets: its allocation's, split against
/// the parent's maps when there are any.
fn pod_maps(
    parent: Option<&ParentMaps>,
    pod: &PodUid,
    userns: &UserNamespace,
) -> Result<PodIdMaps, NodeError> {
    let maps = PodIdMaps::from_userns(userns).map_err(|error| {
        NodeError::Internal(format!(
            "the allocation of pod {pod} has no usable maps: {error}"
        ))
    })?;
    match parent {
        None => Ok(maps),
        Some(parent) => maps
            .split_for(parent)
            .map_err(|split| NodeError::NotInParent {
                pod: pod.clone(),
                split,
            }),
    }
}

/// The error for a pod without a complete pair of pins.
fn not_pinned(pod: &PodUid, parts: &Parts<'_>) -> NodeError {
    NodeError::NotPinned {
        pod: pod.clone(),
        run_dir: parts
            .namespaces
            .as_ref()
            .map(|engine| engine.run_dir().as_str().to_owned())
            .unwrap_or_default(),
    }
}

/// The next effect of a part, or its result once it has none left.
fn poll<E: crate::driver::Engine>(engine: &mut E) -> Result<Effect, Result<E::Response, E::Error>> {
    match engine.poll_effect() {
        Some(effect) => Ok(effect),
        None => Err(engine
            .poll_completion()
            .expect("a part polled right after its last outcome has completed")),
    }
}

/// The error for a part's response of the wrong kind, which no part gives.
fn mismatched(request: &str, response: &impl std::fmt::Debug) -> NodeError {
    NodeError::Internal(format!("{request} was answered with {response:?}"))
}

/// The namespace engine of a flow that was only started when it exists.
fn namespaces<'p>(parts: &'p mut Parts<'_>) -> &'p mut NsEngine {
    parts
        .namespaces
        .as_deref_mut()
        .expect("namespace flows start only on a node with a run directory")
}

crate::driver::impl_engine!(NodeEngine, NodeRequest, NodeResponse, NodeError);
