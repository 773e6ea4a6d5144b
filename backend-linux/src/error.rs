//! Why the backend could not be set up, and the core's errors and file
//! facts for what the system calls return.

use std::fmt::Display;
use std::path::PathBuf;

use podns_core::{EffectError, EntryKind, Errno, FileId, Root};
use rustix::fs::{FileType, Stat};

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

/// The core's errno for a `std::io::Error`; `EIO` for one that carries none.
pub(crate) fn io_errno(error: &std::io::Error) -> Errno {
    Errno(error.raw_os_error().unwrap_or(Errno::EIO.0))
}

/// A failed system call on `path`: `"<op> <path>"` with its errno.
pub(crate) fn fail(op: &str, path: impl Display, error: rustix::io::Errno) -> EffectError {
    EffectError::new(errno(error), format!("{op} {path}"))
}

/// An effect refused on `path`, and why.
pub(crate) fn refuse(errno: Errno, op: &str, path: impl Display, why: &str) -> EffectError {
    EffectError::new(errno, format!("{op} {path}: {why}"))
}

/// What the core calls a file of this type.
pub(crate) fn kind_of(file_type: FileType) -> EntryKind {
    match file_type {
        FileType::Directory => EntryKind::Directory,
        FileType::RegularFile => EntryKind::File,
        FileType::Symlink => EntryKind::Symlink,
        _ => EntryKind::Other,
    }
}

/// Which file `stat` describes, as the core compares files.
pub(crate) fn id_of(stat: &Stat) -> FileId {
    FileId {
        dev: stat.st_dev,
        ino: stat.st_ino,
    }
}
