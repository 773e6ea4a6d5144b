//! # podns-backend-linux: podns on a Linux node
//!
//! The crate a container runtime adds to embed podns. [`Node`] is one
//! object over podns's engines and this machine: per-pod user-namespace
//! ranges (kubelet's `UsernsManager`), pinned pod namespaces with their OCI
//! join spec (containerd's sandbox setup) and symlink-proof subpath mounts,
//! crash-safe and coherent with every other podns process on the same
//! directories. The core types an embedder needs are re-exported here.
//!
//! ## Quickstart
//!
//! ```no_run
//! use podns_backend_linux::{Node, NodeConfig, PodUid, UsernsOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let node = Node::open(NodeConfig::default()).await?; // recovers once
//! let pod = PodUid::new("6f1c1b9e-6a0e-4c1a-9d1e-0d6e8f1f2a3b")?;
//! let userns = node.get_or_create_user_namespace(&pod, UsernsOptions::pod_mode()).await?;
//! let sandbox = node.create_pod_namespaces(&pod).await?; // pins + OCI join spec
//! println!("{:?} {:?}", userns.userns.uid_mappings, sandbox.join_spec.namespaces);
//! node.remove_pod_namespaces(&pod).await?;
//! node.release(&pod).await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## What blocks, what is cancellation-safe, what the lock means
//!
//! - Every request runs on the node's own thread, so no future of
//!   [`Node`] ever blocks an executor thread, on tokio, smol or a plain
//!   [`block_on`]; [`block_on`] is also the blocking form of every method.
//! - Dropping a future never harms the node: a request that had not
//!   started never starts, one that had runs to completion or to its
//!   rollback, and no slot or temp file is left behind.
//! - A request holds the `flock` of `<pods-dir>/.podns.lock` (and of the
//!   run directory's for namespaces) only while it runs, so a `podns`
//!   process beside the runtime waits at most for one request, and a change
//!   counter in that file tells each node when another one wrote, so no
//!   range is ever handed out twice.
//!
//! ## Below the node
//!
//! [`LinuxBackend`] executes the [`Effect`]s the core emits with real system
//! calls through [`rustix`]. It holds one directory fd per [`Root`] and
//! resolves every path below that fd, never leaving the root and never
//! following a symbolic link (`openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, or a component-by-component `O_NOFOLLOW` walk on
//! kernels without `openat2`), with one exception: the subpath effects that
//! resolve a path beneath a volume follow the volume's relative symlinks
//! while they stay below it, as kubelet does, and never a magic link. Its
//! `execute` runs the system calls on the calling thread. [`LinuxHost`]
//! adds the locks and the change counter a [`Node`] needs; [`DirLock`]
//! serialises processes that drive engines by hand.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod block_on;
mod config;
mod doctor;
mod error;
mod execute;
mod fs_type;
mod host;
mod idmap_read;
mod idmap_writer;
mod kept;
mod lock;
mod node;
pub mod ns;
mod read;
mod resolve;
mod roots;
mod subpath;

pub use block_on::block_on;
pub use config::{ConfigError, NodeConfig, PodsDir, PoolSource, RunDir, SubidFiles};
pub use doctor::{DoctorReport, Finding, Severity, doctor};
pub use error::BackendError;
pub use host::{DryRunHost, EffectHook, EffectPhase, LinuxHost, PODS_DIR_MODE};
pub use idmap_read::{
    IdMapKind, IdMapReadError, MAX_ID_MAP_FILE_LEN, proc_id_map_path, read_id_map, read_own_id_map,
    read_process_id_map,
};
pub use idmap_writer::{FaultyExtent, IdMapWriteError, IdMapWriter, SetgroupsPolicy};
pub use lock::DirLock;
pub use node::{Error, MountSubpath, Node, NodeSettings, UsernsOptions};
pub use roots::LinuxBackend;

/// The core types an embedder needs, so that this crate is the only one to
/// add.
pub use podns_core::{
    Allocation, AllocationPolicy, Backend, CleanupFailure, CleanupReport, Effect, EffectError,
    Errno, ErrorDetails, Host, HostDir, HostError, IdMapping, IdmapWith, JoinSpec,
    NamespaceListing, NamespaceMode, NodeError, NsError, NsFailure, NsListing, NsRemoval,
    Observation, OciIdMappings, PidMode, PodNamespaces, PodPins, PodSandbox, PodUid,
    PodUserNamespace, PoolConfig, PreparedSubpath, Problem, ProblemKind, RecoveryReport, RelPath,
    Release, Root, RootLabels, RootPath, SubpathCleanReport, SubpathError, SubpathName,
    SubpathNameField, SubpathTarget, SweepReason, SweepReport, SweptPod, UserNamespace,
    UsernsError, parse_subpath,
};
