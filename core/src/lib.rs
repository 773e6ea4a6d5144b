//! # podns-core: every podns decision, with no I/O
//!
//! This crate decides how host ID ranges are allocated to pods, how they are
//! persisted in kubelet's `userns` file so that no crash can lose or duplicate
//! one, how they are recovered after a restart and how orphans are cleaned up;
//! how ID maps are parsed and split for rootless parents; how a pod's user and
//! network namespaces are created, pinned, checked and swept; and how volume
//! subpaths are mounted and cleaned without any symlink escape. It performs **no I/O and is fully deterministic**: it never reads the clock,
//! the environment, the OS random number generator or the file system. What it
//! needs to know comes in as arguments (pool settings, a seed) and as
//! [`Observation`]s; what it wants done goes out as [`Effect`]s. The same
//! inputs always produce the same effects.
//!
//! Backends execute effects: `podns-backend-linux` with real syscalls through
//! directory fds, `podns-backend-mock` in memory with injected faults and
//! simulated crashes. Because the protocol lives here, both run exactly the
//! same decisions, and the simulator tests the code that runs in production.
//!
//! ## The engines
//!
//! | engine | decides |
//! |---|---|
//! | [`UsernsEngine`] | per-pod host ID ranges and their `userns` files |
//! | [`NsEngine`] | pinned pod namespaces under the run directory |
//! | [`SubpathEngine`] | subpath bind mounts under a pod directory |
//! | [`NodeEngine`] | the three as one, and the flows across them |
//!
//! A long-lived node (`podns-backend-linux`'s `Node`) runs a [`NodeEngine`]
//! on a [`Host`]: a backend that also locks the directories per request and
//! keeps the change counter by which nodes notice each other's writes.
//!
//! ID maps ([`IdMap`], [`split_for_parent`]) and mountinfo
//! ([`parse_mountinfo`]) are plain functions.
//!
//! ## The driving contract
//!
//! Every engine implements [`Engine`], whose docs state the contract once:
//! submit one request, execute each effect from `poll_effect` and hand its
//! outcome back before polling again, then take the result from
//! `poll_completion`. At most one effect awaits its outcome at any time.
//! Each engine's docs say only what differs: [`UsernsEngine`] must recover
//! first ([`UsernsRequest::Recover`], since each process start is a restart);
//! [`NsEngine`] sets up its run directory in its first request.
//! [`drive`] is the loop, for any engine:
//!
//! ```no_run
//! use async_trait::async_trait;
//! use podns_core::{
//!     AllocationPolicy, Backend, Effect, EffectError, GetOrCreate, Observation, PodUid,
//!     PoolConfig, UsernsRequest, UsernsResponse, UsernsEngine,
//! };
//!
//! struct MyBackend;
//!
//! #[async_trait]
//! impl Backend for MyBackend {
//!     async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
//!         // Execute `effect` as its documentation says, with real syscalls.
//!         # let _ = effect;
//!         Ok(Observation::Done)
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = PoolConfig::default().validate()?;
//! let seed = 42; // from the OS RNG in production, fixed in tests
//! let mut engine = UsernsEngine::new(pool, seed, AllocationPolicy::default());
//! let mut backend = MyBackend;
//!
//! // Recover first: read every pod's userns file.
//! let UsernsResponse::Recovered(report) =
//!     podns_core::drive(&mut engine, &mut backend, UsernsRequest::Recover).await?
//! else {
//!     unreachable!()
//! };
//! for problem in &report.problems {
//!     eprintln!("{}: {}", problem.pod, problem.message);
//! }
//!
//! // Then one request at a time; here the loop written out by hand:
//! let pod = PodUid::new("6f1c1b9e-6a0e-4c1a-9d1e-0d6e8f1f2a3b")?;
//! engine.submit(UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod)))?;
//! while let Some(effect) = engine.poll_effect() {
//!     let outcome = backend.execute(&effect).await;
//!     engine.handle_outcome(outcome);
//! }
//! let response = engine.poll_completion().expect("complete")?;
//! println!("{response:?}");
//! # Ok(())
//! # }
//! ```
//!
//! ## Crash safety of the `userns` file
//!
//! - Allocate: reserve the slot in memory; create the pod directory (sync the
//!   pods directory if it was new); write a temp file created `O_EXCL`; sync
//!   it; rename it over `userns`; sync the pod directory; only then
//!   acknowledge. Any failure removes what was written and frees the slot,
//!   unless the removal itself cannot be made durable, in which case the slot
//!   stays reserved (the pod is reported in doubt).
//! - Release: remove `userns`; sync the pod directory; only then free the slot.
//! - Recover: temp files are never trusted and are removed; a bad file is a
//!   [`Problem`], never a reason to stop the node.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend;
mod driver;
mod dry_run;
mod effect;
mod error_details;
mod host;
mod idmap;
mod mountinfo;
mod node;
mod ns;
mod op_error;
#[cfg(test)]
mod op_test;
mod path;
mod recording;
mod request_slot;
mod subpath;
mod userns;

pub use backend::Backend;
#[cfg(feature = "mock")]
pub use backend::MockBackend;
pub use driver::{Engine, drive, drive_bounded};
pub use dry_run::{DryRun, Planned};
pub use effect::{DirEntry, Effect, EffectError, EntryKind, Errno, Observation, Outcome};
pub use effect::{FileId, IdmapWith, InodeInfo};
pub use error_details::ErrorDetails;
pub use host::{Host, HostError};
pub use idmap::{
    ID_MAP_END, IdExtent, IdField, IdMap, IdMapError, IdMapProblem, IdSide, MAX_ID_MAP_EXTENTS,
    MappedPool, MappedPoolError, RootlessStatus, SplitError, SubidEntry, SubidError, SubidField,
    SubidPoolError, SubidPoolRange, SubidProblem, SubidRange, SubidSource, SubidTable,
    passwd_name_of, passwd_uid_of, split_for_parent,
};
pub use mountinfo::{
    MountEntry, MountInfoError, escape_mountinfo_path, parse_mountinfo, parse_mountinfo_bytes,
};
pub use node::{NamespaceListing, NodeEngine, NodeError, NodeRequest, NodeResponse, PodSandbox};
pub use ns::*;
pub use op_error::DrivingError;
pub use path::{
    ComponentError, InvalidPodUid, MAX_COMPONENT_LEN, PodUid, RESERVED_PREFIX, RelPath, Root,
    RootLabels, RootPath, validate_component,
};
pub use recording::{Executed, Recording};
pub use subpath::{
    CleanSubpaths, HostDir, InvalidHostDir, InvalidSubpath, InvalidSubpathName, KeptPath, MakeDir,
    PrepareSubpath, PreparedSubpath, SubpathCleanReport, SubpathEngine, SubpathError, SubpathName,
    SubpathNameField, SubpathProblem, SubpathRequest, SubpathResponse, SubpathTarget,
    VOLUME_SUBPATHS_DIR, parse_subpath, volume_subpaths_dir,
};
pub use userns::*;
