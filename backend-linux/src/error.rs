use std::path::PathBuf;

use podns_core::{Errno, Root};

/// Why the backend could not be set up. Effects never return this: they report
/// an [`podns_core::EffectError`] to the core instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// A root directory could not be opened.
    #[error(
        "cannot open the {root} directory {}: {errno}; create it as a directory \
         (podns does not create its roots) and make sure this process may read it",
        path.display()
    )]
    OpenRoot {
        /// Which root.
        root: Root,
        /// The path that was opened.
        path: PathBuf,
        /// What `open(2)` returned.
        errno: Errno,
    },
    /// The lock file could not be opened or created.
    #[error(
        "cannot open the lock file {}: {errno}; make sure its directory exists \
         and is writable by this process, and that the name is not a symlink",
        path.display()
    )]
    OpenLock {
        /// The lock file's path.
        path: PathBuf,
        /// What `open(2)` returned.
        errno: Errno,
    },
    /// The lock file could not be locked.
    #[error(
        "cannot lock {}: {errno}; the file system must support flock(2)",
        path.display()
    )]
    Lock {
        /// The lock file's path.
        path: PathBuf,
        /// What `flock(2)` returned.
        errno: Errno,
    },
}

/// The core's errno for a rustix one: the numbers are the same Linux ABI.
pub(crate) fn errno(error: rustix::io::Errno) -> Errno {
    Errno(error.raw_os_error())
}
