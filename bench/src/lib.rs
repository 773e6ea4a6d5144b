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

/// A time in nanoseconds, in the unit that reads best.
pub fn show_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}
