use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;
use rustix::fs::{FlockOperation, Mode, OFlags};

use crate::error::{BackendError, errno};

/// The lock file's name inside the locked directory.
pub(crate) const LOCK_NAME: &str = ".podns.lock";

/// The change counter is written at the start of the lock file as a
/// zero-padded decimal and a newline, so that it is always the same length
/// and an operator can read it with `cat`.
const GENERATION_LEN: usize = 21;

/// An exclusive `flock(2)` on `<dir>/.podns.lock`, held until dropped.
///
/// The core assumes it is the only writer of its directories while a
/// request runs (it keeps the allocation table in memory), so two podns
/// processes must never run effects on the same directory at once. `flock`
/// is released by the kernel when the process dies, so a crash never leaves
/// a stale lock behind. A [`crate::Node`] takes the lock per request; this
/// type holds it for as long as it lives.
#[derive(Debug)]
pub struct DirLock {
    file: LockFile,
}

impl DirLock {
    /// Creates `<dir>/.podns.lock` if needed and waits until this process holds
    /// the exclusive lock on it.
    pub fn acquire(dir: &Path) -> Result<DirLock, BackendError> {
        let mut file = LockFile::open(dir)?;
        file.lock().map_err(|error| BackendError::Lock {
            path: file.path.clone(),
            errno: errno(error),
        })?;
        Ok(DirLock { file })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

/// The lock file of one directory, kept open so that each request costs one
/// `flock` to lock and one to unlock; it also holds the directory's change
/// counter.
#[derive(Debug)]
pub(crate) struct LockFile {
    fd: OwnedFd,
    path: PathBuf,
    /// Opened read-only (the directory is on a read-only mount, or not ours
    /// to write): it can be locked, but no counter can be written.
    read_only: bool,
}

impl LockFile {
    /// Opens `<dir>/.podns.lock`, creating it (mode 0600) when missing.
    pub(crate) fn open(dir: &Path) -> Result<LockFile, BackendError> {
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
        let open = |access: OFlags| {
            let flags = access | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&dir_fd, LOCK_NAME, flags, Mode::empty()) {
                Err(rustix::io::Errno::NOENT) => rustix::fs::openat(
                    &dir_fd,
                    LOCK_NAME,
                    flags | OFlags::CREATE,
                    Mode::from_bits_truncate(0o600),
                ),
                other => other,
            }
        };
        let (fd, read_only) = match open(OFlags::RDWR) {
            Ok(fd) => (fd, false),
            Err(rustix::io::Errno::ROFS | rustix::io::Errno::ACCESS) => {
                (open(OFlags::RDONLY).map_err(open_error)?, true)
            }
            Err(error) => return Err(open_error(error)),
        };
        Ok(LockFile {
            fd,
            path,
            read_only,
        })
    }

    /// Waits until this file description holds the exclusive lock.
    pub(crate) fn lock(&mut self) -> rustix::io::Result<()> {
        rustix::io::retry_on_intr(|| rustix::fs::flock(&self.fd, FlockOperation::LockExclusive))
    }

    /// Releases the lock (closing the file would too).
    pub(crate) fn unlock(&mut self) {
        // Unlocking a lock that is held cannot fail but for EINTR, and a
        // failure would leave it held until the file is closed: retry.
        let _ = rustix::io::retry_on_intr(|| rustix::fs::flock(&self.fd, FlockOperation::Unlock));
    }

    /// The change counter; 0 for a lock file no writer has touched, and
    /// `u64::MAX` for one whose start is not a counter (which every node
    /// then takes as a change).
    pub(crate) fn generation(&self) -> rustix::io::Result<u64> {
        let mut bytes = [0u8; GENERATION_LEN];
        let read = rustix::io::retry_on_intr(|| rustix::io::pread(&self.fd, &mut bytes, 0))?;
        let text = &bytes[..read];
        if text.is_empty() {
            return Ok(0);
        }
        Ok(std::str::from_utf8(text)
            .ok()
            .and_then(|text| text.trim_end().parse().ok())
            .unwrap_or(u64::MAX))
    }

    /// Writes the change counter: one `pwrite`, no sync (see
    /// [`podns_core::Host::set_generation`]).
    pub(crate) fn set_generation(&self, generation: u64) -> rustix::io::Result<()> {
        if self.read_only {
            return Err(rustix::io::Errno::ROFS);
        }
        let text = format!("{generation:020}\n");
        let written =
            rustix::io::retry_on_intr(|| rustix::io::pwrite(&self.fd, text.as_bytes(), 0))?;
        if written == text.len() {
            Ok(())
        } else {
            // A short write of 21 bytes into a page means the disk is full.
            Err(rustix::io::Errno::NOSPC)
        }
    }

    pub(crate) fn path(&self) -> &Path {
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
