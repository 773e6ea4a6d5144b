//! # podns-backend-mock: an in-memory backend for tests and simulation
//!
//! Executes podns-core effects against [`MockFs`], an in-memory file system
//! that keeps durable and volatile state apart, so a test can end the process
//! at any effect boundary ([`CrashKind::ProcessKill`]) or cut the power
//! ([`CrashKind::PowerLoss`]) and see what a real disk could hold. Every
//! executed effect is logged in order, and any effect can be failed with a
//! chosen errno ([`MockBackend::fail_nth`], [`Fault`]).
//!
//! [`MockMachine`] shares one such backend between several processes
//! ([`MockHost`], a [`podns_core::Host`]), with the locks and change
//! counter a long-lived node needs, so that an embedder's tests run the
//! same node they run in production over it, with faults, kills, pauses
//! and crashes.

mod backend;
mod faults;
mod fixtures;
mod fs;
mod host;
mod mounts;
mod namespaces;
mod power_loss;
mod subpath;

pub use backend::{CrashKind, MockBackend};
pub use faults::{Fault, FaultTrigger};
pub use fixtures::kubelet_userns_file;
pub use fs::{Ino, MockFs, Node};
pub use host::{MockHost, MockMachine};
pub use mounts::{MOCK_DEV, MockMount, MockMounts, MountSource};
pub use namespaces::{MockNamespace, MockNamespaces};
pub use power_loss::{EntryChange, Pending, Survival};
