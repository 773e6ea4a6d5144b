//! [`doctor`]: a read-only health check of a node's pods directory, its
//! pool and the kernel, safe to point at kubelet's live pods directory.
//!
//! It opens the pods directory read-only and runs the core's
//! [`UsernsRequest::Inspect`] on a fresh engine: the same listing and reads
//! as recovery, without the lock, without removing temp files, without
//! `syncfs`, creating nothing. So it works while kubelet runs and on a
//! read-only mount, and leaves every listing, file and mtime as it was.

use std::collections::BTreeSet;

use serde::Serialize;

use podns_core::{
    AllocationPolicy, Errno, Problem, Root, RootLabels, UsernsEngine, UsernsRequest,
    UsernsResponse, drive,
};

mod pool;
mod run_dir;
mod system;

use crate::config::{self, NodeConfig, OwnUserns, PoolSource, SubidFiles};
use crate::error::BackendError;
use crate::node::Error;
use crate::roots::LinuxBackend;

/// How much a finding needs action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something fails or will fail (allocations frozen, a pod refused, user
    /// namespaces off): act on it.
    Error,
    /// Works, but not as configured (a pod keeps a range outside the pool):
    /// look at it.
    Warning,
    /// Worth knowing; nothing to do.
    Info,
}

/// One thing [`doctor`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// How much it needs action.
    pub severity: Severity,
    /// What it is about: `pods`, `run`, `pool` or `kernel`.
    pub area: &'static str,
    /// A stable name. pods: a problem kind of recovery (`corrupt`,
    /// `conflict`...), `leftover-temp-file`, `no-pods-dir`,
    /// `pods-dir-unreadable`, `file-system`, `no-openat2`; run: `no-run-dir`,
    /// `run-dir-unknown`, `run-dir-unreadable`, `run-dir-not-shared`,
    /// `run-dir-not-a-mount`, `incomplete-pins`, `pins-without-allocation`,
    /// `file-system`, `no-openat2`; pool: `invalid-pool`, `terminal-block`,
    /// `kubelet-range-unusable`, `kubelet-subids-invalid`,
    /// `pool-differs-from-kubelet`, `no-getsubids`; kernel:
    /// `userns-disabled`, `userns-limit-unknown`, `unprivileged-userns-off`,
    /// `apparmor-restricts-userns`, `no-pidfd`.
    pub kind: &'static str,
    /// The pod, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The file or directory, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What it means and what to do.
    pub message: String,
}

/// What [`doctor`] found, and what it looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    /// The pods directory examined.
    pub pods_dir: String,
    /// Where the pool came from, in words (or why there is none).
    pub pool: String,
    /// Usable slots of the pool (0 without a valid pool).
    pub capacity: u32,
    /// Pods with a usable allocation.
    pub allocations: usize,
    /// Every finding, errors first.
    pub findings: Vec<Finding>,
}

impl Finding {
    /// A finding about no pod in particular.
    pub(crate) fn about(
        severity: Severity,
        area: &'static str,
        kind: &'static str,
        path: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            area,
            kind,
            pod: None,
            path,
            message: message.into(),
        }
    }
}

impl DoctorReport {
    /// True when some finding is an error or a warning.
    pub fn needs_action(&self) -> bool {
        self.findings
            .iter()
            .any(|finding| finding.severity != Severity::Info)
    }

    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|finding| finding.severity == severity)
            .count()
    }
}

/// Checks the node `config` describes without changing anything: every
/// `userns` problem recovery would report (against the configured pool),
/// stale temp files, the pool itself and whether user namespaces are
/// enabled. Fails only when the configuration names no pods directory.
pub fn doctor(config: &NodeConfig) -> Result<DoctorReport, Error> {
    let own = OwnUserns::read();
    let pods_dir = config::pods_dir(config, &own)?.ok_or_else(|| {
        config::ConfigError::new(
            "usage",
            "the doctor checks a pods directory, and this configuration has none; name one \
             (--pods-dir DIR)",
        )
    })?;
    let mut report = DoctorReport {
        pods_dir: pods_dir.display().to_string(),
        pool: String::new(),
        capacity: 0,
        allocations: 0,
        findings: system::kernel_findings(own.is_root()),
    };
    let pool = match config.pool.resolve_in(&own) {
        Ok((pool, origin)) => {
            let files = match &config.pool {
                PoolSource::SubordinateIds { files, .. } => files.clone(),
                _ => SubidFiles::default(),
            };
            report
                .findings
                .extend(pool::findings(&pool, &origin, &files));
            report.pool = origin;
            pool
        }
        Err(error) => {
            report.pool = "none".to_owned();
            report.findings.push(Finding {
                severity: Severity::Error,
                area: "pool",
                kind: "invalid-pool",
                pod: None,
                path: None,
                message: format!("{error}; the pods were not checked against a pool"),
            });
            report.findings.sort_by_key(|finding| finding.severity);
            return Ok(report);
        }
    };
    let mut engine = UsernsEngine::new(pool, 0, AllocationPolicy::LowestFree);
    report.capacity = engine.capacity();
    let mut backend = LinuxBackend::without_roots();
    // The pods with a claim, once known: without them no pin can be said
    // to lack an allocation.
    let mut claimed: Option<BTreeSet<_>> = None;
    match backend.open_root(Root::Pods, &pods_dir) {
        Ok(()) => {
            engine.set_root_labels(backend.labels().clone());
            let inspected =
                crate::block_on(drive(&mut engine, &mut backend, UsernsRequest::Inspect));
            if let Err(error) = &inspected {
                report.findings.push(Finding::about(
                    Severity::Error,
                    "pods",
                    "pods-dir-unreadable",
                    Some(report.pods_dir.clone()),
                    format!("{error}; the pods were not checked"),
                ));
            }
            if let Ok(UsernsResponse::Recovered(found)) = inspected {
                report.allocations = found.allocations;
                let inspection = found.inspection.unwrap_or_default();
                claimed = Some(inspection.claimed_pods.iter().cloned().collect());
                let labels = backend.labels();
                report.findings.extend(
                    found
                        .problems
                        .iter()
                        .map(|problem| problem_finding(problem, labels)),
                );
                report
                    .findings
                    .extend(inspection.temp_files_kept.iter().map(|file| {
                        Finding {
                            severity: Severity::Info,
                            area: "pods",
                            kind: "leftover-temp-file",
                            pod: file.path.first_component().map(str::to_owned),
                            path: Some(backend.labels().show(file)),
                            message: "a podns write cut short by a crash left this temp file; it \
                              holds no allocation, and the next podns run on this directory \
                              removes it"
                                .to_owned(),
                        }
                    }));
            }
        }
        Err(BackendError::OpenRoot {
            errno: Errno::ENOENT,
            ..
        }) => {
            claimed = Some(BTreeSet::new());
            report.findings.push(Finding {
                severity: Severity::Info,
                area: "pods",
                kind: "no-pods-dir",
                pod: None,
                path: Some(report.pods_dir.clone()),
                message:
                    "the pods directory does not exist: nothing was allocated here yet (podns \
                      creates it at the first allocation)"
                        .to_owned(),
            })
        }
        Err(error) => report.findings.push(Finding {
            severity: Severity::Error,
            area: "pods",
            kind: "pods-dir-unreadable",
            pod: None,
            path: Some(report.pods_dir.clone()),
            message: format!("{error}; fix its permissions or pass the right --pods-dir"),
        }),
    }
    if let Some(pods_root) = backend.roots.get(&Root::Pods) {
        report.findings.extend(system::directory_findings(
            "pods",
            "pods directory",
            pods_root,
        ));
    }
    match config::run_dir(config, &own) {
        Ok(Some(dir)) => report
            .findings
            .extend(run_dir::findings(&dir, claimed.as_ref())),
        Ok(None) => {}
        Err(error) => report.findings.push(Finding::about(
            Severity::Warning,
            "run",
            "run-dir-unknown",
            None,
            format!("{error}; the run directory was not checked"),
        )),
    }
    report.findings.sort_by_key(|finding| finding.severity);
    Ok(report)
}

/// A recovery problem as a finding: an unknown range, a conflict or an
/// unsafe range is an error; a range kept outside the configured layout a
/// warning. The message already says what it blocks and what to do.
fn problem_finding(problem: &Problem, labels: &RootLabels) -> Finding {
    let severity = if problem.kind.keeps_mapping() {
        Severity::Warning
    } else {
        Severity::Error
    };
    Finding {
        severity,
        area: "pods",
        kind: problem.kind.as_str(),
        pod: Some(problem.pod.as_str().to_owned()),
        path: Some(labels.show(&problem.path)),
        message: problem.message.clone(),
    }
}
