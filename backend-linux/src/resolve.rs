//! Opening paths below a root fd without following any symlink.
//!
//! A pod directory is named by kubelet and may be replaced by anyone who can
//! write the pods directory; following a symlink there would let them point
//! podns at any file on the host. So every component is resolved with symlinks
//! refused, and a symlink anywhere is reported as `ELOOP`.
//!
//! The choice between `openat2` and a hand-made walk is shared with the
//! subpath resolution (`subpath/beneath.rs`), which follows a volume's own
//! symlinks instead.

use std::sync::atomic::{AtomicBool, Ordering};

use podns_core::RelPath;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// `openat2` returns `EAGAIN` when a concurrent rename races the lookup; a few
/// retries get past an honest race without spinning forever on a hostile one.
const OPENAT2_ATTEMPTS: usize = 8;

/// The flags used to open a directory only to resolve names below it.
const DIR_PATH_FLAGS: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);

/// A failed system call during resolution: which call, and the errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failed {
    pub(crate) op: &'static str,
    pub(crate) errno: Errno,
}

impl Failed {
    pub(crate) fn new(op: &'static str, errno: Errno) -> Self {
        Self { op, errno }
    }
}

/// A directory fd that is either a root (borrowed) or one opened below it.
#[derive(Debug)]
pub(crate) enum DirFd<'r> {
    Root(BorrowedFd<'r>),
    Opened(OwnedFd),
}

impl AsFd for DirFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DirFd::Root(fd) => *fd,
            DirFd::Opened(fd) => fd.as_fd(),
        }
    }
}

/// Chooses between `openat2` and the walk.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    /// Set by tests, or once `openat2` returned `ENOSYS` (kernels before 5.6,
    /// or a seccomp filter that hides it) so it is not tried on every effect.
    walk: AtomicBool,
}

impl Resolver {
    pub(crate) fn set_force_walk(&self, on: bool) {
        self.walk.store(on, Ordering::Relaxed);
    }

    /// True when paths are resolved with the walk (forced, or no `openat2`).
    pub(crate) fn walks(&self) -> bool {
        self.walk.load(Ordering::Relaxed)
    }

    /// Opens `path` below `root` with `flags`; a symlink anywhere in `path`,
    /// the last component included, fails with `ELOOP`.
    pub(crate) fn open(
        &self,
        root: BorrowedFd<'_>,
        path: &RelPath,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Failed> {
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        // NO_SYMLINKS already refuses a trailing symlink with ELOOP; O_NOFOLLOW
        // would turn that into ENOTDIR (with O_DIRECTORY) or an fd of the link
        // itself (with O_PATH).
        self.openat2_or_walk(root, path, flags - OFlags::NOFOLLOW, mode, resolve, || {
            walk(root, &path.components().collect::<Vec<_>>(), flags, mode)
        })
    }

    /// Opens `path` below `root` with `openat2(resolve)`, or, on a kernel
    /// without it (from then on), with `walk`, which must apply the same
    /// rules one component at a time.
    pub(crate) fn openat2_or_walk(
        &self,
        root: BorrowedFd<'_>,
        path: &RelPath,
        flags: OFlags,
        mode: Mode,
        resolve: ResolveFlags,
        walk: impl FnOnce() -> Result<OwnedFd, Failed>,
    ) -> Result<OwnedFd, Failed> {
        if !self.walks() {
            match openat2(root, path, flags, mode, resolve) {
                Err(Errno::NOSYS) => self.set_force_walk(true),
                result => return result.map_err(|errno| Failed::new("openat2", errno)),
            }
        }
        walk()
    }

    /// Opens the directory holding `path` (for the `*at` calls) and returns it
    /// with the final component. A root has no parent: `EINVAL`.
    pub(crate) fn open_parent<'r, 'p>(
        &self,
        root: BorrowedFd<'r>,
        path: &'p RelPath,
    ) -> Result<(DirFd<'r>, &'p str), Failed> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Failed::new("find the parent of", Errno::INVAL));
        };
        if parent.is_root() {
            // Most effects act directly below a root: no need to reopen it.
            return Ok((DirFd::Root(root), name));
        }
        let fd = self.open(root, &parent, DIR_PATH_FLAGS, Mode::empty())?;
        Ok((DirFd::Opened(fd), name))
    }
}

/// `openat2`, retried on `EAGAIN` (see [`OPENAT2_ATTEMPTS`]). The root itself
/// is opened as `.`; no path is copied, as recovery opens one per pod.
fn openat2(
    root: BorrowedFd<'_>,
    path: &RelPath,
    flags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    let text = if path.is_root() { "." } else { path.as_str() };
    let mut attempt = 1;
    loop {
        match rustix::fs::openat2(root, text, flags, mode, resolve) {
            Err(Errno::AGAIN) if attempt < OPENAT2_ATTEMPTS => attempt += 1,
            result => return result,
        }
    }
}

/// The fallback: one `openat` per component, each refusing symlinks. Safe
/// because a `RelPath` has no `..`, so no step can climb out of the root.
fn walk(
    root: BorrowedFd<'_>,
    components: &[&str],
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Failed> {
    let flags = flags | OFlags::NOFOLLOW;
    let Some((last, dirs)) = components.split_last() else {
        return rustix::fs::openat(root, ".", flags, mode)
            .map_err(|errno| Failed::new("openat", errno));
    };
    let mut held: Option<OwnedFd> = None;
    for name in dirs {
        let at = held.as_ref().map_or(root, AsFd::as_fd);
        let next = rustix::fs::openat(at, *name, DIR_PATH_FLAGS | OFlags::NOFOLLOW, Mode::empty())
            .map_err(|errno| Failed::new("openat", symlink_as_eloop(at, name, errno)))?;
        held = Some(next);
    }
    let at = held.as_ref().map_or(root, AsFd::as_fd);
    let fd = rustix::fs::openat(at, *last, flags, mode)
        .map_err(|errno| Failed::new("openat", symlink_as_eloop(at, last, errno)))?;
    if flags.contains(OFlags::PATH) {
        // O_PATH | O_NOFOLLOW opens a trailing symlink itself instead of
        // failing, so check what was opened.
        let stat = rustix::fs::fstat(&fd).map_err(|errno| Failed::new("fstat", errno))?;
        if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
            return Err(Failed::new("openat", Errno::LOOP));
        }
    }
    Ok(fd)
}

/// `O_NOFOLLOW` with `O_DIRECTORY` reports a symlink as `ENOTDIR`; report it
/// as `ELOOP` like openat2 does, so callers see one errno for "a symlink".
fn symlink_as_eloop(at: BorrowedFd<'_>, name: &str, errno: Errno) -> Errno {
    if errno != Errno::NOTDIR {
        return errno;
    }
    match rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink => Errno::LOOP,
        _ => errno,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use rustix::fs::CWD;
    use tempfile::TempDir;

    use super::*;

    const READ: OFlags = OFlags::RDONLY
        .union(OFlags::NOFOLLOW)
        .union(OFlags::NONBLOCK)
        .union(OFlags::CLOEXEC);
    const DIR: OFlags = OFlags::RDONLY
        .union(OFlags::DIRECTORY)
        .union(OFlags::NOFOLLOW)
        .union(OFlags::CLOEXEC);

    /// root/ {dir/file, dir/sub/, link-dir -> dir, dir/link-file -> file}
    /// and an outside/secret the links could point to.
    fn fixture() -> (TempDir, OwnedFd) {
        let temp = TempDir::new().unwrap();
        let root = temp.path().join("root");
        std::fs::create_dir_all(root.join("dir/sub")).unwrap();
        std::fs::write(root.join("dir/file"), b"data").unwrap();
        std::fs::create_dir(temp.path().join("outside")).unwrap();
        std::fs::write(temp.path().join("outside/secret"), b"secret").unwrap();
        symlink(root.join("dir"), root.join("link-dir")).unwrap();
        symlink("file", root.join("dir/link-file")).unwrap();
        symlink(temp.path().join("outside"), root.join("escape")).unwrap();
        let fd = rustix::fs::openat(CWD, &root, DIR, Mode::empty()).unwrap();
        (temp, fd)
    }

    fn rel(text: &str) -> RelPath {
        RelPath::parse(text).unwrap()
    }

    fn both_modes(check: impl Fn(&Resolver, BorrowedFd<'_>)) {
        for walk in [false, true] {
            let (_temp, root) = fixture();
            let resolver = Resolver::default();
            resolver.set_force_walk(walk);
            check(&resolver, root.as_fd());
        }
    }

    fn errno_of(result: Result<OwnedFd, Failed>) -> Errno {
        result.expect_err("must fail").errno
    }

    #[test]
    fn plain_paths_open_in_both_modes() {
        both_modes(|resolver, root| {
            let fd = resolver
                .open(root, &rel("dir/file"), READ, Mode::empty())
                .unwrap();
            let mut buf = [0u8; 8];
            let n = rustix::io::read(&fd, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"data");
            resolver
                .open(root, &rel("dir/sub"), DIR, Mode::empty())
                .unwrap();
            resolver
                .open(root, &RelPath::root(), DIR, Mode::empty())
                .unwrap();
        });
    }

    #[test]
    fn symlinks_anywhere_give_eloop_in_both_modes() {
        both_modes(|resolver, root| {
            assert_eq!(
                errno_of(resolver.open(root, &rel("link-dir/file"), READ, Mode::empty())),
                Errno::LOOP
            );
            assert_eq!(
                errno_of(resolver.open(root, &rel("escape/secret"), READ, Mode::empty())),
                Errno::LOOP
            );
            assert_eq!(
                errno_of(resolver.open(root, &rel("dir/link-file"), READ, Mode::empty())),
                Errno::LOOP
            );
            assert_eq!(
                errno_of(resolver.open(root, &rel("link-dir"), DIR, Mode::empty())),
                Errno::LOOP
            );
            assert_eq!(
                errno_of(resolver.open(root, &rel("link-dir"), DIR_PATH_FLAGS, Mode::empty())),
                Errno::LOOP
            );
            assert_eq!(
                errno_of(resolver.open(
                    root,
                    &rel("dir/link-file"),
                    OFlags::PATH | OFlags::CLOEXEC,
                    Mode::empty()
                )),
                Errno::LOOP
            );
            assert_eq!(
                resolver
                    .open_parent(root, &rel("link-dir/sub/x"))
                    .unwrap_err()
                    .errno,
                Errno::LOOP
            );
            assert_eq!(
                resolver
                    .open_parent(root, &rel("escape/x"))
                    .unwrap_err()
                    .errno,
                Errno::LOOP
            );
        });
    }

    #[test]
    fn missing_and_non_directory_components_keep_their_errno() {
        both_modes(|resolver, root| {
            assert_eq!(
                errno_of(resolver.open(root, &rel("nope/file"), READ, Mode::empty())),
                Errno::NOENT
            );
            assert_eq!(
                errno_of(resolver.open(root, &rel("dir/file/x"), READ, Mode::empty())),
                Errno::NOTDIR
            );
            assert_eq!(
                errno_of(resolver.open(root, &rel("dir/file"), DIR, Mode::empty())),
                Errno::NOTDIR
            );
        });
    }

    #[test]
    fn open_parent_returns_the_directory_and_the_name() {
        both_modes(|resolver, root| {
            let path = rel("dir/sub/new");
            let (parent, name) = resolver.open_parent(root, &path).unwrap();
            assert_eq!(name, "new");
            rustix::fs::mkdirat(&parent, name, Mode::from_bits_truncate(0o700)).unwrap();
            resolver.open(root, &path, DIR, Mode::empty()).unwrap();

            let path = rel("top");
            let (parent, name) = resolver.open_parent(root, &path).unwrap();
            assert!(matches!(parent, DirFd::Root(_)));
            assert_eq!(name, "top");

            let failed = resolver.open_parent(root, &RelPath::root()).unwrap_err();
            assert_eq!(failed.errno, Errno::INVAL);
        });
    }

    #[test]
    fn forcing_the_walk_reports_openat_and_can_be_undone() {
        let (_temp, root) = fixture();
        let resolver = Resolver::default();
        resolver.set_force_walk(true);
        let failed = resolver
            .open(root.as_fd(), &rel("nope"), READ, Mode::empty())
            .unwrap_err();
        assert_eq!(failed.op, "openat");
        resolver.set_force_walk(false);
        let failed = resolver
            .open(root.as_fd(), &rel("nope"), READ, Mode::empty())
            .unwrap_err();
        // A kernel without openat2 switches back to the walk by itself.
        assert!(
            failed.op == "openat2" || failed.op == "openat",
            "{failed:?}"
        );
    }
}
