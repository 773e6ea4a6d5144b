//! Fds of freshly written files, kept for the `SyncFile` that follows.
//!
//! Syncing through the fd that wrote the data is what guarantees a writeback
//! error is reported: a later `open` + `fsync` may miss an error the kernel
//! already recorded against an earlier file description. The set is bounded
//! because the core may never sync some files (after an error, say).

use std::collections::VecDeque;

use podns_core::RootPath;
use rustix::fd::OwnedFd;

/// The core syncs a file right after writing it, so a handful is plenty.
pub(crate) const MAX_KEPT: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct KeptFiles {
    /// Oldest first.
    files: VecDeque<(RootPath, OwnedFd)>,
}

impl KeptFiles {
    /// Keeps `fd` for `path`, replacing an older fd for the same path and
    /// closing the oldest one when full.
    pub(crate) fn insert(&mut self, path: RootPath, fd: OwnedFd) {
        self.remove(&path);
        if self.files.len() == MAX_KEPT {
            self.files.pop_front();
        }
        self.files.push_back((path, fd));
    }

    /// Removes and returns the fd kept for `path`.
    pub(crate) fn take(&mut self, path: &RootPath) -> Option<OwnedFd> {
        let index = self.files.iter().position(|(kept, _)| kept == path)?;
        self.files.remove(index).map(|(_, fd)| fd)
    }

    /// Forgets `path` (its name no longer refers to the kept file).
    pub(crate) fn remove(&mut self, path: &RootPath) {
        self.take(path);
    }

    /// Follows a rename: the fd kept for `from` now belongs to `to`, and one
    /// kept for `to` belonged to the file the rename replaced.
    pub(crate) fn rename(&mut self, from: &RootPath, to: &RootPath) {
        self.remove(to);
        if let Some(entry) = self.files.iter_mut().find(|(kept, _)| kept == from) {
            entry.0 = to.clone();
        }
    }

    #[cfg(test)]
    pub(crate) fn paths(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|(path, _)| path.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use podns_core::{RelPath, Root};

    use super::*;

    fn path(text: &str) -> RootPath {
        RootPath {
            root: Root::Pods,
            path: RelPath::parse(text).unwrap(),
        }
    }

    fn fd() -> OwnedFd {
        rustix::fs::open(
            ".",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap()
    }

    #[test]
    fn keeps_at_most_max_kept_dropping_the_oldest() {
        let mut kept = KeptFiles::default();
        for i in 0..MAX_KEPT + 3 {
            kept.insert(path(&format!("f{i}")), fd());
        }
        let paths = kept.paths();
        assert_eq!(paths.len(), MAX_KEPT);
        assert_eq!(paths[0], "<pods>/f3");
        assert_eq!(paths[MAX_KEPT - 1], format!("<pods>/f{}", MAX_KEPT + 2));
        assert!(kept.take(&path("f0")).is_none());
        assert!(kept.take(&path("f3")).is_some());
        assert!(kept.take(&path("f3")).is_none());
    }

    #[test]
    fn reinserting_a_path_replaces_it() {
        let mut kept = KeptFiles::default();
        kept.insert(path("a"), fd());
        kept.insert(path("a"), fd());
        assert_eq!(kept.paths(), ["<pods>/a"]);
    }

    #[test]
    fn rename_moves_the_fd_and_forgets_the_replaced_file() {
        let mut kept = KeptFiles::default();
        kept.insert(path("tmp"), fd());
        kept.insert(path("final"), fd());
        kept.insert(path("other"), fd());
        kept.rename(&path("tmp"), &path("final"));
        assert_eq!(kept.paths(), ["<pods>/final", "<pods>/other"]);
        kept.rename(&path("missing"), &path("other"));
        assert_eq!(kept.paths(), ["<pods>/final"]);
    }
}
