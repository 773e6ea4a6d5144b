//! Snapshots of directory trees, to show that nothing outside a command's
//! remit changed.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One entry of a directory snapshot. File contents are compared in full;
/// FIFOs and devices are never opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        len: u64,
        contents: Vec<u8>,
    },
    Symlink {
        target: PathBuf,
    },
    Fifo {
        mode: u32,
    },
    Other {
        mode: u32,
    },
}

/// Every entry under `root` (not following symlinks), by path relative to
/// `root`; empty when `root` does not exist.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    if std::fs::symlink_metadata(root).is_ok() {
        walk(root, Path::new(""), &mut entries);
    }
    entries
}

fn walk(root: &Path, relative: &Path, entries: &mut BTreeMap<PathBuf, Entry>) {
    let dir = root.join(relative);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        // podns's own lock file holds the change counter, which every
        // change moves: it is not part of what a test compares.
        if relative.as_os_str().is_empty() && name == ".podns.lock" {
            continue;
        }
        let path = relative.join(&name);
        let full = root.join(&path);
        let metadata = std::fs::symlink_metadata(&full).unwrap();
        let mode = metadata.permissions().mode();
        let file_type = metadata.file_type();
        let entry = if file_type.is_symlink() {
            Entry::Symlink {
                target: std::fs::read_link(&full).unwrap(),
            }
        } else if file_type.is_dir() {
            walk(root, &path, entries);
            Entry::Dir { mode }
        } else if file_type.is_file() {
            Entry::File {
                mode,
                len: metadata.len(),
                contents: std::fs::read(&full).unwrap(),
            }
        } else if file_type.is_fifo() {
            Entry::Fifo { mode }
        } else {
            Entry::Other { mode }
        };
        entries.insert(path, entry);
    }
}

/// Names in `dir` (not recursive), sorted; empty if it does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = read
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Creates a FIFO, mode 0600.
pub fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap_or_else(|error| panic!("mkfifo {}: {error}", path.display()));
}
