//! A simulated machine that several nodes share, as several processes share
//! one disk: the mock backend, the locks of its directories and the pods
//! directory's change counter, with kills and pauses at exact effects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use podns_core::{
    Backend, Effect, EffectError, Errno, Host, HostDir, HostError, Observation, Root,
};

use crate::backend::{CrashKind, MockBackend};

/// One machine: a [`MockBackend`] (the disk and the kernel) shared by every
/// [`MockHost`] made from it. Clones are handles to the same machine.
///
/// A test keeps a handle to inject faults, kill a process after an exact
/// number of effects, pause one before an effect, crash the machine, and
/// look at the disk, while nodes run on hosts of it on their own threads.
#[derive(Debug, Clone, Default)]
pub struct MockMachine {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    /// Signalled when a lock is released or a pause begins or ends.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    backend: MockBackend,
    /// The pods directory's change counter (the lock file's contents).
    generation: u64,
    /// Which process holds each directory's lock.
    locks: BTreeMap<Root, u64>,
    next_process: u64,
    /// The process that executes the effect with this index (the backend's
    /// count) is killed there: it and every later effect of it do nothing.
    kill_at: Option<u64>,
    killed: BTreeSet<u64>,
    /// The effect with this index waits, before it runs, until
    /// [`MockMachine::resume`].
    pause_at: Option<u64>,
    paused: bool,
}

impl MockMachine {
    /// A machine over `backend` (set its run directory and subpath roots
    /// first, as the test needs).
    pub fn new(backend: MockBackend) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    backend,
                    ..State::default()
                }),
                changed: Condvar::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A new process on this machine.
    pub fn host(&self) -> MockHost {
        let mut state = self.state();
        state.next_process += 1;
        MockHost {
            machine: self.clone(),
            process: state.next_process,
            held: BTreeSet::new(),
        }
    }

    /// Runs `inspect` on the backend: look at the disk, inject faults.
    pub fn with_backend<R>(&self, inspect: impl FnOnce(&mut MockBackend) -> R) -> R {
        inspect(&mut self.state().backend)
    }

    /// Kills the process that executes effect number `index` (the
    /// backend's count, [`MockBackend::executed`]) just before it: that
    /// effect and every later one of that process do nothing and fail.
    pub fn kill_at(&self, index: u64) {
        self.state().kill_at = Some(index);
    }

    /// Pauses the process that reaches effect number `index`, before it
    /// runs, until [`MockMachine::resume`].
    pub fn pause_at(&self, index: u64) {
        let mut state = self.state();
        state.pause_at = Some(index);
        state.paused = false;
    }

    /// Waits until a process is paused by [`MockMachine::pause_at`]. The
    /// caller must know that some process will reach that effect.
    pub fn wait_until_paused(&self) {
        let mut state = self.state();
        while !state.paused {
            state = self
                .inner
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Lets a paused process go on.
    pub fn resume(&self) {
        let mut state = self.state();
        state.pause_at = None;
        state.paused = false;
        self.inner.changed.notify_all();
    }

    /// Effects executed on the machine so far.
    pub fn executed(&self) -> u64 {
        self.state().backend.executed()
    }

    /// The machine crashes: every process is gone (their locks with them)
    /// and the disk keeps what [`MockBackend::crash`] says. Hosts made
    /// before stay dead; make new ones.
    pub fn crash(&self, kind: CrashKind) {
        let mut state = self.state();
        state.backend.crash(kind);
        state.locks.clear();
        let processes = 1..=state.next_process;
        state.killed.extend(processes);
        state.kill_at = None;
        state.pause_at = None;
        self.inner.changed.notify_all();
    }
}

/// One process on a [`MockMachine`]: a [`Host`] for a node. Dropping it
/// releases its locks, as the kernel releases a dead process's `flock`s.
#[derive(Debug)]
pub struct MockHost {
    machine: MockMachine,
    process: u64,
    held: BTreeSet<Root>,
}

impl MockHost {
    /// The machine this process runs on.
    pub fn machine(&self) -> &MockMachine {
        &self.machine
    }

    fn killed(&self) -> HostError {
        HostError {
            kind: "io",
            action: "run",
            path: format!("process {}", self.process),
            errno: Errno::EIO,
            hint: "the simulated process was killed".to_owned(),
        }
    }
}

impl Drop for MockHost {
    fn drop(&mut self) {
        let mut state = self.machine.state();
        for root in std::mem::take(&mut self.held) {
            if state.locks.get(&root) == Some(&self.process) {
                state.locks.remove(&root);
            }
        }
        self.machine.inner.changed.notify_all();
    }
}

#[async_trait]
impl Backend for MockHost {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        let mut state = self.machine.state();
        loop {
            let index = state.backend.executed();
            if state.pause_at == Some(index) && !state.killed.contains(&self.process) {
                state.paused = true;
                self.machine.inner.changed.notify_all();
                state = self
                    .machine
                    .inner
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            if state.kill_at == Some(index) {
                state.kill_at = None;
                state.killed.insert(self.process);
            }
            break;
        }
        if state.killed.contains(&self.process) {
            return Err(EffectError::new(
                Errno::EIO,
                format!("{}: the simulated process was killed", effect.name()),
            ));
        }
        state.backend.execute_now(effect)
    }
}

impl Host for MockHost {
    fn lock(&mut self, root: Root) -> Result<(), HostError> {
        let mut state = self.machine.state();
        loop {
            if state.killed.contains(&self.process) {
                return Err(self.killed());
            }
            match state.locks.get(&root) {
                None => break,
                Some(holder) if *holder == self.process => {
                    return Err(HostError {
                        kind: "lock",
                        action: "lock",
                        path: format!("the {root} directory"),
                        errno: Errno::EINVAL,
                        hint: "this process holds that lock already".to_owned(),
                    });
                }
                Some(_) => {
                    state = self
                        .machine
                        .inner
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
        state.locks.insert(root, self.process);
        drop(state);
        self.held.insert(root);
        Ok(())
    }

    fn unlock(&mut self, root: Root) {
        if !self.held.remove(&root) {
            return;
        }
        let mut state = self.machine.state();
        if state.locks.get(&root) == Some(&self.process) {
            state.locks.remove(&root);
        }
        self.machine.inner.changed.notify_all();
    }

    fn generation(&mut self) -> Result<u64, HostError> {
        let state = self.machine.state();
        if state.killed.contains(&self.process) {
            return Err(self.killed());
        }
        Ok(state.generation)
    }

    fn set_generation(&mut self, generation: u64) -> Result<(), HostError> {
        let mut state = self.machine.state();
        if state.killed.contains(&self.process) {
            return Err(self.killed());
        }
        state.generation = generation;
        Ok(())
    }

    /// The mock has one volume and one pod directory: this names them
    /// `dir` in the mount table.
    fn open_root(&mut self, root: Root, dir: &Path) -> Result<HostDir, HostError> {
        let text = dir.to_str().unwrap_or_default();
        let real = HostDir::parse(text).map_err(|error| HostError {
            kind: "usage",
            action: "open",
            path: dir.display().to_string(),
            errno: Errno::EINVAL,
            hint: error.to_string(),
        })?;
        self.machine
            .state()
            .backend
            .mounts_mut()
            .set_root_dir(root, text.trim_end_matches('/').to_owned());
        Ok(real)
    }
}
