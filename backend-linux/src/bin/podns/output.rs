//! The JSON the CLI prints: the contract other tools and tests rely on.

use std::path::Path;

use podns_core::{
    Allocation, CleanupReport, IdMapping, NamespaceMode, PodUid, PodUserNamespace, Problem,
    Release, UsernsEngine,
};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocOutput<'a> {
    pod: &'a str,
    mode: NamespaceMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid_mappings: Option<&'a [IdMapping]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid_mappings: Option<&'a [IdMapping]>,
}

impl<'a> AllocOutput<'a> {
    pub fn new(userns: &'a PodUserNamespace) -> Self {
        let pod_mode = userns.userns.mode == NamespaceMode::Pod;
        Self {
            pod: userns.pod.as_str(),
            mode: userns.userns.mode,
            uid_mappings: pod_mode.then_some(userns.userns.uid_mappings.as_slice()),
            gid_mappings: pod_mode.then_some(userns.userns.gid_mappings.as_slice()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationOutput {
    pod: String,
    uid_mappings: [IdMapping; 1],
    gid_mappings: [IdMapping; 1],
}

impl From<&Allocation> for AllocationOutput {
    fn from(allocation: &Allocation) -> Self {
        Self {
            pod: allocation.pod.to_string(),
            uid_mappings: [allocation.mapping],
            gid_mappings: [allocation.mapping],
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemOutput {
    pod: String,
    path: String,
    kind: &'static str,
    message: String,
}

impl ProblemOutput {
    pub fn new(problem: &Problem, pods_dir: &Path) -> Self {
        Self {
            pod: problem.pod.to_string(),
            path: pods_dir
                .join(problem.path.path.to_string())
                .display()
                .to_string(),
            kind: problem.kind.as_str(),
            message: problem.message.clone(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOutput {
    allocations: Vec<AllocationOutput>,
    problems: Vec<ProblemOutput>,
    capacity: u32,
    free: u32,
}

impl ListOutput {
    pub fn new(engine: &UsernsEngine, pods_dir: &Path) -> Self {
        Self {
            allocations: engine
                .allocations()
                .iter()
                .map(AllocationOutput::from)
                .collect(),
            problems: engine
                .problems()
                .iter()
                .map(|problem| ProblemOutput::new(problem, pods_dir))
                .collect(),
            capacity: engine.capacity(),
            free: engine.free(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseOutput {
    pod: String,
    released: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid_mappings: Option<[IdMapping; 1]>,
}

impl From<&Release> for ReleaseOutput {
    fn from(release: &Release) -> Self {
        Self {
            pod: release.pod.to_string(),
            released: release.released,
            uid_mappings: release
                .range
                .and_then(IdMapping::root_to)
                .map(|mapping| [mapping]),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupOutput<'a> {
    released: Vec<ReleaseOutput>,
    failures: Vec<FailureOutput<'a>>,
}

/// A pod the command could not finish, and why.
#[derive(Serialize)]
pub struct FailureOutput<'a> {
    pod: &'a str,
    error: &'a str,
}

impl<'a> FailureOutput<'a> {
    pub fn new(pod: &'a PodUid, error: &'a str) -> Self {
        Self {
            pod: pod.as_str(),
            error,
        }
    }
}

impl<'a> CleanupOutput<'a> {
    pub fn new(report: &'a CleanupReport) -> Self {
        Self {
            released: report.released.iter().map(ReleaseOutput::from).collect(),
            failures: report
                .failures
                .iter()
                .map(|failure| FailureOutput::new(&failure.pod, &failure.error))
                .collect(),
        }
    }
}

/// Renders one JSON document.
pub fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|error| format!("{{\"error\":\"cannot render output as JSON: {error}\"}}"))
}
