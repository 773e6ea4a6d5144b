//! What a caller asks of the node engine and what it gets back.

use std::collections::BTreeSet;

use crate::effect::Errno;
use crate::error_details::{ErrorDetails, serialize_as_error_details};
use crate::ns::{JoinSpec, NsError, NsListing, NsRemoval, PidMode, PodNamespaces, SweepReport};
use crate::path::PodUid;
use crate::subpath::{PrepareSubpath, SubpathError, SubpathRequest, SubpathResponse};
use crate::userns::{PodUserNamespace, UsernsError, UsernsRequest, UsernsResponse};

/// One request to [`super::NodeEngine`]: a request of one engine, or a flow
/// across two of them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeRequest {
    /// A request of the user-namespace engine ([`UsernsRequest::Recover`] first).
    Userns(UsernsRequest),
    /// Get or create the pod's user-namespace range (POD mode), then get or
    /// create its user and network namespaces with that range's maps.
    CreatePodNamespaces {
        /// The pod.
        pod: PodUid,
    },
    /// Unmount and remove the pod's pins (its range stays allocated).
    RemovePodNamespaces {
        /// The pod.
        pod: PodUid,
    },
    /// Remove every pin that should not be there, checked against the
    /// allocations this engine knows.
    SweepNamespaces {
        /// Pods whose pins may stay.
        keep: BTreeSet<PodUid>,
    },
    /// Every pod directory and pin in the run directory, with which of
    /// those pods have an allocation.
    ListNamespaces,
    /// The OCI join spec of a container of a pod whose namespaces are
    /// pinned.
    JoinSpec {
        /// The pod.
        pod: PodUid,
        /// CRI's PID namespace mode.
        pid_mode: PidMode,
        /// The sandbox process whose IPC, UTS and PID namespaces the
        /// container joins; `None` for the sandbox container itself.
        sandbox_pid: Option<u32>,
    },
    /// A request of the subpath engine; the host has opened its roots.
    Subpath(SubpathRequest),
    /// Check the pod's pins against its allocation (as a create of existing
    /// pins does: a pod without an allocation, without a complete pair, or
    /// whose pinned maps are not its allocation's is refused), then
    /// bind-mount a subpath idmapped with its user namespace
    /// (`prepare.idmap` is filled in from the pin).
    MountIdmappedSubpath {
        /// The pod whose user namespace the mount maps with.
        pod: PodUid,
        /// The mount; the host has opened its roots.
        prepare: PrepareSubpath,
    },
}

impl NodeRequest {
    /// A short name, for logs: `"recover"`, `"get-or-create"`,
    /// `"create-pod-namespaces"`, ...
    pub fn name(&self) -> &'static str {
        match self {
            NodeRequest::Userns(UsernsRequest::Recover) => "recover",
            NodeRequest::Userns(UsernsRequest::Inspect) => "inspect",
            NodeRequest::Userns(UsernsRequest::GetOrCreate(_)) => "get-or-create",
            NodeRequest::Userns(UsernsRequest::Release { .. }) => "release",
            NodeRequest::Userns(UsernsRequest::Cleanup { .. }) => "cleanup",
            NodeRequest::CreatePodNamespaces { .. } => "create-pod-namespaces",
            NodeRequest::RemovePodNamespaces { .. } => "remove-pod-namespaces",
            NodeRequest::SweepNamespaces { .. } => "sweep-namespaces",
            NodeRequest::ListNamespaces => "list-namespaces",
            NodeRequest::JoinSpec { .. } => "join-spec",
            NodeRequest::Subpath(SubpathRequest::Prepare(_)) => "mount-subpath",
            NodeRequest::Subpath(SubpathRequest::Clean(_)) => "clean-subpaths",
            NodeRequest::Subpath(SubpathRequest::MakeDir(_)) => "safe-make-dir",
            NodeRequest::MountIdmappedSubpath { .. } => "mount-idmapped-subpath",
        }
    }

    /// The pod the request is about, when it is about one.
    pub fn pod(&self) -> Option<&PodUid> {
        match self {
            NodeRequest::Userns(UsernsRequest::GetOrCreate(request)) => Some(&request.pod),
            NodeRequest::Userns(UsernsRequest::Release { pod })
            | NodeRequest::CreatePodNamespaces { pod }
            | NodeRequest::RemovePodNamespaces { pod }
            | NodeRequest::JoinSpec { pod, .. }
            | NodeRequest::MountIdmappedSubpath { pod, .. } => Some(pod),
            _ => None,
        }
    }

    /// True when the request uses the run directory (it must be locked too).
    pub fn uses_run_dir(&self) -> bool {
        matches!(
            self,
            NodeRequest::CreatePodNamespaces { .. }
                | NodeRequest::RemovePodNamespaces { .. }
                | NodeRequest::SweepNamespaces { .. }
                | NodeRequest::ListNamespaces
                | NodeRequest::JoinSpec { .. }
                | NodeRequest::MountIdmappedSubpath { .. }
        )
    }

    /// True when the request reads the pods directory's state (every
    /// request but a plain subpath one; an idmapped mount needs the pod's
    /// allocation), so its lock must be held.
    pub fn uses_pods_dir(&self) -> bool {
        !matches!(self, NodeRequest::Subpath(_))
    }
}

/// What a completed [`NodeRequest`] produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NodeResponse {
    /// The user-namespace engine's response.
    Userns(UsernsResponse),
    /// [`NodeRequest::CreatePodNamespaces`] finished.
    PodNamespaces(Box<PodSandbox>),
    /// [`NodeRequest::RemovePodNamespaces`] finished.
    NamespacesRemoved(NsRemoval),
    /// [`NodeRequest::SweepNamespaces`] finished.
    Swept(SweepReport),
    /// [`NodeRequest::ListNamespaces`] finished.
    Namespaces(NamespaceListing),
    /// [`NodeRequest::JoinSpec`] finished.
    JoinSpec(JoinSpec),
    /// The subpath engine's response.
    Subpath(SubpathResponse),
}

/// What a pod's sandbox needs: its range, its pinned namespaces, and the
/// OCI spec members that make the sandbox container join them.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSandbox {
    /// The pod's range, CRI-shaped (POD mode).
    pub userns: PodUserNamespace,
    /// The pins, checked against the range.
    pub namespaces: PodNamespaces,
    /// `linux.namespaces` (network and user from the pins; IPC, UTS and
    /// PID new), `uidMappings` and `gidMappings` for the sandbox container.
    pub join_spec: JoinSpec,
}

/// The run directory's pods and pins, and which pods have an allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceListing {
    /// What the run directory and the mount table show.
    pub listing: NsListing,
    /// The pods with a usable user-namespace allocation.
    pub allocated: BTreeSet<PodUid>,
}

/// Why a [`NodeRequest`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A request was submitted while another was running.
    #[error("another request is running; drive it to completion first")]
    Busy,
    /// The user-namespace engine failed.
    #[error(transparent)]
    Userns(#[from] UsernsError),
    /// The namespace engine failed.
    #[error(transparent)]
    Namespaces(#[from] NsError),
    /// The subpath engine failed.
    #[error(transparent)]
    Subpath(#[from] SubpathError),
    /// A range or namespace request on a node opened without a pods
    /// directory (for subpath mounts only).
    #[error(
        "this node was opened without a pods directory (for subpath mounts only), so it has no \
         user-namespace ranges; open it with one"
    )]
    NoPodsDir,
    /// A namespace request on an engine that was given no run directory.
    #[error(
        "pod namespaces are not enabled on this node: it was opened without a run directory; \
         open it with one"
    )]
    NoRunDir,
    /// The pod has no usable user-namespace allocation.
    #[error(
        "pod {pod} has no user-namespace allocation, so it has no pod namespaces; create them \
         first (podns ns create {pod})"
    )]
    NotAllocated {
        /// The pod.
        pod: PodUid,
    },
    /// The pod has no complete pair of pins.
    #[error(
        "pod {pod} has no complete pair of pinned namespaces in {run_dir}; create them first \
         (podns ns create {pod})"
    )]
    NotPinned {
        /// The pod.
        pod: PodUid,
        /// The run directory.
        run_dir: String,
    },
    /// The pod's range is not mapped in the user namespace podns runs in,
    /// so no child namespace can have it.
    #[error(
        "the range of pod {pod} is not mapped in the user namespace podns runs in: {split}; use a \
         pool inside the IDs it maps (`podns idmap rootless` shows them; the default pool does), \
         and release this pod"
    )]
    NotInParent {
        /// The pod.
        pod: PodUid,
        /// Which ID is missing.
        split: crate::idmap::SplitError,
    },
    /// The driver broke the driving contract.
    #[error(transparent)]
    Driving(#[from] crate::op_error::DrivingError),
    /// A part answered a request with a response of another request; this
    /// is a bug of podns.
    #[error("internal error: {0}; this is a bug, please report it")]
    Internal(String),
}

impl ErrorDetails for NodeError {
    fn kind(&self) -> &'static str {
        match self {
            NodeError::Busy => "busy",
            NodeError::Userns(error) => error.kind(),
            NodeError::Namespaces(error) => error.kind(),
            NodeError::Subpath(error) => error.kind(),
            NodeError::NoPodsDir => "no-pods-dir",
            NodeError::NoRunDir => "no-run-dir",
            NodeError::NotAllocated { .. } => "not-allocated",
            NodeError::NotPinned { .. } => "not-pinned",
            NodeError::NotInParent { .. } => "not-in-parent",
            NodeError::Internal(_) => "internal",
            NodeError::Driving(_) => "driving-error",
        }
    }

    fn errno(&self) -> Option<Errno> {
        match self {
            NodeError::Userns(error) => error.errno(),
            NodeError::Namespaces(error) => error.errno(),
            NodeError::Subpath(error) => error.errno(),
            _ => None,
        }
    }

    fn path(&self) -> Option<&str> {
        match self {
            NodeError::Userns(error) => error.path(),
            NodeError::Namespaces(error) => error.path(),
            NodeError::Subpath(error) => error.path(),
            _ => None,
        }
    }
}

serialize_as_error_details!(NodeError);
