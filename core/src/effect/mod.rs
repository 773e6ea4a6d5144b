//! The vocabulary between the core and a backend: what to do ([`Effect`]), what
//! happened ([`Observation`]), and how it failed ([`EffectError`]).

mod errno;
mod observation;

pub use errno::{EffectError, Errno};
pub use observation::{DirEntry, EntryKind, Observation};

use serde::{Deserialize, Serialize};

use crate::path::{Root, RootLabels, RootPath};

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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
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
}

impl Effect {
    /// True when executing the effect can change the file system.
    pub fn mutates(&self) -> bool {
        !matches!(self, Effect::ListDir { .. } | Effect::ReadFile { .. })
    }

    /// The main path the effect acts on.
    pub fn subject(&self) -> RootPath {
        let path = match self {
            Effect::ListDir { dir }
            | Effect::CreateDir { dir, .. }
            | Effect::SyncDir { dir }
            | Effect::RemoveDir { dir } => dir,
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
        }
    }
}

impl Effect {
    /// One line: the effect's name, its paths (named with `labels`) and its
    /// parameters; file contents are shown as text when they are UTF-8.
    pub fn describe(&self, labels: &RootLabels) -> String {
        let show = |path: &RootPath| labels.show(path);
        match self {
            Effect::ListDir { dir } => format!("list-dir {}", show(dir)),
            Effect::ReadFile { file, max_len } => format!("read-file {} max={max_len}", show(file)),
            Effect::CreateDir { dir, mode } => format!("create-dir {} mode={mode:o}", show(dir)),
            Effect::WriteNewFile {
                file,
                mode,
                contents,
            } => match std::str::from_utf8(contents) {
                Ok(text) => format!("write-new-file {} mode={mode:o} {text}", show(file)),
                Err(_) => format!(
                    "write-new-file {} mode={mode:o} ({} bytes)",
                    show(file),
                    contents.len()
                ),
            },
            Effect::SyncFile { file } => format!("sync-file {}", show(file)),
            Effect::Rename { from, to } => format!("rename {} -> {}", show(from), show(to)),
            Effect::SyncDir { dir } => format!("sync-dir {}", show(dir)),
            Effect::RemoveFile { file } => format!("remove-file {}", show(file)),
            Effect::RemoveDir { dir } => format!("remove-dir {}", show(dir)),
            Effect::SyncFs { root } => format!("sync-fs {}", show(&RootPath::root(*root))),
        }
    }
}

impl std::fmt::Display for Effect {
    /// [`Effect::describe`] with unlabelled roots.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(&RootLabels::new()))
    }
}

/// What executing one effect produced.
pub type Outcome = Result<Observation, EffectError>;
