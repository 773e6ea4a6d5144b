//! Idmapped bind mounts: the bind mount's tree is cloned detached, idmapped
//! with a pod's pinned user namespace (`mount_setattr(MOUNT_ATTR_IDMAP)`),
//! and only then attached, so a failure at any step leaves nothing mounted:
//! a detached tree disappears when its fd is closed.
//!
//! rustix does not wrap `mount_setattr(2)`; it is the one raw system call
//! here, through libc.

// mount_setattr(2) is called through libc::syscall.
#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

use podns_core::{EffectError, Errno, IdmapWith, RootPath};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};

use super::mount::{attach_tree, clone_tree};
use crate::error::{fail, refuse};
use crate::fs_type::{file_system_name, supports_tmpfile_and_idmap};
use crate::roots::LinuxBackend;

/// `MOUNT_ATTR_IDMAP` in `linux/mount.h`.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr` in `linux/mount.h` (`MOUNT_ATTR_SIZE_VER0`, 32
/// bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

impl LinuxBackend {
    /// Mounts `src` on `tgt` idmapped with the user namespace pinned at
    /// `with.pin`, which must still be `with.userns`; returns the tree fd,
    /// the new mount's root.
    pub(crate) fn mount_idmapped(
        &self,
        src: &OwnedFd,
        tgt: &OwnedFd,
        with: &IdmapWith,
        source: &RootPath,
        shown_target: &str,
    ) -> Result<OwnedFd, EffectError> {
        let shown_pin = self.labels.show(&with.pin);
        // The pin was checked moments ago, under the run directory's lock:
        // any failure to open it now means it changed.
        let (userns, found) = self.open_pin(&with.pin).map_err(|error| {
            refuse(
                Errno::EAGAIN,
                "idmap with",
                &shown_pin,
                &format!(
                    "the pod's user namespace pin cannot be opened any more ({error}); nothing \
                     was mounted; run again"
                ),
            )
        })?;
        if found != with.userns {
            return Err(refuse(
                Errno::EAGAIN,
                "idmap with",
                &shown_pin,
                &format!(
                    "it now holds {found}, not {} which was listed; nothing was mounted; run again",
                    with.userns
                ),
            ));
        }
        let no_api = |call: &str, since: &str| {
            refuse(
                Errno::ENOSYS,
                call,
                shown_target,
                &format!("this kernel has no {call} (Linux {since}), so no idmapped mounts"),
            )
        };
        let tree = clone_tree(src.as_fd()).map_err(|e| match e {
            rustix::io::Errno::NOSYS => no_api("open_tree", "5.2"),
            e => fail("open_tree", self.labels.show(source), e),
        })?;
        set_idmap(tree.as_fd(), userns.as_fd()).map_err(|e| match e {
            rustix::io::Errno::NOSYS => no_api("mount_setattr", "5.12"),
            // The pin was checked to be a user namespace and the tree is
            // detached: what is left is the file system's lack of support.
            rustix::io::Errno::INVAL => {
                let name = file_system_name(src);
                let why = if supports_tmpfile_and_idmap(&name) {
                    format!(
                        "is on {name}, and the kernel refused to idmap this mount of it \
                         (idmapping may be turned off for it; tmpfs needs Linux 6.3)"
                    )
                } else {
                    format!("is on {name}, which does not support idmapped mounts")
                };
                refuse(
                    Errno::EOPNOTSUPP,
                    "mount_setattr(MOUNT_ATTR_IDMAP)",
                    self.labels.show(source),
                    &why,
                )
            }
            rustix::io::Errno::PERM => refuse(
                Errno::EPERM,
                "mount_setattr(MOUNT_ATTR_IDMAP)",
                self.labels.show(source),
                "this process has no CAP_SYS_ADMIN in the user namespace that owns its file \
                 system (a rootless namespace owns only what was mounted inside it), or it is \
                 already on an idmapped mount",
            ),
            e => fail(
                "mount_setattr(MOUNT_ATTR_IDMAP)",
                self.labels.show(source),
                e,
            ),
        })?;
        attach_tree(&tree, tgt.as_fd()).map_err(|e| fail("move_mount", shown_target, e))?;
        Ok(tree)
    }
}

/// Sets `MOUNT_ATTR_IDMAP` with `userns` on the detached mount `tree`.
fn set_idmap(tree: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> rustix::io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: mount_setattr(2) reads exactly `size_of::<MountAttr>()` bytes
    // (MOUNT_ATTR_SIZE_VER0) from `attr`, which outlives the call, and the
    // NUL-terminated empty path; both fds are open for the call (borrowed);
    // it writes no user memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        let raw = std::io::Error::last_os_error().raw_os_error();
        Err(rustix::io::Errno::from_raw_os_error(
            raw.unwrap_or(libc::EIO),
        ))
    }
}
