//! The properties checked after every step, one file each.

mod acknowledged_allocations_survive;
mod acknowledged_releases_stay;
mod deterministic;
mod failures_are_errors;
mod free_slots_match_claims;
mod mounts_map_as_acknowledged;
mod no_reserved_host_ids;
mod no_shared_host_ids;
mod pins_match_acknowledged;
mod recovery_is_idempotent;
mod subpath_mounts_cleaned;

pub use acknowledged_allocations_survive::check as acknowledged_allocations_survive;
pub use acknowledged_releases_stay::check as acknowledged_releases_stay;
pub use deterministic::check as deterministic;
pub use failures_are_errors::{
    FaultWitness, check as failures_are_errors, check_namespaces as namespace_failures_are_errors,
    check_subpath as subpath_failures_are_errors, panicked, removal_verified,
};
pub use free_slots_match_claims::check as free_slots_match_claims;
pub use mounts_map_as_acknowledged::check as mounts_map_as_acknowledged;
pub use no_reserved_host_ids::check as no_reserved_host_ids;
pub use no_shared_host_ids::check as no_shared_host_ids;
pub use pins_match_acknowledged::check as pins_match_acknowledged;
pub use recovery_is_idempotent::check as recovery_is_idempotent;
pub use subpath_mounts_cleaned::{
    cleaned as cleaned_subpaths_are_gone, none_after_power_loss as no_mount_survives_power_loss,
};

/// An invariant that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant (its number and name).
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    pub(crate) fn new(invariant: &'static str, detail: impl Into<String>) -> Self {
        Self {
            invariant,
            detail: detail.into(),
        }
    }
}
