//! # podns-sim: deterministic simulation of crashes, restarts and faults
//!
//! podns promises that no crash, restart or fault ever makes two pods share a
//! host ID, maps host root, or loses an acknowledged allocation. This crate
//! makes the promise checkable: a seed chooses a workload (allocations,
//! re-allocations, releases, cleanups, restarts, pool changes, files damaged
//! out of band, pod namespaces created, removed and swept, subpath mounts and
//! their cleaning) and its own rates of faults and crashes; the real core
//! engine and driver run it against the mock backend, whose disk survives
//! process kills whole and power losses only in part (any subset of unsynced
//! operations, torn or zero-filled or garbage data). After every step the
//! invariants in [`invariants`] are checked; the same seed always replays the
//! same run.
//!
//! [`exhaustive::explore`] enumerates every short workload of each area
//! (userns, namespaces, subpaths) and crashes it after every effect, under
//! every subset of pending operations. The broken protocol variants of
//! `podns-core` prove the simulator has teeth: each one is caught.

pub mod exhaustive;
pub mod invariants;
mod model;
mod report;
mod run;
mod shrink;
mod sim;
mod trace;
mod workload;
mod world;

pub use model::Model;
pub use report::Report;
pub use run::{RunOutcome, run_seed, run_workload};
pub use shrink::shrink;
pub use sim::{Attempt, Sim, Stats};
pub use workload::{Corruption, CrashPlan, FaultPlan, Op, Step, Workload, pool};
pub use world::{Fates, POD_DIR, World};
