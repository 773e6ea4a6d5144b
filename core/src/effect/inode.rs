use std::fmt;

use serde::{Deserialize, Serialize};

use super::observation::EntryKind;

/// The identity of a file on a running system: its device and inode numbers
/// (`st_dev`, `st_ino`). Two paths name the same file exactly when their
/// identities are equal, which is how a mount is checked against its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

/// What a stat-like effect found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InodeInfo {
    /// Which file it is.
    pub id: FileId,
    /// What kind of file it is (a symlink only when the effect does not
    /// follow the last component).
    pub kind: EntryKind,
    /// The permission and special bits (`st_mode & 0o7777`).
    pub mode: u32,
}
