//! Naming the file system an fd is on, for messages, from its `statfs`
//! magic, and what podns knows such a file system supports.

use rustix::fd::AsFd;

/// The type of the file system `fd` is on, as `mount` names it, from the
/// `statfs` magic; the number itself for a type not listed.
pub(crate) fn file_system_name(fd: impl AsFd) -> String {
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

/// File systems known to support both `O_TMPFILE` and idmapped mounts on
/// the kernels podns runs on (tmpfs since Linux 6.3).
pub(crate) fn supports_tmpfile_and_idmap(name: &str) -> bool {
    matches!(
        name,
        "ext4 (or ext2/ext3)" | "xfs" | "btrfs" | "tmpfs" | "f2fs"
    )
}
