//! The in-memory record of every pod's claim, and the slot map derived from it.
//!
//! Only operations mutate the registry, and only when an effect they issued has
//! completed: a slot is taken before its file is written and freed only after
//! the removal of its file is durable.

use std::collections::{BTreeMap, BTreeSet};

use super::mapping::{IdMapping, UserNamespace};
use super::pool::{Placement, Pool, SlotIndex};
use super::problem::{Problem, ProblemKind};
use super::range::HostIdRange;
use super::slot_map::SlotMap;
use crate::path::{PodUid, Root, RootLabels, RootPath};
use crate::userns::file_format::USERNS_FILE_NAME;

/// What one pod claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// A range read from the file or allocated here.
    Known(KnownClaim),
    /// A file whose range could not be determined.
    Unknown { kind: ProblemKind, detail: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownClaim {
    pub range: HostIdRange,
    pub placement: Placement,
    /// Other pods whose ranges overlap this one.
    pub conflicts: BTreeSet<PodUid>,
    /// An I/O error left the file's durability unknown.
    pub in_doubt: bool,
}

/// A claim found on disk, before it is checked against the pool and the other
/// claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FoundClaim {
    Range(HostIdRange),
    Unknown { kind: ProblemKind, detail: String },
}

#[derive(Debug, Clone)]
pub(crate) struct Registry {
    pool: Pool,
    slots: SlotMap,
    /// Claims on a slot beyond the first (conflicts, foreign ranges): the slot
    /// is freed only when the count drops to zero.
    extra_claims: BTreeMap<SlotIndex, u32>,
    claims: BTreeMap<PodUid, Claim>,
    unknown_claims: BTreeSet<PodUid>,
    /// Pod directories whose entry in the pods directory is known durable:
    /// those recovery listed (it ends with a syncfs) and those created and
    /// synced here. A directory someone else created later is synced before
    /// an allocation is acknowledged in it.
    durable_pod_dirs: BTreeSet<PodUid>,
    labels: RootLabels,
}

impl Registry {
    pub fn new(pool: Pool) -> Self {
        let mut slots = SlotMap::new(pool.slot_count());
        // Excluded slots can only sit at the two ends of the pool (host IDs
        // below 65536, or up to 4294967295): mark them without visiting the
        // other 65,000 slots on every recovery.
        let count = pool.slot_count();
        let head = (0..count).take_while(|&slot| pool.is_excluded(slot));
        let tail = (0..count).rev().take_while(|&slot| pool.is_excluded(slot));
        for slot in head.chain(tail) {
            slots.take(slot);
        }
        Self {
            pool,
            slots,
            extra_claims: BTreeMap::new(),
            claims: BTreeMap::new(),
            unknown_claims: BTreeSet::new(),
            durable_pod_dirs: BTreeSet::new(),
            labels: RootLabels::new(),
        }
    }

    /// How roots are named in messages.
    pub fn labels(&self) -> &RootLabels {
        &self.labels
    }

    /// Sets how roots are named in messages.
    pub fn set_labels(&mut self, labels: RootLabels) {
        self.labels = labels;
    }

    /// True when `pod`'s directory entry is known to survive a power loss.
    pub fn pod_dir_is_durable(&self, pod: &PodUid) -> bool {
        self.durable_pod_dirs.contains(pod)
    }

    /// Records that `pod`'s directory entry is durable.
    pub fn mark_pod_dir_durable(&mut self, pod: &PodUid) {
        self.durable_pod_dirs.insert(pod.clone());
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn claim(&self, pod: &PodUid) -> Option<&Claim> {
        self.claims.get(pod)
    }

    pub fn claims(&self) -> impl Iterator<Item = (&PodUid, &Claim)> {
        self.claims.iter()
    }

    /// How many pods hold a claim.
    pub fn claim_count(&self) -> usize {
        self.claims.len()
    }

    /// Usable slots.
    pub fn capacity(&self) -> u32 {
        self.pool.usable_slot_count()
    }

    /// Usable slots nobody claims.
    pub fn free(&self) -> u32 {
        self.slots.len() - self.slots.taken()
    }

    pub fn slot_map_heap_bytes(&self) -> usize {
        self.slots.heap_bytes()
    }

    /// Pods whose unknown range blocks every new allocation.
    pub fn unknown_claims(&self) -> &BTreeSet<PodUid> {
        &self.unknown_claims
    }

    /// Takes a free slot, searching from `start`.
    pub fn reserve_slot(&mut self, start: SlotIndex) -> Option<SlotIndex> {
        let slot = self.slots.first_free_from(start)?;
        self.slots.take(slot);
        Some(slot)
    }

    /// Gives back a slot taken by [`Registry::reserve_slot`] and never
    /// acknowledged.
    pub fn unreserve_slot(&mut self, slot: SlotIndex) {
        self.slots.free(slot);
    }

    /// Records an acknowledged allocation of a reserved slot.
    pub fn record_allocated(&mut self, pod: PodUid, slot: SlotIndex) {
        self.record_slot(pod, slot, false);
    }

    /// Records a reserved slot whose file may or may not be durable; the slot
    /// stays taken.
    pub fn record_in_doubt(&mut self, pod: PodUid, slot: SlotIndex) {
        self.record_slot(pod, slot, true);
    }

    fn record_slot(&mut self, pod: PodUid, slot: SlotIndex, in_doubt: bool) {
        let range = self.pool.slot_range(slot);
        self.claims.insert(
            pod,
            Claim::Known(KnownClaim {
                range,
                placement: Placement::Slot(slot),
                conflicts: BTreeSet::new(),
                in_doubt,
            }),
        );
    }

    /// Marks an existing claim in doubt (a release whose durability failed).
    pub fn mark_in_doubt(&mut self, pod: &PodUid) {
        if let Some(Claim::Known(known)) = self.claims.get_mut(pod) {
            known.in_doubt = true;
        }
    }

    /// Forgets `pod`'s claim after its file's removal is durable, freeing the
    /// slots nobody else claims.
    pub fn remove(&mut self, pod: &PodUid) -> Option<Claim> {
        let claim = self.claims.remove(pod)?;
        self.unknown_claims.remove(pod);
        if let Claim::Known(known) = &claim {
            self.unclaim_slots(known.range);
            for other in &known.conflicts {
                if let Some(Claim::Known(other_claim)) = self.claims.get_mut(other) {
                    other_claim.conflicts.remove(pod);
                }
            }
        }
        Some(claim)
    }

    /// Replaces everything with the claims found on disk; `pod_dirs` are the
    /// pod directories listed (durable once recovery's syncfs completed).
    pub fn rebuild(&mut self, mut found: Vec<(PodUid, FoundClaim)>, pod_dirs: BTreeSet<PodUid>) {
        let labels = std::mem::take(&mut self.labels);
        *self = Registry::new(self.pool);
        self.labels = labels;
        self.durable_pod_dirs = pod_dirs;
        // Recovery lists pods in order, so the map below is built in one pass.
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // Conflicts are found on (range, index into `found`) pairs, so no pod
        // UID is copied for the common case of no conflict at all.
        let mut known: Vec<(HostIdRange, usize)> = found
            .iter()
            .enumerate()
            .filter_map(|(index, (_, claim))| match claim {
                FoundClaim::Range(range) => Some((*range, index)),
                FoundClaim::Unknown { .. } => None,
            })
            .collect();
        known.sort_unstable();
        let mut conflicts: Vec<(usize, usize)> = Vec::new();
        for (position, (range, index)) in known.iter().enumerate() {
            for (other_range, other) in &known[position + 1..] {
                if other_range.first >= range.end() {
                    break;
                }
                conflicts.push((*index, *other));
            }
        }
        for (range, _) in &known {
            self.claim_slots(*range);
        }
        let names: Vec<PodUid> = if conflicts.is_empty() {
            Vec::new()
        } else {
            found.iter().map(|(pod, _)| pod.clone()).collect()
        };
        self.claims = found
            .into_iter()
            .map(|(pod, claim)| {
                let claim = match claim {
                    FoundClaim::Range(range) => Claim::Known(KnownClaim {
                        range,
                        placement: self.pool.place(range),
                        conflicts: BTreeSet::new(),
                        in_doubt: false,
                    }),
                    FoundClaim::Unknown { kind, detail } => {
                        self.unknown_claims.insert(pod.clone());
                        Claim::Unknown { kind, detail }
                    }
                };
                (pod, claim)
            })
            .collect();
        for (a, b) in conflicts {
            self.add_conflict(&names[a], &names[b]);
            self.add_conflict(&names[b], &names[a]);
        }
    }

    fn add_conflict(&mut self, pod: &PodUid, other: &PodUid) {
        if let Some(Claim::Known(known)) = self.claims.get_mut(pod) {
            known.conflicts.insert(other.clone());
        }
    }

    fn claim_slots(&mut self, range: HostIdRange) {
        for slot in self.pool.overlapping_slots(range) {
            if !self.slots.take(slot) {
                *self.extra_claims.entry(slot).or_insert(0) += 1;
            }
        }
    }

    fn unclaim_slots(&mut self, range: HostIdRange) {
        for slot in self.pool.overlapping_slots(range) {
            match self.extra_claims.get_mut(&slot) {
                Some(count) if *count > 1 => *count -= 1,
                Some(_) => {
                    self.extra_claims.remove(&slot);
                }
                None if self.pool.is_excluded(slot) => {}
                None => {
                    self.slots.free(slot);
                }
            }
        }
    }

    /// The problem of `pod`'s claim, if any.
    pub fn problem_of(&self, pod: &PodUid) -> Option<Problem> {
        self.problem_of_claim(pod, self.claims.get(pod)?)
    }

    fn problem_of_claim(&self, pod: &PodUid, claim: &Claim) -> Option<Problem> {
        let config = self.pool.config();
        let (kind, message) = match claim {
            Claim::Unknown { kind, detail } => (
                *kind,
                format!(
                    "{detail}; the range of pod {pod} is unknown, so new allocations are refused on this node until the file is fixed or the pod is released (podns release {pod})"
                ),
            ),
            Claim::Known(known) if known.in_doubt => (
                ProblemKind::InDoubt,
                format!(
                    "an I/O error left it unknown whether the userns file of pod {pod} ({}) is on disk; the range stays reserved: release the pod again or restart podns to re-read the disk",
                    known.range
                ),
            ),
            Claim::Known(known) if !known.conflicts.is_empty() => {
                let others: Vec<&str> = known.conflicts.iter().map(PodUid::as_str).collect();
                (
                    ProblemKind::Conflict,
                    format!(
                        "host IDs {} of pod {pod} overlap the range of pod(s) {}; both are refused until all but one are released",
                        known.range,
                        others.join(", ")
                    ),
                )
            }
            Claim::Known(known) if known.range.touches_reserved_ids() => (
                ProblemKind::UnsafeRange,
                format!(
                    "host IDs {} of pod {pod} include IDs reserved for the host (0-65535) or the invalid ID 4294967295; podns refuses to hand them out: release the pod and allocate again",
                    known.range
                ),
            ),
            Claim::Known(known) => match known.placement {
                Placement::Slot(_) => return None,
                Placement::OutOfPool => (
                    ProblemKind::OutOfPool,
                    format!(
                        "host IDs {} of pod {pod} lie outside the pool of {} IDs from {}; the pod keeps its mapping and the pool slots it overlaps stay blocked; restore the old pool settings or release the pod once it has stopped",
                        known.range, config.id_count, config.first_id
                    ),
                ),
                Placement::Misaligned => (
                    ProblemKind::Misaligned,
                    format!(
                        "host IDs {} of pod {pod} do not start on a multiple of {} IDs from {}; the pod keeps its mapping and the slots it overlaps stay blocked; release the pod once it has stopped",
                        known.range, config.ids_per_pod, config.first_id
                    ),
                ),
                Placement::WrongLength => (
                    ProblemKind::WrongLength,
                    format!(
                        "pod {pod} holds {} host IDs ({}) but the pool gives {} per pod; the pod keeps its mapping and the slots it overlaps stay blocked; release the pod once it has stopped",
                        known.range.len, known.range, config.ids_per_pod
                    ),
                ),
            },
        };
        Some(Problem {
            pod: pod.clone(),
            path: RootPath::pod_file(Root::Pods, pod, USERNS_FILE_NAME),
            kind,
            message,
        })
    }

    /// Every problem, sorted by pod.
    pub fn problems(&self) -> Vec<Problem> {
        // One pass over the claims, no lookup per pod: recovery calls this
        // for every pod on the node.
        self.claims
            .iter()
            .filter_map(|(pod, claim)| self.problem_of_claim(pod, claim))
            .collect()
    }

    /// The mapping a pod may be started with, if its claim allows one.
    pub fn usable_mapping(&self, pod: &PodUid) -> Option<Result<UserNamespace, Problem>> {
        let claim = self.claims.get(pod)?;
        let problem = self.problem_of(pod);
        let mapping = match (claim, &problem) {
            (_, Some(problem)) if !problem.kind.keeps_mapping() => None,
            (Claim::Known(known), _) => IdMapping::root_to(known.range),
            (Claim::Unknown { .. }, _) => None,
        };
        Some(match (mapping, problem) {
            (Some(mapping), _) => Ok(UserNamespace::pod(mapping)),
            (None, Some(problem)) => Err(problem),
            // Ranges come from 32-bit files, so this cannot happen; refuse
            // rather than guess.
            (None, None) => Err(Problem {
                pod: pod.clone(),
                path: RootPath::pod_file(Root::Pods, pod, USERNS_FILE_NAME),
                kind: ProblemKind::UnsafeRange,
                message: format!("the range of pod {pod} does not fit 32-bit IDs"),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::userns::pool::PoolConfig;

    /// kubelet's default pool: 65,535 slots of 64 Ki IDs from host ID 65536,
    /// the last of which holds the invalid ID 4294967295.
    fn registry() -> Registry {
        Registry::new(PoolConfig::kubelet_default(65536, 110).validate().unwrap())
    }

    fn pod(name: &str) -> PodUid {
        PodUid::new(name).unwrap()
    }

    fn found(name: &str, first: u64) -> (PodUid, FoundClaim) {
        (pod(name), FoundClaim::Range(HostIdRange::new(first, 65536)))
    }

    fn conflicts_of(registry: &Registry, name: &str) -> Vec<String> {
        match registry.claim(&pod(name)) {
            Some(Claim::Known(known)) => known.conflicts.iter().map(|p| p.to_string()).collect(),
            other => panic!("{name} holds no known claim: {other:?}"),
        }
    }

    #[test]
    fn the_default_pool_offers_every_slot_but_the_one_with_the_invalid_id() {
        let registry = registry();
        assert_eq!(registry.capacity(), 65534);
        assert_eq!(registry.free(), 65534);
        // One bit per slot and one per word of them: 8 KiB and a little.
        let bytes = registry.slot_map_heap_bytes();
        assert!((8192..=9216).contains(&bytes), "{bytes} bytes");
    }

    #[test]
    fn overlapping_claims_conflict_and_their_slots_stay_taken_until_the_last_goes() {
        let mut registry = registry();
        let free = registry.free();
        // a and c hold slot 1; b, misaligned, straddles slots 1 and 2.
        registry.rebuild(
            vec![
                found("a", 131072),
                found("b", 131072 + 32768),
                found("c", 131072),
            ],
            BTreeSet::new(),
        );
        assert_eq!(conflicts_of(&registry, "a"), ["b", "c"]);
        assert_eq!(conflicts_of(&registry, "b"), ["a", "c"]);
        assert_eq!(conflicts_of(&registry, "c"), ["a", "b"]);
        let kinds: Vec<ProblemKind> = registry.problems().iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [ProblemKind::Conflict; 3]);
        assert!(matches!(registry.usable_mapping(&pod("a")), Some(Err(_))));
        assert_eq!(registry.free(), free - 2);

        registry.remove(&pod("a"));
        assert_eq!(conflicts_of(&registry, "b"), ["c"]);
        assert_eq!(registry.free(), free - 2, "b and c still hold slot 1");
        registry.remove(&pod("c"));
        assert!(conflicts_of(&registry, "b").is_empty());
        assert_eq!(registry.free(), free - 2, "b still holds slots 1 and 2");
        let problems = registry.problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::Misaligned);
        // A misaligned range keeps its mapping: the pod may still start.
        assert!(matches!(registry.usable_mapping(&pod("b")), Some(Ok(_))));
        registry.remove(&pod("b"));
        assert_eq!(registry.free(), free);
        assert!(registry.problems().is_empty());
    }

    #[test]
    fn a_claim_on_the_excluded_slot_is_refused_and_its_release_frees_nothing() {
        let mut registry = registry();
        let free = registry.free();
        // The last slot holds the invalid host ID 4294967295.
        registry.rebuild(vec![found("a", 65535 * 65536)], BTreeSet::new());
        let problems = registry.problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::UnsafeRange);
        assert_eq!(registry.free(), free);
        registry.remove(&pod("a"));
        assert_eq!(registry.free(), free, "the excluded slot stays taken");
        assert_eq!(registry.reserve_slot(65534), Some(0));
    }

    #[test]
    fn adjacent_ranges_do_not_conflict() {
        let mut registry = registry();
        registry.rebuild(
            vec![found("a", 131072), found("b", 196608)],
            BTreeSet::new(),
        );
        assert!(registry.problems().is_empty());
        assert_eq!(registry.free(), registry.capacity() - 2);
    }

    #[test]
    fn a_release_frees_its_slot_for_the_next_reservation() {
        let mut registry = registry();
        let free = registry.free();
        let slot = registry.reserve_slot(7).unwrap();
        assert_eq!(slot, 7);
        registry.record_allocated(pod("a"), slot);
        assert_eq!(registry.free(), free - 1);
        assert_eq!(registry.reserve_slot(7), Some(8));
        registry.unreserve_slot(8);
        registry.remove(&pod("a"));
        assert_eq!(registry.free(), free);
        assert_eq!(registry.reserve_slot(7), Some(7));
    }
}
