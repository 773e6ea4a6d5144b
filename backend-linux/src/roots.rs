use std::collections::BTreeMap;
use std::path::Path;

use podns_core::{EffectError, Errno, Root, RootLabels, RootPath};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};

use crate::error::{BackendError, errno};
use crate::kept::KeptFiles;
use crate::resolve::{DirFd, Resolver};

/// Executes podns-core effects with real system calls, below one directory fd
/// per [`Root`].
///
/// Paths are only ever resolved relative to these fds, so renaming or
/// replacing a root's path after [`LinuxBackend::open`] cannot redirect the
/// backend elsewhere.
#[derive(Debug)]
pub struct LinuxBackend {
    /// Not `O_PATH`: `syncfs` needs a real file description (and reports the
    /// writeback errors seen since this one was opened). Listing or syncing a
    /// root opens it afresh, like any other directory (a listing needs an
    /// offset of its own).
    pub(crate) roots: BTreeMap<Root, OwnedFd>,
    pub(crate) resolver: Resolver,
    pub(crate) kept: KeptFiles,
    pub(crate) fsync_calls: u64,
    pub(crate) syncfs_calls: u64,
    /// The real directories, so errors name real paths.
    pub(crate) labels: RootLabels,
    /// Switches of the subpath effects.
    pub(crate) subpath: crate::subpath::SubpathSettings,
    /// The run directory, its lock and the step hook of the namespace
    /// effects.
    pub(crate) ns: crate::ns::NsSettings,
}

impl LinuxBackend {
    /// Opens the pods directory as [`Root::Pods`]. The directory must exist:
    /// creating it is the caller's decision (and its permissions, too).
    pub fn open(pods_dir: &Path) -> Result<Self, BackendError> {
        Self::without_roots().with_root(Root::Pods, pods_dir)
    }

    /// A backend with no root open yet: add them with
    /// [`LinuxBackend::with_root`].
    pub(crate) fn without_roots() -> Self {
        Self {
            roots: BTreeMap::new(),
            resolver: Resolver::default(),
            kept: KeptFiles::default(),
            fsync_calls: 0,
            syncfs_calls: 0,
            labels: RootLabels::new(),
            subpath: Default::default(),
            ns: Default::default(),
        }
    }

    /// Opens `dir` as `root` (e.g. [`Root::Volume`]), replacing an earlier fd
    /// for the same root.
    pub fn with_root(mut self, root: Root, dir: &Path) -> Result<Self, BackendError> {
        self.open_root(root, dir)?;
        Ok(self)
    }

    /// [`LinuxBackend::with_root`] on a backend in use: opens `dir` as
    /// `root`, replacing an earlier fd for the same root.
    pub fn open_root(&mut self, root: Root, dir: &Path) -> Result<(), BackendError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(dir, flags, Mode::empty()).map_err(|error| {
            BackendError::OpenRoot {
                root,
                path: dir.to_owned(),
                errno: errno(error),
            }
        })?;
        self.roots.insert(root, fd);
        self.labels = std::mem::take(&mut self.labels).with(root, dir.display().to_string());
        Ok(())
    }

    /// The real directories of the roots opened so far, to name paths in
    /// messages.
    pub fn labels(&self) -> &RootLabels {
        &self.labels
    }

    /// Always resolves paths with the `openat` walk instead of `openat2`, as
    /// on kernels without `openat2`; `false` tries `openat2` again. For tests.
    pub fn set_force_walk(&mut self, on: bool) {
        self.resolver.set_force_walk(on);
    }

    /// How many `fsync(2)` calls the backend has made (failed ones included),
    /// for tests and benchmarks that check the cost of an operation.
    pub fn fsync_count(&self) -> u64 {
        self.fsync_calls
    }

    /// How many `syncfs(2)` calls the backend has made (failed ones included);
    /// not part of [`LinuxBackend::fsync_count`], as one costs far more.
    pub fn syncfs_count(&self) -> u64 {
        self.syncfs_calls
    }

    pub(crate) fn root_fd(&self, path: &RootPath) -> Result<BorrowedFd<'_>, EffectError> {
        match self.roots.get(&path.root) {
            Some(fd) => Ok(fd.as_fd()),
            None => Err(EffectError::new(
                Errno::EBADF,
                format!(
                    "resolve {}: the {} root is not open; add it with LinuxBackend::with_root",
                    self.labels.show(path),
                    path.root
                ),
            )),
        }
    }

    /// Opens `path` itself with `flags`.
    pub(crate) fn open_path(&self, path: &RootPath, flags: OFlags) -> Result<OwnedFd, EffectError> {
        let root = self.root_fd(path)?;
        self.resolver
            .open(root, &path.path, flags, Mode::empty())
            .map_err(|failed| {
                EffectError::new(
                    errno(failed.errno),
                    format!("{} {}", failed.op, self.labels.show(path)),
                )
            })
    }

    /// Opens the directory holding `path`, naming that directory in errors.
    pub(crate) fn open_parent<'p>(
        &self,
        path: &'p RootPath,
    ) -> Result<(DirFd<'_>, &'p str), EffectError> {
        let root = self.root_fd(path)?;
        self.resolver
            .open_parent(root, &path.path)
            .map_err(|failed| {
                let shown = path.parent().unwrap_or_else(|| path.clone());
                EffectError::new(
                    errno(failed.errno),
                    format!("{} {}", failed.op, self.labels.show(&shown)),
                )
            })
    }
}
