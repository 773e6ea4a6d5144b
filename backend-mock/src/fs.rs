//! An in-memory file system that keeps what a power loss would keep apart from
//! what only the page cache holds.
//!
//! Every inode has a volatile state (what a running process sees) and a durable
//! state (what the disk holds): a file's data becomes durable on `fsync` of the
//! file, a directory's entries on `fsync` of the directory. A process kill
//! keeps the volatile state; a power loss keeps only the durable one.

use std::collections::BTreeMap;

use podns_core::{DirEntry, EffectError, EntryKind, Errno, RelPath, Root, RootPath};

use crate::power_loss::{EntryChange, Pending};

/// An inode number.
pub type Ino = u64;

/// One inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir {
        /// Entries a running process sees.
        entries: BTreeMap<String, Ino>,
        /// Entries that survive a power loss.
        durable_entries: BTreeMap<String, Ino>,
    },
    /// A regular file.
    File {
        /// Contents a running process sees.
        data: Vec<u8>,
        /// Contents that survive a power loss.
        durable_data: Vec<u8>,
    },
    /// A symbolic link. The effects of this module never follow one; the
    /// subpath effects ([`StatBeneath`](podns_core::Effect::StatBeneath),
    /// [`MakeDirBeneath`](podns_core::Effect::MakeDirBeneath) and the source
    /// of [`BindMount`](podns_core::Effect::BindMount)) follow relative ones
    /// that stay below the root, as the Linux backend does.
    Symlink {
        /// Its target.
        target: String,
    },
    /// A FIFO (reading one must not block; effects refuse it).
    Fifo,
}

impl Node {
    pub(crate) fn kind(&self) -> EntryKind {
        match self {
            Node::Dir { .. } => EntryKind::Directory,
            Node::File { .. } => EntryKind::File,
            Node::Symlink { .. } => EntryKind::Symlink,
            Node::Fifo => EntryKind::Other,
        }
    }

    /// An empty directory.
    pub fn empty_dir() -> Self {
        Node::Dir {
            entries: BTreeMap::new(),
            durable_entries: BTreeMap::new(),
        }
    }

    /// A file holding `contents`, durably (as if written before the
    /// process started).
    pub fn durable_file(contents: impl Into<Vec<u8>>) -> Self {
        let data = contents.into();
        Node::File {
            durable_data: data.clone(),
            data,
        }
    }

    /// A file written with `contents` but never synced: a power loss
    /// leaves it empty.
    pub fn unsynced_file(contents: impl Into<Vec<u8>>) -> Self {
        Node::File {
            data: contents.into(),
            durable_data: Vec::new(),
        }
    }

    /// A symbolic link to `target`.
    pub fn symlink(target: impl Into<String>) -> Self {
        Node::Symlink {
            target: target.into(),
        }
    }
}

/// The in-memory file system with one directory per [`Root`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockFs {
    pub(crate) nodes: BTreeMap<Ino, Node>,
    pub(crate) roots: BTreeMap<Root, Ino>,
    next_ino: Ino,
    /// Operations not yet durable, in the order they happened.
    pub(crate) pending: Vec<Pending>,
}

impl Default for MockFs {
    fn default() -> Self {
        Self::new()
    }
}

/// An effect's error naming what failed on which path.
pub(crate) fn error(errno: Errno, what: &str, path: &RootPath) -> EffectError {
    EffectError::new(errno, format!("{what} {path}"))
}

impl MockFs {
    /// A file system with an empty, durable directory for each root.
    pub fn new() -> Self {
        let mut fs = Self {
            nodes: BTreeMap::new(),
            roots: BTreeMap::new(),
            next_ino: 1,
            pending: Vec::new(),
        };
        for root in [Root::Pods, Root::Run] {
            let ino = fs.alloc(Node::empty_dir());
            fs.roots.insert(root, ino);
        }
        // Subpath mounts go from a volume to a pod directory.
        for root in [Root::Volume, Root::PodDir] {
            let ino = fs.alloc(Node::empty_dir());
            fs.roots.insert(root, ino);
        }
        fs
    }

    pub(crate) fn alloc(&mut self, node: Node) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, node);
        ino
    }

    /// The inode of a directory, walking components without following
    /// symlinks.
    fn resolve_dir(&self, root: Root, path: &RelPath, full: &RootPath) -> Result<Ino, EffectError> {
        let mut ino = self.roots[&root];
        for name in path.components() {
            let Node::Dir { entries, .. } = &self.nodes[&ino] else {
                return Err(error(Errno::ENOTDIR, "resolve", full));
            };
            let Some(&child) = entries.get(name) else {
                return Err(error(Errno::ENOENT, "resolve", full));
            };
            match &self.nodes[&child] {
                Node::Dir { .. } => ino = child,
                Node::Symlink { .. } => return Err(error(Errno::ELOOP, "resolve", full)),
                _ => return Err(error(Errno::ENOTDIR, "resolve", full)),
            }
        }
        Ok(ino)
    }

    /// The parent directory's inode and the final name of `path`.
    fn resolve_parent<'p>(&self, path: &'p RootPath) -> Result<(Ino, &'p str), EffectError> {
        let (Some(parent), Some(name)) = (path.path.parent(), path.file_name()) else {
            return Err(error(Errno::EINVAL, "a root has no parent:", path));
        };
        Ok((self.resolve_dir(path.root, &parent, path)?, name))
    }

    fn entries_mut(&mut self, dir: Ino) -> &mut BTreeMap<String, Ino> {
        match self.nodes.get_mut(&dir) {
            Some(Node::Dir { entries, .. }) => entries,
            _ => unreachable!("resolve_dir only returns directories"),
        }
    }

    /// The entry `name` of directory `dir`; `None` when `dir` is no
    /// directory.
    pub(crate) fn lookup(&self, dir: Ino, name: &str) -> Option<Ino> {
        match &self.nodes[&dir] {
            Node::Dir { entries, .. } => entries.get(name).copied(),
            _ => None,
        }
    }

    /// Creates `node` as the new entry `name` of directory `dir` (which the
    /// caller resolved), the entry not yet durable.
    pub(crate) fn insert_new(&mut self, dir: Ino, name: &str, node: Node) -> Ino {
        let ino = self.alloc(node);
        if let Some(Node::Dir { entries, .. }) = self.nodes.get_mut(&dir) {
            entries.insert(name.to_owned(), ino);
        }
        self.pending.push(Pending::Entry {
            dir,
            change: EntryChange::Insert {
                name: name.to_owned(),
                ino,
            },
        });
        ino
    }

    /// `ListDir`.
    pub fn list_dir(&self, dir: &RootPath) -> Result<Vec<DirEntry>, EffectError> {
        let ino = self.resolve_dir(dir.root, &dir.path, dir)?;
        let Node::Dir { entries, .. } = &self.nodes[&ino] else {
            return Err(error(Errno::ENOTDIR, "list", dir));
        };
        Ok(entries
            .iter()
            .map(|(name, child)| DirEntry {
                name: name.clone(),
                kind: self.nodes[child].kind(),
            })
            .collect())
    }

    /// `ReadFile`.
    pub fn read_file(&self, file: &RootPath, max_len: u64) -> Result<Vec<u8>, EffectError> {
        let (dir, name) = self.resolve_parent(file)?;
        let Some(ino) = self.lookup(dir, name) else {
            return Err(error(Errno::ENOENT, "open", file));
        };
        match &self.nodes[&ino] {
            Node::File { data, .. } if data.len() as u64 > max_len => {
                Err(error(Errno::EFBIG, "read", file))
            }
            Node::File { data, .. } => Ok(data.clone()),
            Node::Dir { .. } => Err(error(Errno::EISDIR, "read", file)),
            Node::Symlink { .. } => Err(error(Errno::ELOOP, "open", file)),
            Node::Fifo => Err(error(Errno::EINVAL, "read", file)),
        }
    }

    /// `CreateDir`; returns whether a directory was created.
    pub fn create_dir(&mut self, dir: &RootPath) -> Result<bool, EffectError> {
        let (parent, name) = self.resolve_parent(dir)?;
        if let Some(existing) = self.lookup(parent, name) {
            return match self.nodes[&existing] {
                Node::Dir { .. } => Ok(false),
                _ => Err(error(Errno::ENOTDIR, "mkdir", dir)),
            };
        }
        self.insert_new(parent, name, Node::empty_dir());
        Ok(true)
    }

    /// `WriteNewFile`.
    pub fn write_new_file(&mut self, file: &RootPath, contents: &[u8]) -> Result<(), EffectError> {
        let (parent, name) = self.resolve_parent(file)?;
        if self.lookup(parent, name).is_some() {
            return Err(error(Errno::EEXIST, "create", file));
        }
        let ino = self.insert_new(
            parent,
            name,
            Node::File {
                data: contents.to_vec(),
                durable_data: Vec::new(),
            },
        );
        if !contents.is_empty() {
            self.pending.push(Pending::Data { file: ino });
        }
        Ok(())
    }

    /// `SyncFile`.
    pub fn sync_file(&mut self, file: &RootPath) -> Result<(), EffectError> {
        let (parent, name) = self.resolve_parent(file)?;
        let Some(ino) = self.lookup(parent, name) else {
            return Err(error(Errno::ENOENT, "open", file));
        };
        match self.nodes.get_mut(&ino) {
            Some(Node::File { data, durable_data }) => {
                durable_data.clone_from(data);
                self.pending
                    .retain(|pending| !matches!(pending, Pending::Data { file } if *file == ino));
                Ok(())
            }
            Some(Node::Symlink { .. }) => Err(error(Errno::ELOOP, "open", file)),
            _ => Err(error(Errno::EINVAL, "fsync", file)),
        }
    }

    /// `Rename` within one directory.
    pub fn rename(&mut self, from: &RootPath, to: &RootPath) -> Result<(), EffectError> {
        if from.root != to.root || from.path.parent() != to.path.parent() {
            return Err(error(Errno::EXDEV, "rename across directories:", from));
        }
        let (parent, from_name) = self.resolve_parent(from)?;
        let to_name = to.file_name().unwrap_or_default();
        let Some(ino) = self.lookup(parent, from_name) else {
            return Err(error(Errno::ENOENT, "rename", from));
        };
        if let Some(target) = self.lookup(parent, to_name) {
            if matches!(self.nodes[&target], Node::Dir { .. }) {
                return Err(error(Errno::EISDIR, "rename onto", to));
            }
        }
        let entries = self.entries_mut(parent);
        entries.remove(from_name);
        entries.insert(to_name.to_owned(), ino);
        self.pending.push(Pending::Entry {
            dir: parent,
            change: EntryChange::Rename {
                from: from_name.to_owned(),
                to: to_name.to_owned(),
                ino,
            },
        });
        Ok(())
    }

    /// `SyncDir`.
    pub fn sync_dir(&mut self, dir: &RootPath) -> Result<(), EffectError> {
        let ino = self.resolve_dir(dir.root, &dir.path, dir)?;
        if let Some(Node::Dir {
            entries,
            durable_entries,
        }) = self.nodes.get_mut(&ino)
        {
            durable_entries.clone_from(entries);
        }
        self.pending
            .retain(|pending| !matches!(pending, Pending::Entry { dir, .. } if *dir == ino));
        Ok(())
    }

    /// `RemoveFile`; returns whether there was an entry.
    pub fn remove_file(&mut self, file: &RootPath) -> Result<bool, EffectError> {
        let (parent, name) = self.resolve_parent(file)?;
        let Some(ino) = self.lookup(parent, name) else {
            return Ok(false);
        };
        if matches!(self.nodes[&ino], Node::Dir { .. }) {
            return Err(error(Errno::EISDIR, "unlink", file));
        }
        self.entries_mut(parent).remove(name);
        self.pending.push(Pending::Entry {
            dir: parent,
            change: EntryChange::Remove {
                name: name.to_owned(),
            },
        });
        Ok(true)
    }

    /// `RemoveDir`.
    pub fn remove_dir(&mut self, dir: &RootPath) -> Result<(), EffectError> {
        let (parent, name) = self.resolve_parent(dir)?;
        let Some(ino) = self.lookup(parent, name) else {
            return Err(error(Errno::ENOENT, "rmdir", dir));
        };
        match &self.nodes[&ino] {
            Node::Dir { entries, .. } if !entries.is_empty() => {
                Err(error(Errno::ENOTEMPTY, "rmdir", dir))
            }
            Node::Dir { .. } => {
                self.entries_mut(parent).remove(name);
                self.pending.push(Pending::Entry {
                    dir: parent,
                    change: EntryChange::Remove {
                        name: name.to_owned(),
                    },
                });
                Ok(())
            }
            _ => Err(error(Errno::ENOTDIR, "rmdir", dir)),
        }
    }

    /// `syncfs`: everything becomes durable.
    pub fn sync_all(&mut self) {
        for node in self.nodes.values_mut() {
            match node {
                Node::Dir {
                    entries,
                    durable_entries,
                } => durable_entries.clone_from(entries),
                Node::File { data, durable_data } => durable_data.clone_from(data),
                _ => {}
            }
        }
        self.pending.clear();
    }

    /// A power loss in which nothing that was not made durable survives.
    pub fn lose_power(&mut self) {
        self.lose_power_with(&mut |_| crate::Survival::Lost);
    }

    pub(crate) fn collect_garbage(&mut self) {
        let mut reachable = std::collections::BTreeSet::new();
        let mut stack: Vec<Ino> = self.roots.values().copied().collect();
        while let Some(ino) = stack.pop() {
            if !reachable.insert(ino) {
                continue;
            }
            if let Some(Node::Dir {
                entries,
                durable_entries,
            }) = self.nodes.get(&ino)
            {
                stack.extend(entries.values().chain(durable_entries.values()));
            }
        }
        self.nodes.retain(|ino, _| reachable.contains(ino));
    }

    /// Places `node` at `path` durably, creating missing parent directories:
    /// the state a disk had before the process started (kubelet-written
    /// files, corrupt files, hostile entries).
    pub fn plant(&mut self, path: &RootPath, node: Node) {
        let mut dir = self.roots[&path.root];
        let components: Vec<&str> = path.path.components().collect();
        let Some((last, parents)) = components.split_last() else {
            return;
        };
        for name in parents {
            dir = match self.lookup(dir, name) {
                Some(child) if matches!(self.nodes[&child], Node::Dir { .. }) => child,
                _ => {
                    let child = self.alloc(Node::empty_dir());
                    self.insert_durably(dir, name, child);
                    child
                }
            };
        }
        let node = match node {
            Node::File { data, .. } => Node::File {
                durable_data: data.clone(),
                data,
            },
            other => other,
        };
        let ino = self.alloc(node);
        self.insert_durably(dir, last, ino);
    }

    fn insert_durably(&mut self, dir: Ino, name: &str, child: Ino) {
        if let Some(Node::Dir {
            entries,
            durable_entries,
        }) = self.nodes.get_mut(&dir)
        {
            entries.insert(name.to_owned(), child);
            durable_entries.insert(name.to_owned(), child);
        }
    }

    /// Every path under `root` with its node, depth first, for assertions and
    /// snapshots.
    pub fn tree(&self, root: Root) -> Vec<(String, &Node)> {
        let mut out = Vec::new();
        let mut stack = vec![(String::new(), self.roots[&root])];
        while let Some((prefix, ino)) = stack.pop() {
            if let Node::Dir { entries, .. } = &self.nodes[&ino] {
                for (name, child) in entries.iter().rev() {
                    let path = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}/{name}")
                    };
                    stack.push((path, *child));
                }
            }
            if !prefix.is_empty() {
                out.push((prefix, &self.nodes[&ino]));
            }
        }
        out
    }
}
