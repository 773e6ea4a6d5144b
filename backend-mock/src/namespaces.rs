//! Simulated namespaces and their pins: what the kernel holds for the
//! pod-namespace effects.
//!
//! A pin is a bind mount of a namespace's nsfs file onto a file under
//! [`Root::Run`], kept in the mock's one mount table ([`MockMounts`], which
//! renders `/proc/self/mountinfo`) as an `nsfs` mount whose root is
//! `net:[ino]` or `user:[ino]`, exactly as the kernel shows it. A namespace
//! lives while something holds it: a pin, or a network namespace it owns.
//! The helper process that creates namespaces lives only inside one
//! [`Effect::CreatePodNamespaces`], so between effects nothing else holds
//! them. Hence, at a crash:
//! - a process kill keeps every pin (mounts outlive the process that made
//!   them) and so every pinned namespace: pins leak;
//! - a power loss loses every mount and namespace and, the run directory
//!   being a tmpfs, every file under it.

use std::collections::{BTreeMap, BTreeSet};

use podns_core::{
    Effect, EffectError, Errno, IdMap, IdmapWith, NamespaceId, NamespaceKind, PinnedNamespaces,
    Root, RootPath,
};

use crate::backend::MockBackend;
use crate::fs::{MockFs, Node, error};
use crate::mounts::{MockMounts, MountSource};

/// The first inode number handed out (real nsfs inodes start near here).
const FIRST_INO: u64 = 4_026_532_000;

/// One simulated namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockNamespace {
    /// Its type.
    pub kind: NamespaceKind,
    /// The user namespace that owns it (`None`: the initial one).
    pub owner: Option<u64>,
    /// A user namespace's UID map (empty for other types).
    pub uid_map: IdMap,
    /// A user namespace's GID map.
    pub gid_map: IdMap,
}

/// The simulated namespaces behind the pod-namespace effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockNamespaces {
    run_dir_set_up: bool,
    /// False models a volume file system that cannot be idmapped.
    idmap_supported: bool,
    next_ino: u64,
    namespaces: BTreeMap<u64, MockNamespace>,
}

impl Default for MockNamespaces {
    fn default() -> Self {
        Self {
            run_dir_set_up: false,
            idmap_supported: true,
            next_ino: FIRST_INO,
            namespaces: BTreeMap::new(),
        }
    }
}

/// The mountinfo root of a pin of `ns` (`net:[4026532000]`).
fn nsfs_root(kind: NamespaceKind, ino: u64) -> String {
    match kind {
        NamespaceKind::Net => format!("net:[{ino}]"),
        NamespaceKind::User => format!("user:[{ino}]"),
        NamespaceKind::Other(_) => format!("ns:[{ino}]"),
    }
}

/// The namespace a mount keeps alive: a pin's, or the user namespace an
/// idmapped bind mount maps with.
fn held_ino(source: &MountSource) -> Option<u64> {
    match source {
        MountSource::Bind { idmap, .. } => *idmap,
        other => nsfs_ino(other),
    }
}

/// The namespace inode of an nsfs mount, or `None` for any other mount.
fn nsfs_ino(source: &MountSource) -> Option<u64> {
    match source {
        MountSource::Other { root, fs_type, .. } if fs_type == "nsfs" => {
            let (_, rest) = root.split_once(":[")?;
            rest.strip_suffix(']')?.parse().ok()
        }
        _ => None,
    }
}

impl MockNamespaces {
    /// True once [`Effect::SetUpRunDir`] ran (until a power loss).
    pub fn is_run_dir_set_up(&self) -> bool {
        self.run_dir_set_up
    }

    /// Every live namespace, by inode.
    pub fn namespaces(&self) -> &BTreeMap<u64, MockNamespace> {
        &self.namespaces
    }

    /// Records that the run directory was set up.
    pub(crate) fn set_up_run_dir(&mut self) {
        self.run_dir_set_up = true;
    }

    /// An injected `EIO` failure of [`Effect::CreatePodNamespaces`] happens
    /// after the network namespace was pinned, as a real failure between the
    /// two bind mounts would: the core must clean up half a pair.
    pub(crate) fn on_fault(
        &mut self,
        fs: &MockFs,
        mounts: &mut MockMounts,
        effect: &Effect,
        errno: Errno,
    ) {
        if let Effect::CreatePodNamespaces {
            uid_map,
            gid_map,
            net_pin,
            user_pin,
            ..
        } = effect
        {
            if errno == Errno::EIO {
                let _ = self.create(fs, mounts, [uid_map, gid_map], net_pin, user_pin, true);
            }
        }
    }

    /// A power loss: every namespace is gone, and the run directory (a
    /// tmpfs) is empty. The mount table is cleared by its owner.
    pub(crate) fn lose_power(&mut self, fs: &mut MockFs) {
        self.namespaces.clear();
        self.run_dir_set_up = false;
        let empty = fs.alloc(Node::empty_dir());
        fs.roots.insert(Root::Run, empty);
        fs.collect_garbage();
    }

    fn new_namespace(&mut self, namespace: MockNamespace) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.namespaces.insert(ino, namespace);
        ino
    }

    fn pin(&self, mounts: &mut MockMounts, pin: &RootPath, ino: u64) {
        let kind = self.namespaces[&ino].kind;
        mounts.mount(
            pin.clone(),
            MountSource::Other {
                root: nsfs_root(kind, ino),
                fs_type: "nsfs".into(),
                source: "nsfs".into(),
            },
        );
    }

    /// The namespace on top of `pin`, if an nsfs mount is there.
    fn pinned(mounts: &MockMounts, pin: &RootPath) -> Option<u64> {
        nsfs_ino(&mounts.top(pin)?.source)
    }

    /// The pin must be an existing regular file with nothing mounted on it.
    fn check_pin(fs: &MockFs, mounts: &MockMounts, pin: &RootPath) -> Result<(), EffectError> {
        fs.read_file(pin, u64::MAX)?;
        if mounts.is_mount_point(pin) {
            return Err(error(Errno::EBUSY, "bind-mount onto a mount point:", pin));
        }
        Ok(())
    }

    pub(crate) fn create(
        &mut self,
        fs: &MockFs,
        mounts: &mut MockMounts,
        [uid_map, gid_map]: [&IdMap; 2],
        net_pin: &RootPath,
        user_pin: &RootPath,
        fail_after_net: bool,
    ) -> Result<PinnedNamespaces, EffectError> {
        Self::check_pin(fs, mounts, net_pin)?;
        Self::check_pin(fs, mounts, user_pin)?;
        if uid_map.is_empty() || gid_map.is_empty() {
            return Err(error(Errno::EINVAL, "write an empty ID map for", user_pin));
        }
        let user = self.new_namespace(MockNamespace {
            kind: NamespaceKind::User,
            owner: None,
            uid_map: uid_map.clone(),
            gid_map: gid_map.clone(),
        });
        let net = self.new_namespace(MockNamespace {
            kind: NamespaceKind::Net,
            owner: Some(user),
            uid_map: IdMap::default(),
            gid_map: IdMap::default(),
        });
        self.pin(mounts, net_pin, net);
        if fail_after_net {
            // The helper dies with the failure: only the pin holds anything.
            self.collect(mounts);
            return Err(error(Errno::EIO, "bind-mount", user_pin));
        }
        self.pin(mounts, user_pin, user);
        self.facts(mounts, net_pin, user_pin)
    }

    pub(crate) fn inspect(
        &self,
        fs: &MockFs,
        mounts: &MockMounts,
        net_pin: &RootPath,
        user_pin: &RootPath,
    ) -> Result<PinnedNamespaces, EffectError> {
        for pin in [net_pin, user_pin] {
            // ENOENT and ELOOP as an open would report them.
            fs.read_file(pin, u64::MAX)?;
        }
        self.facts(mounts, net_pin, user_pin)
    }

    fn facts(
        &self,
        mounts: &MockMounts,
        net_pin: &RootPath,
        user_pin: &RootPath,
    ) -> Result<PinnedNamespaces, EffectError> {
        let on = |pin: &RootPath| {
            Self::pinned(mounts, pin)
                .filter(|ino| self.namespaces.contains_key(ino))
                .ok_or_else(|| error(Errno::EINVAL, "not an nsfs file:", pin))
        };
        let (net, user) = (on(net_pin)?, on(user_pin)?);
        let id = |ino: u64| NamespaceId {
            kind: self.namespaces[&ino].kind,
            ino,
        };
        let owner = self.namespaces[&net].owner.ok_or_else(|| {
            error(
                Errno::EPERM,
                "NS_GET_USERNS: owned by the initial user namespace:",
                net_pin,
            )
        })?;
        let user_ns = &self.namespaces[&user];
        Ok(PinnedNamespaces {
            net: id(net),
            user: id(user),
            net_owner: id(owner),
            maps_from: id(user),
            uid_map: user_ns.uid_map.clone(),
            gid_map: user_ns.gid_map.clone(),
        })
    }

    /// The user namespace an idmapped bind mount would map with: the one
    /// pinned on `with.pin`, which must be `with.userns`, as the Linux
    /// backend checks it; `EOPNOTSUPP` when idmapping was turned off.
    pub(crate) fn idmap_with(
        &self,
        fs: &MockFs,
        mounts: &MockMounts,
        with: &IdmapWith,
    ) -> Result<u64, EffectError> {
        if !self.idmap_supported {
            return Err(error(
                Errno::EOPNOTSUPP,
                "mount_setattr(MOUNT_ATTR_IDMAP): mockfs does not support idmapped mounts:",
                &with.pin,
            ));
        }
        // ENOENT and ELOOP as an open would report them.
        fs.read_file(&with.pin, u64::MAX)?;
        let ino = Self::pinned(mounts, &with.pin)
            .filter(|ino| self.namespaces.contains_key(ino))
            .ok_or_else(|| error(Errno::EINVAL, "not an nsfs file:", &with.pin))?;
        let found = NamespaceId {
            kind: self.namespaces[&ino].kind,
            ino,
        };
        if found != with.userns {
            return Err(error(
                Errno::EAGAIN,
                &format!("holds {found}, not {}:", with.userns),
                &with.pin,
            ));
        }
        Ok(ino)
    }

    pub(crate) fn detach(
        &mut self,
        fs: &MockFs,
        mounts: &mut MockMounts,
        target: &RootPath,
    ) -> Result<(), EffectError> {
        if mounts.unmount(target).is_none() {
            // The parent must resolve; the name itself need not exist.
            if let Some(parent) = target.parent() {
                fs.list_dir(&parent)?;
            }
            return Err(error(Errno::EINVAL, "umount2: not a mount point:", target));
        }
        self.collect(mounts);
        Ok(())
    }

    /// Drops every namespace nothing holds: not pinned, and not the owner of
    /// a namespace that is held.
    pub(crate) fn collect(&mut self, mounts: &MockMounts) {
        let mut live = BTreeSet::new();
        let mut stack: Vec<u64> = mounts
            .iter()
            .filter_map(|(_, mount)| held_ino(&mount.source))
            .collect();
        while let Some(ino) = stack.pop() {
            if live.insert(ino) {
                if let Some(owner) = self.namespaces.get(&ino).and_then(|ns| ns.owner) {
                    stack.push(owner);
                }
            }
        }
        self.namespaces.retain(|ino, _| live.contains(ino));
    }
}

impl MockBackend {
    /// The simulated namespaces.
    pub fn namespaces(&self) -> &MockNamespaces {
        &self.namespaces
    }

    /// Makes every idmapped bind mount fail with `EOPNOTSUPP`, as on a file
    /// system without idmapping support (ramfs, NFS); `true` undoes it.
    pub fn set_idmap_supported(&mut self, supported: bool) {
        self.namespaces.idmap_supported = supported;
    }

    /// Names the run directory's absolute path in the rendered mount table
    /// (what the core's `RunDirPath` must be).
    pub fn set_run_dir(&mut self, path: &str) {
        self.mounts
            .set_root_dir(Root::Run, path.trim_end_matches('/').to_owned());
    }

    /// Every pin: a mount point under [`Root::Run`] with the namespace on
    /// top of it.
    pub fn pins(&self) -> BTreeMap<RootPath, u64> {
        self.mounts
            .iter()
            .filter(|(point, _)| point.root == Root::Run)
            .filter_map(|(point, mount)| Some((point.clone(), nsfs_ino(&mount.source)?)))
            .collect()
    }
}
