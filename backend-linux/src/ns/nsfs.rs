//! Identifying namespaces from nsfs files: the `ioctl_ns(2)` requests and
//! the file system magic. A namespace is its nsfs inode: every nsfs file of
//! it (`/proc/<pid>/ns/*`, a pin) has the same `st_ino`.

// The two ioctls return an int the kernel defines (a new fd, a type).
#![allow(unsafe_code)]

use std::ffi::c_void;

use podns_core::{NamespaceId, NamespaceKind};
use rustix::fd::{AsFd, FromRawFd, OwnedFd};
use rustix::ioctl::{Ioctl, IoctlOutput, Opcode, opcode};

/// `f_type` of an nsfs file (`NSFS_MAGIC` in `linux/magic.h`).
pub const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The `ioctl_ns(2)` group, `NSIO`.
const NSIO: u8 = 0xb7;

/// `NS_GET_USERNS` (`_IO(0xb7, 0x1)`): a new fd of the user namespace that
/// owns the namespace.
struct GetUserns;

// SAFETY: `_IO` requests take no argument: no pointer is passed, nothing in
// user memory is read or written; the result is a new fd the kernel opened
// for this process, which `output_from_ptr` takes ownership of.
unsafe impl Ioctl for GetUserns {
    type Output = OwnedFd;
    const IS_MUTATING: bool = false;

    fn opcode(&self) -> Opcode {
        opcode::none(NSIO, 0x1)
    }

    fn as_ptr(&mut self) -> *mut c_void {
        std::ptr::null_mut()
    }

    unsafe fn output_from_ptr(out: IoctlOutput, _: *mut c_void) -> rustix::io::Result<OwnedFd> {
        // SAFETY: a successful NS_GET_USERNS returns a new, open fd that
        // nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(out) })
    }
}

/// `NS_GET_NSTYPE` (`_IO(0xb7, 0x3)`): the namespace's `CLONE_NEW*` type.
struct GetNstype;

// SAFETY: as for `GetUserns`; the result is a plain integer.
unsafe impl Ioctl for GetNstype {
    type Output = u32;
    const IS_MUTATING: bool = false;

    fn opcode(&self) -> Opcode {
        opcode::none(NSIO, 0x3)
    }

    fn as_ptr(&mut self) -> *mut c_void {
        std::ptr::null_mut()
    }

    unsafe fn output_from_ptr(out: IoctlOutput, _: *mut c_void) -> rustix::io::Result<u32> {
        Ok(out as u32)
    }
}

/// The user namespace that owns the namespace of `fd` (`NS_GET_USERNS`).
pub fn owner_user_namespace(fd: impl AsFd) -> rustix::io::Result<OwnedFd> {
    // SAFETY: `GetUserns` describes NS_GET_USERNS exactly (see above).
    unsafe { rustix::ioctl::ioctl(fd, GetUserns) }
}

/// The type of the namespace of `fd` (`NS_GET_NSTYPE`).
pub fn namespace_kind(fd: impl AsFd) -> rustix::io::Result<NamespaceKind> {
    // SAFETY: `GetNstype` describes NS_GET_NSTYPE exactly (see above).
    let flag = unsafe { rustix::ioctl::ioctl(fd, GetNstype) }?;
    Ok(NamespaceKind::from_clone_flag(flag))
}

/// True when `fd` is a file on nsfs.
pub fn is_nsfs(fd: impl AsFd) -> rustix::io::Result<bool> {
    Ok(rustix::fs::fstatfs(fd)?.f_type as i64 == NSFS_MAGIC)
}

/// The identity of the namespace of the nsfs file `fd`: its type and inode.
/// A file that is not on nsfs is refused with `EINVAL`.
pub fn namespace_id(fd: impl AsFd) -> rustix::io::Result<NamespaceId> {
    let fd = fd.as_fd();
    if !is_nsfs(fd)? {
        return Err(rustix::io::Errno::INVAL);
    }
    Ok(NamespaceId {
        kind: namespace_kind(fd)?,
        ino: rustix::fs::fstat(fd)?.st_ino,
    })
}

#[cfg(test)]
mod tests {
    use rustix::fs::{Mode, OFlags};

    use super::*;

    fn open(path: &str) -> OwnedFd {
        rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap()
    }

    #[test]
    fn this_process_namespaces_are_identified() {
        let net = open("/proc/self/ns/net");
        let user = open("/proc/self/ns/user");
        let net_id = namespace_id(&net).unwrap();
        let user_id = namespace_id(&user).unwrap();
        assert_eq!(net_id.kind, NamespaceKind::Net);
        assert_eq!(user_id.kind, NamespaceKind::User);
        // Our network namespace is owned by our user namespace, unless we
        // run in a container that joined another one (then it is an
        // ancestor, which NS_GET_USERNS may refuse with EPERM).
        match owner_user_namespace(&net) {
            Ok(owner) => assert_eq!(namespace_id(&owner).unwrap().kind, NamespaceKind::User),
            Err(error) => assert_eq!(error, rustix::io::Errno::PERM),
        }
        let not_nsfs = open("/proc/self/status");
        assert_eq!(namespace_id(&not_nsfs), Err(rustix::io::Errno::INVAL));
    }
}
