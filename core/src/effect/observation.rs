use serde::{Deserialize, Serialize};

/// The successful result of one effect; each [`super::Effect`] says which
/// variant it returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Observation {
    /// The effect completed and has nothing to report.
    Done,
    /// The entries of a directory, in any order.
    Listing(Vec<DirEntry>),
    /// The bytes of a file.
    Contents(Vec<u8>),
    /// Whether [`super::Effect::CreateDir`] or [`super::Effect::MakeDirBeneath`]
    /// made a new directory.
    DirCreated {
        /// False when the directory already existed.
        created: bool,
    },
    /// Whether [`super::Effect::RemoveFile`] found an entry to remove.
    FileRemoved {
        /// False when there was nothing to remove.
        existed: bool,
    },
    /// What [`super::Effect::StatBeneath`] or [`super::Effect::StatNoFollow`]
    /// found.
    Inode(super::InodeInfo),
    /// What [`super::Effect::CreatePodNamespaces`] or
    /// [`super::Effect::InspectPodNamespaces`] found on a pod's pins.
    PodNamespaces(crate::ns::PinnedNamespaces),
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DirEntry {
    /// The entry's name (one component).
    pub name: String,
    /// What the entry is, without following symlinks.
    pub kind: EntryKind,
}

/// The type of a directory entry, never following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A FIFO, socket or device.
    Other,
}
