//! The JSON the CLI prints: the contract other tools and tests rely on.

use podns_backend_linux::{
    Allocation, CleanupReport, Host, IdMapping, NamespaceMode, Node, PodUid, PodUserNamespace,
    Problem, Release, RootLabels,
};
use serde::Serialize;

use crate::failure::Failure;

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
    pub fn new(problem: &Problem, labels: &RootLabels) -> Self {
        Self {
            pod: problem.pod.to_string(),
            path: labels.show(&problem.path),
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
    pool_source: String,
}

impl ListOutput {
    pub fn new<H: Host>(node: &Node<H>) -> Self {
        let labels = node.labels();
        Self {
            allocations: node
                .allocations()
                .iter()
                .map(AllocationOutput::from)
                .collect(),
            problems: node
                .problems()
                .iter()
                .map(|problem| ProblemOutput::new(problem, &labels))
                .collect(),
            capacity: node.capacity(),
            free: node.free(),
            pool_source: node.pool_origin().to_owned(),
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
    error: String,
}

impl<'a> FailureOutput<'a> {
    pub fn new(pod: &'a PodUid, error: &impl std::fmt::Display) -> Self {
        Self {
            pod: pod.as_str(),
            error: error.to_string(),
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

/// Prints one line on stdout. A closed pipe (`podns list | head -c 0`) is
/// a failure of the command, reported on stderr, never a panic: what the
/// command did is done, but its answer was not delivered.
pub fn emit(line: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|error| {
            Failure::failed(
                "output",
                format!(
                    "cannot write the result to standard output: {error}; the command itself \
                     completed (run podns list to see the state)"
                ),
            )
        })
}

/// Renders one JSON document.
pub fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|error| format!("{{\"error\":\"cannot render output as JSON: {error}\"}}"))
}
