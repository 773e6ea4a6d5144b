//! Invariant 11: the slots the node counts as free are exactly the usable
//! slots no claimed range overlaps.

use std::collections::BTreeSet;

use podns_core::UsernsEngine;

use super::Violation;

const NAME: &str = "11. the free slots are exactly the usable slots no claim overlaps";

/// Recomputes, from the claims alone, how many slots are taken, and compares
/// it with the node's own count: a release that never frees its slot (the
/// pool shrinks until nothing can be allocated) or one that frees a slot
/// another claim still overlaps (the next allocation shares host IDs) shows
/// here at once, long before either is visible in an allocation.
pub fn check(engine: &UsernsEngine) -> Result<(), Violation> {
    let pool = engine.pool();
    let taken: BTreeSet<u32> = engine
        .claimed_ranges()
        .flat_map(|range| pool.overlapping_slots(range))
        .filter(|&slot| !pool.is_excluded(slot))
        .collect();
    let expected = engine.capacity() - taken.len() as u32;
    if engine.free() == expected {
        return Ok(());
    }
    Err(Violation::new(
        NAME,
        format!(
            "{} slots are free, but the claims leave {expected} of {} free",
            engine.free(),
            engine.capacity()
        ),
    ))
}
