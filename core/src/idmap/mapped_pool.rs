//! The userns pool of a process that runs in a rootless user namespace:
//! the IDs that namespace maps, since a child namespace can only map IDs its
//! parent has.
//!
//! The pool is taken from the IDs both `uid_map` and `gid_map` map (a pod
//! gets one range for both), minus the first block (0-65535, the
//! namespace's own users), cut into aligned slots of `ids_per_pod` that lie
//! wholly inside mapped IDs. A slot may span several extents of the parent's
//! map: the map written for it is then split against that map
//! ([`crate::split_for_parent`]). A pool is one run of consecutive IDs, so
//! when the mapped IDs have holes the longest run that holds aligned slots
//! is taken.

use serde::Serialize;

use super::map::IdMap;
use crate::PoolConfig;

/// The pool a namespace's maps leave for pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappedPool {
    /// First inside ID of the pool (aligned to `ids_per_pod`).
    pub first_id: u64,
    /// IDs in the pool: a whole number of slots.
    pub id_count: u64,
    /// IDs given to each pod.
    pub ids_per_pod: u64,
    /// IDs that both maps map, the first block included.
    pub mapped_ids: u64,
}

/// Why a namespace's maps leave no room for a pod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappedPoolError {
    /// Not one aligned slot lies wholly inside the mapped IDs.
    #[error(
        "this user namespace maps {mapped_ids} IDs (in both uid_map and gid_map), and a pod needs \
         {ids_per_pod} consecutive IDs, aligned to {ids_per_pod}, above the first 65536: no pod \
         fits. Give the user a larger subordinate range, at least {needed} IDs that no other \
         user's range overlaps, in /etc/subuid and /etc/subgid (for example `usermod \
         --del-subuids 100000-165535 --del-subgids 100000-165535 --add-subuids \
         100000-{last} --add-subgids 100000-{last} USER` when nothing else uses those \
         IDs), and start the namespace again"
    )]
    TooFewIds {
        /// IDs both maps map.
        mapped_ids: u64,
        /// IDs one pod needs.
        ids_per_pod: u64,
        /// Subordinate IDs that always hold one aligned slot.
        needed: u64,
        /// The last ID of such a range starting at 100000.
        last: u64,
    },
}

impl MappedPool {
    /// The pool of a namespace with these maps, for pods of `ids_per_pod`
    /// IDs (a multiple of 65536, checked when the pool is validated).
    pub fn of(uid_map: &IdMap, gid_map: &IdMap, ids_per_pod: u64) -> Result<Self, MappedPoolError> {
        let runs = intersect(&inside_runs(uid_map), &inside_runs(gid_map));
        let mapped_ids = runs.iter().map(|(first, end)| end - first).sum();
        let best = runs
            .iter()
            .filter_map(|&(first, end)| aligned_slots(first, end, ids_per_pod))
            .max_by_key(|&(first, end)| (end - first, std::cmp::Reverse(first)));
        match best {
            Some((first_id, end)) => Ok(Self {
                first_id,
                id_count: end - first_id,
                ids_per_pod,
                mapped_ids,
            }),
            None => {
                // Subordinate IDs start where the namespace's own block (0,
                // mapped to the user) ends: one more block than a pod
                // needs always holds an aligned slot.
                let needed = ids_per_pod.max(1).saturating_mul(2);
                Err(MappedPoolError::TooFewIds {
                    mapped_ids,
                    ids_per_pod,
                    needed,
                    last: needed.saturating_add(100_000 - 1),
                })
            }
        }
    }

    /// Slots in the pool.
    pub fn slots(&self) -> u64 {
        self.id_count / self.ids_per_pod
    }

    /// The pool as settings, sized for every slot it has.
    pub fn pool_config(&self) -> PoolConfig {
        PoolConfig {
            first_id: self.first_id,
            id_count: self.id_count,
            ids_per_pod: self.ids_per_pod,
            max_pods: self.slots(),
        }
    }
}

/// The inside IDs a map maps, as sorted, merged half-open runs.
fn inside_runs(map: &IdMap) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = map
        .extents()
        .iter()
        .map(|extent| {
            let first = u64::from(extent.inside);
            (first, first + u64::from(extent.count))
        })
        .collect();
    runs.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(runs.len());
    for (first, end) in runs {
        match merged.last_mut() {
            Some(last) if first <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((first, end)),
        }
    }
    merged
}

/// The runs both sorted, merged run lists cover.
fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let (mut i, mut j) = (0, 0);
    let mut both = Vec::new();
    while i < a.len() && j < b.len() {
        let first = a[i].0.max(b[j].0);
        let end = a[i].1.min(b[j].1);
        if first < end {
            both.push((first, end));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    both
}

/// The aligned slots of `ids_per_pod` inside `[first, end)`, above the
/// first block, as a half-open range; `None` when not one fits.
fn aligned_slots(first: u64, end: u64, ids_per_pod: u64) -> Option<(u64, u64)> {
    if ids_per_pod == 0 {
        return None;
    }
    let first = first.max(ids_per_pod).div_ceil(ids_per_pod) * ids_per_pod;
    let end = end / ids_per_pod * ids_per_pod;
    (first < end).then_some((first, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(uid_map: &str, gid_map: &str) -> Result<MappedPool, MappedPoolError> {
        MappedPool::of(
            &IdMap::parse(uid_map).unwrap(),
            &IdMap::parse(gid_map).unwrap(),
            65536,
        )
    }

    #[test]
    fn a_two_line_subuid_layout_gives_the_slots_above_the_first_block() {
        // 0 -> the user, then 100000 + 1000000 IDs from two subordinate
        // ranges: inside IDs 0-1100000 are mapped, across three extents.
        let map = "0 1001 1\n1 1000000 100000\n100001 3000000 1000000\n";
        let found = pool(map, map).unwrap();
        assert_eq!(found.first_id, 65536);
        // 1100001 / 65536 = 16 whole blocks; the first is the namespace's.
        assert_eq!(found.id_count, 15 * 65536);
        assert_eq!(found.slots(), 15);
        assert_eq!(found.mapped_ids, 1_100_001);
        // The first slot, 65536-131071, spans the extent boundary at
        // 100001: it is in the pool all the same.
        let config = found.pool_config().validate().unwrap();
        assert_eq!(config.usable_slot_count(), 15);
    }

    #[test]
    fn only_ids_both_maps_map_count() {
        let uid_map = "0 1000 1\n1 100000 655360\n";
        let gid_map = "0 1000 1\n1 100000 262144\n";
        let found = pool(uid_map, gid_map).unwrap();
        assert_eq!((found.first_id, found.slots()), (65536, 3));
    }

    #[test]
    fn the_longest_run_is_taken_when_the_mapped_ids_have_holes() {
        let map = "0 1000 1\n1 100000 200000\n1000000 2000000 400000\n";
        let found = pool(map, map).unwrap();
        // 65536-196607 (2 slots) against 1048576-1376255 (5 slots).
        assert_eq!((found.first_id, found.slots()), (1_048_576, 5));
    }

    #[test]
    fn the_default_one_line_subuid_leaves_no_slot_and_says_what_to_do() {
        // 65536 subordinate IDs from inside ID 1: IDs 0-65536, not one
        // aligned block above the first.
        let map = "0 1000 1\n1 100000 65536\n";
        let error = pool(map, map).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("maps 65537 IDs"), "{text}");
        assert!(text.contains("a pod needs 65536"), "{text}");
        assert!(
            text.contains("--add-subuids 100000-231071") && text.contains("no other user"),
            "{text}"
        );
    }

    #[test]
    fn host_root_maps_everything_and_the_pool_stops_below_the_invalid_id() {
        let map = "0 0 4294967295\n";
        let found = pool(map, map).unwrap();
        assert_eq!(found.first_id, 65536);
        assert_eq!(found.id_count, (1 << 32) - 2 * 65536);
    }
}
