//! What a runtime gets back: the CRI-style mode and mappings, and the same
//! mappings as OCI `linux.uidMappings` / `linux.gidMappings`.

use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};
use serde::{Deserialize, Serialize};

use super::range::HostIdRange;

/// One ID mapping, field for field as kubelet writes it to the `userns` file
/// and as CRI's `IDMapping` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdMapping {
    /// First host ID.
    pub host_id: u32,
    /// First ID inside the namespace.
    pub container_id: u32,
    /// Number of IDs.
    pub length: u32,
}

impl IdMapping {
    /// Container ID 0 mapped to `range`. `None` when the range does not fit
    /// 32-bit IDs.
    pub fn root_to(range: HostIdRange) -> Option<Self> {
        Some(Self {
            host_id: u32::try_from(range.first).ok()?,
            container_id: 0,
            length: u32::try_from(range.len).ok()?,
        })
    }

    /// The host IDs this mapping covers.
    pub fn host_range(&self) -> HostIdRange {
        HostIdRange::new(u64::from(self.host_id), u64::from(self.length))
    }

    /// The mapping as an OCI runtime-spec ID mapping.
    pub fn to_oci(&self) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .host_id(self.host_id)
            .container_id(self.container_id)
            .size(self.length)
            .build()
            .expect("every field of LinuxIdMapping is set")
    }
}

/// CRI's `NamespaceMode` for the user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NamespaceMode {
    /// The pod shares the host's user namespace; no IDs are allocated.
    Node,
    /// The pod gets its own user namespace with its own host ID range.
    Pod,
}

/// The user-namespace settings of one pod, as CRI's `UserNamespace` carries
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserNamespace {
    /// NODE or POD.
    pub mode: NamespaceMode,
    /// UID mappings (POD mode only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    /// GID mappings (POD mode only); kubelet keeps them equal to the UIDs'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
}

impl UserNamespace {
    /// NODE mode: the host's user namespace.
    pub fn node() -> Self {
        Self {
            mode: NamespaceMode::Node,
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        }
    }

    /// POD mode with identical UID and GID mappings.
    pub fn pod(mapping: IdMapping) -> Self {
        Self {
            mode: NamespaceMode::Pod,
            uid_mappings: vec![mapping],
            gid_mappings: vec![mapping],
        }
    }

    /// The mappings as OCI `linux.uidMappings` and `linux.gidMappings`.
    pub fn to_oci(&self) -> OciIdMappings {
        OciIdMappings {
            uid_mappings: self.uid_mappings.iter().map(IdMapping::to_oci).collect(),
            gid_mappings: self.gid_mappings.iter().map(IdMapping::to_oci).collect(),
        }
    }
}

/// The `uidMappings` and `gidMappings` members of an OCI `linux` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciIdMappings {
    /// `linux.uidMappings`.
    pub uid_mappings: Vec<LinuxIdMapping>,
    /// `linux.gidMappings`.
    pub gid_mappings: Vec<LinuxIdMapping>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_mappings_use_the_runtime_spec_field_names() {
        let userns =
            UserNamespace::pod(IdMapping::root_to(HostIdRange::new(131072, 65536)).unwrap());
        assert_eq!(
            serde_json::to_string(&userns.to_oci()).unwrap(),
            r#"{"uidMappings":[{"hostID":131072,"containerID":0,"size":65536}],"gidMappings":[{"hostID":131072,"containerID":0,"size":65536}]}"#
        );
    }

    #[test]
    fn node_mode_has_no_mappings() {
        assert_eq!(
            serde_json::to_string(&UserNamespace::node()).unwrap(),
            r#"{"mode":"NODE"}"#
        );
    }
}
