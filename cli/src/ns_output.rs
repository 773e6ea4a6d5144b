//! The JSON the `podns ns` commands print.

use std::collections::BTreeSet;

use podns_core::{
    IdMapping, JoinSpec, NamespaceId, NamespaceKind, NsListing, NsRemoval, PodSandbox, PodUid,
    SweepReport,
};
use serde::Serialize;

use crate::output::FailureOutput;

/// As `/proc/<pid>/ns/*` shows it: `net:[4026532281]`.
fn namespace(kind: NamespaceKind, ino: u64) -> String {
    NamespaceId { kind, ino }.to_string()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOutput<'a> {
    pod: &'a str,
    created: bool,
    net_pin: &'a str,
    user_pin: &'a str,
    /// As `/proc/<pid>/ns/net` shows it: `net:[4026532281]`.
    net_ns: String,
    user_ns: String,
    uid_mappings: &'a [IdMapping],
    gid_mappings: &'a [IdMapping],
    /// What the sandbox container's OCI spec needs (`linux.namespaces`,
    /// `uidMappings`, `gidMappings`).
    oci: &'a JoinSpec,
}

impl<'a> CreateOutput<'a> {
    pub fn new(sandbox: &'a PodSandbox) -> Self {
        let pins = &sandbox.namespaces;
        Self {
            pod: pins.pod.as_str(),
            created: pins.created,
            net_pin: &pins.net_pin,
            user_pin: &pins.user_pin,
            net_ns: pins.facts.net.to_string(),
            user_ns: pins.facts.user.to_string(),
            uid_mappings: &sandbox.userns.userns.uid_mappings,
            gid_mappings: &sandbox.userns.userns.gid_mappings,
            oci: &sandbox.join_spec,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveOutput<'a> {
    pod: &'a str,
    removed: bool,
    unmounted: usize,
}

impl<'a> From<&'a NsRemoval> for RemoveOutput<'a> {
    fn from(removal: &'a NsRemoval) -> Self {
        Self {
            pod: removal.pod.as_str(),
            removed: removal.removed,
            unmounted: removal.unmounted,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodPinsOutput<'a> {
    pod: &'a str,
    net_pin: &'a str,
    user_pin: &'a str,
    net_ns: Option<String>,
    user_ns: Option<String>,
    complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
    allocated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOutput<'a> {
    pods: Vec<PodPinsOutput<'a>>,
    ignored_mounts: &'a [String],
}

impl<'a> ListOutput<'a> {
    pub fn new(listing: &'a NsListing, allocated: &BTreeSet<PodUid>) -> Self {
        Self {
            pods: listing
                .pods
                .iter()
                .map(|pins| PodPinsOutput {
                    pod: pins.pod.as_str(),
                    net_pin: &pins.net_pin,
                    user_pin: &pins.user_pin,
                    net_ns: pins.net_ns.map(|ino| namespace(NamespaceKind::Net, ino)),
                    user_ns: pins.user_ns.map(|ino| namespace(NamespaceKind::User, ino)),
                    complete: pins.incomplete.is_none(),
                    problem: pins.incomplete.as_deref(),
                    allocated: allocated.contains(&pins.pod),
                })
                .collect(),
            ignored_mounts: &listing.ignored_mounts,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SweptOutput<'a> {
    pod: &'a str,
    reason: String,
    unmounted: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepOutput<'a> {
    swept: Vec<SweptOutput<'a>>,
    kept: Vec<&'a str>,
    failures: Vec<FailureOutput<'a>>,
    ignored_mounts: &'a [String],
}

impl<'a> From<&'a SweepReport> for SweepOutput<'a> {
    fn from(report: &'a SweepReport) -> Self {
        Self {
            swept: report
                .swept
                .iter()
                .map(|swept| SweptOutput {
                    pod: swept.pod.as_str(),
                    reason: swept.reason.to_string(),
                    unmounted: swept.unmounted,
                })
                .collect(),
            kept: report.kept.iter().map(PodUid::as_str).collect(),
            failures: report
                .failures
                .iter()
                .map(|failure| FailureOutput::new(&failure.pod, &failure.error))
                .collect(),
            ignored_mounts: &report.ignored_mounts,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecOutput<'a> {
    pod: &'a str,
    #[serde(flatten)]
    spec: &'a JoinSpec,
}

impl<'a> SpecOutput<'a> {
    pub fn new(pod: &'a PodUid, spec: &'a JoinSpec) -> Self {
        Self {
            pod: pod.as_str(),
            spec,
        }
    }
}
