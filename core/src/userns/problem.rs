use serde::{Deserialize, Serialize};

use crate::path::{PodUid, RootPath};

/// Something wrong with one pod's recorded allocation. Problems never stop the
/// node: each says what it blocks and what the operator should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The pod.
    pub pod: PodUid,
    /// Its `userns` file.
    pub path: RootPath,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What is wrong and what to do, for an operator.
    pub message: String,
}

/// The kinds of [`Problem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The file exists but is not a valid kubelet `userns` file; its range is
    /// unknown, so new allocations are refused node-wide.
    Corrupt,
    /// The file (or the pod directory) could not be read, or is not a regular
    /// file; its range is unknown, so new allocations are refused node-wide.
    Unreadable,
    /// The range lies (partly) outside the configured pool. The pod keeps it.
    OutOfPool,
    /// The range does not start on a slot boundary. The pod keeps it.
    Misaligned,
    /// The range's length differs from ids_per_pod. The pod keeps it.
    WrongLength,
    /// The range contains a host ID reserved for the host (0-65535) or the
    /// invalid ID 4294967295; it is never handed out.
    UnsafeRange,
    /// Two pods claim overlapping ranges; both are refused.
    Conflict,
    /// An I/O error left it unknown whether the file is durable; the range
    /// stays reserved until the pod is released or the disk is re-read.
    InDoubt,
}

impl ProblemKind {
    /// True when the range is unknown, so any new allocation could overlap it.
    pub fn blocks_new_allocations(self) -> bool {
        matches!(self, ProblemKind::Corrupt | ProblemKind::Unreadable)
    }

    /// True when the pod may still be started with its recorded mapping.
    pub fn keeps_mapping(self) -> bool {
        matches!(
            self,
            ProblemKind::OutOfPool | ProblemKind::Misaligned | ProblemKind::WrongLength
        )
    }

    /// The kebab-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Corrupt => "corrupt",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::OutOfPool => "out-of-pool",
            ProblemKind::Misaligned => "misaligned",
            ProblemKind::WrongLength => "wrong-length",
            ProblemKind::UnsafeRange => "unsafe-range",
            ProblemKind::Conflict => "conflict",
            ProblemKind::InDoubt => "in-doubt",
        }
    }
}
