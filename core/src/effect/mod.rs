//! The vocabulary between the core and a backend: what to do ([`Effect`]), what
//! happened ([`Observation`]), and how it failed ([`EffectError`]).

mod describe;
mod errno;
mod idmap_with;
mod inode;
mod observation;

pub use errno::{EffectError, Errno};
pub use idmap_with::IdmapWith;
pub use inode::{FileId, InodeInfo};
pub use observation::{DirEntry, EntryKind, Observation};

use serde::{Deserialize, Serialize};

use crate::idmap::IdMap;
use crate::path::{PodUid, Root, RootPath};

/// One step the core asks a backend to take.
///
/// Effects are plain data so that they can be logged, snapshot-tested, replayed
/// and injected with faults. Durability steps are separate variants on purpose:
/// a crash can fall between any two of them, and the core decides which ones a
/// protocol needs.
///
/// Common rules for every variant:
/// - Paths are resolved below the named root's directory fd and MUST NOT follow
///   a symbolic link in any component (a symlink fails with `ELOOP`), nor leave
///   the root.
/// - Every fd the backend opens MUST be `O_CLOEXEC`.
/// - A backend MUST report failure as an [`EffectError`] carrying the errno it
///   got; it MUST NOT retry an effect that may have taken effect, and MUST NOT
///   panic.
///
/// The enum is deliberately not `#[non_exhaustive]`: every backend matches
/// it exhaustively, so a new effect does not compile until each backend
/// executes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// List the entries of directory `dir`, without `.` and `..`.
    ///
    /// - Returns [`Observation::Listing`]. Entry kinds come from `d_type`, or
    ///   from `fstatat(AT_SYMLINK_NOFOLLOW)` when the file system does not fill
    ///   it in. Names that are not UTF-8 MUST be left out (the core creates none
    ///   and acts on none).
    /// - Errors: `ENOENT` (no such directory), `ENOTDIR`, `ELOOP` (a symlink),
    ///   `EACCES`, `EIO`.
    /// - Durable afterwards: nothing changes.
    ListDir {
        /// The directory to list.
        dir: RootPath,
    },
    /// Read the whole regular file `file`, at most `max_len` bytes.
    ///
    /// - The backend MUST open with `O_NOFOLLOW | O_NONBLOCK` so that a symlink
    ///   is refused and a FIFO cannot block, then check the opened file.
    /// - Returns [`Observation::Contents`].
    /// - Errors: `ENOENT`; `ELOOP` (a symlink); `EISDIR` (a directory); `EINVAL`
    ///   (a FIFO, socket or device); `EFBIG` (longer than `max_len`); `EACCES`;
    ///   `EIO`.
    /// - Durable afterwards: nothing changes.
    ReadFile {
        /// The file to read.
        file: RootPath,
        /// Larger files are refused with `EFBIG`, so a hostile file cannot
        /// exhaust memory.
        max_len: u64,
    },
    /// Create directory `dir` with `mode` (before umask) unless it exists.
    ///
    /// - Returns [`Observation::DirCreated`] with `created: false` when a
    ///   directory already exists there.
    /// - Errors: `ENOTDIR` when something other than a directory (a symlink
    ///   included) has that name; `ENOENT` (no parent); `ENOSPC`; `EROFS`;
    ///   `EACCES`; `EIO`.
    /// - Durable afterwards: nothing. The new entry survives a power loss only
    ///   after a later [`Effect::SyncDir`] of the parent.
    CreateDir {
        /// The directory to create.
        dir: RootPath,
        /// Permission bits.
        mode: u32,
    },
    /// Create the new file `file` exclusively and write `contents` to it.
    ///
    /// - The backend MUST open with `O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW`
    ///   and `mode`, write every byte (retrying short writes), and MAY keep the
    ///   fd open for a following [`Effect::SyncFile`] of the same path.
    /// - Returns [`Observation::Done`].
    /// - Errors: `EEXIST`; `ENOENT` (no parent); `ENOSPC`; `EROFS`; `EACCES`;
    ///   `EIO`. After an error the file may exist with any prefix of
    ///   `contents`: the core removes it.
    /// - Durable afterwards: nothing, neither the data nor the name.
    WriteNewFile {
        /// The file to create; it must not exist.
        file: RootPath,
        /// Permission bits.
        mode: u32,
        /// The complete contents.
        contents: Vec<u8>,
    },
    /// `fsync(2)` the file `file`.
    ///
    /// - The backend SHOULD use the fd kept from [`Effect::WriteNewFile`], so a
    ///   writeback error recorded before a new open cannot be missed.
    /// - Returns [`Observation::Done`].
    /// - Errors: `EIO`, `ENOSPC`, `EDQUOT`, `ENOENT`. Any error means the data
    ///   may be lost; the core treats it as fatal for the operation.
    /// - Durable afterwards: the file's data and size, not its name.
    SyncFile {
        /// The file to flush.
        file: RootPath,
    },
    /// `renameat(2)` `from` over `to`, atomically replacing `to`.
    ///
    /// - Both paths MUST be in the same directory of the same root.
    /// - Returns [`Observation::Done`].
    /// - Errors: `ENOENT` (no `from`); `EISDIR` (`to` is a directory); `EROFS`;
    ///   `EIO`.
    /// - Durable afterwards: nothing, until a [`Effect::SyncDir`] of the
    ///   directory.
    Rename {
        /// The existing name.
        from: RootPath,
        /// The new name.
        to: RootPath,
    },
    /// `fsync(2)` directory `dir`, making its entries durable.
    ///
    /// - Returns [`Observation::Done`].
    /// - Errors: `ENOENT`, `ENOTDIR`, `ELOOP`, `EIO`. Any error means earlier
    ///   creates, renames and unlinks in `dir` may be undone by a power loss.
    /// - Durable afterwards: every create, rename and unlink done in `dir`
    ///   before this effect.
    SyncDir {
        /// The directory to flush.
        dir: RootPath,
    },
    /// `syncfs(2)` the file system that holds `root`.
    ///
    /// - Returns [`Observation::Done`].
    /// - Errors: `EIO`, `ENOSPC`, `EDQUOT` (a writeback error since the root was
    ///   opened). Any error means earlier operations may be lost.
    /// - Durable afterwards: every operation completed on that file system
    ///   before this effect, by any process: data, creates, renames, unlinks.
    ///   Recovery uses it once so that what it trusts, and what a killed
    ///   process left behind, cannot change under a later power loss.
    SyncFs {
        /// Any directory of the file system.
        root: Root,
    },
    /// `unlinkat(2)` the non-directory `file` (a symlink is removed, never
    /// followed).
    ///
    /// - Returns [`Observation::FileRemoved`] with `existed: false` when there
    ///   was no such entry (`ENOENT` is not an error here, but a missing parent
    ///   directory still is).
    /// - Errors: `ENOENT` (the parent is missing); `EISDIR`; `EROFS`; `EACCES`;
    ///   `EIO`.
    /// - Durable afterwards: nothing, until a [`Effect::SyncDir`] of the parent.
    RemoveFile {
        /// The entry to remove.
        file: RootPath,
    },
    /// `unlinkat(2, AT_REMOVEDIR)` the empty directory `dir`.
    ///
    /// - Returns [`Observation::Done`].
    /// - Errors: `ENOTEMPTY`; `ENOENT`; `ENOTDIR`; `EROFS`; `EIO`.
    /// - Durable afterwards: nothing, until a [`Effect::SyncDir`] of the parent.
    RemoveDir {
        /// The directory to remove.
        dir: RootPath,
    },
    // Subpath mounts (core/src/subpath). Mounts live in the kernel, not on
    // disk: nothing below is ever durable, a process kill leaves every mount
    // in place and a reboot removes them all.
    /// Resolve `path` below its root the way a volume subpath is resolved,
    /// and report the file it names.
    ///
    /// Unlike the common rule, symbolic links ARE followed here, but only
    /// while they stay below the root (kubelet lets a subpath go through the
    /// volume's own symlinks; CVE-2017-1002101 is a symlink leading out).
    /// - The backend MUST resolve with `openat2(RESOLVE_BENEATH |
    ///   RESOLVE_NO_MAGICLINKS)` and `O_PATH | O_CLOEXEC`, so that a FIFO or a
    ///   device at the end is never opened for I/O. Where `openat2` is
    ///   missing (`ENOSYS`) it MUST walk instead: one `O_PATH | O_NOFOLLOW`
    ///   `openat` per component, a symlink's target read with `readlinkat` and
    ///   resolved against the directory fds already held (never by opening
    ///   `..`), an absolute target or a `..` above the root refused, a
    ///   symlink on procfs refused as a magic link, at most 40 symlinks.
    /// - Returns [`Observation::Inode`] of the file the path resolves to.
    /// - Errors: `ENOENT` (a component or a symlink's target is missing);
    ///   `ENOTDIR` (a non-directory in the middle); `EXDEV` (the path leads
    ///   out of the root: an absolute symlink, or `..` above it); `ELOOP` (a
    ///   magic link, or more than 40 symlinks); `EAGAIN` (renames kept racing
    ///   the resolution); `EACCES`; `EIO`.
    /// - Durable afterwards: nothing changes.
    StatBeneath {
        /// The path to resolve.
        path: RootPath,
    },
    /// Report what `path` names, following no symlink at all (`lstat`
    /// below the root; the common rule).
    ///
    /// - The parent MUST be resolved by the common rule; the last component
    ///   is examined with `fstatat(AT_SYMLINK_NOFOLLOW)`, which does cross a
    ///   mount on it (so a mount point reports the mounted root).
    /// - Returns [`Observation::Inode`]; a symlink is reported as one.
    /// - Errors: `ENOENT`; `ENOTDIR`; `ELOOP` (a symlink in a parent);
    ///   `EACCES`; `EIO`.
    /// - Durable afterwards: nothing changes.
    StatNoFollow {
        /// The path to examine.
        path: RootPath,
    },
    /// Create directory `dir` and its missing parents below its root, as
    /// kubelet's `SafeMakeDir` does.
    ///
    /// - Existing components are resolved as [`Effect::StatBeneath`] does
    ///   (symlinks followed only while they stay below the root), with
    ///   `O_PATH` so that a FIFO on the path cannot block.
    /// - Each missing component MUST be created with `mkdirat` relative to an
    ///   fd of its parent, then opened with `O_DIRECTORY | O_NOFOLLOW` (a
    ///   symlink swapped in after the `mkdirat` is refused) and given `mode`
    ///   with `fchmod`, which restores the setuid, setgid and sticky bits and
    ///   the permission bits that the umask strips.
    /// - Returns [`Observation::DirCreated`], `created: false` when a
    ///   directory was already there (its mode is left alone).
    /// - Errors: `ENOTDIR` (a non-directory on the path or at its end);
    ///   `EXDEV` and `ELOOP` as for [`Effect::StatBeneath`]; `EEXIST` (a name
    ///   that exists but does not resolve below the root, such as a dangling
    ///   symlink); `ENOSPC`; `EROFS`; `EACCES`; `EIO`. Directories created
    ///   before an error stay.
    /// - Durable afterwards: nothing.
    MakeDirBeneath {
        /// The directory to create.
        dir: RootPath,
        /// Permission and special bits, applied exactly (no umask).
        mode: u32,
    },
    /// Create the empty regular file `file` unless a regular file is already
    /// there: the mount point for a subpath that is not a directory.
    ///
    /// - The backend MUST create it with `O_CREAT | O_EXCL | O_WRONLY |
    ///   O_NOFOLLOW | O_CLOEXEC` and `mode`; when the name exists it MUST only
    ///   `fstatat(AT_SYMLINK_NOFOLLOW)` it, never open it (a FIFO there must
    ///   not block), and never change it.
    /// - Returns [`Observation::Done`].
    /// - Errors: `EISDIR` (a directory is there); `EEXIST` (a symlink, FIFO,
    ///   socket or device is there); `ENOENT` (no parent); `ENOSPC`; `EROFS`;
    ///   `EACCES`; `EIO`.
    /// - Durable afterwards: nothing.
    CreateEmptyFile {
        /// The file to create.
        file: RootPath,
        /// Permission bits (before umask).
        mode: u32,
    },
    /// Bind-mount `source` (not recursively) on `target`, so that no
    /// symlink, rename or magic link can make it mount anything else.
    ///
    /// - `source` MUST be resolved into an `O_PATH` fd as
    ///   [`Effect::StatBeneath`] resolves it, and its identity MUST equal
    ///   `expect`; otherwise nothing is mounted and the effect fails with
    ///   `EAGAIN`.
    /// - `target` MUST be resolved by the common rule into an `O_PATH |
    ///   O_NOFOLLOW` fd: a directory for a directory source, otherwise a file
    ///   that is neither a directory nor a symlink.
    /// - The backend MUST mount from fd to fd, never from a path string:
    ///   `open_tree(source, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
    ///   AT_EMPTY_PATH)` then `move_mount(tree, "", target, "",
    ///   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`; only when those
    ///   are missing (`ENOSYS`), `mount(MS_BIND)` of `/proc/self/fd/<source>`
    ///   on `/proc/self/fd/<target>`.
    /// - Afterwards it MUST look the target up again (parent fd and name,
    ///   `O_PATH | O_NOFOLLOW`) and compare its `st_dev`/`st_ino` with the
    ///   source fd's; when they differ it MUST unmount what it mounted
    ///   (`MNT_DETACH`) and fail with `EAGAIN`.
    /// - With `idmap`, the mount is idmapped with a pinned user namespace:
    ///   the backend MUST open the pin `O_RDONLY | O_NOFOLLOW` below its root
    ///   and check that it holds exactly `idmap.userns` (nsfs,
    ///   `NS_GET_NSTYPE`, inode), then `open_tree(OPEN_TREE_CLONE)`,
    ///   `mount_setattr(tree, "", AT_EMPTY_PATH, MOUNT_ATTR_IDMAP, pin fd)`
    ///   and `move_mount`, with the same check afterwards. There is no
    ///   fallback: a file system or kernel that cannot idmap fails the
    ///   effect, and since the tree was never attached nothing is mounted.
    /// - Returns [`Observation::Done`].
    /// - Errors: `EAGAIN` (the source, the target or the pin changed during
    ///   the effect); every error of [`Effect::StatBeneath`] for the source;
    ///   `ENOENT`, `ELOOP` for the target; `ENOTDIR` / `EISDIR` (the target's
    ///   type does not fit the source's); `EPERM` (no `CAP_SYS_ADMIN`, or,
    ///   idmapped, a source that already is an idmapped mount or a file
    ///   system mounted in another user namespace); `EINVAL` (an unbindable
    ///   source); `EBUSY` (the mount could not be undone after a failed
    ///   check: `podns subpath clean` removes it). Idmapped only:
    ///   `EOPNOTSUPP` (the source's file system, named in the detail, cannot
    ///   be idmapped); `ENOSYS` (the kernel has no `open_tree` or
    ///   `mount_setattr`); `EAGAIN` also for a pin that cannot be opened or
    ///   holds another namespace.
    /// - Durable afterwards: nothing. The mount survives a process kill (it
    ///   leaks until cleaned) and disappears at a reboot.
    BindMount {
        /// What to mount, below the volume root.
        source: RootPath,
        /// Where to mount it.
        target: RootPath,
        /// The identity [`Effect::StatBeneath`] reported for `source`.
        expect: FileId,
        /// The user namespace to idmap the mount with, or `None` for a
        /// plain bind mount.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idmap: Option<IdmapWith>,
    },
    /// Unmount the topmost mount on `target`, following no symlink.
    ///
    /// - The parent MUST be resolved by the common rule into an fd, and
    ///   `umount2("/proc/self/fd/<parent>/<name>", UMOUNT_NOFOLLOW)` called,
    ///   so no symlink anywhere can redirect it. Not lazy: a mount in use
    ///   fails with `EBUSY` instead of lingering detached.
    /// - Returns [`Observation::Done`].
    /// - Errors: `EINVAL` (nothing is mounted there, or it is a symlink);
    ///   `ENOENT`; `ELOOP` (a symlink in a parent); `EBUSY`; `EPERM`.
    /// - Durable afterwards: nothing (mounts never are).
    Unmount {
        /// The mount point.
        target: RootPath,
    },
    /// Read this process's mount table, `/proc/self/mountinfo`.
    ///
    /// - The backend MUST return the bytes unparsed (the core parses them
    ///   strictly), read from one open of the file.
    /// - Returns [`Observation::Contents`].
    /// - Errors: `ENOENT` (`/proc` is not mounted); `EFBIG` (over 64 MiB);
    ///   `EACCES`; `EIO`.
    /// - Durable afterwards: nothing changes.
    ReadMountInfo,
    // Pod namespaces (core/src/ns). The run directory holds nothing
    // durable: namespaces and mounts die with the machine, so none of these
    // effects is ever synced. The mount table comes from ReadMountInfo.
    /// Prepare the run directory ([`Root::Run`]) for namespace pins, as
    /// `ip netns add` prepares `/run/netns`.
    ///
    /// - The caller holds the run directory's lock (the [`crate::Host`]
    ///   protocol), so that no other podns process sees a half-made pin nor
    ///   binds the directory onto itself at the same time.
    /// - The backend MUST create the directory (mode 0755) unless it exists,
    ///   then make it a shared mount (`MS_SHARED | MS_REC`), bind-mounting it
    ///   onto itself first when it is not a mount point (`EINVAL`), so that
    ///   pins propagate to the mount namespaces that share it; then open it
    ///   again as the root fd
    ///   (an fd opened before the bind names the mount below it) and check it
    ///   is the same directory. A backend whose effective UID is not 0 MUST
    ///   skip the mount steps, which it may not take.
    /// - Returns [`Observation::Done`].
    /// - Errors: `EACCES`, `EPERM`, `ENOTDIR`, `EROFS`, `EIO`; `EINVAL` when
    ///   the backend was given no run directory.
    /// - Durable afterwards: nothing (a run directory never is).
    SetUpRunDir,
    /// Create the empty pin file `file`, which a later
    /// [`Effect::CreatePodNamespaces`] mounts a namespace onto.
    ///
    /// - The backend MUST open with `O_CREAT | O_EXCL | O_RDONLY | O_NOFOLLOW
    ///   | O_CLOEXEC` and mode 0 (as `ip netns add` does), and close it.
    /// - Returns [`Observation::Done`].
    /// - Errors: `EEXIST`; `ENOENT` (no parent); `ENOSPC`; `EACCES`; `EIO`.
    /// - Durable afterwards: nothing.
    CreatePinFile {
        /// The pin file; it must not exist.
        file: RootPath,
    },
    /// Create the pod's user namespace with `uid_map` and `gid_map` and a
    /// network namespace owned by it, and pin both on the existing empty
    /// files `net_pin` and `user_pin`.
    ///
    /// - The backend MUST do it in a fresh single-threaded helper process (a
    ///   multi-threaded process cannot `unshare(CLONE_NEWUSER)`) that keeps
    ///   no fd of the caller beyond its end of a synchronisation channel: the
    ///   helper unshares `CLONE_NEWUSER` and waits; the caller writes its
    ///   `uid_map`, then `gid_map` (one write each, each read back); the
    ///   helper unshares `CLONE_NEWNET` and waits; the caller bind-mounts
    ///   `/proc/<helper>/ns/net` onto `net_pin` and `/proc/<helper>/ns/user`
    ///   onto `user_pin` (following no symlink at either pin), then kills and
    ///   reaps the helper through a pidfd, so that a recycled PID is never
    ///   signalled nor mounted instead. The pinned namespaces then live until
    ///   their pins are unmounted.
    /// - Returns [`Observation::PodNamespaces`], measured on the pins as for
    ///   [`Effect::InspectPodNamespaces`] (the maps read from the helper,
    ///   with the user namespace they were read from); the core checks them.
    /// - Errors: `EPERM` (not privileged enough: a backend that is not root
    ///   MUST fail before starting anything, saying why); `EBUSY` (a pin is
    ///   already a mount); `ENOENT` (a pin is missing); `ENOSPC`
    ///   (`max_user_namespaces` or `max_net_namespaces` reached); `EINVAL` (a
    ///   map the kernel refuses); `EIO`. After an error either pin may or may
    ///   not be mounted: the core unmounts and removes them. The helper never
    ///   outlives the effect.
    /// - Durable afterwards: nothing; a process kill keeps the mounts (and so
    ///   the namespaces), a power loss loses them.
    CreatePodNamespaces {
        /// The pod (for messages).
        pod: PodUid,
        /// The user namespace's UID map.
        uid_map: IdMap,
        /// The user namespace's GID map.
        gid_map: IdMap,
        /// Where the network namespace is pinned.
        net_pin: RootPath,
        /// Where the user namespace is pinned.
        user_pin: RootPath,
    },
    /// Report what is pinned on `net_pin` and `user_pin`.
    ///
    /// - The backend MUST open each pin with `O_RDONLY | O_NOFOLLOW` below
    ///   the root and refuse one that is not on nsfs (`fstatfs`,
    ///   `NSFS_MAGIC`); report each namespace's type (`NS_GET_NSTYPE`) and
    ///   inode, the owner of the network namespace (`NS_GET_USERNS`), and the
    ///   `uid_map` and `gid_map` of the pinned user namespace, read through a
    ///   single-threaded helper that joins it (`setns`), with the user
    ///   namespace the maps were read from.
    /// - Returns [`Observation::PodNamespaces`].
    /// - Errors: `ENOENT`; `ELOOP` (a symlink); `EINVAL` (not an nsfs file);
    ///   `EPERM`; `EIO`.
    /// - Durable afterwards: nothing changes.
    InspectPodNamespaces {
        /// The network namespace pin.
        net_pin: RootPath,
        /// The user namespace pin.
        user_pin: RootPath,
    },
    /// Lazily unmount the topmost mount on `target`: `umount2(MNT_DETACH |
    /// UMOUNT_NOFOLLOW)`, as `ip netns delete` does. Unlike
    /// [`Effect::Unmount`] it never fails with `EBUSY`: a runtime that still
    /// holds the pin open keeps the namespace until it lets go.
    ///
    /// - The parent MUST be resolved by the common rule into an fd, and the
    ///   last component unmounted by name in it
    ///   (`/proc/self/fd/<parent>/<name>`), never following a symlink there.
    /// - Returns [`Observation::Done`].
    /// - Errors: `EINVAL` (nothing is mounted there, or it is a symlink);
    ///   `ENOENT`; `ELOOP` (a symlink in a parent); `EPERM`.
    /// - Durable afterwards: nothing (mounts never are).
    DetachMount {
        /// The mount point.
        target: RootPath,
    },
}

impl Effect {
    /// True when executing the effect can change the file system.
    pub fn mutates(&self) -> bool {
        !matches!(
            self,
            Effect::ListDir { .. }
                | Effect::ReadFile { .. }
                | Effect::StatBeneath { .. }
                | Effect::StatNoFollow { .. }
                | Effect::ReadMountInfo
                | Effect::InspectPodNamespaces { .. }
        )
    }

    /// True when executing the effect can change what a later listing or
    /// read of its root shows: a create, a write, a rename, a removal or a
    /// mount. A sync changes only what survives a power loss, so it is not
    /// one. Nodes move the pods directory's change counter before the first
    /// such effect of a request (see [`crate::Host`]).
    pub fn changes_contents(&self) -> bool {
        self.mutates()
            && !matches!(
                self,
                Effect::SyncFile { .. } | Effect::SyncDir { .. } | Effect::SyncFs { .. }
            )
    }

    /// The main path the effect acts on.
    pub fn subject(&self) -> RootPath {
        let path = match self {
            Effect::ListDir { dir }
            | Effect::CreateDir { dir, .. }
            | Effect::SyncDir { dir }
            | Effect::RemoveDir { dir } => dir,
            Effect::StatBeneath { path } | Effect::StatNoFollow { path } => path,
            Effect::MakeDirBeneath { dir, .. } => dir,
            Effect::CreateEmptyFile { file, .. } => file,
            Effect::BindMount { target, .. } | Effect::Unmount { target } => target,
            // The mount table matters for the mounts below the pod directory.
            Effect::ReadMountInfo => return RootPath::root(Root::PodDir),
            Effect::SetUpRunDir => return RootPath::root(Root::Run),
            Effect::CreatePinFile { file } => file,
            Effect::CreatePodNamespaces { net_pin, .. }
            | Effect::InspectPodNamespaces { net_pin, .. } => net_pin,
            Effect::DetachMount { target } => target,
            Effect::ReadFile { file, .. }
            | Effect::WriteNewFile { file, .. }
            | Effect::SyncFile { file }
            | Effect::RemoveFile { file } => file,
            Effect::Rename { from, .. } => from,
            Effect::SyncFs { root } => return RootPath::root(*root),
        };
        path.clone()
    }

    /// A short name of the variant, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Effect::ListDir { .. } => "list-dir",
            Effect::ReadFile { .. } => "read-file",
            Effect::CreateDir { .. } => "create-dir",
            Effect::WriteNewFile { .. } => "write-new-file",
            Effect::SyncFile { .. } => "sync-file",
            Effect::Rename { .. } => "rename",
            Effect::SyncDir { .. } => "sync-dir",
            Effect::RemoveFile { .. } => "remove-file",
            Effect::RemoveDir { .. } => "remove-dir",
            Effect::SyncFs { .. } => "sync-fs",
            Effect::StatBeneath { .. } => "stat-beneath",
            Effect::StatNoFollow { .. } => "stat-no-follow",
            Effect::MakeDirBeneath { .. } => "make-dir-beneath",
            Effect::CreateEmptyFile { .. } => "create-empty-file",
            Effect::BindMount { .. } => "bind-mount",
            Effect::Unmount { .. } => "unmount",
            Effect::ReadMountInfo => "read-mount-info",
            Effect::SetUpRunDir => "set-up-run-dir",
            Effect::CreatePinFile { .. } => "create-pin-file",
            Effect::CreatePodNamespaces { .. } => "create-pod-namespaces",
            Effect::InspectPodNamespaces { .. } => "inspect-pod-namespaces",
            Effect::DetachMount { .. } => "detach-mount",
        }
    }
}

/// What executing one effect produced.
pub type Outcome = Result<Observation, EffectError>;
