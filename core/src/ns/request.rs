//! What a caller asks of the namespace engine and what it gets back.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::facts::{PinnedNamespaces, PodIdMaps};
use crate::effect::{EffectError, Errno};
use crate::error_details::{ErrorDetails, serialize_as_error_details};
use crate::mountinfo::MountInfoError;
use crate::path::{PodUid, RootPath};

/// An operation on pod namespaces. Every request first sets up the run
/// directory, once per engine ([`crate::Effect::SetUpRunDir`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NsRequest {
    /// Get or create the pod's user namespace (with `maps`) and a network
    /// namespace owned by it, pinned at `<run>/<pod>/user` and
    /// `<run>/<pod>/net`. Pins that already exist and check out are
    /// returned as they are; an incomplete pair (a crashed create) is
    /// removed first; a complete pair that does not match is refused.
    Create {
        /// The pod.
        pod: PodUid,
        /// Its user-namespace allocation, as ID maps.
        maps: PodIdMaps,
    },
    /// Unmount and remove the pod's pins and its directory. A pod with
    /// nothing pinned is a no-op.
    Remove {
        /// The pod.
        pod: PodUid,
    },
    /// Remove every pin that should not be there: a pod not in `keep`, a pod
    /// without an allocation in `allocations`, a pair that is incomplete
    /// (a pin that is not an nsfs mount of its type, or another mount in the
    /// pod's directory) or does not check out against its allocation.
    /// Nothing outside a pod's directory in the run directory is touched.
    Sweep {
        /// Pods whose pins may stay.
        keep: BTreeSet<PodUid>,
        /// Every pod with a user-namespace allocation, and its maps.
        allocations: BTreeMap<PodUid, PodIdMaps>,
    },
    /// Every pod directory and pin, from the run directory and the mount
    /// table, without touching anything.
    List,
    /// The pod's complete pair of pins, checked against `maps` as a create
    /// checks pins that already exist, creating and removing nothing: a pod
    /// without a complete pair fails with [`NsError::NotPinned`], a pair
    /// that does not match with [`NsError::Mismatch`].
    Check {
        /// The pod.
        pod: PodUid,
        /// Its user-namespace allocation, as ID maps.
        maps: PodIdMaps,
    },
    /// [`NsRequest::List`] without setting the run directory up first, for
    /// a read-only check: nothing is created, mounted or locked. The backend
    /// must hold the run directory's fd already; a missing run directory
    /// fails the listing.
    Inspect,
}

/// What a completed request produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum NsResponse {
    /// [`NsRequest::Create`] finished.
    Created(PodNamespaces),
    /// [`NsRequest::Remove`] finished.
    Removed(NsRemoval),
    /// [`NsRequest::Sweep`] finished.
    Swept(SweepReport),
    /// [`NsRequest::List`] finished.
    Listed(NsListing),
}

/// A pod's pinned namespaces, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodNamespaces {
    /// The pod.
    pub pod: PodUid,
    /// Absolute path of the network namespace pin.
    pub net_pin: String,
    /// Absolute path of the user namespace pin.
    pub user_pin: String,
    /// What the kernel reported about them.
    pub facts: PinnedNamespaces,
    /// The maps they were checked against (the pod's allocation).
    pub maps: PodIdMaps,
    /// True when this request created them; false when they existed.
    pub created: bool,
}

/// A removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NsRemoval {
    /// The pod.
    pub pod: PodUid,
    /// False when there was nothing to remove.
    pub removed: bool,
    /// Mounts unmounted.
    pub unmounted: usize,
}

/// What a sweep did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Pods whose pins were removed, sorted by pod.
    pub swept: Vec<SweptPod>,
    /// Pods whose pins stay (kept, allocated, complete and checked).
    pub kept: Vec<PodUid>,
    /// Pods whose pins could not be checked or removed; tried again by the
    /// next sweep.
    pub failures: Vec<NsFailure>,
    /// Mount points below the run directory but outside any pod directory:
    /// podns did not create them and leaves them alone.
    pub ignored_mounts: Vec<String>,
}

/// One pod a sweep removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweptPod {
    /// The pod.
    pub pod: PodUid,
    /// Why its pins had to go.
    pub reason: SweepReason,
    /// Mounts unmounted.
    pub unmounted: usize,
}

/// Why a sweep removed a pod's pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "detail")]
#[non_exhaustive]
pub enum SweepReason {
    /// The pod is not in the keep set.
    #[error("not in the keep set")]
    NotKept,
    /// The pod has no user-namespace allocation, so its pins map IDs that
    /// may belong to another pod.
    #[error("the pod has no user-namespace allocation")]
    NoAllocation,
    /// The pair is incomplete: a pin that is not an nsfs mount of its type,
    /// or another mount in the pod's directory (a create that was killed).
    #[error("incomplete: {0}")]
    Incomplete(String),
    /// The pair does not check out against the pod's allocation.
    #[error("does not check out: {}", .0.join("; "))]
    Mismatch(Vec<String>),
}

/// One pod an operation could not finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NsFailure {
    /// The pod.
    pub pod: PodUid,
    /// Why (its errno and path through [`crate::ErrorDetails`]).
    pub error: NsError,
}

/// Every pod directory in the run directory, and what is pinned there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NsListing {
    /// Sorted by pod.
    pub pods: Vec<PodPins>,
    /// As in [`SweepReport::ignored_mounts`].
    pub ignored_mounts: Vec<String>,
}

/// One pod's pins as the mount table shows them (not checked further).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPins {
    /// The pod.
    pub pod: PodUid,
    /// Absolute path of the network namespace pin.
    pub net_pin: String,
    /// Absolute path of the user namespace pin.
    pub user_pin: String,
    /// nsfs inode on the net pin, when it is a proper pin.
    pub net_ns: Option<u64>,
    /// nsfs inode on the user pin, when it is a proper pin.
    pub user_ns: Option<u64>,
    /// Why the pair is not complete (a sweep removes it), or `None`.
    pub incomplete: Option<String>,
}

/// Why a namespace request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NsError {
    /// A request was submitted while another was running.
    #[error("another namespace request is running; drive it to completion first")]
    Busy,
    /// A backend step failed.
    #[error("cannot {action} {shown}: {source}")]
    Io {
        /// What the step was for.
        action: &'static str,
        /// The path.
        path: RootPath,
        /// The path as the caller's labels name it.
        shown: String,
        /// The backend's error.
        source: EffectError,
    },
    /// The mount table could not be parsed, so nothing is decided from it.
    #[error(
        "cannot parse /proc/self/mountinfo: {source}; podns decides what to unmount only from a \
         table it fully understands, so it changed nothing"
    )]
    MountInfo {
        /// The first bad line.
        source: MountInfoError,
    },
    /// The pod's pins exist but are not what its allocation asks for; podns
    /// leaves them alone (a sandbox may use them).
    #[error(
        "pod {pod} already has pinned namespaces, but they do not match its allocation: {}; \
         stop what uses them and run `podns ns remove {pod}`, then create them again",
        problems.join("; ")
    )]
    Mismatch {
        /// The pod.
        pod: PodUid,
        /// Every difference.
        problems: Vec<String>,
    },
    /// The pod has no complete pair of pins to check.
    #[error(
        "pod {pod} has no complete pair of pinned namespaces; create them first (podns ns create \
         {pod})"
    )]
    NotPinned {
        /// The pod.
        pod: PodUid,
    },
    /// New pins did not check out (they were removed again).
    #[error("the kernel did not apply what podns asked for: {}", problems.join("; "))]
    Verification {
        /// Every difference.
        problems: Vec<String>,
    },
    /// A create failed and was rolled back.
    #[error(
        "creating the namespaces of pod {pod} failed: {cause}; {}",
        if left_behind.is_empty() {
            "everything it made was removed again".to_owned()
        } else {
            format!(
                "removing what it made failed too ({}): run `podns ns sweep` to remove it",
                left_behind.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            )
        }
    )]
    CreateFailed {
        /// The pod.
        pod: PodUid,
        /// The first failure.
        cause: Box<NsError>,
        /// Rollback steps that failed.
        left_behind: Vec<NsError>,
    },
    /// The driver broke the driving contract.
    #[error(transparent)]
    Driving(#[from] crate::op_error::DrivingError),
    /// The backend answered an effect with an observation it never returns.
    #[error(
        "the backend answered {effect} with {got}, which that effect never returns; this is a \
         backend bug, please report it"
    )]
    UnexpectedObservation {
        /// The effect's name.
        effect: &'static str,
        /// What came back.
        got: String,
    },
}

impl ErrorDetails for NsError {
    fn kind(&self) -> &'static str {
        match self {
            NsError::Busy => "busy",
            NsError::Io { .. } => "io",
            NsError::MountInfo { .. } => "bad-mountinfo",
            NsError::Mismatch { .. } => "pins-mismatch",
            NsError::NotPinned { .. } => "not-pinned",
            NsError::Verification { .. } => "verification-failed",
            NsError::CreateFailed { cause, .. } => cause.kind(),
            NsError::UnexpectedObservation { .. } => "backend-bug",
            NsError::Driving(_) => "driving-error",
        }
    }

    fn errno(&self) -> Option<Errno> {
        match self {
            NsError::Io { source, .. } => Some(source.errno),
            NsError::CreateFailed { cause, .. } => cause.errno(),
            _ => None,
        }
    }

    fn path(&self) -> Option<&str> {
        match self {
            NsError::Io { shown, .. } => Some(shown),
            NsError::CreateFailed { cause, .. } => cause.path(),
            _ => None,
        }
    }
}

serialize_as_error_details!(NsError);
crate::op_error::op_error_variants!(NsError);
