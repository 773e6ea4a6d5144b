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
        let (userns, found) = self.open_pin(&with.pin)?;
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
                Errno::EOPNOTSUPP,
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
            rustix::io::Errno::INVAL => refuse(
                Errno::EOPNOTSUPP,
                "mount_setattr(MOUNT_ATTR_IDMAP)",
                self.labels.show(source),
                &format!(
                    "is on {}, which does not support idmapped mounts",
                    file_system_name(src)
                ),
            ),
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

/// The type of the file system `fd` is on, as `mount` names it, from the
/// `statfs` magic; the number itself for a type not listed.
fn file_system_name(fd: &OwnedFd) -> String {
    let magic = match rustix::fs::fstatfs(fd) {
        // `f_type` is narrower on 32-bit targets.
        #[allow(clippy::unnecessary_cast)]
        Ok(stat) => stat.f_type as i64,
        Err(e) => return format!("a file system that could not be examined ({e})"),
    };
    let name = match magic {
        0xef53 => "ext4 (or ext2/ext3)",
        0x5846_5342 => "xfs",
        0x9123_683e => "btrfs",
        0x0102_1994 => "tmpfs",
        0x8584_58f6 => "ramfs",
        0x9fa0 => "proc",
        0x6265_6572 => "sysfs",
        0x6969 => "nfs",
        0xff53_4d42 | 0xfe53_4d42 => "cifs/smb",
        0x794c_7630 => "overlayfs",
        0x6573_5546 => "fuse",
        0x4d44 => "vfat",
        0x7371_7368 => "squashfs",
        0xe0f5_e1e2 => "erofs",
        0xf2f5_2010 => "f2fs",
        0x2fc1_2fc1 => "zfs",
        0x00c3_6400 => "ceph",
        0x0102_1997 => "9p",
        0x6e73_6673 => "nsfs",
        0x6367_7270 => "cgroup2",
        _ => return format!("a file system of type 0x{magic:x}"),
    };
    name.to_owned()
}
