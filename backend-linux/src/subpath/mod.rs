//! The subpath effects: resolution below a volume that follows only the
//! volume's own symlinks, kubelet's safe mkdir, fd-to-fd bind mounts
//! (idmapped when asked) and no-follow unmounts, and the mount table.

mod beneath;
mod idmap;
mod mkdir;
pub(crate) mod mount;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use podns_core::{EffectError, Errno, InodeInfo, Observation, Root, RootPath};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

use crate::error::{BackendError, fail, id_of, kind_of, refuse};
use crate::read::read_at_most;
use crate::roots::LinuxBackend;

type Outcome = Result<Observation, EffectError>;

/// `/proc/self/mountinfo` is a few hundred bytes per mount; anything this
/// large is not a mount table the core should parse.
const MAX_MOUNTINFO_LEN: u64 = 64 * 1024 * 1024;

/// Per-backend switches of the subpath effects.
#[derive(Debug, Default)]
pub(crate) struct SubpathSettings {
    /// Bind through `/proc/self/fd` links instead of `open_tree` +
    /// `move_mount` (subpaths and namespace pins alike): set by tests, or
    /// once those returned `ENOSYS`. Atomic so that it can be set while a
    /// root's fd is borrowed.
    pub(crate) proc_fd_bind: AtomicBool,
}

fn info(stat: &Stat) -> InodeInfo {
    InodeInfo {
        id: id_of(stat),
        kind: kind_of(FileType::from_raw_mode(stat.st_mode)),
        mode: stat.st_mode & 0o7777,
    }
}

impl LinuxBackend {
    /// A backend for subpath mounts: `volume` as [`Root::Volume`] and
    /// `pod_dir` as [`Root::PodDir`], and no other root.
    pub fn open_for_subpaths(volume: &Path, pod_dir: &Path) -> Result<Self, BackendError> {
        LinuxBackend::without_roots()
            .with_root(Root::PodDir, pod_dir)?
            .with_root(Root::Volume, volume)
    }

    /// Bind mounts go through `/proc/self/fd` links, as on kernels before
    /// 5.2 (no `open_tree`); `false` uses `open_tree` + `move_mount` again.
    /// For tests.
    pub fn set_force_proc_fd_bind(&mut self, on: bool) {
        self.subpath.proc_fd_bind.store(on, Ordering::Relaxed);
    }

    pub(crate) fn stat_beneath(&self, path: &RootPath) -> Outcome {
        let shown = self.labels.show(path);
        let fd = beneath::open_beneath(&self.resolver, self.root_fd(path)?, &path.path)
            .map_err(|failed| fail(failed.op, &shown, failed.errno))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| fail("fstat", &shown, e))?;
        Ok(Observation::Inode(info(&stat)))
    }

    pub(crate) fn stat_no_follow(&self, path: &RootPath) -> Outcome {
        let shown = self.labels.show(path);
        let stat = if path.path.is_root() {
            rustix::fs::fstat(self.root_fd(path)?)
        } else {
            let (parent, name) = self.open_parent(path)?;
            rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)
        }
        .map_err(|e| fail("fstatat", &shown, e))?;
        Ok(Observation::Inode(info(&stat)))
    }

    pub(crate) fn make_dir_beneath(&self, dir: &RootPath, mode: u32) -> Outcome {
        let created = mkdir::make_dir_beneath(&self.resolver, self.root_fd(dir)?, &dir.path, mode)
            .map_err(|failed| fail(failed.op, self.labels.show(dir), failed.errno))?;
        Ok(Observation::DirCreated { created })
    }

    pub(crate) fn create_empty_file(&self, file: &RootPath, mode: u32) -> Outcome {
        let shown = self.labels.show(file);
        let (parent, name) = self.open_parent(file)?;
        let flags =
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&parent, name, flags, Mode::from_bits_truncate(mode & 0o777)) {
            Ok(_created) => return Ok(Observation::Done),
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(fail("openat", &shown, e)),
        }
        // Something is there: look, never open (it may be a FIFO).
        let stat = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| fail("fstatat", &shown, e))?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Ok(Observation::Done),
            FileType::Directory => Err(refuse(Errno::EISDIR, "create", &shown, "is a directory")),
            _ => Err(refuse(
                Errno::EEXIST,
                "create",
                &shown,
                "exists and is not a regular file (a symlink, FIFO, socket or device)",
            )),
        }
    }
}

pub(crate) fn read_mountinfo() -> Outcome {
    const PATH: &str = "/proc/self/mountinfo";
    let fd = rustix::fs::open(PATH, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| fail("open", PATH, e))?;
    match read_at_most(&fd, MAX_MOUNTINFO_LEN, 0).map_err(|e| fail("read", PATH, e))? {
        Some(table) => Ok(Observation::Contents(table)),
        None => Err(refuse(Errno::EFBIG, "read", PATH, "is larger than 64 MiB")),
    }
}
