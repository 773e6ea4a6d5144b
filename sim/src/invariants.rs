use std::collections::BTreeMap;

use podns_core::{HostIdRange, UsernsEngine};

/// An invariant that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

/// No two live allocations share a host ID.
pub fn no_overlap(engine: &UsernsEngine) -> Result<(), Violation> {
    let allocations = engine.allocations();
    for (index, a) in allocations.iter().enumerate() {
        for b in &allocations[index + 1..] {
            if a.range.overlaps(&b.range) {
                return Err(Violation {
                    invariant: "no two live allocations share a host ID",
                    detail: format!("{} ({}) and {} ({})", a.pod, a.range, b.pod, b.range),
                });
            }
        }
    }
    Ok(())
}

/// No allocation contains host IDs 0-65535 or 4294967295.
pub fn no_reserved_ids(engine: &UsernsEngine) -> Result<(), Violation> {
    match engine
        .allocations()
        .into_iter()
        .find(|allocation| allocation.range.touches_reserved_ids())
    {
        Some(allocation) => Err(Violation {
            invariant: "no allocation contains a reserved host ID",
            detail: format!("{} holds {}", allocation.pod, allocation.range),
        }),
        None => Ok(()),
    }
}

/// Every acknowledged allocation is present with the same range.
pub fn acknowledged_survive(
    engine: &UsernsEngine,
    acknowledged: &BTreeMap<String, HostIdRange>,
) -> Result<(), Violation> {
    let live: BTreeMap<String, HostIdRange> = engine
        .allocations()
        .into_iter()
        .map(|allocation| (allocation.pod.to_string(), allocation.range))
        .collect();
    for (pod, range) in acknowledged {
        if live.get(pod) != Some(range) {
            return Err(Violation {
                invariant: "an acknowledged allocation survives until its release is acknowledged",
                detail: format!(
                    "{pod} was acknowledged with {range}, now {:?}",
                    live.get(pod)
                ),
            });
        }
    }
    Ok(())
}
