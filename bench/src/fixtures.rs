//! Pods directories, slot maps and engines in known states.

use std::path::Path;

use podns_core::{
    AllocationPolicy, IdMapping, PoolConfig, SeededRng, UsernsEngine, render_userns_file,
};

/// Slots of kubelet's default pool.
pub const DEFAULT_SLOTS: u32 = 65535;

/// A fresh engine (not yet recovered) over kubelet's default pool, with the
/// default policy and a fixed seed, so that every run makes the same
/// choices.
pub fn default_engine() -> UsernsEngine {
    UsernsEngine::new(
        PoolConfig::default()
            .validate()
            .expect("the default pool is valid"),
        1,
        AllocationPolicy::RandomStartThenNextFree,
    )
}

/// The slots to mark taken for `occupancy_basis_points` (1/100 %) of `len`
/// slots, spread by a fixed seed.
pub fn occupied_slots(len: u32, occupancy_basis_points: u32) -> Vec<u32> {
    let wanted = (u64::from(len) * u64::from(occupancy_basis_points) / 10_000) as usize;
    let mut slots: Vec<u32> = (0..len).collect();
    let mut rng = SeededRng::new(0xB0CC);
    // Fisher-Yates on a prefix: a uniform sample of `wanted` slots.
    for index in 0..wanted {
        let pick = index + rng.below(len - index as u32) as usize;
        slots.swap(index, pick);
    }
    slots.truncate(wanted);
    slots
}

/// Writes `count` pod directories, each with a kubelet-format `userns` file
/// for slot `i` of kubelet's default pool.
pub fn populate_pods_dir(dir: &Path, count: u32) -> std::io::Result<()> {
    for index in 0..count {
        let pod_dir = dir.join(pod_name(index));
        std::fs::create_dir_all(&pod_dir)?;
        let mapping = IdMapping {
            host_id: 65536 * (index + 1),
            container_id: 0,
            length: 65536,
        };
        std::fs::write(pod_dir.join("userns"), render_userns_file(mapping))?;
    }
    Ok(())
}

/// The name of pod `index` in the fixtures.
pub fn pod_name(index: u32) -> String {
    format!("6f1c1b9e-6a0e-4c1a-9d1e-{index:012}")
}
