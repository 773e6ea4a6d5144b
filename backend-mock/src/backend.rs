use async_trait::async_trait;
use podns_core::{Backend, Effect, EffectError, Errno, Observation};

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
    log: Vec<Effect>,
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

    /// Every effect executed so far (failed ones included), in order.
    pub fn log(&self) -> &[Effect] {
        &self.log
    }

    /// Empties the log.
    pub fn take_log(&mut self) -> Vec<Effect> {
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

    fn run(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        // Subpath mounts: the mount table and the effects that use it.
        if let Some(outcome) = crate::subpath::run(&mut self.fs, &mut self.mounts, effect) {
            return outcome;
        }
        // Pod namespaces: their pins are nsfs mounts in the same table.
        if let Some(outcome) = self.namespaces.run(&mut self.fs, &mut self.mounts, effect) {
            return outcome;
        }
        match effect {
            Effect::ListDir { dir } => self.fs.list_dir(dir).map(Observation::Listing),
            Effect::ReadFile { file, max_len } => {
                self.fs.read_file(file, *max_len).map(Observation::Contents)
            }
            Effect::CreateDir { dir, .. } => self
                .fs
                .create_dir(dir)
                .map(|created| Observation::DirCreated { created }),
            Effect::WriteNewFile { file, contents, .. } => self
                .fs
                .write_new_file(file, contents)
                .map(|()| Observation::Done),
            Effect::SyncFile { file } => self.fs.sync_file(file).map(|()| Observation::Done),
            Effect::Rename { from, to } => self.fs.rename(from, to).map(|()| Observation::Done),
            Effect::SyncDir { dir } => self.fs.sync_dir(dir).map(|()| Observation::Done),
            Effect::RemoveFile { file } => self
                .fs
                .remove_file(file)
                .map(|existed| Observation::FileRemoved { existed }),
            Effect::RemoveDir { dir } => self.fs.remove_dir(dir).map(|()| Observation::Done),
            Effect::SyncFs { .. } => {
                self.fs.sync_all();
                Ok(Observation::Done)
            }
            other => Err(EffectError::new(
                Errno::EINVAL,
                format!("the mock backend does not model {}", other.name()),
            )),
        }
    }
}

impl MockBackend {
    /// Executes `effect` at once: [`Backend::execute`] without a future,
    /// for callers that hold the backend behind a lock.
    pub fn execute_now(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        let index = self.executed;
        self.executed += 1;
        self.log.push(effect.clone());
        if let Some(fault) = self.faults.iter().find(|fault| fault.fires(index, effect)) {
            let errno = fault.errno;
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
