//! The host ID pool and its slots, with kubelet's validation rules and the
//! safety rules kubelet lacks. All arithmetic is in u64 and checked, so no
//! slot can wrap around to host ID 0.

use serde::{Deserialize, Serialize};

use super::range::HostIdRange;

/// Host IDs are 32-bit; this is one past the last of them.
pub const ID_SPACE_END: u64 = 1 << 32;
/// `(uid_t)-1`: the kernel's invalid ID. A uid_map write covering it fails.
pub const INVALID_HOST_ID: u64 = ID_SPACE_END - 1;
/// IDs per pod must be a multiple of this; host IDs below it stay the host's.
pub const ID_BLOCK: u64 = 1 << 16;

/// Pool settings as given by an operator, before validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolConfig {
    /// First host ID of the pool.
    pub first_id: u64,
    /// Number of host IDs in the pool.
    pub id_count: u64,
    /// Host IDs given to each pod.
    pub ids_per_pod: u64,
    /// Pods the node must be able to run; the pool must have at least this
    /// many usable slots.
    pub max_pods: u64,
}

impl Default for PoolConfig {
    /// kubelet's default pool: everything above the first 65536 IDs, for 110
    /// pods.
    fn default() -> Self {
        Self::kubelet_default(ID_BLOCK, 110)
    }
}

impl PoolConfig {
    /// kubelet's default layout for `ids_per_pod`: first = ids_per_pod,
    /// length = 2^32 − ids_per_pod.
    pub fn kubelet_default(ids_per_pod: u64, max_pods: u64) -> Self {
        Self {
            first_id: ids_per_pod,
            id_count: ID_SPACE_END.saturating_sub(ids_per_pod),
            ids_per_pod,
            max_pods,
        }
    }

    /// Checks the settings and derives the slot layout.
    pub fn validate(self) -> Result<Pool, PoolError> {
        let Self {
            first_id,
            id_count,
            ids_per_pod,
            max_pods,
        } = self;
        if ids_per_pod == 0 || ids_per_pod % ID_BLOCK != 0 {
            return Err(PoolError::IdsPerPodNotMultiple { ids_per_pod });
        }
        if first_id % ids_per_pod != 0 {
            return Err(PoolError::FirstIdMisaligned {
                first_id,
                ids_per_pod,
            });
        }
        if first_id < ids_per_pod {
            return Err(PoolError::FirstIdTooLow {
                first_id,
                ids_per_pod,
            });
        }
        if id_count % ids_per_pod != 0 {
            return Err(PoolError::CountMisaligned {
                id_count,
                ids_per_pod,
            });
        }
        match first_id.checked_add(id_count) {
            Some(end) if end <= ID_SPACE_END => {}
            _ => {
                return Err(PoolError::PastIdSpace { first_id, id_count });
            }
        }
        let slot_count = id_count / ids_per_pod;
        let mut pool = Pool {
            config: self,
            slot_count: u32::try_from(slot_count)
                .map_err(|_| PoolError::PastIdSpace { first_id, id_count })?,
            usable: 0,
        };
        pool.usable = pool.count_usable();
        let usable = u64::from(pool.usable_slot_count());
        if usable < max_pods {
            return Err(PoolError::TooSmall {
                usable,
                max_pods,
                excluded: slot_count - usable,
            });
        }
        Ok(pool)
    }
}

/// Pool settings that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// ids_per_pod is zero or not a multiple of 65536.
    #[error(
        "ids per pod {ids_per_pod} is not a positive multiple of 65536; use 65536 or a multiple of it"
    )]
    IdsPerPodNotMultiple {
        /// The rejected value.
        ids_per_pod: u64,
    },
    /// The first ID is not a multiple of ids_per_pod.
    #[error(
        "pool first ID {first_id} is not a multiple of ids per pod {ids_per_pod}; choose a multiple"
    )]
    FirstIdMisaligned {
        /// The rejected first ID.
        first_id: u64,
        /// The slot size.
        ids_per_pod: u64,
    },
    /// The first ID would let a pod map host IDs reserved for the host.
    #[error(
        "pool first ID {first_id} must be at least ids per pod {ids_per_pod}, so that host IDs 0-65535 are never handed out"
    )]
    FirstIdTooLow {
        /// The rejected first ID.
        first_id: u64,
        /// The slot size.
        ids_per_pod: u64,
    },
    /// The ID count is not a multiple of ids_per_pod.
    #[error(
        "pool ID count {id_count} is not a multiple of ids per pod {ids_per_pod}; choose a multiple"
    )]
    CountMisaligned {
        /// The rejected count.
        id_count: u64,
        /// The slot size.
        ids_per_pod: u64,
    },
    /// The pool ends past host ID 4294967295.
    #[error(
        "pool of {id_count} IDs from {first_id} ends past host ID 4294967295; shrink the ID count"
    )]
    PastIdSpace {
        /// The first ID.
        first_id: u64,
        /// The count.
        id_count: u64,
    },
    /// Fewer usable slots than max_pods.
    #[error(
        "pool has {usable} usable slots ({excluded} excluded because they would contain host ID 4294967295), fewer than max pods {max_pods}; enlarge the pool or lower max pods"
    )]
    TooSmall {
        /// Slots that can be handed out.
        usable: u64,
        /// The required number of pods.
        max_pods: u64,
        /// Slots never handed out.
        excluded: u64,
    },
}

/// Index of a slot in the pool: slot `i` covers host IDs
/// `[first_id + i * ids_per_pod, + ids_per_pod)`.
pub type SlotIndex = u32;

/// A validated pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    config: PoolConfig,
    slot_count: u32,
    usable: u32,
}

/// Where a host ID range sits relative to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Exactly one slot of the pool.
    Slot(SlotIndex),
    /// Not entirely inside the pool.
    OutOfPool,
    /// Inside the pool but not starting on a slot boundary.
    Misaligned,
    /// Starting on a slot boundary with a length other than ids_per_pod.
    WrongLength,
}

impl Pool {
    /// The settings this pool was validated from.
    pub fn config(&self) -> PoolConfig {
        self.config
    }

    /// All slots, usable or not.
    pub fn slot_count(&self) -> u32 {
        self.slot_count
    }

    /// Host IDs covered by `slot`.
    pub fn slot_range(&self, slot: SlotIndex) -> HostIdRange {
        let first = self.config.first_id + u64::from(slot) * self.config.ids_per_pod;
        HostIdRange::new(first, self.config.ids_per_pod)
    }

    /// True when `slot` must never be handed out: its range would contain a
    /// host ID reserved for the host (0-65535) or the invalid ID 4294967295.
    pub fn is_excluded(&self, slot: SlotIndex) -> bool {
        self.slot_range(slot).touches_reserved_ids()
    }

    /// Slots that can be handed out.
    pub fn usable_slot_count(&self) -> u32 {
        self.usable
    }

    fn count_usable(&self) -> u32 {
        // Excluded slots can only sit at the two ends of the pool: below host
        // ID 65536 (validation already forbids that) or at the top of the ID
        // space. Counting from both ends keeps this O(excluded).
        let head = (0..self.slot_count)
            .take_while(|&slot| self.is_excluded(slot))
            .count() as u32;
        if head == self.slot_count {
            return 0;
        }
        let tail = (0..self.slot_count)
            .rev()
            .take_while(|&slot| self.is_excluded(slot))
            .count() as u32;
        self.slot_count - head - tail
    }

    /// Where `range` sits relative to the pool.
    pub fn place(&self, range: HostIdRange) -> Placement {
        let pool_end = self.config.first_id + self.config.id_count;
        if range.first < self.config.first_id || range.end() > pool_end {
            return Placement::OutOfPool;
        }
        let offset = range.first - self.config.first_id;
        if offset % self.config.ids_per_pod != 0 {
            return Placement::Misaligned;
        }
        if range.len != self.config.ids_per_pod {
            return Placement::WrongLength;
        }
        Placement::Slot((offset / self.config.ids_per_pod) as SlotIndex)
    }

    /// The slots `range` overlaps, as a half-open index range.
    pub fn overlapping_slots(&self, range: HostIdRange) -> std::ops::Range<SlotIndex> {
        let first = self.config.first_id;
        let end = first + self.config.id_count;
        let lo = range.first.max(first);
        let hi = range.end().min(end);
        if lo >= hi {
            return 0..0;
        }
        let per = self.config.ids_per_pod;
        let start = (lo - first) / per;
        let stop = (hi - first).div_ceil(per);
        start as SlotIndex..stop as SlotIndex
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(first_id: u64, id_count: u64, ids_per_pod: u64, max_pods: u64) -> PoolConfig {
        PoolConfig {
            first_id,
            id_count,
            ids_per_pod,
            max_pods,
        }
    }

    #[test]
    fn kubelet_default_excludes_only_the_terminal_slot() {
        let pool = PoolConfig::default().validate().unwrap();
        assert_eq!(pool.slot_count(), 65535);
        assert_eq!(pool.usable_slot_count(), 65534);
        assert!(pool.is_excluded(65534));
        assert!(!pool.is_excluded(65533));
        assert_eq!(pool.slot_range(0), HostIdRange::new(65536, 65536));
    }

    // kubelet's MakeUserNsManager table.
    #[test]
    fn kubelet_validation_rules() {
        assert!(config(65536, 65536 * 110, 65536, 110).validate().is_ok());
        assert_eq!(
            config(65536 + 1, 65536 * 110, 65536, 110).validate(),
            Err(PoolError::FirstIdMisaligned {
                first_id: 65537,
                ids_per_pod: 65536
            })
        );
        assert!(matches!(
            config(0, 65536 * 110, 65536, 110).validate(),
            Err(PoolError::FirstIdTooLow { .. })
        ));
        assert!(matches!(
            config(65536, 65536 * 110 + 1, 65536, 110).validate(),
            Err(PoolError::CountMisaligned { .. })
        ));
        assert!(matches!(
            config(65536, 65536 * 109, 65536, 110).validate(),
            Err(PoolError::TooSmall { usable: 109, .. })
        ));
        assert!(matches!(
            config(65536, 65536 * 110, 65536 + 1, 110).validate(),
            Err(PoolError::IdsPerPodNotMultiple { .. })
        ));
        assert!(matches!(
            config(65536, 65536 * 110, 0, 110).validate(),
            Err(PoolError::IdsPerPodNotMultiple { .. })
        ));
    }

    #[test]
    fn pools_past_the_id_space_or_wrapping_are_refused() {
        assert!(matches!(
            config(1 << 32, 65536, 65536, 1).validate(),
            Err(PoolError::PastIdSpace { .. })
        ));
        assert!(matches!(
            config(u64::MAX - 65535, 65536 * 4, 65536, 1).validate(),
            Err(PoolError::PastIdSpace { .. })
        ));
    }

    #[test]
    fn the_terminal_slot_counts_against_max_pods() {
        let top = ID_SPACE_END - 2 * 65536;
        assert!(config(top, 2 * 65536, 65536, 1).validate().is_ok());
        assert!(matches!(
            config(top, 2 * 65536, 65536, 2).validate(),
            Err(PoolError::TooSmall {
                usable: 1,
                excluded: 1,
                ..
            })
        ));
    }

    #[test]
    fn larger_slots_are_kubelet_compatible() {
        let pool = PoolConfig::kubelet_default(4 * 65536, 110)
            .validate()
            .unwrap();
        assert_eq!(pool.slot_range(1), HostIdRange::new(8 * 65536, 4 * 65536));
        assert_eq!(pool.slot_count(), 16383);
        assert_eq!(pool.usable_slot_count(), 16382);
    }

    #[test]
    fn placement() {
        let pool = PoolConfig::default().validate().unwrap();
        assert_eq!(
            pool.place(HostIdRange::new(131072, 65536)),
            Placement::Slot(1)
        );
        assert_eq!(pool.place(HostIdRange::new(0, 65536)), Placement::OutOfPool);
        assert_eq!(
            pool.place(HostIdRange::new(131073, 65536)),
            Placement::Misaligned
        );
        assert_eq!(
            pool.place(HostIdRange::new(131072, 1000)),
            Placement::WrongLength
        );
        assert_eq!(
            pool.overlapping_slots(HostIdRange::new(131073, 65536)),
            1..3
        );
        assert_eq!(pool.overlapping_slots(HostIdRange::new(0, 1000)), 0..0);
    }
}
