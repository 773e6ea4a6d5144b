//! The mock's mount table.
//!
//! Mounts live in the kernel, not on disk: a process kill leaves every one in
//! place (they leak until something unmounts them), a power loss removes them
//! all. [`podns_core::Effect::ReadMountInfo`] renders this table in
//! `/proc/self/mountinfo` format, so every kind of mount the mock models
//! belongs here, whichever effect created it.

use std::collections::BTreeMap;

use podns_core::{Root, RootPath, escape_mountinfo_path};

use crate::fs::Ino;

/// The device number every mock inode reports (`st_dev`).
pub const MOCK_DEV: u64 = 1;

/// What a mount shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A bind mount of a mock inode.
    Bind {
        /// The mounted inode.
        ino: Ino,
        /// Where it was found when it was mounted.
        path: RootPath,
        /// The user namespace (inode) the mount is idmapped with, which the
        /// mount keeps alive, or `None` for a plain bind mount.
        idmap: Option<u64>,
    },
    /// Any other mount, rendered as given in the mountinfo fields.
    Other {
        /// The mount's root within its file system (field 4).
        root: String,
        /// File system type.
        fs_type: String,
        /// Mount source.
        source: String,
    },
}

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockMount {
    /// Unique mount ID, in creation order.
    pub id: u64,
    /// What is mounted.
    pub source: MountSource,
}

/// Every mount, by mount point; stacked mounts in order, the topmost last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MockMounts {
    points: BTreeMap<RootPath, Vec<MockMount>>,
    next_id: u64,
    /// The absolute directory each root stands for, as mountinfo shows it.
    root_dirs: BTreeMap<Root, String>,
}

impl MockMounts {
    /// Names `root`'s absolute directory in the rendered table (by default
    /// `/<root>`, such as `/pod-dir`).
    pub fn set_root_dir(&mut self, root: Root, dir: impl Into<String>) {
        self.root_dirs.insert(root, dir.into());
    }

    /// The absolute directory `root` stands for.
    pub fn root_dir(&self, root: Root) -> String {
        self.root_dirs
            .get(&root)
            .cloned()
            .unwrap_or_else(|| format!("/{root}"))
    }

    /// The absolute path of `path`, as mountinfo shows it.
    pub fn absolute(&self, path: &RootPath) -> String {
        let base = self.root_dir(path.root);
        let base = base.trim_end_matches('/');
        if path.path.is_root() {
            return if base.is_empty() {
                "/".into()
            } else {
                base.into()
            };
        }
        format!("{base}/{}", path.path)
    }

    /// Mounts `source` on `target`, on top of what is there.
    pub fn mount(&mut self, target: RootPath, source: MountSource) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.points
            .entry(target)
            .or_default()
            .push(MockMount { id, source });
        id
    }

    /// Removes the topmost mount on `target`; `None` when nothing is mounted.
    pub fn unmount(&mut self, target: &RootPath) -> Option<MockMount> {
        let stack = self.points.get_mut(target)?;
        let top = stack.pop();
        if stack.is_empty() {
            self.points.remove(target);
        }
        top
    }

    /// The topmost mount on `path`.
    pub fn top(&self, path: &RootPath) -> Option<&MockMount> {
        self.points.get(path).and_then(|stack| stack.last())
    }

    /// True when something is mounted on `path`.
    pub fn is_mount_point(&self, path: &RootPath) -> bool {
        self.points.contains_key(path)
    }

    /// Every mount with its mount point, by mount point then bottom first.
    pub fn iter(&self) -> impl Iterator<Item = (&RootPath, &MockMount)> {
        self.points
            .iter()
            .flat_map(|(point, stack)| stack.iter().map(move |mount| (point, mount)))
    }

    /// How many mounts there are.
    pub fn len(&self) -> usize {
        self.points.values().map(Vec::len).sum()
    }

    /// True when nothing is mounted.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// A power loss: every mount is gone.
    pub fn clear(&mut self) {
        self.points.clear();
    }

    /// The table in `/proc/self/mountinfo` format, in creation order, after
    /// a line for the mock's own root file system.
    pub fn mountinfo(&self) -> String {
        let mut mounts: Vec<(&RootPath, &MockMount)> = self.iter().collect();
        mounts.sort_by_key(|(_, mount)| mount.id);
        let mut text = String::from("1 0 0:1 / / rw - mockfs mock rw\n");
        for (point, mount) in mounts {
            let (root, fs_type, source) = match &mount.source {
                MountSource::Bind { path, .. } => (self.absolute(path), "mockfs", "mock"),
                MountSource::Other {
                    root,
                    fs_type,
                    source,
                } => (root.clone(), fs_type.as_str(), source.as_str()),
            };
            // As the kernel shows an idmapped mount: a per-mount option.
            let options = match mount.source {
                MountSource::Bind { idmap: Some(_), .. } => "rw,idmapped",
                _ => "rw",
            };
            text.push_str(&format!(
                "{} 1 0:{MOCK_DEV} {} {} {options} - {} {} rw\n",
                mount.id + 1,
                escape_mountinfo_path(&root),
                escape_mountinfo_path(&self.absolute(point)),
                escape_mountinfo_path(fs_type),
                escape_mountinfo_path(source),
            ));
        }
        text
    }
}
