//! # podns-sim: seeded simulation of restarts and crashes
//!
//! Runs the real core engine and driver against the mock backend under a
//! seeded workload of allocations, releases, restarts and crashes at random
//! effect boundaries, and checks after every step that no two live
//! allocations share a host ID, that none contains a reserved host ID, and
//! that every acknowledged allocation survives with the same range until its
//! release is acknowledged. The same seed always replays the same run.

mod invariants;
mod workload;

pub use invariants::Violation;
pub use workload::{SeedReport, run_seed};
