//! The mounts below the run directory, from `/proc/self/mountinfo`, grouped
//! by pod. The core parses the text itself (the backend only reads it), so
//! what gets unmounted is decided here, from the kernel's own table.

use std::collections::{BTreeMap, BTreeSet};

use super::layout::{PinKind, RunDirPath, pin_path};
use crate::mountinfo::MountEntry;
use crate::path::{PodUid, RootPath};

/// What is mounted on one pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PinMount {
    /// Nothing: a plain file, or no file at all.
    None,
    /// Exactly one nsfs mount of the pin's type, with its inode.
    Nsfs(u64),
    /// Something else: not nsfs, the wrong namespace type, or several
    /// mounts stacked.
    Unexpected(String),
}

/// Every mount at or below `<run>/<pod>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PodMounts {
    /// In mountinfo order (older first), with the Run path of each.
    pub mounts: Vec<(RootPath, MountEntry)>,
}

impl PodMounts {
    /// What is mounted on the pod's `kind` pin.
    pub fn pin(&self, pod: &PodUid, kind: PinKind) -> PinMount {
        let path = pin_path(pod, kind);
        let on_pin: Vec<&MountEntry> = self
            .mounts
            .iter()
            .filter(|(at, _)| *at == path)
            .map(|(_, entry)| entry)
            .collect();
        match on_pin.as_slice() {
            [] => PinMount::None,
            [entry] if entry.is_nsfs() => match nsfs_ino(&entry.root, kind) {
                Some(ino) => PinMount::Nsfs(ino),
                None => PinMount::Unexpected(format!(
                    "an nsfs mount of {}, not of a {kind} namespace",
                    entry.root
                )),
            },
            [entry] => PinMount::Unexpected(format!(
                "a {} mount (source {}), not an nsfs bind mount",
                entry.fs_type, entry.source
            )),
            several => PinMount::Unexpected(format!("{} mounts stacked", several.len())),
        }
    }

    /// Why the pod's pins are not one complete pair, or `None` when both
    /// pins are single nsfs mounts of their types and nothing else is
    /// mounted in the pod's directory.
    pub fn incomplete(&self, pod: &PodUid) -> Option<String> {
        let mut reasons = Vec::new();
        for kind in PinKind::ALL {
            match self.pin(pod, kind) {
                PinMount::Nsfs(_) => {}
                PinMount::None => reasons.push(format!("the {kind} pin is not an nsfs mount")),
                PinMount::Unexpected(what) => {
                    reasons.push(format!("the {kind} pin holds {what}"));
                }
            }
        }
        let pins = PinKind::ALL.map(|kind| pin_path(pod, kind));
        let others = self
            .mounts
            .iter()
            .filter(|(at, _)| !pins.contains(at))
            .count();
        if others > 0 {
            reasons.push(format!("{others} other mount(s) in the pod's directory"));
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// The inode on the pod's `kind` pin, when it is a proper pin.
    pub fn ino(&self, pod: &PodUid, kind: PinKind) -> Option<u64> {
        match self.pin(pod, kind) {
            PinMount::Nsfs(ino) => Some(ino),
            _ => None,
        }
    }

    /// The mount points to unmount, once per mount, newest first (so a
    /// stack is popped from the top and a mount below another goes last).
    pub fn unmount_order(&self) -> Vec<RootPath> {
        self.mounts.iter().rev().map(|(at, _)| at.clone()).collect()
    }
}

/// The mounts strictly below the run directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunMounts {
    /// By pod, for mounts at or below `<run>/<pod>`.
    pub by_pod: BTreeMap<PodUid, PodMounts>,
    /// Mount points below the run directory that are not in a pod's
    /// directory; podns never touches them.
    pub ignored: Vec<String>,
}

impl RunMounts {
    /// Groups `mounts` (the whole table) by pod.
    pub fn new(run: &RunDirPath, mounts: &[MountEntry]) -> Self {
        let mut grouped = RunMounts::default();
        let prefix = format!("{}/", run.as_str());
        for entry in mounts {
            if !entry.mount_point.starts_with(&prefix) {
                continue;
            }
            let path = run.relative(&entry.mount_point);
            let pod = path
                .as_ref()
                .and_then(|path| path.path.first_component())
                .and_then(|name| PodUid::new(name).ok());
            match (pod, path) {
                (Some(pod), Some(path)) => grouped
                    .by_pod
                    .entry(pod)
                    .or_default()
                    .mounts
                    .push((path, entry.clone())),
                _ => grouped.ignored.push(entry.mount_point.clone()),
            }
        }
        grouped
    }

    /// The mounts of `pod` (none when it has none).
    pub fn of(&self, pod: &PodUid) -> &PodMounts {
        static NONE: PodMounts = PodMounts { mounts: Vec::new() };
        self.by_pod.get(pod).unwrap_or(&NONE)
    }

    /// Every pod with a directory in `on_disk` or a mount below the run
    /// directory, sorted: a pod may have either without the other after a
    /// crash.
    pub fn pods_with(&self, on_disk: &BTreeSet<PodUid>) -> BTreeSet<PodUid> {
        on_disk.iter().chain(self.by_pod.keys()).cloned().collect()
    }
}

/// The inode in an nsfs mount root such as `net:[4026532281]`, when it is a
/// namespace of `kind`.
fn nsfs_ino(root: &str, kind: PinKind) -> Option<u64> {
    root.strip_prefix(kind.nsfs_root_prefix())?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::parse_mountinfo;

    fn pod(uid: &str) -> PodUid {
        PodUid::new(uid).unwrap()
    }

    const TABLE: &str = "\
22 1 0:21 / / rw - ext4 /dev/vda rw
30 22 0:25 / /run rw shared:5 - tmpfs tmpfs rw
40 30 0:25 /podns /run/podns rw shared:6 - tmpfs tmpfs rw
41 40 0:4 net:[4026532281] /run/podns/a/net rw shared:6 - nsfs nsfs rw
42 40 0:4 user:[4026532280] /run/podns/a/user rw shared:6 - nsfs nsfs rw
43 40 0:4 net:[4026532290] /run/podns/b/net rw shared:6 - nsfs nsfs rw
44 40 0:4 net:[4026532291] /run/podns/b/user rw shared:6 - nsfs nsfs rw
45 40 0:26 / /run/podns/c/net rw - tmpfs tmpfs rw
46 40 0:4 net:[4026532292] /run/podns/c/net rw - nsfs nsfs rw
47 40 0:26 / /run/podns/.podns.x rw - tmpfs tmpfs rw
48 40 0:4 net:[4026532293] /run/podns2/d/net rw - nsfs nsfs rw
49 40 0:4 net:[4026532294] /run/podns/d\\040x/net rw - nsfs nsfs rw
";

    #[test]
    fn mounts_are_grouped_by_pod_and_classified() {
        let run = RunDirPath::new("/run/podns").unwrap();
        let mounts = RunMounts::new(&run, &parse_mountinfo(TABLE).unwrap());
        assert_eq!(
            mounts.by_pod.keys().map(PodUid::as_str).collect::<Vec<_>>(),
            ["a", "b", "c", "d x"]
        );
        assert_eq!(mounts.ignored, ["/run/podns/.podns.x"]);
        let a = mounts.of(&pod("a"));
        assert_eq!(a.incomplete(&pod("a")), None);
        assert_eq!(a.ino(&pod("a"), PinKind::Net), Some(4026532281));
        assert_eq!(a.ino(&pod("a"), PinKind::User), Some(4026532280));
        let b = mounts.of(&pod("b"));
        assert!(
            b.incomplete(&pod("b"))
                .unwrap()
                .contains("user pin holds an nsfs mount of net:[4026532291]")
        );
        let c = mounts.of(&pod("c"));
        let why = c.incomplete(&pod("c")).unwrap();
        assert!(why.contains("net pin holds 2 mounts stacked"), "{why}");
        assert!(why.contains("user pin is not an nsfs mount"), "{why}");
        assert_eq!(c.unmount_order().len(), 2);
        assert_eq!(*mounts.of(&pod("nobody")), PodMounts::default());
    }
}
