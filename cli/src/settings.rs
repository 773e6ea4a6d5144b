//! Turning flags and the environment into the node's configuration, and
//! opening the node. This is the only place the CLI reads the environment
//! (the test knobs aside).

use std::path::PathBuf;

use podns_backend_linux::{
    AllocationPolicy, LinuxHost, Node, NodeConfig, PodsDir, PoolConfig, PoolSource, RunDir,
    SubidFiles, block_on,
};
use podns_core::ID_SPACE_END;

use crate::args::{GlobalOptions, Policy};
use crate::failure::Failure;

/// Which directories a command uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uses {
    /// The pods directory only.
    PodsDir,
    /// The pods and run directories.
    PodsAndRunDir,
    /// Neither: subpath mounts only.
    Nothing,
}

/// The node's configuration from the global options.
pub fn node_config(options: &GlobalOptions, uses: Uses) -> Result<NodeConfig, Failure> {
    let mut config = NodeConfig {
        pods_dir: match &options.pods_dir {
            Some(dir) => PodsDir::At(dir.clone()),
            None => PodsDir::Default,
        },
        run_dir: match &options.run_dir {
            Some(dir) => RunDir::At(dir.clone()),
            None => RunDir::Default,
        },
        pool: pool_source(options)?,
        policy: match options.policy {
            Policy::Random => AllocationPolicy::RandomStartThenNextFree,
            Policy::LowestFree => AllocationPolicy::LowestFree,
        },
        seed: options.seed,
    };
    match uses {
        Uses::PodsDir => config = config.without_namespaces(),
        Uses::PodsAndRunDir => {}
        Uses::Nothing => config = config.subpaths_only(),
    }
    Ok(config)
}

/// Opens the node, with the test knobs the environment sets.
pub fn open_node(config: &NodeConfig) -> Result<Node, Failure> {
    let (mut host, settings) = LinuxHost::open(config)?;
    crate::test_knobs::install(&mut host);
    Ok(block_on(Node::with_host(host, settings))?)
}

fn pool_source(options: &GlobalOptions) -> Result<PoolSource, Failure> {
    let ids_per_pod = options.ids_per_pod;
    if let Some(user) = &options.subuid_user {
        if options.first_id.is_some() || options.id_count.is_some() {
            return Err(Failure::bad_input(
                "usage",
                "--subuid-user takes the pool's first ID and ID count from the subordinate \
                 ranges; do not also pass --first-id or --id-count",
            ));
        }
        return Ok(PoolSource::SubordinateIds {
            user: user.clone(),
            ids_per_pod,
            max_pods: options.max_pods.unwrap_or(KUBELET_MAX_PODS),
            files: subid_files(),
        });
    }
    if options.first_id.is_none() && options.id_count.is_none() {
        return Ok(PoolSource::Default {
            ids_per_pod,
            max_pods: options.max_pods,
        });
    }
    let first_id = options.first_id.unwrap_or(ids_per_pod);
    Ok(PoolSource::Range(PoolConfig {
        first_id,
        id_count: options
            .id_count
            .unwrap_or_else(|| ID_SPACE_END.saturating_sub(first_id)),
        ids_per_pod,
        max_pods: options.max_pods.unwrap_or(KUBELET_MAX_PODS),
    }))
}

/// kubelet's pods per node, `--max-pods` unless given.
const KUBELET_MAX_PODS: u64 = 110;

/// Names the subordinate UID file instead of /etc/subuid (for tests).
const SUBUID_FILE_ENV: &str = "PODNS_SUBUID_FILE";
/// Names the subordinate GID file instead of /etc/subgid (for tests).
const SUBGID_FILE_ENV: &str = "PODNS_SUBGID_FILE";
/// Names the user database instead of /etc/passwd (for tests).
const PASSWD_FILE_ENV: &str = "PODNS_PASSWD_FILE";
/// Names the `getsubids` program; empty, nothing but the files are read.
/// Tests that name the files with the variables above get no `getsubids`
/// unless they set this too.
const GETSUBIDS_ENV: &str = "PODNS_GETSUBIDS";

fn subid_files() -> SubidFiles {
    let defaults = SubidFiles::default();
    let from = |variable: &str, default: PathBuf| {
        std::env::var_os(variable)
            .filter(|value| !value.is_empty())
            .map_or(default, PathBuf::from)
    };
    let files_named = [SUBUID_FILE_ENV, SUBGID_FILE_ENV, PASSWD_FILE_ENV]
        .iter()
        .any(|variable| std::env::var_os(variable).is_some());
    let getsubids = match std::env::var_os(GETSUBIDS_ENV) {
        Some(program) if program.is_empty() => None,
        Some(program) => Some(PathBuf::from(program)),
        None if files_named => None,
        None => defaults.getsubids,
    };
    SubidFiles {
        getsubids,
        subuid: from(SUBUID_FILE_ENV, defaults.subuid),
        subgid: from(SUBGID_FILE_ENV, defaults.subgid),
        passwd: from(PASSWD_FILE_ENV, defaults.passwd),
    }
}
