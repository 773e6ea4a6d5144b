use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;
use rustix::fs::{FlockOperation, Mode, OFlags};

use crate::error::{BackendError, errno};

/// The lock file's name inside the locked directory.
const LOCK_NAME: &str = ".podns.lock";

/// An exclusive `flock(2)` on `<dir>/.podns.lock`, held until dropped.
///
/// The core assumes it is the only writer of its directories (it keeps the
/// allocation table in memory), so two podns processes must never run effects
/// on the same directory at once. `flock` is released by the kernel when the
/// process dies, so a crash never leaves a stale lock behind.
#[derive(Debug)]
pub struct DirLock {
    /// Closing it releases the lock.
    _fd: OwnedFd,
    path: PathBuf,
}

impl DirLock {
    /// Creates `<dir>/.podns.lock` if needed and waits until this process holds
    /// the exclusive lock on it.
    pub fn acquire(dir: &Path) -> Result<DirLock, BackendError> {
        let path = dir.join(LOCK_NAME);
        let open_error = |error| BackendError::OpenLock {
            path: path.clone(),
            errno: errno(error),
        };
        let dir_fd = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(open_error)?;
        // O_NOFOLLOW: a symlink planted as the lock file must not make us
        // create or lock a file elsewhere. Read-only is enough for flock, and
        // lets an existing lock file be locked on a read-only mount, where
        // podns must still be able to report what it finds.
        let existing = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&dir_fd, LOCK_NAME, existing, Mode::empty()) {
            Err(rustix::io::Errno::NOENT) => rustix::fs::openat(
                &dir_fd,
                LOCK_NAME,
                existing | OFlags::CREATE,
                Mode::from_bits_truncate(0o600),
            ),
            other => other,
        }
        .map_err(open_error)?;
        rustix::io::retry_on_intr(|| rustix::fs::flock(&fd, FlockOperation::LockExclusive))
            .map_err(|error| BackendError::Lock {
                path: path.clone(),
                errno: errno(error),
            })?;
        Ok(DirLock { _fd: fd, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use podns_core::Errno;
    use tempfile::TempDir;

    use super::*;

    /// A second open file description, as another process would have.
    fn try_lock(path: &Path) -> rustix::io::Result<()> {
        let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
        rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive)
    }

    #[test]
    fn the_lock_is_exclusive_until_dropped() {
        let temp = TempDir::new().unwrap();
        let lock = DirLock::acquire(temp.path()).unwrap();
        assert_eq!(lock.path(), temp.path().join(".podns.lock"));
        let mode = std::fs::metadata(lock.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        assert_eq!(try_lock(lock.path()), Err(rustix::io::Errno::WOULDBLOCK));

        let path = lock.path().to_owned();
        drop(lock);
        assert_eq!(try_lock(&path), Ok(()));
        // Acquiring again reuses the existing file.
        let again = DirLock::acquire(temp.path()).unwrap();
        assert_eq!(try_lock(again.path()), Err(rustix::io::Errno::WOULDBLOCK));
    }

    #[test]
    fn a_missing_directory_is_reported_with_its_path() {
        let temp = TempDir::new().unwrap();
        let missing = temp.path().join("missing");
        let error = DirLock::acquire(&missing).unwrap_err();
        assert!(
            matches!(&error, BackendError::OpenLock { errno, .. } if *errno == Errno::ENOENT),
            "{error:?}"
        );
        assert!(error.to_string().contains(".podns.lock"), "{error}");
    }

    #[test]
    fn a_symlinked_lock_file_is_refused() {
        let temp = TempDir::new().unwrap();
        let target = temp.path().join("elsewhere");
        symlink(&target, temp.path().join(".podns.lock")).unwrap();
        let error = DirLock::acquire(temp.path()).unwrap_err();
        assert!(
            matches!(&error, BackendError::OpenLock { errno, .. } if *errno == Errno::ELOOP),
            "{error:?}"
        );
        assert!(!target.exists());
    }
}
