//! Pod namespaces: a user namespace with the pod's ID maps and a network
//! namespace owned by it (so that a runtime can join both and mount `/sys`,
//! as containerd 2.x does), pinned by bind mounts under the run directory at
//! paths derived from the pod UID, checked against what the kernel applied,
//! joinable through an OCI spec, and swept after crashes.
//!
//! Every decision is here; the backend only executes the effects:
//! [`crate::Effect::SetUpRunDir`], [`crate::Effect::CreatePinFile`],
//! [`crate::Effect::CreatePodNamespaces`],
//! [`crate::Effect::InspectPodNamespaces`], [`crate::Effect::DetachMount`],
//! [`crate::Effect::ReadMountInfo`], and the file effects on
//! [`crate::Root::Run`]. The mount table is parsed here, strictly, and is
//! the only source of what is mounted where.
//!
//! Crash model: a process kill keeps every mount (pins leak, and with them
//! their namespaces), while a namespace held only by the helper process
//! dies with it; a power loss loses every mount and namespace and, the run
//! directory being a tmpfs, every pin file. The next create of a pod repairs
//! its own leftovers; [`NsRequest::Sweep`] repairs everyone's.

mod engine;
mod facts;
mod join;
mod layout;
mod mounts;
mod ops;
mod request;

pub use engine::NsEngine;
pub use facts::{
    NamespaceId, NamespaceKind, ParentMaps, PinnedNamespaces, PodIdMaps, PodIdMapsError,
};
pub use join::{IdmappedVolume, JoinSpec, JoinTarget, PidMode, join_spec};
pub use layout::{InvalidRunDirPath, POD_NS_DIR_MODE, PinKind, RunDirPath, pin_path, pod_ns_dir};
pub use request::{
    NsError, NsFailure, NsListing, NsRemoval, NsRequest, NsResponse, PodNamespaces, PodPins,
    SweepReason, SweepReport, SweptPod,
};
