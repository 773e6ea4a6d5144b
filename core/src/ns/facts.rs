//! What a backend measured about pinned namespaces, and the core's check of
//! it: the kernel's answer, never the backend's opinion, decides whether a
//! pod's namespaces are what podns asked for.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::idmap::{IdExtent, IdMap, SplitError, split_for_parent};
use crate::userns::{NamespaceMode, UserNamespace};

/// The type of a namespace, as `ioctl(NS_GET_NSTYPE)` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NamespaceKind {
    /// `CLONE_NEWNET`.
    Net,
    /// `CLONE_NEWUSER`.
    User,
    /// Any other type (its `CLONE_NEW*` value).
    Other(u32),
}

impl NamespaceKind {
    /// `CLONE_NEWNET`.
    pub const CLONE_NEWNET: u32 = 0x4000_0000;
    /// `CLONE_NEWUSER`.
    pub const CLONE_NEWUSER: u32 = 0x1000_0000;

    /// The kind for a `CLONE_NEW*` value.
    pub fn from_clone_flag(flag: u32) -> Self {
        match flag {
            Self::CLONE_NEWNET => NamespaceKind::Net,
            Self::CLONE_NEWUSER => NamespaceKind::User,
            other => NamespaceKind::Other(other),
        }
    }
}

impl fmt::Display for NamespaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceKind::Net => f.write_str("network"),
            NamespaceKind::User => f.write_str("user"),
            NamespaceKind::Other(flag) => write!(f, "type {flag:#x}"),
        }
    }
}

/// One namespace: its type and its nsfs inode number, which identifies it
/// for as long as it lives (all nsfs inodes share one superblock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NamespaceId {
    /// The type.
    pub kind: NamespaceKind,
    /// `st_ino` of an nsfs file of the namespace.
    pub ino: u64,
}

impl fmt::Display for NamespaceId {
    /// As `/proc/<pid>/ns/*` links and mountinfo show it: `net:[4026532281]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            NamespaceKind::Net => write!(f, "net:[{}]", self.ino),
            NamespaceKind::User => write!(f, "user:[{}]", self.ino),
            NamespaceKind::Other(_) => write!(f, "{}:[{}]", self.kind, self.ino),
        }
    }
}

/// What the backend found on a pod's two pins after
/// [`crate::Effect::CreatePodNamespaces`] or
/// [`crate::Effect::InspectPodNamespaces`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinnedNamespaces {
    /// The namespace on the net pin.
    pub net: NamespaceId,
    /// The namespace on the user pin.
    pub user: NamespaceId,
    /// The owner of the net pin's namespace (`ioctl(NS_GET_USERNS)`).
    pub net_owner: NamespaceId,
    /// The user namespace whose maps follow (the one a process that was in
    /// it, while its maps were read, belonged to).
    pub maps_from: NamespaceId,
    /// `uid_map` of `maps_from`, as the kernel prints it.
    pub uid_map: IdMap,
    /// `gid_map` of `maps_from`.
    pub gid_map: IdMap,
}

/// The ID maps a pod's user namespace must have: its allocation, container
/// ID first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodIdMaps {
    /// The UID map.
    pub uid_map: IdMap,
    /// The GID map.
    pub gid_map: IdMap,
}

/// The ID maps of the user namespace podns itself runs in. Every extent of
/// a map written for a child namespace must lie inside one extent of these
/// (the kernel refuses it with `EPERM` otherwise), so in a rootless
/// namespace a pod's maps are split against them first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentMaps {
    /// This process's `uid_map`.
    pub uid_map: IdMap,
    /// This process's `gid_map`.
    pub gid_map: IdMap,
}

/// A user namespace setting that cannot become a pod user namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodIdMapsError {
    /// NODE mode: the pod shares the host's user namespace.
    #[error(
        "the pod runs in the host's user namespace (NODE mode, hostUsers unset or true); it has \
         no pod user namespace to create: allocate it in POD mode (hostUsers: false)"
    )]
    NodeMode,
    /// The mappings are not a valid ID map.
    #[error("the pod's {which} mappings are not a valid ID map: {source}")]
    Invalid {
        /// `UID` or `GID`.
        which: &'static str,
        /// Why.
        source: crate::idmap::IdMapError,
    },
}

impl PodIdMaps {
    /// The maps of a POD-mode user namespace: each mapping becomes the
    /// extent `containerId hostId length`.
    pub fn from_userns(userns: &UserNamespace) -> Result<Self, PodIdMapsError> {
        if userns.mode != NamespaceMode::Pod {
            return Err(PodIdMapsError::NodeMode);
        }
        let map = |which, mappings: &[crate::userns::IdMapping]| {
            IdMap::new(
                mappings
                    .iter()
                    .map(|m| IdExtent::new(m.container_id, m.host_id, m.length))
                    .collect(),
            )
            .map_err(|source| PodIdMapsError::Invalid { which, source })
        };
        Ok(Self {
            uid_map: map("UID", &userns.uid_mappings)?,
            gid_map: map("GID", &userns.gid_mappings)?,
        })
    }
}

impl PodIdMaps {
    /// These maps as they must be written under `parent`: each extent split
    /// where `parent`'s extents change (container IDs stay continuous), so
    /// the kernel takes them.
    pub fn split_for(&self, parent: &ParentMaps) -> Result<Self, SplitError> {
        Ok(Self {
            uid_map: split_for_parent(&self.uid_map, &parent.uid_map)?,
            gid_map: split_for_parent(&self.gid_map, &parent.gid_map)?,
        })
    }
}

impl PinnedNamespaces {
    /// Every way these facts differ from a correct pin pair with `expected`
    /// maps; empty when the pair is correct: the net pin holds a network
    /// namespace owned by the user namespace on the user pin, whose maps are
    /// `expected` (in any extent order, as the kernel may sort them).
    pub fn problems(&self, expected: &PodIdMaps) -> Vec<String> {
        let mut problems = Vec::new();
        if self.net.kind != NamespaceKind::Net {
            problems.push(format!(
                "the net pin holds a {} namespace, not a network namespace",
                self.net.kind
            ));
        }
        if self.user.kind != NamespaceKind::User {
            problems.push(format!(
                "the user pin holds a {} namespace, not a user namespace",
                self.user.kind
            ));
        }
        if self.net_owner != self.user {
            problems.push(format!(
                "the network namespace {} is owned by {}, not by the pinned user namespace {}",
                self.net, self.net_owner, self.user
            ));
        }
        if self.maps_from != self.user {
            problems.push(format!(
                "the ID maps were read from {}, not from the pinned user namespace {}",
                self.maps_from, self.user
            ));
        }
        for (which, got, want) in [
            ("UID", &self.uid_map, &expected.uid_map),
            ("GID", &self.gid_map, &expected.gid_map),
        ] {
            if !got.same_extents(want) {
                problems.push(format!(
                    "the {which} map is `{}`, not the pod's `{}`",
                    got.one_line(),
                    want.one_line()
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::userns::{HostIdRange, IdMapping};

    fn maps() -> PodIdMaps {
        let mapping = IdMapping::root_to(HostIdRange::new(131072, 65536)).unwrap();
        PodIdMaps::from_userns(&UserNamespace::pod(mapping)).unwrap()
    }

    fn id(kind: NamespaceKind, ino: u64) -> NamespaceId {
        NamespaceId { kind, ino }
    }

    fn good() -> PinnedNamespaces {
        let user = id(NamespaceKind::User, 10);
        PinnedNamespaces {
            net: id(NamespaceKind::Net, 11),
            user,
            net_owner: user,
            maps_from: user,
            uid_map: IdMap::parse("0 131072 65536").unwrap(),
            gid_map: IdMap::parse("0 131072 65536").unwrap(),
        }
    }

    #[test]
    fn a_correct_pair_has_no_problem() {
        assert_eq!(good().problems(&maps()), Vec::<String>::new());
    }

    #[test]
    fn every_difference_is_named() {
        let mut facts = good();
        facts.net_owner = id(NamespaceKind::User, 1);
        facts.uid_map = IdMap::parse("0 196608 65536").unwrap();
        facts.net.kind = NamespaceKind::Other(0x2000_0000);
        let problems = facts.problems(&maps());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("type 0x20000000"), "{problems:?}");
        assert!(
            problems[1].contains("owned by user:[1], not by the pinned user namespace user:[10]"),
            "{problems:?}"
        );
        assert!(
            problems[2].contains("UID map is `0 196608 65536`, not the pod's `0 131072 65536`"),
            "{problems:?}"
        );
    }

    #[test]
    fn node_mode_has_no_pod_maps() {
        assert_eq!(
            PodIdMaps::from_userns(&UserNamespace::node()),
            Err(PodIdMapsError::NodeMode)
        );
    }
}
