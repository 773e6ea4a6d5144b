//! Turning flags and the environment into validated settings. This is the
//! only place podns reads the environment or the OS random number generator;
//! the core gets the results as arguments.

use std::path::PathBuf;

use podns_core::{AllocationPolicy, ID_SPACE_END, Pool, PoolConfig};

use crate::args::{GlobalOptions, Policy};
use crate::failure::Failure;

pub struct Settings {
    pub pods_dir: PathBuf,
    pub pool: Pool,
    pub seed: u64,
    pub policy: AllocationPolicy,
}

impl Settings {
    pub fn from_options(options: &GlobalOptions) -> Result<Self, Failure> {
        let pool = pool_config(options).validate().map_err(|error| {
            Failure::bad_input("invalid-pool", format!("invalid pool: {error}"))
        })?;
        let pods_dir = match &options.pods_dir {
            Some(dir) => dir.clone(),
            None => default_pods_dir()?,
        };
        let seed = match options.seed {
            Some(seed) => seed,
            None => os_seed()?,
        };
        let policy = match options.policy {
            Policy::Random => AllocationPolicy::RandomStartThenNextFree,
            Policy::LowestFree => AllocationPolicy::LowestFree,
        };
        Ok(Self {
            pods_dir,
            pool,
            seed,
            policy,
        })
    }
}

fn pool_config(options: &GlobalOptions) -> PoolConfig {
    let ids_per_pod = options.ids_per_pod;
    let first_id = options.first_id.unwrap_or(ids_per_pod);
    PoolConfig {
        first_id,
        id_count: options
            .id_count
            .unwrap_or_else(|| ID_SPACE_END.saturating_sub(first_id)),
        ids_per_pod,
        max_pods: options.max_pods,
    }
}

fn default_pods_dir() -> Result<PathBuf, Failure> {
    if rustix::process::geteuid().is_root() {
        return Ok(PathBuf::from("/var/lib/podns/pods"));
    }
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(state) = non_empty("XDG_STATE_HOME") {
        return Ok(PathBuf::from(state).join("podns/pods"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(PathBuf::from(home).join(".local/state/podns/pods"));
    }
    Err(Failure::bad_input(
        "usage",
        "cannot choose a pods directory: not root and neither XDG_STATE_HOME nor HOME is set; pass --pods-dir DIR",
    ))
}

fn os_seed() -> Result<u64, Failure> {
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(count) => filled += count,
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => {
                return Err(Failure::failed(
                    "io",
                    format!("cannot read a seed from getrandom(2): {error}; pass --seed N"),
                ));
            }
        }
    }
    Ok(u64::from_le_bytes(bytes))
}
