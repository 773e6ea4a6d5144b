//! Fixtures shared by podns's benchmarks and by the summary that compares
//! their figures with the targets.
//!
//! Nothing here is used by podns itself.

pub mod fixtures;
pub mod kubelet_recovery;
pub mod kubelet_style;
pub mod mount_namespace;
pub mod plots;
pub mod recovery_sizes;
pub mod sync_drive;
pub mod ticker_gap;
