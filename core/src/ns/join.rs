//! What a container's OCI spec needs to join its pod: `linux.namespaces`
//! entries with paths, and the pod's ID mappings, the way containerd's
//! `WithPodNamespaces` builds them (seed 001), with the network and user
//! namespaces taken from podns's pins instead of a sandbox process.

use oci_spec::runtime::{
    LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType,
};
use serde::Serialize;

use super::facts::PodIdMaps;
use crate::idmap::IdMap;
use crate::userns::OciIdMappings;

/// CRI's PID namespace mode for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PidMode {
    /// The containers of the pod share the sandbox's PID namespace.
    #[default]
    Pod,
    /// Each container gets its own PID namespace.
    Container,
}

/// Where a pod's namespaces are: its two pins (absolute paths) and, once
/// the sandbox runs, its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTarget<'a> {
    /// The network namespace pin.
    pub net_pin: &'a str,
    /// The user namespace pin.
    pub user_pin: &'a str,
    /// The sandbox (pause) process whose IPC, UTS and PID namespaces the
    /// containers join; `None` for the sandbox container itself, which
    /// creates them.
    pub sandbox_pid: Option<u32>,
}

/// The members of an OCI `linux` object that make a container join its pod.
/// Merge them into a spec: each namespace entry replaces the spec's entry
/// of the same type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinSpec {
    /// `linux.namespaces`: network and user from the pins; IPC, UTS and
    /// (unless the PID mode is CONTAINER) PID from the sandbox process, or
    /// new ones (no path) for the sandbox itself; a CONTAINER PID mode gets
    /// a new PID namespace.
    pub namespaces: Vec<LinuxNamespace>,
    /// `linux.uidMappings`: the pod's allocation.
    pub uid_mappings: Vec<LinuxIdMapping>,
    /// `linux.gidMappings`.
    pub gid_mappings: Vec<LinuxIdMapping>,
    /// `mounts` entries for volumes the runtime idmaps itself
    /// ([`JoinSpec::with_idmapped_volume`]); none by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<IdmappedVolume>,
}

/// An OCI `mounts` entry that asks the runtime for an idmapped bind mount
/// with the pod's mappings (`uidMappings`/`gidMappings` on a mount, OCI
/// runtime spec 1.1; crun, runc 1.2 and later): what containerd 2.x passes
/// for a volume of a user-namespaced pod. Through it, the pod's root owns
/// what host root owns in the volume. The alternative for runtimes without
/// it is a mount podns idmaps itself (`podns subpath mount --idmap-pod`),
/// bind-mounted plainly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdmappedVolume {
    /// Where the volume appears in the container.
    pub destination: String,
    /// Always `bind`.
    #[serde(rename = "type")]
    pub typ: &'static str,
    /// The volume's host directory.
    pub source: String,
    /// `rbind` and `idmap`.
    pub options: Vec<&'static str>,
    /// The pod's UID mappings, as in `linux.uidMappings`.
    pub uid_mappings: Vec<LinuxIdMapping>,
    /// The pod's GID mappings.
    pub gid_mappings: Vec<LinuxIdMapping>,
}

impl JoinSpec {
    /// Adds a `mounts` entry that bind-mounts `source` on `destination`
    /// idmapped with the pod's mappings, for a runtime that makes idmapped
    /// mounts itself.
    pub fn with_idmapped_volume(mut self, source: &str, destination: &str) -> Self {
        self.mounts.push(IdmappedVolume {
            destination: destination.to_owned(),
            typ: "bind",
            source: source.to_owned(),
            options: vec!["rbind", "idmap"],
            uid_mappings: self.uid_mappings.clone(),
            gid_mappings: self.gid_mappings.clone(),
        });
        self
    }
}

/// The join spec of a container of the pod at `target` with `maps`.
pub fn join_spec(target: &JoinTarget<'_>, maps: &PodIdMaps, pid_mode: PidMode) -> JoinSpec {
    let sandbox = |name: &str| {
        target
            .sandbox_pid
            .map(|pid| format!("/proc/{pid}/ns/{name}"))
    };
    let pid_path = match pid_mode {
        PidMode::Pod => sandbox("pid"),
        PidMode::Container => None,
    };
    let namespaces = [
        (LinuxNamespaceType::Network, Some(target.net_pin.to_owned())),
        (LinuxNamespaceType::Ipc, sandbox("ipc")),
        (LinuxNamespaceType::Uts, sandbox("uts")),
        (LinuxNamespaceType::Pid, pid_path),
        (LinuxNamespaceType::User, Some(target.user_pin.to_owned())),
    ]
    .into_iter()
    .map(|(typ, path)| namespace(typ, path))
    .collect();
    let OciIdMappings {
        uid_mappings,
        gid_mappings,
    } = maps.to_oci();
    JoinSpec {
        namespaces,
        uid_mappings,
        gid_mappings,
        mounts: Vec::new(),
    }
}

fn namespace(typ: LinuxNamespaceType, path: Option<String>) -> LinuxNamespace {
    let builder = LinuxNamespaceBuilder::default().typ(typ);
    let builder = match path {
        Some(path) => builder.path(path),
        None => builder,
    };
    builder
        .build()
        .expect("a namespace entry with a type is always complete")
}

impl PodIdMaps {
    /// `linux.uidMappings` and `gidMappings` for a runtime: one entry per
    /// extent, as written (split when podns runs in a nested namespace).
    pub fn to_oci(&self) -> OciIdMappings {
        OciIdMappings {
            uid_mappings: oci_mappings(&self.uid_map),
            gid_mappings: oci_mappings(&self.gid_map),
        }
    }
}

fn oci_mappings(map: &IdMap) -> Vec<LinuxIdMapping> {
    map.extents()
        .iter()
        .map(|extent| {
            LinuxIdMappingBuilder::default()
                .container_id(extent.inside)
                .host_id(extent.outside)
                .size(extent.count)
                .build()
                .expect("every field of LinuxIdMapping is set")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps() -> PodIdMaps {
        let map = IdMap::parse("0 131072 65536").unwrap();
        PodIdMaps {
            uid_map: map.clone(),
            gid_map: map,
        }
    }

    #[test]
    fn containers_join_the_pins_and_the_sandbox() {
        let target = JoinTarget {
            net_pin: "/run/podns/p/net",
            user_pin: "/run/podns/p/user",
            sandbox_pid: Some(42),
        };
        let spec = join_spec(&target, &maps(), PidMode::Pod);
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"namespaces":[{"type":"network","path":"/run/podns/p/net"},{"type":"ipc","path":"/proc/42/ns/ipc"},{"type":"uts","path":"/proc/42/ns/uts"},{"type":"pid","path":"/proc/42/ns/pid"},{"type":"user","path":"/run/podns/p/user"}],"uidMappings":[{"hostID":131072,"containerID":0,"size":65536}],"gidMappings":[{"hostID":131072,"containerID":0,"size":65536}]}"#
        );
    }

    #[test]
    fn the_sandbox_creates_ipc_uts_and_pid_and_container_mode_gets_its_own_pid() {
        let target = JoinTarget {
            net_pin: "/n",
            user_pin: "/u",
            sandbox_pid: None,
        };
        let spec = join_spec(&target, &maps(), PidMode::Pod);
        let paths: Vec<_> = spec
            .namespaces
            .iter()
            .map(|ns| ns.path().as_ref().map(|p| p.display().to_string()))
            .collect();
        assert_eq!(
            paths,
            [Some("/n".into()), None, None, None, Some("/u".into())]
        );
        let target = JoinTarget {
            sandbox_pid: Some(7),
            ..target
        };
        let spec = join_spec(&target, &maps(), PidMode::Container);
        assert_eq!(spec.namespaces[3].typ(), LinuxNamespaceType::Pid);
        assert_eq!(spec.namespaces[3].path(), &None);
        assert!(spec.namespaces[1].path().is_some());
    }

    #[test]
    fn an_idmapped_volume_carries_the_pods_mappings() {
        let target = JoinTarget {
            net_pin: "/n",
            user_pin: "/u",
            sandbox_pid: None,
        };
        let spec = join_spec(&target, &maps(), PidMode::Pod).with_idmapped_volume("/vol", "/data");
        assert_eq!(
            serde_json::to_string(&spec.mounts).unwrap(),
            r#"[{"destination":"/data","type":"bind","source":"/vol","options":["rbind","idmap"],"uidMappings":[{"hostID":131072,"containerID":0,"size":65536}],"gidMappings":[{"hostID":131072,"containerID":0,"size":65536}]}]"#
        );
    }
}
