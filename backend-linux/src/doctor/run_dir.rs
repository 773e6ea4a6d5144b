//! The run directory's pins, read-only: the core's listing of the pins
//! without setting the directory up ([`NsRequest::Inspect`]), checked
//! against the pods that have a claim, and whether the directory is a
//! shared mount.

use std::collections::BTreeSet;
use std::path::Path;

use podns_core::{
    Errno, NsEngine, NsRequest, NsResponse, PodUid, Root, RunDirPath, drive, parse_mountinfo,
};

use super::{Finding, Severity};
use crate::error::BackendError;
use crate::roots::LinuxBackend;

/// Everything found about the run directory `dir`, given the pods that
/// have a claim in the pods directory (`None` when they are unknown: then
/// no pin is said to lack an allocation).
pub(super) fn findings(dir: &Path, claimed: Option<&BTreeSet<PodUid>>) -> Vec<Finding> {
    let shown = dir.display().to_string();
    let finding = |severity, kind, message: String| {
        Finding::about(severity, "run", kind, Some(shown.clone()), message)
    };
    let canonical = match std::fs::canonicalize(dir) {
        Ok(path) => path,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return vec![finding(
                Severity::Info,
                "no-run-dir",
                "the run directory does not exist: no pod namespaces were pinned here yet \
                 (podns ns create makes it)"
                    .to_owned(),
            )];
        }
        Err(error) => {
            return vec![finding(
                Severity::Error,
                "run-dir-unreadable",
                format!("cannot resolve the run directory ({error}); fix its permissions"),
            )];
        }
    };
    let run = match canonical.to_str().map(RunDirPath::new) {
        Some(Ok(run)) => run,
        _ => {
            return vec![finding(
                Severity::Error,
                "run-dir-unreadable",
                "the run directory's path is not a clean UTF-8 absolute path; pass another \
                 --run-dir"
                    .to_owned(),
            )];
        }
    };
    let mut backend = LinuxBackend::without_roots();
    if let Err(error) = backend.open_root(Root::Run, &canonical) {
        let errno = match &error {
            BackendError::OpenRoot { errno, .. } => Some(*errno),
            _ => None,
        };
        let severity = if errno == Some(Errno::ENOENT) {
            Severity::Info
        } else {
            Severity::Error
        };
        return vec![finding(
            severity,
            "run-dir-unreadable",
            format!("{error}; fix its permissions or pass the right --run-dir"),
        )];
    }
    let mut found = match backend.roots.get(&Root::Run) {
        Some(fd) => super::system::directory_findings("run", "run directory", fd),
        None => Vec::new(),
    };
    let mut engine = NsEngine::new(run.clone());
    engine.set_root_labels(backend.labels().clone());
    let listing = match crate::block_on(drive(&mut engine, &mut backend, NsRequest::Inspect)) {
        Ok(NsResponse::Listed(listing)) => listing,
        Ok(other) => {
            return vec![finding(
                Severity::Error,
                "run-dir-unreadable",
                format!("the listing was answered with {other:?}; this is a bug"),
            )];
        }
        Err(error) => {
            return vec![finding(
                Severity::Error,
                "run-dir-unreadable",
                error.to_string(),
            )];
        }
    };
    for pins in &listing.pods {
        let pod = Some(pins.pod.as_str().to_owned());
        if let Some(reason) = &pins.incomplete {
            found.push(Finding {
                pod,
                ..finding(
                    Severity::Error,
                    "incomplete-pins",
                    format!(
                        "the pins of pod {} are not a complete pair ({reason}); a crashed \
                         create or a manual change left them: podns ns sweep removes them, \
                         podns ns create {} makes them again",
                        pins.pod, pins.pod
                    ),
                )
            });
        } else if claimed.is_some_and(|claimed| !claimed.contains(&pins.pod)) {
            found.push(Finding {
                pod,
                ..finding(
                    Severity::Error,
                    "pins-without-allocation",
                    format!(
                        "pod {} has pinned namespaces but no user-namespace allocation, so \
                         nothing reserves the host IDs they map: podns ns remove {} (or podns \
                         ns sweep) removes them",
                        pins.pod, pins.pod
                    ),
                )
            });
        }
    }
    found.extend(propagation(run.as_str(), &finding));
    found
}

/// Whether the run directory is a shared mount, so that pins made later
/// reach the mount namespaces runtimes made before.
fn propagation(
    run: &str,
    finding: &impl Fn(Severity, &'static str, String) -> Finding,
) -> Option<Finding> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mounts = parse_mountinfo(&table).ok()?;
    match mounts.iter().rev().find(|mount| mount.mount_point == run) {
        None => Some(finding(
            Severity::Info,
            "run-dir-not-a-mount",
            "the run directory is not a mount point yet; podns ns create makes it a shared \
             bind mount of itself, as ip netns does for /run/netns"
                .to_owned(),
        )),
        Some(mount) if !mount.is_shared() => Some(finding(
            Severity::Warning,
            "run-dir-not-shared",
            "the run directory is a mount but not a shared one, so pins made now do not \
             reach mount namespaces made before (a runtime's); the next podns ns create \
             makes it shared again, or run mount --make-shared on it"
                .to_owned(),
        )),
        Some(_) => None,
    }
}
