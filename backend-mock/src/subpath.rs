//! The subpath effects on the mock file system and mount table.
//!
//! Resolution follows the same rules as the Linux backend, as data: below a
//! root, symlinks followed only by [`Effect::StatBeneath`],
//! [`Effect::MakeDirBeneath`] and the source of [`Effect::BindMount`]
//! (relative ones, never above the root), a mount point showing its topmost
//! mount. The mock has no permission bits:
//! directories report `0o755`, everything else `0o644`, and a `mode` is not
//! kept.

use podns_core::{
    EffectError, EntryKind, Errno, FileId, InodeInfo, Observation, RelPath, RootPath,
};

use crate::backend::MockBackend;
use crate::fs::{Ino, MockFs, Node, error};
use crate::mounts::{MOCK_DEV, MockMounts, MountSource};

/// Linux's limit on symlinks followed in one resolution.
const MAX_SYMLINKS: usize = 40;

/// The kernel refuses to remove a mount point in use by this namespace.
pub(crate) fn refuse_mount_point(mounts: &MockMounts, path: &RootPath) -> Result<(), EffectError> {
    if mounts.is_mount_point(path) {
        return Err(error(Errno::EBUSY, "remove (a mount point)", path));
    }
    Ok(())
}

impl MockBackend {
    /// The mount table.
    pub fn mounts(&self) -> &MockMounts {
        &self.mounts
    }

    /// The mount table, for planting mounts out of band or naming the
    /// directories its roots stand for.
    pub fn mounts_mut(&mut self) -> &mut MockMounts {
        &mut self.mounts
    }
}

pub(crate) fn inode(fs: &MockFs, ino: Ino) -> Observation {
    let kind = fs.nodes[&ino].kind();
    Observation::Inode(InodeInfo {
        id: FileId { dev: MOCK_DEV, ino },
        kind,
        mode: if kind == EntryKind::Directory {
            0o755
        } else {
            0o644
        },
    })
}

/// `path/name`, when `name` is a valid component.
fn child_path(path: &RootPath, name: &str) -> Option<RootPath> {
    let path_text = if path.path.is_root() {
        name.to_owned()
    } else {
        format!("{}/{name}", path.path.as_str())
    };
    RelPath::parse(&path_text).ok().map(|rel| RootPath {
        root: path.root,
        path: rel,
    })
}

/// What a path below a root shows: the topmost mount on it, else the inode.
fn shown(mounts: &MockMounts, path: &RootPath, ino: Ino) -> Ino {
    match mounts.top(path).map(|mount| &mount.source) {
        Some(MountSource::Bind { ino, .. }) => *ino,
        _ => ino,
    }
}

/// Resolves `path` following relative symlinks that stay below its root.
/// Returns the inode and the symlink-free path it was found at.
pub(crate) fn resolve_beneath(
    fs: &MockFs,
    mounts: &MockMounts,
    path: &RootPath,
) -> Result<(Ino, RootPath), EffectError> {
    let root = RootPath::root(path.root);
    // The directories walked through, with their paths; empty = the root.
    let mut stack: Vec<(Ino, RootPath)> = Vec::new();
    let mut pending: Vec<String> = path.path.components().rev().map(str::to_owned).collect();
    let mut links = 0;
    let mut last: Option<(Ino, RootPath)> = None;
    while let Some(name) = pending.pop() {
        if let Some((_, at)) = last.take() {
            // Only a directory may have something after it.
            return Err(error(Errno::ENOTDIR, "resolve", &at));
        }
        match name.as_str() {
            "" | "." => continue,
            ".." => {
                if stack.pop().is_none() {
                    return Err(error(Errno::EXDEV, "resolve (leaves the root)", path));
                }
                continue;
            }
            _ => {}
        }
        let (dir, dir_path) = stack
            .last()
            .cloned()
            .unwrap_or_else(|| (fs.roots[&path.root], root.clone()));
        let Some(child) = fs.lookup(dir, &name) else {
            return Err(error(Errno::ENOENT, "resolve", path));
        };
        let child_path =
            child_path(&dir_path, &name).ok_or_else(|| error(Errno::EINVAL, "resolve", path))?;
        let child = shown(mounts, &child_path, child);
        match &fs.nodes[&child] {
            Node::Symlink { target } => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(error(Errno::ELOOP, "resolve", path));
                }
                if target.starts_with('/') {
                    return Err(error(Errno::EXDEV, "resolve (absolute symlink)", path));
                }
                pending.extend(target.split('/').rev().map(str::to_owned));
            }
            Node::Dir { .. } => stack.push((child, child_path)),
            _ => last = Some((child, child_path)),
        }
    }
    Ok(match last {
        Some(found) => found,
        None => stack
            .pop()
            .unwrap_or_else(|| (shown(mounts, &root, fs.roots[&path.root]), root)),
    })
}

/// The directory holding `path`, every component a directory (no symlink).
fn resolve_parent_no_follow<'p>(
    fs: &MockFs,
    mounts: &MockMounts,
    path: &'p RootPath,
) -> Result<(Ino, &'p str), EffectError> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(error(Errno::EINVAL, "a root has no parent:", path));
    };
    let mut ino = fs.roots[&path.root];
    let mut walked = RootPath::root(path.root);
    for component in parent.path.components() {
        let Some(child) = fs.lookup(ino, component) else {
            return Err(error(Errno::ENOENT, "resolve", path));
        };
        walked =
            child_path(&walked, component).ok_or_else(|| error(Errno::EINVAL, "resolve", path))?;
        ino = shown(mounts, &walked, child);
        match &fs.nodes[&ino] {
            Node::Dir { .. } => {}
            Node::Symlink { .. } => return Err(error(Errno::ELOOP, "resolve", path)),
            _ => return Err(error(Errno::ENOTDIR, "resolve", path)),
        }
    }
    Ok((ino, name))
}

/// `lstat` below the root: the entry itself, or its topmost mount.
pub(crate) fn resolve_no_follow(
    fs: &MockFs,
    mounts: &MockMounts,
    path: &RootPath,
) -> Result<Ino, EffectError> {
    if path.path.is_root() {
        return Ok(shown(mounts, path, fs.roots[&path.root]));
    }
    let (dir, name) = resolve_parent_no_follow(fs, mounts, path)?;
    let ino = fs
        .lookup(dir, name)
        .ok_or_else(|| error(Errno::ENOENT, "stat", path))?;
    Ok(shown(mounts, path, ino))
}

pub(crate) fn make_dir_beneath(
    fs: &mut MockFs,
    mounts: &MockMounts,
    dir: &RootPath,
) -> Result<bool, EffectError> {
    let components: Vec<&str> = dir.path.components().collect();
    // The longest prefix that resolves; what follows it is created.
    let mut parent = resolve_beneath(fs, mounts, &RootPath::root(dir.root))?.0;
    for (index, name) in components.iter().enumerate() {
        let prefix = RootPath {
            root: dir.root,
            path: RelPath::parse(&components[..=index].join("/"))
                .map_err(|_| error(Errno::EINVAL, "mkdir", dir))?,
        };
        match resolve_beneath(fs, mounts, &prefix) {
            Ok((ino, _)) if matches!(fs.nodes[&ino], Node::Dir { .. }) => parent = ino,
            Ok(_) => return Err(error(Errno::ENOTDIR, "mkdir", &prefix)),
            Err(failed) if failed.errno == Errno::ENOENT => {
                if fs.lookup(parent, name).is_some() {
                    // A dangling symlink: kubelet's mkdirat fails the same way.
                    return Err(error(Errno::EEXIST, "mkdir", &prefix));
                }
                for name in &components[index..] {
                    parent = fs.insert_new(parent, name, Node::empty_dir());
                }
                return Ok(true);
            }
            Err(failed) => return Err(failed),
        }
    }
    Ok(false)
}

pub(crate) fn create_empty_file(
    fs: &mut MockFs,
    mounts: &MockMounts,
    file: &RootPath,
) -> Result<(), EffectError> {
    let (dir, name) = resolve_parent_no_follow(fs, mounts, file)?;
    match fs.lookup(dir, name).map(|ino| &fs.nodes[&ino]) {
        None => {
            fs.insert_new(
                dir,
                name,
                Node::File {
                    data: Vec::new(),
                    durable_data: Vec::new(),
                },
            );
            Ok(())
        }
        Some(Node::File { .. }) => Ok(()),
        Some(Node::Dir { .. }) => Err(error(Errno::EISDIR, "create", file)),
        Some(_) => Err(error(Errno::EEXIST, "create", file)),
    }
}

pub(crate) fn bind_mount(
    fs: &MockFs,
    mounts: &mut MockMounts,
    source: &RootPath,
    target: &RootPath,
    expect: FileId,
    idmap: Option<u64>,
) -> Result<(), EffectError> {
    let (ino, found_at) = resolve_beneath(fs, mounts, source)?;
    if (FileId { dev: MOCK_DEV, ino }) != expect {
        return Err(error(
            Errno::EAGAIN,
            "bind-mount: the source changed:",
            source,
        ));
    }
    let (dir, name) = resolve_parent_no_follow(fs, mounts, target)?;
    let target_ino = fs
        .lookup(dir, name)
        .ok_or_else(|| error(Errno::ENOENT, "open", target))?;
    let source_is_dir = matches!(fs.nodes[&ino], Node::Dir { .. });
    match (&fs.nodes[&shown(mounts, target, target_ino)], source_is_dir) {
        (Node::Symlink { .. }, _) => return Err(error(Errno::ELOOP, "open", target)),
        (Node::Dir { .. }, true) => {}
        (_, true) => return Err(error(Errno::ENOTDIR, "bind-mount onto", target)),
        (Node::Dir { .. }, false) => return Err(error(Errno::EISDIR, "bind-mount onto", target)),
        (_, false) => {}
    }
    mounts.mount(
        target.clone(),
        MountSource::Bind {
            ino,
            path: found_at,
            idmap,
        },
    );
    Ok(())
}

pub(crate) fn unmount(
    fs: &MockFs,
    mounts: &mut MockMounts,
    target: &RootPath,
) -> Result<(), EffectError> {
    let (dir, name) = resolve_parent_no_follow(fs, mounts, target)?;
    let Some(ino) = fs.lookup(dir, name) else {
        return Err(error(Errno::ENOENT, "umount", target));
    };
    if matches!(fs.nodes[&ino], Node::Symlink { .. }) {
        return Err(error(Errno::EINVAL, "umount (a symlink)", target));
    }
    match mounts.unmount(target) {
        Some(_) => Ok(()),
        None => Err(error(Errno::EINVAL, "umount (not a mount point)", target)),
    }
}
