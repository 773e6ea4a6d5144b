//! Where a pod's namespace pins live below the run directory, and how their
//! absolute paths (as `/proc/self/mountinfo` shows them) are derived.
//!
//! ```text
//! <run>/                 Root::Run: created, locked and made a shared mount
//! <run>/.podns.lock      the run directory's lock (a reserved name)
//! <run>/<pod-uid>/       one directory per pod (mode 0755)
//! <run>/<pod-uid>/net    bind mount of the pod's network namespace
//! <run>/<pod-uid>/user   bind mount of the pod's user namespace
//! ```
//!
//! The names derive from the pod UID alone, so recovery finds every pin
//! without a record of random names (Kata and containerd name pins randomly
//! and cannot tell a leaked pin from a live one after a crash).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::path::{PodUid, RelPath, Root, RootPath};

/// Permission bits of a pod's pin directory: runtimes (root) join the pins;
/// others may see the names, as with `/run/netns`.
pub const POD_NS_DIR_MODE: u32 = 0o755;

/// One of the two namespaces podns pins per pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinKind {
    /// The pod's network namespace, owned by its user namespace.
    Net,
    /// The pod's user namespace, holding the pod's ID maps.
    User,
}

impl PinKind {
    /// Both kinds, in the order podns creates and removes them.
    pub const ALL: [PinKind; 2] = [PinKind::Net, PinKind::User];

    /// The pin's file name in the pod directory.
    pub fn file_name(self) -> &'static str {
        match self {
            PinKind::Net => "net",
            PinKind::User => "user",
        }
    }

    /// The prefix of the mount's root in mountinfo (`net:[4026532281]`).
    pub(crate) fn nsfs_root_prefix(self) -> &'static str {
        match self {
            PinKind::Net => "net:[",
            PinKind::User => "user:[",
        }
    }

    /// The kind whose pin file is named `name`.
    pub fn from_file_name(name: &str) -> Option<Self> {
        PinKind::ALL
            .into_iter()
            .find(|kind| kind.file_name() == name)
    }
}

impl fmt::Display for PinKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// `<run>/<pod>`.
pub fn pod_ns_dir(pod: &PodUid) -> RootPath {
    RootPath::pod_dir(Root::Run, pod)
}

/// `<run>/<pod>/net` or `<run>/<pod>/user`.
pub fn pin_path(pod: &PodUid, kind: PinKind) -> RootPath {
    pod_ns_dir(pod).join(kind.file_name())
}

/// The run directory's absolute path, as `/proc/self/mountinfo` shows it
/// (canonical: no symlink, no trailing slash). The core never asks the OS
/// where the run directory is: the caller, who opened it, says so.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunDirPath(String);

/// A run directory path that cannot be matched against mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "run directory {shown:?} must be an absolute, canonical path (no `.`, `..` or empty \
     component, no NUL): pass the path with symlinks resolved, as /proc/self/mountinfo shows it"
)]
pub struct InvalidRunDirPath {
    /// The rejected path.
    pub shown: String,
}

impl RunDirPath {
    /// Validates `path`: absolute, and every component valid (`/` alone is
    /// refused: podns never owns the whole tree).
    pub fn new(path: impl Into<String>) -> Result<Self, InvalidRunDirPath> {
        let path = path.into();
        let trimmed = path.trim_end_matches('/');
        let valid =
            trimmed.starts_with('/') && trimmed.len() > 1 && RelPath::parse(&trimmed[1..]).is_ok();
        if valid {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(InvalidRunDirPath { shown: path })
        }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The absolute path of `path` (a [`Root::Run`] path).
    pub fn absolute(&self, path: &RootPath) -> String {
        if path.path.is_root() {
            return self.0.clone();
        }
        format!("{}/{}", self.0, path.path)
    }

    /// The [`Root::Run`] path of the absolute `mount_point`, when it lies
    /// strictly below the run directory and every component is valid.
    pub fn relative(&self, mount_point: &str) -> Option<RootPath> {
        let rest = mount_point.strip_prefix(&self.0)?.strip_prefix('/')?;
        if rest.is_empty() {
            return None;
        }
        Some(RootPath {
            root: Root::Run,
            path: RelPath::parse(rest).ok()?,
        })
    }
}

impl fmt::Display for RunDirPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dir_paths_must_be_absolute_and_canonical() {
        for bad in [
            "",
            "/",
            "run/podns",
            "/run/../etc",
            "/run//podns",
            "/run/./x",
        ] {
            assert!(RunDirPath::new(bad).is_err(), "{bad:?}");
        }
        let run = RunDirPath::new("/run/podns/").unwrap();
        assert_eq!(run.as_str(), "/run/podns");
        let pod = PodUid::new("p 1").unwrap();
        assert_eq!(
            run.absolute(&pin_path(&pod, PinKind::Net)),
            "/run/podns/p 1/net"
        );
        assert_eq!(
            run.relative("/run/podns/p 1/user"),
            Some(pin_path(&pod, PinKind::User))
        );
        assert_eq!(run.relative("/run/podns"), None);
        assert_eq!(run.relative("/run/podnsx/a"), None);
        assert_eq!(run.relative("/run/other"), None);
    }
}
