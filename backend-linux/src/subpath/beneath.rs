//! Resolving a subpath below the volume's fd, following the volume's own
//! symlinks only while they stay inside it, and never a magic link.
//!
//! kubelet resolves a subpath's symlinks first (EvalSymlinks) and then opens
//! the result component by component; here the kernel does both at once
//! with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, which fails with
//! `EXDEV` the moment a `..` or an absolute symlink would leave the root, and
//! retries internally (or returns `EAGAIN`) when a rename races the lookup.
//! Without `openat2` the same rules are applied by hand: every step is an
//! `openat` relative to a directory fd already held, so a rename can only
//! change which inode inside the volume is reached, never lead outside it.

use podns_core::RelPath;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::resolve::{Failed, Resolver};

/// Linux's limit on symlinks followed in one resolution.
const MAX_SYMLINKS: usize = 40;

/// `O_PATH`: the fd only names the file, so a FIFO or a device at the end is
/// never opened for I/O (and cannot block), and no permission to read it is
/// needed.
const PATH_FLAGS: OFlags = OFlags::PATH.union(OFlags::CLOEXEC);

/// Opens `path` below `root` as an `O_PATH` fd: symlinks are followed while
/// they stay below `root`; `EXDEV` when the path would leave it, `ELOOP` for a
/// magic link or more than 40 symlinks.
pub(crate) fn open_beneath(
    resolver: &Resolver,
    root: BorrowedFd<'_>,
    path: &RelPath,
) -> Result<OwnedFd, Failed> {
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    resolver.openat2_or_walk(root, path, PATH_FLAGS, Mode::empty(), resolve, || {
        walk_beneath(root, path)
    })
}

/// The fallback: one `O_PATH | O_NOFOLLOW` `openat` per component. A
/// symlink's target is read and its components are resolved in its place,
/// against the directory fds already held; `..` drops the last of them and
/// is never opened, so no step can climb above `root`.
fn walk_beneath(root: BorrowedFd<'_>, path: &RelPath) -> Result<OwnedFd, Failed> {
    // Directories entered below the root, innermost last.
    let mut dirs: Vec<OwnedFd> = Vec::new();
    // Components still to resolve, the next one last.
    let mut pending: Vec<Vec<u8>> = path
        .components()
        .rev()
        .map(|component| component.as_bytes().to_vec())
        .collect();
    let mut links = 0;
    // A non-directory: only the end of the path may be one.
    let mut reached: Option<OwnedFd> = None;
    while let Some(name) = pending.pop() {
        if reached.is_some() {
            return Err(Failed::new("openat", Errno::NOTDIR));
        }
        match name.as_slice() {
            b"" | b"." => continue,
            b".." => {
                if dirs.pop().is_none() {
                    return Err(Failed::new("openat", Errno::XDEV));
                }
                continue;
            }
            _ => {}
        }
        let at = dirs.last().map_or(root, AsFd::as_fd);
        let fd = rustix::fs::openat(
            at,
            name.as_slice(),
            PATH_FLAGS | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|errno| Failed::new("openat", errno))?;
        let stat = rustix::fs::fstat(&fd).map_err(|errno| Failed::new("fstat", errno))?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => dirs.push(fd),
            FileType::Symlink => {
                links += 1;
                if links > MAX_SYMLINKS || is_magic_link(&fd)? {
                    return Err(Failed::new("openat", Errno::LOOP));
                }
                let target = rustix::fs::readlinkat(&fd, "", Vec::new())
                    .map_err(|errno| Failed::new("readlinkat", errno))?
                    .into_bytes();
                if target.starts_with(b"/") {
                    return Err(Failed::new("openat", Errno::XDEV));
                }
                pending.extend(target.split(|byte| *byte == b'/').rev().map(<[u8]>::to_vec));
            }
            _ => reached = Some(fd),
        }
    }
    if let Some(fd) = reached {
        return Ok(fd);
    }
    match dirs.pop() {
        Some(fd) => Ok(fd),
        None => rustix::fs::openat(root, ".", PATH_FLAGS | OFlags::DIRECTORY, Mode::empty())
            .map_err(|errno| Failed::new("openat", errno)),
    }
}

/// Every symlink on procfs counts as a magic link (`/proc/<pid>/fd/N`,
/// `/proc/<pid>/root`, `/proc/<pid>/cwd`...): their targets are not paths to
/// resolve but kernel objects, and `readlink` can print a harmless-looking
/// relative text such as `pipe:[123]`. This also refuses the plain
/// `/proc/self` link, which a volume has no business going through.
fn is_magic_link(link: &OwnedFd) -> Result<bool, Failed> {
    let fs = rustix::fs::fstatfs(link).map_err(|errno| Failed::new("fstatfs", errno))?;
    Ok(fs.f_type == rustix::fs::PROC_SUPER_MAGIC)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use rustix::fs::CWD;
    use tempfile::TempDir;

    use super::*;

    /// volume/ {dir/file, dir/sub/, in -> dir, rel -> dir/../dir/file,
    /// out -> .., abs -> /, chain -> in, dangling -> nope, loop -> loop}
    fn volume() -> (TempDir, OwnedFd) {
        let temp = TempDir::new().unwrap();
        let root = temp.path().join("volume");
        std::fs::create_dir_all(root.join("dir/sub")).unwrap();
        std::fs::write(root.join("dir/file"), b"inside").unwrap();
        for (name, target) in [
            ("in", "dir"),
            ("rel", "dir/../dir/file"),
            ("out", ".."),
            ("abs", "/"),
            ("chain", "in"),
            ("dangling", "nope"),
            ("loop", "loop"),
            ("up-and-back", "dir/sub/../../dir"),
        ] {
            symlink(target, root.join(name)).unwrap();
        }
        let fd = rustix::fs::open(
            &root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (temp, fd)
    }

    fn both(check: impl Fn(&Resolver, BorrowedFd<'_>)) {
        for walk in [false, true] {
            let (_temp, root) = volume();
            let resolver = Resolver::default();
            resolver.set_force_walk(walk);
            check(&resolver, root.as_fd());
        }
    }

    fn id(fd: &OwnedFd) -> (u64, u64) {
        let stat = rustix::fs::fstat(fd).unwrap();
        (stat.st_dev, stat.st_ino)
    }

    fn open(resolver: &Resolver, root: BorrowedFd<'_>, path: &str) -> Result<OwnedFd, Errno> {
        open_beneath(resolver, root, &RelPath::parse(path).unwrap()).map_err(|f| f.errno)
    }

    #[test]
    fn inside_symlinks_resolve_to_the_same_inode_in_both_modes() {
        both(|resolver, root| {
            let dir = id(&open(resolver, root, "dir").unwrap());
            let file = id(&open(resolver, root, "dir/file").unwrap());
            assert_eq!(id(&open(resolver, root, "in").unwrap()), dir);
            assert_eq!(id(&open(resolver, root, "chain").unwrap()), dir);
            assert_eq!(id(&open(resolver, root, "up-and-back").unwrap()), dir);
            assert_eq!(id(&open(resolver, root, "in/file").unwrap()), file);
            assert_eq!(id(&open(resolver, root, "rel").unwrap()), file);
            let whole = id(&open(resolver, root, "").unwrap());
            let root_id = id(&rustix::fs::openat(root, ".", PATH_FLAGS, Mode::empty()).unwrap());
            assert_eq!(whole, root_id);
        });
    }

    #[test]
    fn escapes_loops_and_dead_ends_fail_in_both_modes() {
        both(|resolver, root| {
            assert_eq!(open(resolver, root, "out").unwrap_err(), Errno::XDEV);
            assert_eq!(open(resolver, root, "out/volume").unwrap_err(), Errno::XDEV);
            assert_eq!(open(resolver, root, "abs").unwrap_err(), Errno::XDEV);
            assert_eq!(open(resolver, root, "abs/etc").unwrap_err(), Errno::XDEV);
            assert_eq!(open(resolver, root, "dangling").unwrap_err(), Errno::NOENT);
            assert_eq!(open(resolver, root, "loop").unwrap_err(), Errno::LOOP);
            assert_eq!(
                open(resolver, root, "dir/file/x").unwrap_err(),
                Errno::NOTDIR
            );
            assert_eq!(open(resolver, root, "rel/x").unwrap_err(), Errno::NOTDIR);
            assert_eq!(open(resolver, root, "nope").unwrap_err(), Errno::NOENT);
        });
    }

    #[test]
    fn magic_links_are_refused_in_both_modes() {
        for walk in [false, true] {
            let resolver = Resolver::default();
            resolver.set_force_walk(walk);
            let proc_self = rustix::fs::openat(
                CWD,
                "/proc/self",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            let fd_name = format!("fd/{}", {
                use rustix::fd::AsRawFd;
                proc_self.as_raw_fd()
            });
            for magic in ["root", "cwd", "exe", fd_name.as_str()] {
                let errno = open(&resolver, proc_self.as_fd(), magic).unwrap_err();
                assert_eq!(errno, Errno::LOOP, "{magic} (walk: {walk})");
            }
        }
    }
}
