//! The pod counts recovery is measured at.

/// From a small node to a full default pool.
pub const SIZES: [u32; 4] = [110, 1000, 10_000, 65_535];
