use async_trait::async_trait;
use podns_core::{Backend, Effect, EffectError, Errno, Executed, Observation};

use crate::faults::{Fault, FaultTrigger};
use crate::fs::MockFs;
use crate::mounts::MockMounts;
use crate::power_loss::{Pending, Survival};

/// How a simulated crash ends the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashKind {
    /// `kill -9`: the page cache survives, so the file system keeps every
    /// completed operation.
    ProcessKill,
    /// Power loss: only what was made durable survives.
    PowerLoss,
}

/// A backend that executes effects on a [`MockFs`], records each one, and
/// fails the ones a [`Fault`] selects.
#[derive(Debug, Default, Clone)]
pub struct MockBackend {
    fs: MockFs,
    executed: u64,
    log: Vec<Executed>,
    faults: Vec<Fault>,
    /// Kernel state: survives a process kill, not a power loss.
    pub(crate) mounts: MockMounts,
    /// Namespaces held by pins in `mounts` (pod namespaces).
    pub(crate) namespaces: crate::namespaces::MockNamespaces,
}

impl MockBackend {
    /// A backend over an empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend over `fs`.
    pub fn with_fs(fs: MockFs) -> Self {
        Self {
            fs,
            ..Self::default()
        }
    }

    /// The file system.
    pub fn fs(&self) -> &MockFs {
        &self.fs
    }

    /// The file system, for planting state out of band.
    pub fn fs_mut(&mut self) -> &mut MockFs {
        &mut self.fs
    }

    /// Every effect executed so far (failed ones included), in order, each
    /// with the outcome it got.
    pub fn log(&self) -> &[Executed] {
        &self.log
    }

    /// Empties the log.
    pub fn take_log(&mut self) -> Vec<Executed> {
        std::mem::take(&mut self.log)
    }

    /// Number of effects executed so far; the index the next one gets.
    pub fn executed(&self) -> u64 {
        self.executed
    }

    /// Fails effect number `index` (0-based, over the backend's lifetime)
    /// with `errno`.
    pub fn fail_nth(&mut self, index: u64, errno: Errno) {
        self.faults.push(Fault {
            trigger: FaultTrigger::Nth(index),
            errno,
            ambiguous: false,
        });
    }

    /// Adds any fault.
    pub fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Removes every planned fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Ends the simulated process. Faults are cleared: they belonged to it.
    /// A power loss here loses everything not durable; see
    /// [`MockBackend::lose_power_with`] for the other outcomes.
    pub fn crash(&mut self, kind: CrashKind) {
        self.faults.clear();
        if kind == CrashKind::PowerLoss {
            self.fs.lose_power();
            self.mounts.clear();
            self.namespaces.lose_power(&mut self.fs);
        }
    }

    /// A power loss in which `decide` chooses what becomes of each operation
    /// that was not durable.
    pub fn lose_power_with(&mut self, decide: &mut dyn FnMut(&Pending) -> Survival) {
        self.faults.clear();
        self.fs.lose_power_with(decide);
        self.mounts.clear();
        self.namespaces.lose_power(&mut self.fs);
    }

    /// One arm per effect and no other, so that a new effect does not
    /// compile until the mock models it.
    fn run(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        use crate::subpath as mount;
        let (fs, mounts) = (&mut self.fs, &mut self.mounts);
        let done = |()| Observation::Done;
        match effect {
            Effect::ListDir { dir } => fs.list_dir(dir).map(Observation::Listing),
            Effect::ReadFile { file, max_len } => {
                fs.read_file(file, *max_len).map(Observation::Contents)
            }
            Effect::CreateDir { dir, .. } => fs
                .create_dir(dir)
                .map(|created| Observation::DirCreated { created }),
            Effect::WriteNewFile { file, contents, .. } => {
                fs.write_new_file(file, contents).map(done)
            }
            Effect::SyncFile { file } => fs.sync_file(file).map(done),
            Effect::Rename { from, to } => fs.rename(from, to).map(done),
            Effect::SyncDir { dir } => fs.sync_dir(dir).map(done),
            Effect::RemoveFile { file } => mount::refuse_mount_point(mounts, file)
                .and_then(|()| fs.remove_file(file))
                .map(|existed| Observation::FileRemoved { existed }),
            Effect::RemoveDir { dir } => mount::refuse_mount_point(mounts, dir)
                .and_then(|()| fs.remove_dir(dir))
                .map(done),
            Effect::SyncFs { .. } => {
                fs.sync_all();
                Ok(Observation::Done)
            }
            // Subpath mounts: the mount table and the effects that use it.
            Effect::StatBeneath { path } => {
                mount::resolve_beneath(fs, mounts, path).map(|(ino, _)| mount::inode(fs, ino))
            }
            Effect::StatNoFollow { path } => {
                mount::resolve_no_follow(fs, mounts, path).map(|ino| mount::inode(fs, ino))
            }
            Effect::MakeDirBeneath { dir, .. } => mount::make_dir_beneath(fs, mounts, dir)
                .map(|created| Observation::DirCreated { created }),
            Effect::CreateEmptyFile { file, .. } => {
                mount::create_empty_file(fs, mounts, file).map(done)
            }
            Effect::BindMount {
                source,
                target,
                expect,
                idmap,
            } => {
                let userns = match idmap {
                    Some(with) => Some(self.namespaces.idmap_with(fs, mounts, with)?),
                    None => None,
                };
                mount::bind_mount(fs, mounts, source, target, *expect, userns).map(done)
            }
            Effect::Unmount { target } => {
                mount::unmount(fs, mounts, target)?;
                // The last idmapped mount of a user namespace may be gone.
                self.namespaces.collect(mounts);
                Ok(Observation::Done)
            }
            Effect::ReadMountInfo => Ok(Observation::Contents(mounts.mountinfo().into_bytes())),
            // Pod namespaces: their pins are nsfs mounts in the same table.
            Effect::SetUpRunDir => {
                self.namespaces.set_up_run_dir();
                Ok(Observation::Done)
            }
            Effect::CreatePinFile { file } => fs.write_new_file(file, &[]).map(done),
            Effect::CreatePodNamespaces {
                uid_map,
                gid_map,
                net_pin,
                user_pin,
                ..
            } => self
                .namespaces
                .create(fs, mounts, [uid_map, gid_map], net_pin, user_pin, false)
                .map(Observation::PodNamespaces),
            Effect::InspectPodNamespaces { net_pin, user_pin } => self
                .namespaces
                .inspect(fs, mounts, net_pin, user_pin)
                .map(Observation::PodNamespaces),
            Effect::DetachMount { target } => self.namespaces.detach(fs, mounts, target).map(done),
        }
    }
}

impl MockBackend {
    /// Executes `effect` at once: [`Backend::execute`] without a future,
    /// for callers that hold the backend behind a lock.
    pub fn execute_now(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        let outcome = self.execute_unlogged(effect);
        self.log.push(Executed {
            effect: effect.clone(),
            outcome: outcome.clone(),
        });
        outcome
    }

    fn execute_unlogged(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        let index = self.executed;
        self.executed += 1;
        if let Some(fault) = self.faults.iter().find(|fault| fault.fires(index, effect)) {
            let errno = fault.errno;
            if fault.ambiguous && effect.mutates() {
                // It happened (unless it failed on its own: then this is an
                // ordinary fault), and reports the fault all the same.
                let _ = self.run(effect);
                return Err(EffectError::new(
                    errno,
                    format!(
                        "injected fault after effect #{index} took place ({})",
                        effect.name()
                    ),
                ));
            }
            // A write that runs out of space or hits a bad block can leave a
            // partial file behind, as the effect's contract allows.
            if let Effect::WriteNewFile { file, contents, .. } = effect {
                if errno == Errno::ENOSPC || errno == Errno::EIO {
                    let _ = self
                        .fs
                        .write_new_file(file, &contents[..contents.len() / 2]);
                }
            }
            // A namespace helper can fail between its two bind mounts.
            self.namespaces
                .on_fault(&self.fs, &mut self.mounts, effect, errno);
            return Err(EffectError::new(
                errno,
                format!("injected fault on effect #{index} ({})", effect.name()),
            ));
        }
        self.run(effect)
    }
}

#[async_trait]
impl Backend for MockBackend {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        self.execute_now(effect)
    }
}
