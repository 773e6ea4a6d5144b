//! Invariant 2: no allocation contains a host ID in 0..=65535 or 4294967295.

use podns_core::UsernsEngine;

use super::Violation;

const NAME: &str = "2. no allocation contains host IDs 0-65535 or 4294967295";

/// Checks every allocation the engine would hand out.
pub fn check(engine: &UsernsEngine) -> Result<(), Violation> {
    match engine
        .allocations()
        .into_iter()
        .find(|allocation| allocation.range.touches_reserved_ids())
    {
        Some(allocation) => Err(Violation::new(
            NAME,
            format!("{} holds {}", allocation.pod, allocation.range),
        )),
        None => Ok(()),
    }
}
