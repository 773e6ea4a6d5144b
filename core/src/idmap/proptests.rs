//! Property tests: splitting keeps every ID and fits the parent, the limit of
//! 340 extents holds, rendering round-trips, and no input makes a parser
//! panic.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// Cases for the properties over generated maps (proptest's default).
const MAP_CASES: u32 = 256;
/// Cases for the parsers fed arbitrary input: cheap, so more of them.
const PARSER_CASES: u32 = 2048;

/// A valid map of 1..=`max_extents` extents of 1..`max_count` IDs each: the
/// inside ranges are laid out from a base in `inside_base`, three in four
/// adjacent and the others after a gap up to `max_gap` (0 for a contiguous
/// inside side), the outside ranges in a
/// shuffled order from a base in `outside_base` with gaps below 50, and the
/// lines listed in yet another order.
fn arb_map(
    max_extents: usize,
    max_count: u32,
    max_gap: u32,
    inside_base: std::ops::Range<u32>,
    outside_base: std::ops::Range<u32>,
) -> impl Strategy<Value = IdMap> {
    (1..=max_extents)
        .prop_flat_map(move |n| {
            (
                vec(
                    (prop_oneof![3 => Just(0), 1 => 0..=max_gap], 1..max_count),
                    n,
                ),
                vec(0u32..50, n),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                inside_base.clone(),
                outside_base.clone(),
            )
        })
        .prop_map(
            |(inside, outside_gaps, outside_order, listing, inside_base, outside_base)| {
                let mut inside_starts = Vec::new();
                let mut cursor = inside_base;
                for &(gap, count) in &inside {
                    cursor += gap;
                    inside_starts.push(cursor);
                    cursor += count;
                }
                let mut outside_starts = vec![0; inside.len()];
                let mut cursor = outside_base;
                for (&index, gap) in outside_order.iter().zip(outside_gaps) {
                    cursor += gap;
                    outside_starts[index] = cursor;
                    cursor += inside[index].1;
                }
                let extents = listing
                    .iter()
                    .map(|&i| IdExtent::new(inside_starts[i], outside_starts[i], inside[i].1))
                    .collect();
                IdMap::new(extents).expect("generated maps are valid")
            },
        )
}

/// Every (inside -> outside) pair of a small map.
fn pairs(map: &IdMap) -> BTreeMap<u32, u32> {
    map.extents()
        .iter()
        .flat_map(|extent| (0..extent.count).map(|i| (extent.inside + i, extent.outside + i)))
        .collect()
}

/// The properties every split result or error must have.
fn check_split(request: &IdMap, parent: &IdMap) -> Result<(), TestCaseError> {
    let covered = |host: u32| parent.find(IdSide::Inside, host).is_some();
    match split_for_parent(request, parent) {
        Ok(split) => {
            // (a) Every output extent lies inside ONE parent extent.
            prop_assert_eq!(split.first_extent_outside(parent), None);
            // (b) Exactly the requested (container -> host) pairs.
            prop_assert_eq!(pairs(&split), pairs(request));
            prop_assert!(split.len() <= MAX_ID_MAP_EXTENTS);
            // A request that already fits stays unchanged.
            if request.first_extent_outside(parent).is_none() {
                prop_assert_eq!(&split, request);
            }
        }
        Err(SplitError::NotInParent {
            host_id,
            line,
            extent,
        }) => {
            prop_assert_eq!(request.extents()[line - 1], extent);
            prop_assert!(extent.contains(IdSide::Outside, host_id));
            prop_assert!(!covered(host_id));
            // It is the FIRST missing ID, in request order.
            for earlier in &request.extents()[..line - 1] {
                for host in earlier.outside..earlier.outside + earlier.count {
                    prop_assert!(covered(host), "host {} missing earlier", host);
                }
            }
            for host in extent.outside..host_id {
                prop_assert!(covered(host), "host {} missing earlier", host);
            }
        }
        Err(error @ SplitError::TooManyExtents { .. }) => {
            prop_assert!(false, "small maps never need 340 extents: {}", error);
        }
    }
    Ok(())
}

/// A request of `n` extents whose host ranges are cut at `cuts` within
/// `[0, total)`, mapped from container IDs at `container_base`.
fn cut_request(total: u32, cuts: &BTreeSet<u32>, container_base: u32) -> IdMap {
    let mut bounds: Vec<u32> = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&cut| cut > 0 && cut < total));
    bounds.push(total);
    let extents = bounds
        .windows(2)
        .map(|pair| IdExtent::new(container_base + pair[0], pair[0], pair[1] - pair[0]))
        .collect();
    IdMap::new(extents).expect("cuts of one range form a valid map")
}

/// True when `map` maps every inside ID in `[first, end)`: walked extent
/// by extent, apart from the code under test.
fn covers(map: &IdMap, first: u64, end: u64) -> bool {
    let mut cursor = first;
    for extent in map.sorted_by_inside() {
        let (start, stop) = (u64::from(extent.inside), extent.inside_end());
        if start <= cursor && cursor < stop {
            cursor = stop;
        }
    }
    cursor >= end
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(MAP_CASES))]

    /// Random requests against random parents with gaps: either a split with
    /// properties (a) and (b), or the first missing host ID.
    #[test]
    fn split_keeps_every_pair_or_names_the_first_missing_id(
        parent in arb_map(8, 40, 20, 0..10, 0..4_000_000_000),
        request in arb_map(4, 40, 20, 0..4_000_000_000, 0..30),
    ) {
        check_split(&request, &parent)?;
    }

    /// Parents whose inside side is contiguous from 0: every request inside
    /// it must split, with properties (a) and (b).
    #[test]
    fn split_succeeds_when_the_parent_covers_the_request(
        parent in arb_map(12, 40, 0, 0..1, 0..4_000_000_000),
        request in arb_map(8, 60, 15, 0..4_000_000_000, 0..100),
    ) {
        let available = parent.id_count();
        let inside_request: Vec<IdExtent> = request
            .extents()
            .iter()
            .copied()
            .filter(|extent| extent.outside_end() <= available)
            .collect();
        prop_assume!(!inside_request.is_empty());
        let request = IdMap::new(inside_request).unwrap();
        prop_assert!(split_for_parent(&request, &parent).is_ok());
        check_split(&request, &parent)?;
    }

    /// (c) The 340-extent limit: a parent of `n` extents of `size` IDs
    /// (contiguous inside, scattered outside) and a request over all of them
    /// cut at random points needs exactly one piece per segment between the
    /// union of both sets of boundaries; more than 340 is an error.
    #[test]
    fn split_results_never_pass_340_extents(
        (n, size, cuts, container_base) in (100u32..=340, 1u32..=3).prop_flat_map(|(n, size)| {
            (
                Just(n),
                Just(size),
                vec(1..n * size, 0..=339).prop_map(|cuts| cuts.into_iter().collect::<BTreeSet<_>>()),
                0u32..1_000_000,
            )
        }),
    ) {
        let total = n * size;
        let parent = IdMap::new(
            (0..n).map(|i| IdExtent::new(i * size, i * (size + 7), size)).collect(),
        ).unwrap();
        let request = cut_request(total, &cuts, container_base);
        let boundaries: BTreeSet<u32> = cuts
            .iter()
            .copied()
            .chain((1..n).map(|i| i * size))
            .collect();
        let needed = boundaries.len() + 1;
        match split_for_parent(&request, &parent) {
            Ok(split) => {
                prop_assert!(needed <= MAX_ID_MAP_EXTENTS);
                prop_assert_eq!(split.len(), needed);
                prop_assert_eq!(split.first_extent_outside(&parent), None);
                prop_assert_eq!(pairs(&split), pairs(&request));
            }
            Err(SplitError::TooManyExtents { max, .. }) => {
                prop_assert_eq!(max, MAX_ID_MAP_EXTENTS);
                prop_assert!(needed > MAX_ID_MAP_EXTENTS, "needed only {}", needed);
            }
            Err(other) => prop_assert!(false, "unexpected {}", other),
        }
    }

    /// Both text forms parse back to the same map.
    #[test]
    fn rendering_round_trips(
        map in arb_map(20, 100_000, 1_000_000, 0..4_000_000_000, 0..4_000_000_000),
    ) {
        prop_assert_eq!(&IdMap::parse(&map.render_for_write()).unwrap(), &map);
        prop_assert_eq!(&IdMap::parse(&map.render_kernel()).unwrap(), &map);
    }

    /// Every slot of a namespace's pool lies wholly inside IDs both of its
    /// maps map, and when there is no pool, no aligned block (of the first
    /// 2,000,000 IDs, where the generated maps lie) is mapped whole.
    #[test]
    fn a_mapped_pool_holds_only_mapped_ids(
        uid_map in arb_map(6, 400_000, 300_000, 0..200_000, 0..4_000_000_000),
        gid_map in arb_map(6, 400_000, 300_000, 0..200_000, 0..4_000_000_000),
    ) {
        const PER_POD: u64 = 65536;
        let whole = |first: u64| covers(&uid_map, first, first + PER_POD)
            && covers(&gid_map, first, first + PER_POD);
        match MappedPool::of(&uid_map, &gid_map, PER_POD) {
            Ok(pool) => {
                prop_assert!(pool.first_id >= PER_POD && pool.first_id % PER_POD == 0);
                prop_assert!(pool.slots() >= 1 && pool.id_count % PER_POD == 0);
                for slot in 0..pool.slots() {
                    let first = pool.first_id + slot * PER_POD;
                    prop_assert!(whole(first), "slot {} at {} is not mapped whole", slot, first);
                }
            }
            Err(MappedPoolError::TooFewIds { .. }) => {
                // Then no aligned block above the first is mapped whole.
                for block in 1..(1u64 << 32) / PER_POD {
                    let first = block * PER_POD;
                    if first > 2_000_000 {
                        break;
                    }
                    prop_assert!(!whole(first), "block at {} is mapped whole", first);
                }
            }
        }
    }

    /// `IdMap::new` accepts exactly the maps the kernel's rules allow.
    #[test]
    fn validation_matches_the_kernel_rules(
        extents in vec(
            (0u32..64, 0u32..64, 0u32..8).prop_map(|(i, o, c)| IdExtent::new(i, o, c)),
            0..6,
        ),
        high in any::<bool>(),
    ) {
        // Sometimes move everything near the top of the ID space.
        let extents: Vec<IdExtent> = extents
            .into_iter()
            .map(|e| if high {
                IdExtent::new(u32::MAX - 64 + e.inside, e.outside, e.count)
            } else {
                e
            })
            .collect();
        let valid = extents.iter().all(|e| {
            e.count > 0 && e.inside_end() <= ID_MAP_END && e.outside_end() <= ID_MAP_END
        }) && extents.iter().enumerate().all(|(i, a)| {
            extents[..i].iter().all(|b| {
                !a.overlaps(b, IdSide::Inside) && !a.overlaps(b, IdSide::Outside)
            })
        });
        prop_assert_eq!(IdMap::new(extents).is_ok(), valid);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(PARSER_CASES))]

    /// (d) No bytes make the map parser panic; what it accepts is valid and
    /// round-trips.
    #[test]
    fn map_parser_never_panics_on_bytes(bytes in vec(any::<u8>(), 0..512)) {
        if let Ok(map) = IdMap::parse_bytes(&bytes) {
            prop_assert_eq!(IdMap::parse(&map.render_for_write()).unwrap(), map);
        }
    }

    /// (d) Text close to the format reaches the deeper checks.
    #[test]
    fn map_parser_never_panics_on_near_misses(
        text in "([ \t]{0,2}[0-9+-]{0,11}[ \t]{1,2}[0-9]{0,11}[ \t]{0,2}[0-9]{0,11}[ \t]{0,2}\n?){0,8}",
    ) {
        if let Ok(map) = IdMap::parse(&text) {
            prop_assert_eq!(&IdMap::parse(&map.render_kernel()).unwrap(), &map);
        } else {
            let error = IdMap::parse(&text).unwrap_err();
            prop_assert!(error.line >= 1);
        }
    }

    /// (d) No bytes make the subuid/subgid parser panic.
    #[test]
    fn subid_file_parser_never_panics_on_bytes(bytes in vec(any::<u8>(), 0..512)) {
        let _ = SubidTable::parse_file_bytes("/etc/subuid", &bytes);
    }

    /// (d) Text close to the subuid format reaches the deeper checks; what is
    /// accepted can be looked up.
    #[test]
    fn subid_file_parser_never_panics_on_near_misses(
        text in "([ #]?[a-z0-9 ]{0,6}:?[0-9x+ ]{0,11}:?[0-9:]{0,11}\n?){0,8}",
    ) {
        if let Ok(table) = SubidTable::parse_file("/etc/subuid", &text) {
            for entry in table.entries() {
                prop_assert!(entry.range.count > 0);
                prop_assert!(!table.ranges_of(&entry.owner, None).is_empty());
            }
        }
    }

    /// (d) No bytes make the getsubids parser panic.
    #[test]
    fn getsubids_parser_never_panics_on_bytes(bytes in vec(any::<u8>(), 0..512)) {
        let _ = SubidTable::parse_getsubids_bytes("getsubids", &bytes);
    }

    /// (d) Text close to the getsubids format reaches the deeper checks.
    #[test]
    fn getsubids_parser_never_panics_on_near_misses(
        text in "([0-9]{0,2}:? ?[a-z]{0,6} [0-9]{0,11} [0-9]{0,11} ?\n?){0,6}",
    ) {
        let _ = SubidTable::parse_getsubids("getsubids", &text);
    }

    /// (d) Neither the subid pool lookup panics on arbitrary files.
    #[test]
    fn subid_pool_never_panics(
        subuid in vec(any::<u8>(), 0..128),
        subgid in "([a-z]{0,3}:[0-9]{0,6}:[0-9]{0,6}\n){0,3}",
        user in "[a-z]{0,3}",
    ) {
        let _ = SubidPoolRange::from_files(
            SubidSource { name: "/etc/subuid", contents: &subuid },
            SubidSource { name: "/etc/subgid", contents: subgid.as_bytes() },
            &user,
            None,
        );
    }
}
