//! kubelet's `SafeMakeDir` below a root fd: find the existing prefix without
//! leaving the root, then create each missing directory relative to an fd of
//! its parent, and restore the mode the umask stripped.

use podns_core::RelPath;
use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::beneath::open_beneath;
use crate::resolve::{Failed, Resolver};

/// How a newly created directory is reopened: `O_NOFOLLOW` refuses a symlink
/// swapped in after the `mkdirat`, `O_DIRECTORY` anything else that is not a
/// directory (checked before any FIFO could block, and `O_NONBLOCK` besides),
/// and a real (non-`O_PATH`) fd is what `fchmod` needs.
const CREATED_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// Creates `path` and its missing parents below `root`; returns whether
/// anything was created. Each created directory gets exactly `mode`
/// (setuid, setgid and sticky bits included) with `fchmod`.
pub(crate) fn make_dir_beneath(
    resolver: &Resolver,
    root: BorrowedFd<'_>,
    path: &RelPath,
    mode: u32,
) -> Result<bool, Failed> {
    let (mut parent, missing) = find_existing_prefix(resolver, root, path)?;
    if missing.is_empty() {
        return Ok(false);
    }
    for name in missing {
        // EEXIST here: the name did not resolve below the root (a dangling
        // symlink) or another process created it meanwhile; either way it is
        // not a directory this call may claim.
        rustix::fs::mkdirat(&parent, name, Mode::from_bits_truncate(mode & 0o777))
            .map_err(|errno| Failed::new("mkdirat", errno))?;
        let child = rustix::fs::openat(&parent, name, CREATED_FLAGS, Mode::empty())
            .map_err(|errno| Failed::new("openat", errno))?;
        rustix::fs::fchmod(&child, Mode::from_bits_truncate(mode & 0o7777))
            .map_err(|errno| Failed::new("fchmod", errno))?;
        parent = child;
    }
    Ok(true)
}

/// The deepest directory on `path` that exists below `root` (as an `O_PATH`
/// fd, so a FIFO anywhere cannot block), and the components after it. A
/// non-directory on the path is `ENOTDIR`; a path that leads out of the root
/// is `EXDEV`.
pub(crate) fn find_existing_prefix<'p>(
    resolver: &Resolver,
    root: BorrowedFd<'_>,
    path: &'p RelPath,
) -> Result<(OwnedFd, Vec<&'p str>), Failed> {
    let components: Vec<&str> = path.components().collect();
    let mut parent = open_beneath(resolver, root, &RelPath::root())?;
    for index in 0..components.len() {
        let prefix = RelPath::parse(&components[..=index].join("/"))
            .map_err(|_| Failed::new("parse", Errno::INVAL))?;
        match open_beneath(resolver, root, &prefix) {
            Ok(fd) => {
                let stat = rustix::fs::fstat(&fd).map_err(|errno| Failed::new("fstat", errno))?;
                if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                    return Err(Failed::new("openat", Errno::NOTDIR));
                }
                parent = fd;
            }
            Err(missing) if missing.errno == Errno::NOENT => {
                return Ok((parent, components[index..].to_vec()));
            }
            Err(other) => return Err(other),
        }
    }
    Ok((parent, Vec::new()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use rustix::fd::AsFd;
    use tempfile::TempDir;

    use super::*;

    fn base() -> (TempDir, OwnedFd) {
        let temp = TempDir::new().unwrap();
        let root = temp.path().join("base");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("file"), b"").unwrap();
        symlink("a", root.join("link")).unwrap();
        symlink("/", root.join("abs")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            FileType::Fifo,
            Mode::from_bits_truncate(0o600),
            0,
        )
        .unwrap();
        let fd = rustix::fs::open(
            &root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (temp, fd)
    }

    fn prefix(path: &str) -> Result<Vec<String>, Errno> {
        let mut results = Vec::new();
        for walk in [false, true] {
            let (_temp, root) = base();
            let resolver = Resolver::default();
            resolver.set_force_walk(walk);
            let rel = RelPath::parse(path).unwrap();
            results.push(
                find_existing_prefix(&resolver, root.as_fd(), &rel)
                    .map(|(_, missing)| {
                        missing
                            .iter()
                            .map(|name| name.to_string())
                            .collect::<Vec<_>>()
                    })
                    .map_err(|failed| failed.errno),
            );
        }
        assert_eq!(
            results[0], results[1],
            "openat2 and the walk differ on {path}"
        );
        results.remove(0)
    }

    #[test]
    fn existing_prefix_is_found_in_both_modes() {
        assert_eq!(prefix("a/b").unwrap(), Vec::<String>::new());
        assert_eq!(prefix("a/b/c/d").unwrap(), ["c", "d"]);
        assert_eq!(prefix("x/y").unwrap(), ["x", "y"]);
        assert_eq!(prefix("").unwrap(), Vec::<String>::new());
        assert_eq!(prefix("link/b/c").unwrap(), ["c"]);
        assert_eq!(prefix("file/x").unwrap_err(), Errno::NOTDIR);
        assert_eq!(prefix("file").unwrap_err(), Errno::NOTDIR);
        // O_PATH: a FIFO in the middle or at the end fails, never blocks.
        assert_eq!(prefix("fifo/x").unwrap_err(), Errno::NOTDIR);
        assert_eq!(prefix("fifo").unwrap_err(), Errno::NOTDIR);
        assert_eq!(prefix("abs/tmp").unwrap_err(), Errno::XDEV);
    }
}
