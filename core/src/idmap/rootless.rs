//! Whether a process runs rootless, from its own `uid_map`.

use serde::Serialize;

use super::map::IdMap;

/// What a process's `uid_map` (read from `/proc/self/uid_map`) says about
/// the IDs it can hand to child namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootlessStatus {
    /// True when inside ID 0 maps to a non-zero outside ID, or is not mapped
    /// at all: the process's root is not the parent's root.
    pub rootless: bool,
    /// The outside ID inside ID 0 maps to; `None` when 0 is unmapped.
    pub root_maps_to: Option<u32>,
    /// IDs the process can map into a child namespace: the sum of the
    /// map's counts.
    pub available_ids: u64,
}

impl RootlessStatus {
    /// The status of a process whose `uid_map` is `map`.
    pub fn of(map: &IdMap) -> Self {
        let root_maps_to = map.to_outside(0);
        Self {
            rootless: root_maps_to != Some(0),
            root_maps_to,
            available_ids: map.id_count(),
        }
    }
}

impl IdMap {
    /// True when this `uid_map` makes its process rootless: inside ID 0 maps
    /// to a non-zero outside ID or is not mapped. See [`RootlessStatus`].
    pub fn is_rootless(&self) -> bool {
        self.to_outside(0) != Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(text: &str) -> RootlessStatus {
        RootlessStatus::of(&IdMap::parse(text).unwrap())
    }

    #[test]
    fn the_initial_namespace_is_not_rootless() {
        assert_eq!(
            status("0 0 4294967295"),
            RootlessStatus {
                rootless: false,
                root_maps_to: Some(0),
                available_ids: 4294967295
            }
        );
    }

    #[test]
    fn root_mapped_to_a_user_is_rootless() {
        assert_eq!(
            status("0 1000 1\n1 100000 65536\n"),
            RootlessStatus {
                rootless: true,
                root_maps_to: Some(1000),
                available_ids: 65537
            }
        );
    }

    #[test]
    fn unmapped_root_is_rootless() {
        let map = IdMap::parse("1000 1000 1").unwrap();
        assert!(map.is_rootless());
        assert_eq!(RootlessStatus::of(&map).root_maps_to, None);
        assert!(IdMap::default().is_rootless());
        assert_eq!(RootlessStatus::of(&IdMap::default()).available_ids, 0);
    }

    #[test]
    fn root_mapped_to_root_is_not_rootless() {
        assert!(!IdMap::parse("1 5000 10\n0 0 1").unwrap().is_rootless());
    }
}
