//! The pod-namespace effects: the run directory, pin files, the namespace
//! helper, bind mounts of nsfs files, lazy unmounts, and what the kernel
//! says about pinned namespaces.

mod helper;
mod nsfs;

use std::fmt;
use std::path::{Path, PathBuf};

use podns_core::{
    EffectError, Errno, IdMap, NamespaceId, Observation, PinnedNamespaces, PodUid, Root, RootPath,
};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::mount::{MountPropagationFlags, UnmountFlags};

pub use nsfs::{NSFS_MAGIC, namespace_id, owner_user_namespace};

use self::helper::{Helper, HelperMode};
use crate::error::{fail, id_of, io_errno, refuse};
use crate::idmap_read::{IdMapKind, read_process_id_map};
use crate::idmap_writer::IdMapWriter;
use crate::roots::LinuxBackend;
use crate::subpath::mount::BindFailed;

type Outcome = Result<Observation, EffectError>;

/// Mode of the run directory when podns creates it (as `/run/netns`).
pub const RUN_DIR_MODE: u32 = 0o755;

/// A callback told each named step of a namespace effect as it is reached
/// (see [`LinuxBackend::set_step_hook`]).
pub type StepHook = Box<dyn FnMut(&str) + Send>;

/// The backend's namespace state: where the run directory is, and the step
/// hook.
#[derive(Default)]
pub(crate) struct NsSettings {
    run_dir: Option<PathBuf>,
    hook: Option<StepHook>,
}

impl fmt::Debug for NsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NsSettings")
            .field("run_dir", &self.run_dir)
            .field("hook", &self.hook.as_ref().map(|_| "set"))
            .finish()
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl LinuxBackend {
    /// Uses `dir` as the run directory for namespace pins ([`Root::Run`]).
    /// Nothing is opened yet: [`podns_core::Effect::SetUpRunDir`] creates
    /// it, makes it a shared mount and opens it.
    ///
    /// Pass the canonical path (symlinks resolved), the one given to
    /// [`podns_core::NsEngine::new`]: the core finds pins in the mount
    /// table by that path. The backend takes no lock: whoever drives it
    /// holds the run directory's [`crate::DirLock`] (a [`crate::Node`] does,
    /// per request) while namespace effects run.
    pub fn with_run_dir(mut self, dir: &Path) -> Self {
        self.ns.run_dir = Some(dir.to_owned());
        self.labels = std::mem::take(&mut self.labels).with(Root::Run, dir.display().to_string());
        self
    }

    /// Calls `hook` with the name of each step of a namespace effect as it
    /// is reached: `helper-in-userns`, `maps-written`, `helper-in-netns`,
    /// `net-pinned`, `user-pinned` (in [`podns_core::Effect::CreatePodNamespaces`]).
    /// Tests use it to stop the process at an exact point.
    pub fn set_step_hook(&mut self, hook: StepHook) {
        self.ns.hook = Some(hook);
    }

    fn step(&mut self, name: &str) {
        if let Some(hook) = self.ns.hook.as_mut() {
            hook(name);
        }
    }

    pub(crate) fn set_up_run_dir(&mut self) -> Outcome {
        let Some(dir) = self.ns.run_dir.clone() else {
            return Err(refuse(
                Errno::EINVAL,
                "set up",
                "the run directory",
                "no run directory was given: use LinuxBackend::with_run_dir",
            ));
        };
        let shown = dir.display();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, RUN_DIR_MODE);
        builder
            .create(&dir)
            .map_err(|e| EffectError::new(io_errno(&e), format!("create {shown}")))?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let before =
            rustix::fs::open(&dir, flags, Mode::empty()).map_err(|e| fail("open", &shown, e))?;
        if is_root() {
            let shared = MountPropagationFlags::SHARED | MountPropagationFlags::REC;
            match rustix::mount::mount_change(&dir, shared) {
                Ok(()) => {}
                // Not a mount point: make it one, as `ip netns add` does.
                Err(rustix::io::Errno::INVAL) => {
                    rustix::mount::mount_bind_recursive(&dir, &dir)
                        .map_err(|e| fail("mount --rbind onto itself", &shown, e))?;
                    rustix::mount::mount_change(&dir, shared)
                        .map_err(|e| fail("mount --make-rshared", &shown, e))?;
                }
                Err(e) => return Err(fail("mount --make-rshared", &shown, e)),
            }
        }
        // The fd opened before a bind names the directory in the mount
        // below it: pins made through it would not propagate. Open again,
        // and check it is still the same directory.
        let fd =
            rustix::fs::open(&dir, flags, Mode::empty()).map_err(|e| fail("open", &shown, e))?;
        let id = |fd: &OwnedFd| {
            rustix::fs::fstat(fd)
                .map(|stat| id_of(&stat))
                .map_err(|e| fail("fstat", &shown, e))
        };
        if id(&before)? != id(&fd)? {
            return Err(refuse(
                Errno::EAGAIN,
                "set up",
                &shown,
                "the directory was replaced while it was being set up",
            ));
        }
        self.roots.insert(Root::Run, fd);
        Ok(Observation::Done)
    }

    pub(crate) fn create_pin_file(&self, file: &RootPath) -> Outcome {
        let (parent, name) = self.open_parent(file)?;
        let flags =
            OFlags::CREATE | OFlags::EXCL | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(&parent, name, flags, Mode::empty())
            .map_err(|e| fail("openat O_EXCL", self.labels.show(file), e))?;
        Ok(Observation::Done)
    }

    /// Opens a pin as the mount target: `O_PATH | O_NOFOLLOW` below the
    /// root, a regular file with nothing mounted on it yet.
    fn open_pin_target(&self, pin: &RootPath) -> Result<OwnedFd, EffectError> {
        let shown = self.labels.show(pin);
        let fd = self.open_path(pin, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC)?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| fail("fstat", &shown, e))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(refuse(
                Errno::EINVAL,
                "pin",
                &shown,
                "is not a regular file",
            ));
        }
        if nsfs::is_nsfs(&fd).map_err(|e| fail("fstatfs", &shown, e))? {
            return Err(refuse(
                Errno::EBUSY,
                "pin",
                &shown,
                "a namespace is already mounted there",
            ));
        }
        Ok(fd)
    }

    pub(crate) fn create_pod_namespaces(
        &mut self,
        pod: &PodUid,
        uid_map: &IdMap,
        gid_map: &IdMap,
        net_pin: &RootPath,
        user_pin: &RootPath,
    ) -> Outcome {
        if !is_root() {
            return Err(EffectError::new(
                Errno::EPERM,
                format!(
                    "create the namespaces of pod {pod}: this process is not root (effective UID \
                     {}); an unprivileged user may map only its own UID into a new user \
                     namespace, not the pod's range ({}), and may not bind-mount namespace files \
                     outside a mount namespace it owns; run podns as root",
                    rustix::process::geteuid().as_raw(),
                    uid_map.one_line()
                ),
            ));
        }
        let net_target = self.open_pin_target(net_pin)?;
        let user_target = self.open_pin_target(user_pin)?;
        let mut helper = Helper::spawn(HelperMode::CreatePodNamespaces)?;
        self.step("helper-in-userns");
        // The writer reads each map back from `/proc/<pid>`: the maps as the
        // kernel applied them.
        let (uid_read, gid_read) = IdMapWriter::new(helper.pid())
            .write_and_read_back(uid_map, gid_map)
            .map_err(|e| EffectError::new(map_write_errno(&e), e.to_string()))?;
        self.step("maps-written");
        helper.enter_network_namespace()?;
        self.step("helper-in-netns");
        let net_source = helper.open_namespace("net")?;
        let user_source = helper.open_namespace("user")?;
        // The maps read back under `/proc/<pid>` were the helper's only if
        // it is still the same process now.
        helper.check_alive()?;
        let maps_from = namespace_id(&user_source)
            .map_err(|e| fail("identify", format!("/proc/{}/ns/user", helper.pid()), e))?;
        self.bind(&net_source, &net_target, net_pin)?;
        self.step("net-pinned");
        self.bind(&user_source, &user_target, user_pin)?;
        self.step("user-pinned");
        helper.finish()?;
        let (mut facts, _) = self.measure(net_pin, user_pin)?;
        facts.maps_from = maps_from;
        facts.uid_map = uid_read;
        facts.gid_map = gid_read;
        Ok(Observation::PodNamespaces(facts))
    }

    /// Bind-mounts the nsfs file `source` onto the pin `target`, fd to fd,
    /// as the subpath effects do: `open_tree(OPEN_TREE_CLONE)` then
    /// `move_mount`, or `mount(MS_BIND)` through `/proc/self/fd` links where
    /// those calls are missing.
    fn bind(&self, source: &OwnedFd, target: &OwnedFd, pin: &RootPath) -> Result<(), EffectError> {
        let shown = self.labels.show(pin);
        // The pin stays mounted until DetachMount; the tree fd is not needed
        // to find it.
        self.mount_fd_on_fd(source, target)
            .map(drop)
            .map_err(|failed| match failed {
                BindFailed::OpenTree(e) => fail("open_tree of the namespace for", &shown, e),
                BindFailed::MoveMount(e) => fail("move_mount onto", &shown, e),
                BindFailed::ProcFd(e) => fail("mount --bind onto", &shown, e),
            })
    }

    /// Opens a pin for reading: below the root, not a symlink, on nsfs.
    pub(crate) fn open_pin(&self, pin: &RootPath) -> Result<(OwnedFd, NamespaceId), EffectError> {
        let shown = self.labels.show(pin);
        let fd = self.open_path(pin, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC)?;
        match namespace_id(&fd) {
            Ok(id) => Ok((fd, id)),
            Err(rustix::io::Errno::INVAL) => Err(refuse(
                Errno::EINVAL,
                "inspect",
                &shown,
                "is not a namespace (no nsfs mount on it)",
            )),
            Err(e) => Err(fail("identify the namespace on", &shown, e)),
        }
    }

    /// What the pins hold, without the maps, and the user pin's fd.
    fn measure(
        &self,
        net_pin: &RootPath,
        user_pin: &RootPath,
    ) -> Result<(PinnedNamespaces, OwnedFd), EffectError> {
        let (net_fd, net) = self.open_pin(net_pin)?;
        let (user_fd, user) = self.open_pin(user_pin)?;
        let shown = self.labels.show(net_pin);
        let owner = owner_user_namespace(&net_fd).map_err(|e| fail("NS_GET_USERNS", &shown, e))?;
        let net_owner =
            namespace_id(&owner).map_err(|e| fail("identify the owner of", &shown, e))?;
        let facts = PinnedNamespaces {
            net,
            user,
            net_owner,
            maps_from: user,
            uid_map: IdMap::default(),
            gid_map: IdMap::default(),
        };
        Ok((facts, user_fd))
    }

    pub(crate) fn inspect_pod_namespaces(
        &self,
        net_pin: &RootPath,
        user_pin: &RootPath,
    ) -> Outcome {
        let (mut facts, user_fd) = self.measure(net_pin, user_pin)?;
        // Only a process in the namespace shows its maps: a helper joins it.
        let helper = Helper::spawn(HelperMode::JoinUserNamespace(user_fd.as_fd()))?;
        let read = |kind| {
            read_process_id_map(helper.pid(), kind)
                .map_err(|e| EffectError::new(Errno::EIO, e.to_string()))
        };
        facts.uid_map = read(IdMapKind::Uid)?;
        facts.gid_map = read(IdMapKind::Gid)?;
        let joined = helper.open_namespace("user")?;
        facts.maps_from = namespace_id(&joined)
            .map_err(|e| fail("identify", format!("/proc/{}/ns/user", helper.pid()), e))?;
        helper.finish()?;
        Ok(Observation::PodNamespaces(facts))
    }

    pub(crate) fn detach_mount(&self, target: &RootPath) -> Outcome {
        if target.path.is_root() {
            return Err(refuse(
                Errno::EINVAL,
                "umount",
                self.labels.show(target),
                "a root is never unmounted",
            ));
        }
        self.unmount_no_follow(target, UnmountFlags::DETACH, "umount2(MNT_DETACH)")?;
        Ok(Observation::Done)
    }
}

fn map_write_errno(error: &crate::IdMapWriteError) -> Errno {
    use crate::IdMapWriteError as E;
    match error {
        E::Open { errno, .. } | E::Write { errno, .. } | E::Setgroups { errno, .. } => *errno,
        E::EmptyMap { .. } => Errno::EINVAL,
        _ => Errno::EIO,
    }
}
