//! The pod counts recovery is measured at, and the engine it runs in.

use podns_core::{AllocationPolicy, PoolConfig, UsernsEngine};

/// From a small node to a full default pool.
pub const SIZES: [u32; 4] = [110, 1000, 10_000, 65_535];

/// An engine over kubelet's default pool.
pub fn engine() -> UsernsEngine {
    UsernsEngine::new(
        PoolConfig::default()
            .validate()
            .expect("the default pool is valid"),
        1,
        AllocationPolicy::RandomStartThenNextFree,
    )
}
