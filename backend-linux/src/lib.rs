//! # podns-backend-linux: podns-core effects on a real Linux file system
//!
//! [`LinuxBackend`] executes the [`podns_core::Effect`]s the core emits with
//! real system calls through [`rustix`]. It holds one directory fd per
//! [`podns_core::Root`] and resolves every path below that fd, never leaving
//! the root and never following a symbolic link (`openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, or a component-by-component `O_NOFOLLOW` walk on
//! kernels without `openat2`), with one exception: the subpath effects that
//! resolve a path beneath a volume follow the volume's relative symlinks
//! while they stay below it, as kubelet does, and never a magic link. Each
//! effect maps to the few system calls its documentation asks for, so the
//! durability steps the core plans are exactly the ones that reach the disk.
//!
//! [`DirLock`] serialises podns processes that share a directory.
//!
//! ```no_run
//! use podns_backend_linux::{DirLock, LinuxBackend};
//! use podns_core::Root;
//!
//! # fn run() -> Result<(), podns_backend_linux::BackendError> {
//! let _lock = DirLock::acquire("/var/lib/kubelet/pods".as_ref())?;
//! let backend = LinuxBackend::open("/var/lib/kubelet/pods".as_ref())?
//!     .with_root(Root::Run, "/run/podns".as_ref())?;
//! # let _ = backend;
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod execute;
mod idmap_read;
mod idmap_writer;
mod kept;
mod lock;
pub mod ns;
mod read;
mod resolve;
mod roots;
mod subpath;

pub use error::BackendError;
pub use idmap_read::{
    IdMapKind, IdMapReadError, MAX_ID_MAP_FILE_LEN, proc_id_map_path, read_id_map, read_own_id_map,
    read_process_id_map,
};
pub use idmap_writer::{FaultyExtent, IdMapWriteError, IdMapWriter, SetgroupsPolicy};
pub use lock::DirLock;
pub use roots::LinuxBackend;
