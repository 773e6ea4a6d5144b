//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::idmap_cmd::IdmapCommand;
use crate::ns_cmd::NsCommand;
use crate::subpath_cmd::SubpathCommand;

/// podns: per-pod Linux isolation state for container runtimes.
///
/// Every invocation first re-reads the pods directory (each run is a restart),
/// then performs one command. Output is JSON on stdout; errors go to stderr.
/// Exit codes: 0 ok, 1 the operation failed, 2 bad usage or bad input.
#[derive(Debug, Parser)]
#[command(name = "podns", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// Directory with one subdirectory per pod [default: /var/lib/podns/pods as
    /// root, else $XDG_STATE_HOME/podns/pods, else ~/.local/state/podns/pods]
    #[arg(long, global = true, value_name = "DIR")]
    pub pods_dir: Option<PathBuf>,
    /// Run directory for pod namespace pins [default: /run/podns as root,
    /// else $XDG_RUNTIME_DIR/podns]
    #[arg(long, global = true, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// First host ID of the pool [default: --ids-per-pod]
    #[arg(long, global = true, value_name = "N")]
    pub first_id: Option<u64>,
    /// Number of host IDs in the pool [default: 2^32 - first ID]
    #[arg(long, global = true, value_name = "N")]
    pub id_count: Option<u64>,
    /// Take the pool (first ID and ID count) from NAME's single subordinate
    /// range, which must be identical in /etc/subuid and /etc/subgid (as
    /// kubelet does for its "kubelet" user). NAME may be a user name or a UID;
    /// lines keyed by either match, the other half coming from /etc/passwd.
    /// Conflicts with --first-id and --id-count. The environment variables
    /// PODNS_SUBUID_FILE, PODNS_SUBGID_FILE and PODNS_PASSWD_FILE replace the
    /// three file paths
    #[arg(long, global = true, value_name = "NAME")]
    pub subuid_user: Option<String>,
    /// Host IDs per pod, a multiple of 65536
    #[arg(long, global = true, value_name = "N", default_value_t = 65536)]
    pub ids_per_pod: u64,
    /// Pods the node must be able to run; the pool must have this many slots
    /// [default: 110; for the default pool in a rootless user namespace, as
    /// many as its IDs hold]
    #[arg(long, global = true, value_name = "N")]
    pub max_pods: Option<u64>,
    /// Allocation seed, for reproducible runs [default: from the OS]
    #[arg(long, global = true, value_name = "N")]
    pub seed: Option<u64>,
    /// How a free range is chosen
    #[arg(long, global = true, value_enum, default_value_t = Policy::Random)]
    pub policy: Policy,
    /// Print errors as JSON objects {"error": ..., "kind": ...}
    #[arg(long, global = true)]
    pub json: bool,
    /// Print the effects the command would run, and change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Log each operation (pod, operation, outcome) on stderr; twice, each
    /// effect too. RUST_LOG (e.g. RUST_LOG=podns=debug) overrides it
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Policy {
    /// A seeded random start, then the next free range (kubelet's behaviour)
    Random,
    /// Always the lowest free range
    LowestFree,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Get or create the user-namespace range of a pod
    Alloc(AllocArgs),
    /// Release a pod's range (durably); an unknown pod is a no-op
    Release {
        /// The pod UID
        pod: String,
    },
    /// List allocations, problems, capacity and free slots
    List,
    /// Release every allocation whose pod is not kept
    Cleanup(CleanupArgs),
    /// Parse, split and inspect user-namespace ID maps (uid_map/gid_map); never
    /// touches the pods directory
    #[command(subcommand)]
    Idmap(IdmapCommand),
    /// Bind-mount volume subpaths that no symlink can escape, and clean them
    /// up; never touches the pods directory
    #[command(subcommand)]
    Subpath(SubpathCommand),
    /// Pod namespaces: a user namespace with the pod's ID maps and a network
    /// namespace owned by it, pinned under the run directory
    #[command(subcommand)]
    Ns(NsCommand),
    /// Check the node without changing anything (no lock, no temp file
    /// removed, no sync): every userns problem against the pool, leftover
    /// temp files, the pool, user namespaces in the kernel. Safe on
    /// kubelet's live pods directory and on a read-only mount; exit 1 when
    /// something needs action
    Doctor,
}

#[derive(Debug, Args)]
pub struct AllocArgs {
    /// The pod UID
    pub pod: String,
    /// The pod's hostUsers; true means NODE mode (no allocation)
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set)]
    pub host_users: bool,
    /// Whether the runtime handler supports user namespaces
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub handler_supports_userns: bool,
    /// Runtime handler name, for messages
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub handler: String,
    /// Output format: CRI-style mode and mappings, or OCI linux.uidMappings/gidMappings
    #[arg(long, value_enum, default_value_t = Format::Cri)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// {"pod", "mode", "uidMappings": [{"hostId", "containerId", "length"}], "gidMappings"}
    Cri,
    /// {"uidMappings": [{"containerID", "hostID", "size"}], "gidMappings"}, for an OCI spec's "linux"
    Oci,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// A pod UID to keep (known or running); repeatable
    #[arg(long, value_name = "POD_UID")]
    pub keep: Vec<String>,
    /// A file with one pod UID to keep per line (blank lines and # comments ignored)
    #[arg(long, value_name = "FILE")]
    pub keep_file: Vec<PathBuf>,
}
