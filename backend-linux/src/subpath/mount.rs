//! Bind mounts from fd to fd, checked after the fact, and unmounts that
//! follow no symlink.
//!
//! kubelet bind-mounts `/proc/<pid>/fd/<source fd>` onto the target's path
//! string, so a symlink swapped in at the target is followed (runc's
//! CVE-2021-30465 is that race). Here both ends are fds: the source is
//! resolved below the volume's fd, the target below the pod directory's fd,
//! and the kernel is handed the fds (`open_tree` + `move_mount`), or, on
//! kernels before 5.2, the `/proc/self/fd` magic links of both. Afterwards
//! the target is looked up again: if it does not show the source, whatever
//! happened in between is undone and the effect fails.
//!
//! The namespace effects pin nsfs files and unmount them with the same
//! calls.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use podns_core::{EffectError, Errno, FileId, IdmapWith, Observation, RootPath};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::mount::{MoveMountFlags, OpenTreeFlags, UnmountFlags};

use super::Outcome;
use super::beneath::open_beneath;
use crate::error::{errno, fail, id_of, refuse};
use crate::roots::LinuxBackend;

/// How an existing mount point is opened: the entry itself (a symlink is
/// opened as one and refused), only to name it.
const TARGET_FLAGS: OFlags = OFlags::PATH.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// How the mount was made, which decides how it is undone.
pub(crate) enum Mounted {
    /// `open_tree` + `move_mount`: the tree fd is the new mount's root.
    Tree(OwnedFd),
    /// `mount(MS_BIND)` of `/proc/self/fd/<source>` on the target fd's link.
    ProcFd,
}

/// Which call of a bind mount failed, with its errno.
pub(crate) enum BindFailed {
    OpenTree(rustix::io::Errno),
    MoveMount(rustix::io::Errno),
    /// `mount(MS_BIND)` through the `/proc/self/fd` links.
    ProcFd(rustix::io::Errno),
}

impl LinuxBackend {
    pub(crate) fn bind_mount(
        &self,
        source: &RootPath,
        target: &RootPath,
        expect: FileId,
        idmap: Option<&IdmapWith>,
    ) -> Outcome {
        let root = self.root_fd(source)?;
        let src = open_beneath(&self.resolver, root, &source.path)
            .map_err(|failed| fail(failed.op, self.labels.show(source), failed.errno))?;
        let src_stat = fstat(&src, &self.labels.show(source))?;
        if id_of(&src_stat) != expect {
            return Err(refuse(
                Errno::EAGAIN,
                "bind-mount",
                self.labels.show(source),
                &format!(
                    "now names file {} instead of {expect}, which was examined; nothing was \
                     mounted; run again",
                    id_of(&src_stat)
                ),
            ));
        }
        let shown_target = self.labels.show(target);
        let (parent, name) = self.open_parent(target)?;
        let tgt = rustix::fs::openat(&parent, name, TARGET_FLAGS, Mode::empty())
            .map_err(|e| fail("openat", &shown_target, e))?;
        check_kinds(&src_stat, &fstat(&tgt, &shown_target)?, &shown_target)?;

        let mounted = match idmap {
            Some(with) => {
                Mounted::Tree(self.mount_idmapped(&src, &tgt, with, source, &shown_target)?)
            }
            None => self
                .mount_fd_on_fd(&src, &tgt)
                .map_err(|failed| match failed {
                    BindFailed::OpenTree(e) | BindFailed::MoveMount(e) => {
                        fail("open_tree/move_mount", &shown_target, e)
                    }
                    BindFailed::ProcFd(e) => fail("mount --bind /proc/self/fd", &shown_target, e),
                })?,
        };
        // Whatever the target's name shows now must be the source.
        let shows_source = rustix::fs::openat(&parent, name, TARGET_FLAGS, Mode::empty())
            .ok()
            .and_then(|fd| rustix::fs::fstat(&fd).ok())
            .is_some_and(|now| id_of(&now) == id_of(&src_stat));
        if shows_source {
            return Ok(Observation::Done);
        }
        let undone = self.undo(mounted, &tgt, target);
        Err(match undone {
            Ok(()) => refuse(
                Errno::EAGAIN,
                "bind-mount onto",
                &shown_target,
                "the mount point was replaced during the mount; the mount was undone; run again",
            ),
            Err(e) => refuse(
                Errno::EBUSY,
                "bind-mount onto",
                &shown_target,
                &format!(
                    "the mount point was replaced during the mount, and undoing the mount failed \
                     ({}); run `podns subpath clean` for this volume",
                    errno(e)
                ),
            ),
        })
    }

    /// Mounts `src` on `tgt`, both fds, with the new mount API unless it is
    /// missing (remembered for the backend's lifetime) or a test turned it
    /// off.
    pub(crate) fn mount_fd_on_fd(
        &self,
        src: impl AsFd,
        tgt: impl AsFd,
    ) -> Result<Mounted, BindFailed> {
        if !self.subpath.proc_fd_bind.load(Ordering::Relaxed) {
            match mount_tree(src.as_fd(), tgt.as_fd()) {
                Ok(tree) => return Ok(Mounted::Tree(tree)),
                Err(
                    BindFailed::OpenTree(rustix::io::Errno::NOSYS)
                    | BindFailed::MoveMount(rustix::io::Errno::NOSYS),
                ) => {
                    self.subpath.proc_fd_bind.store(true, Ordering::Relaxed);
                }
                Err(failed) => return Err(failed),
            }
        }
        // The magic links name exactly the opened files; mount(2) follows
        // them as links to those files, not as paths someone could swap.
        rustix::mount::mount_bind(proc_fd(&src).as_str(), proc_fd(&tgt).as_str())
            .map_err(BindFailed::ProcFd)?;
        Ok(Mounted::ProcFd)
    }

    /// Removes the mount just made, wherever its mount point went.
    fn undo(&self, mounted: Mounted, tgt: &OwnedFd, target: &RootPath) -> rustix::io::Result<()> {
        let flags = UnmountFlags::DETACH;
        match mounted {
            // The tree fd's magic link names the new mount's root, so this
            // unmounts exactly it, not whatever is at the target's name now.
            Mounted::Tree(tree) => rustix::mount::unmount(proc_fd(&tree).as_str(), flags),
            // Without a tree fd, the mount is found by its mount point's
            // current path, and only inside the pod directory.
            Mounted::ProcFd => {
                let root = self.root_fd(target).map_err(|_| rustix::io::Errno::BADF)?;
                let now = current_path(tgt.as_fd())?;
                let base = current_path(root)?;
                if !now.starts_with(&format!("{}/", base.trim_end_matches('/'))) {
                    return Err(rustix::io::Errno::XDEV);
                }
                rustix::mount::unmount(now.as_str(), flags | UnmountFlags::NOFOLLOW)
            }
        }
    }

    pub(crate) fn unmount(&self, target: &RootPath) -> Outcome {
        if target.path.is_root() {
            return Err(refuse(
                Errno::EINVAL,
                "umount",
                self.labels.show(target),
                "a root is never unmounted by podns",
            ));
        }
        self.unmount_no_follow(target, UnmountFlags::empty(), "umount")?;
        Ok(Observation::Done)
    }

    /// Unmounts the topmost mount on `target` (not a root), with `flags` and
    /// `UMOUNT_NOFOLLOW`; `op` names the call in errors.
    pub(crate) fn unmount_no_follow(
        &self,
        target: &RootPath,
        flags: UnmountFlags,
        op: &str,
    ) -> Result<(), EffectError> {
        let (parent, name) = self.open_parent(target)?;
        // The parent is a magic link to the directory already resolved below
        // the root; UMOUNT_NOFOLLOW keeps the last component from being one.
        let path = format!("{}/{name}", proc_fd(&parent));
        rustix::mount::unmount(path.as_str(), flags | UnmountFlags::NOFOLLOW)
            .map_err(|e| fail(op, self.labels.show(target), e))
    }
}

fn mount_tree(src: BorrowedFd<'_>, tgt: BorrowedFd<'_>) -> Result<OwnedFd, BindFailed> {
    let tree = clone_tree(src).map_err(BindFailed::OpenTree)?;
    attach_tree(&tree, tgt).map_err(BindFailed::MoveMount)?;
    Ok(tree)
}

/// A detached, non-recursive copy of the mount at `src`
/// (`open_tree(OPEN_TREE_CLONE)`); it vanishes when the fd is closed unless
/// [`attach_tree`] mounts it first.
pub(crate) fn clone_tree(src: BorrowedFd<'_>) -> rustix::io::Result<OwnedFd> {
    rustix::mount::open_tree(
        src,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
}

/// Mounts the detached `tree` on `tgt`, fd to fd (`move_mount`).
pub(crate) fn attach_tree(tree: &OwnedFd, tgt: BorrowedFd<'_>) -> rustix::io::Result<()> {
    rustix::mount::move_mount(
        tree,
        "",
        tgt,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

/// Bind mounts join a directory to a directory and a non-directory to a
/// non-directory; a symlink is never a mount point here.
fn check_kinds(src: &Stat, tgt: &Stat, shown_target: &str) -> Result<(), EffectError> {
    let source_dir = FileType::from_raw_mode(src.st_mode) == FileType::Directory;
    match FileType::from_raw_mode(tgt.st_mode) {
        FileType::Symlink => Err(refuse(Errno::ELOOP, "open", shown_target, "is a symlink")),
        FileType::Directory if !source_dir => Err(refuse(
            Errno::EISDIR,
            "bind-mount onto",
            shown_target,
            "is a directory but the source is not",
        )),
        kind if source_dir && kind != FileType::Directory => Err(refuse(
            Errno::ENOTDIR,
            "bind-mount onto",
            shown_target,
            "is not a directory but the source is",
        )),
        _ => Ok(()),
    }
}

fn fstat(fd: &OwnedFd, shown: &str) -> Result<Stat, EffectError> {
    rustix::fs::fstat(fd).map_err(|e| fail("fstat", shown, e))
}

/// The magic link naming `fd`'s file.
pub(crate) fn proc_fd(fd: impl AsFd) -> String {
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())
}

/// Where `fd`'s file is now, as the kernel prints it.
fn current_path(fd: BorrowedFd<'_>) -> rustix::io::Result<String> {
    let link = rustix::fs::readlink(proc_fd(fd).as_str(), Vec::new())?;
    link.into_string().map_err(|_| rustix::io::Errno::ILSEQ)
}
