//! What a caller asks of the user-namespace engine and what it gets back.

use std::collections::BTreeSet;

use serde::Serialize;

use super::mapping::UserNamespace;
use super::problem::Problem;
use super::range::HostIdRange;
use crate::effect::{EffectError, Errno};
use crate::error_details::{ErrorDetails, serialize_as_error_details};
use crate::path::{PodUid, RootPath};

/// An operation on per-pod user-namespace ID ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsernsRequest {
    /// Read every pod's `userns` file and rebuild the in-memory state; remove
    /// stale temp files. Must complete once before any other request.
    Recover,
    /// Read the pods directory as [`UsernsRequest::Recover`] does and report
    /// what it would find, changing nothing: no temp file is removed, nothing
    /// is synced, the engine's state stays as it was (an engine that only
    /// inspected is not recovered). Safe on a directory another process
    /// (kubelet) owns, and on a read-only mount.
    Inspect,
    /// kubelet's `GetOrCreateUserNamespaceMappings`.
    GetOrCreate(GetOrCreate),
    /// Release the pod's range: remove its file durably, then free the slot.
    Release {
        /// The pod.
        pod: PodUid,
    },
    /// Release every allocation whose pod is not in `keep` (kubelet's orphan
    /// cleanup: `keep` is the known pods plus the running pods).
    Cleanup {
        /// Pods whose allocations stay.
        keep: BTreeSet<PodUid>,
    },
}

/// The inputs of kubelet's get-or-create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetOrCreate {
    /// The pod.
    pub pod: PodUid,
    /// The pod spec's `hostUsers`; unset or true means NODE mode.
    pub host_users: Option<bool>,
    /// The runtime handler (RuntimeClass) name, for messages.
    pub runtime_handler: String,
    /// Whether that handler supports user namespaces.
    pub handler_supports_userns: bool,
}

impl GetOrCreate {
    /// A POD-mode request for `pod` on a handler that supports user
    /// namespaces.
    pub fn pod_mode(pod: PodUid) -> Self {
        Self {
            pod,
            host_users: Some(false),
            runtime_handler: String::new(),
            handler_supports_userns: true,
        }
    }
}

/// What a completed request produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum UsernsResponse {
    /// [`UsernsRequest::Recover`] finished.
    Recovered(RecoveryReport),
    /// [`UsernsRequest::GetOrCreate`] finished.
    UserNamespace(PodUserNamespace),
    /// [`UsernsRequest::Release`] finished.
    Released(Release),
    /// [`UsernsRequest::Cleanup`] finished.
    CleanedUp(CleanupReport),
}

/// A pod's user-namespace settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodUserNamespace {
    /// The pod.
    pub pod: PodUid,
    /// Mode and mappings.
    #[serde(flatten)]
    pub userns: UserNamespace,
    /// True when this request allocated the range; false when it existed.
    #[serde(skip)]
    pub created: bool,
}

/// A release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    /// The pod.
    pub pod: PodUid,
    /// The range given back, or `None` when the pod had no known range.
    pub range: Option<HostIdRange>,
    /// False when the pod had nothing to release.
    pub released: bool,
}

/// What recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryReport {
    /// Pod directories listed.
    pub pod_dirs: usize,
    /// Pods whose claim has no problem. A pod listed in `problems` is not
    /// counted, even when its problem lets it keep its mapping.
    pub allocations: usize,
    /// Every problem found, sorted by pod.
    pub problems: Vec<Problem>,
    /// Stale temp files removed.
    pub temp_files_removed: Vec<RootPath>,
    /// Stale temp files that could not be removed (tried again next time).
    pub temp_files_left: Vec<(RootPath, EffectError)>,
    /// What only an [`UsernsRequest::Inspect`] reports (`None` after a
    /// recovery).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inspection: Option<Box<Inspection>>,
}

/// What an [`UsernsRequest::Inspect`] reports beyond a recovery's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    /// Stale temp files seen and left in place (the next recovery removes
    /// them).
    pub temp_files_kept: Vec<RootPath>,
    /// Every pod with a claim (a usable allocation or a problem), sorted:
    /// the inspection's registry is thrown away, where a recovery's engine
    /// keeps them.
    pub claimed_pods: Vec<PodUid>,
}

/// What a cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    /// Allocations released, sorted by pod.
    pub released: Vec<Release>,
    /// Releases that failed; those pods keep their ranges.
    pub failures: Vec<CleanupFailure>,
}

/// One release a cleanup could not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupFailure {
    /// The pod.
    pub pod: PodUid,
    /// Why (its errno and path through [`crate::ErrorDetails`]).
    pub error: UsernsError,
}

/// Why a request failed. Nothing half-done is ever acknowledged: after any
/// of these errors every range that was durable before is still recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsernsError {
    /// A request other than [`UsernsRequest::Recover`] came first.
    #[error("the pods directory has not been read yet: run UsernsRequest::Recover first")]
    NotRecovered,
    /// A request was submitted while another was running.
    #[error("another request is running; drive it to completion first")]
    Busy,
    /// POD mode was asked on a handler without user-namespace support.
    #[error(
        "RuntimeClass handler {handler:?} does not support user namespaces, but pod {pod} asks for one (hostUsers: false); use a handler that supports them or set hostUsers to true"
    )]
    HandlerWithoutUserns {
        /// The pod.
        pod: PodUid,
        /// The handler.
        handler: String,
    },
    /// Every usable slot is taken.
    #[error(
        "no free user-namespace range: all {capacity} usable slots of the pool are taken; release pods that have stopped or enlarge the pool"
    )]
    PoolExhausted {
        /// Usable slots.
        capacity: u32,
    },
    /// Some pod's range is unknown, so a new range could overlap it.
    #[error("new allocations are refused: the userns file of pod(s) {} cannot be read, so their ranges are unknown; fix the files or release those pods (see `podns list`)", pods.iter().map(PodUid::as_str).collect::<Vec<_>>().join(", "))]
    AllocationsFrozen {
        /// The pods with unknown ranges.
        pods: Vec<PodUid>,
    },
    /// The pod's own record has a problem that forbids using it.
    #[error("{}", problem.message)]
    PodProblem {
        /// The problem.
        problem: Problem,
    },
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

impl ErrorDetails for UsernsError {
    fn kind(&self) -> &'static str {
        match self {
            UsernsError::NotRecovered => "not-recovered",
            UsernsError::Busy => "busy",
            UsernsError::HandlerWithoutUserns { .. } => "handler-without-userns",
            UsernsError::PoolExhausted { .. } => "pool-exhausted",
            UsernsError::AllocationsFrozen { .. } => "allocations-frozen",
            UsernsError::PodProblem { .. } => "pod-problem",
            UsernsError::Io { .. } => "io",
            UsernsError::UnexpectedObservation { .. } => "backend-bug",
            UsernsError::Driving(_) => "driving-error",
        }
    }

    fn errno(&self) -> Option<Errno> {
        match self {
            UsernsError::Io { source, .. } => Some(source.errno),
            _ => None,
        }
    }

    fn path(&self) -> Option<&str> {
        match self {
            UsernsError::Io { shown, .. } => Some(shown),
            _ => None,
        }
    }
}

serialize_as_error_details!(UsernsError);
crate::op_error::op_error_variants!(UsernsError);
