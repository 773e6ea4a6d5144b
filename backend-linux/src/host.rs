//! The Linux machine under a [`crate::Node`]: the [`LinuxBackend`] for the
//! effects, and the lock files of the pods and run directories for the
//! locks and the change counter of [`Host`].

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use podns_core::{
    Backend, DryRun, Effect, EffectError, Errno, Host, HostDir, HostError, Observation, Planned,
    Root, RootLabels, RunDirPath,
};

use crate::config::{self, NodeConfig};
use crate::error::BackendError;
use crate::lock::{LOCK_NAME, LockFile};
use crate::node::{Error, NodeSettings};
use crate::roots::LinuxBackend;

/// Mode of the pods directory when podns creates it (as kubelet's pod
/// directories).
pub const PODS_DIR_MODE: u32 = 0o750;

/// When an [`EffectHook`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectPhase {
    /// Before the effect runs.
    Before,
    /// After it ran, whatever its outcome.
    After,
}

/// A callback told each effect before and after it runs (see
/// [`LinuxHost::set_effect_hook`]).
pub type EffectHook = Box<dyn FnMut(EffectPhase, &Effect) + Send>;

/// The real directories of a [`crate::Node`] on Linux: its backend and the
/// open lock files of its pods and run directories.
pub struct LinuxHost {
    backend: LinuxBackend,
    pods_lock: Option<LockFile>,
    run_lock: Option<LockFile>,
    hook: Option<EffectHook>,
}

impl std::fmt::Debug for LinuxHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxHost")
            .field("backend", &self.backend)
            .field("pods_lock", &self.pods_lock)
            .field("run_lock", &self.run_lock)
            .field("hook", &self.hook.as_ref().map(|_| "set"))
            .finish()
    }
}

impl LinuxHost {
    /// Creates the pods directory (and the run directory) when missing,
    /// opens them and their lock files, and returns the host with the
    /// settings a node needs. Nothing is locked yet.
    pub fn open(config: &NodeConfig) -> Result<(LinuxHost, NodeSettings), Error> {
        let own = config::OwnUserns::read();
        let (pool, pool_origin) = config.pool.resolve_in(&own)?;
        let pods_dir = config::pods_dir(config, &own)?;
        let run_dir = match &pods_dir {
            Some(_) => config::run_dir(config, &own)?,
            // Pins are checked against ranges: no ranges, no namespaces.
            None => None,
        };
        let seed = config::seed(config)?;
        let mut backend = LinuxBackend::without_roots();
        let mut pods_lock = None;
        if let Some(pods_dir) = &pods_dir {
            create_dir_all(pods_dir, PODS_DIR_MODE).map_err(|error| {
                host_error(
                    "create the pods directory",
                    pods_dir,
                    error,
                    "create it or pass --pods-dir DIR",
                )
            })?;
            backend
                .open_root(Root::Pods, pods_dir)
                .map_err(setup_error)?;
            pods_lock = Some(LockFile::open(pods_dir).map_err(setup_error)?);
        }
        let run = match run_dir {
            Some(dir) => Some(canonical_run_dir(&dir)?),
            None => None,
        };
        let run_lock = match &run {
            Some(run) => {
                let dir = Path::new(run.as_str());
                backend = backend.with_run_dir(dir);
                Some(LockFile::open(dir).map_err(setup_error)?)
            }
            None => None,
        };
        let settings = NodeSettings {
            pool,
            seed,
            policy: config.policy,
            has_pods_dir: pods_dir.is_some(),
            run_dir: run,
            labels: backend.labels().clone(),
            parent_maps: own.parent_maps(),
            pool_origin,
        };
        Ok((
            LinuxHost {
                backend,
                pods_lock,
                run_lock,
                hook: None,
            },
            settings,
        ))
    }

    /// The backend, for its test switches and counters.
    pub fn backend(&self) -> &LinuxBackend {
        &self.backend
    }

    /// The backend, for its test switches ([`LinuxBackend::set_step_hook`]).
    pub fn backend_mut(&mut self) -> &mut LinuxBackend {
        &mut self.backend
    }

    /// Calls `hook` before and after each effect, on the node's thread:
    /// tests stop the process, or hold it, at an exact effect.
    pub fn set_effect_hook(&mut self, hook: EffectHook) {
        self.hook = Some(hook);
    }

    fn lock_file(&mut self, root: Root) -> Result<&mut LockFile, HostError> {
        let file = match root {
            Root::Pods => self.pods_lock.as_mut(),
            Root::Run => self.run_lock.as_mut(),
            _ => None,
        };
        match file {
            Some(file) => Ok(file),
            None => Err(HostError {
                kind: "lock",
                action: "lock",
                path: format!("the {root} directory"),
                errno: Errno::EINVAL,
                hint: "the node was opened without it".to_owned(),
            }),
        }
    }
}

#[async_trait]
impl Backend for LinuxHost {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        if let Some(hook) = self.hook.as_mut() {
            hook(EffectPhase::Before, effect);
        }
        let outcome = self.backend.execute(effect).await;
        if let Some(hook) = self.hook.as_mut() {
            hook(EffectPhase::After, effect);
        }
        outcome
    }
}

impl Host for LinuxHost {
    fn lock(&mut self, root: Root) -> Result<(), HostError> {
        let file = self.lock_file(root)?;
        file.lock().map_err(|error| HostError {
            kind: "lock",
            action: "lock",
            path: file.path().display().to_string(),
            errno: crate::error::errno(error),
            hint: "the file system must support flock(2)".to_owned(),
        })
    }

    fn unlock(&mut self, root: Root) {
        if let Ok(file) = self.lock_file(root) {
            file.unlock();
        }
    }

    fn generation(&mut self) -> Result<u64, HostError> {
        let file = self.lock_file(Root::Pods)?;
        file.generation().map_err(|error| HostError {
            kind: "lock",
            action: "read the change counter in",
            path: file.path().display().to_string(),
            errno: crate::error::errno(error),
            hint: "make sure this process may read the lock file".to_owned(),
        })
    }

    fn set_generation(&mut self, generation: u64) -> Result<(), HostError> {
        let file = self.lock_file(Root::Pods)?;
        file.set_generation(generation).map_err(|error| HostError {
            kind: "lock",
            action: "record the change counter in",
            path: file.path().display().to_string(),
            errno: crate::error::errno(error),
            hint: "the pods directory must be writable to change anything in it".to_owned(),
        })
    }

    fn open_root(&mut self, root: Root, dir: &Path) -> Result<HostDir, HostError> {
        let real = real_dir(dir)?;
        self.backend
            .open_root(root, Path::new(&real))
            .map_err(|error| match error {
                BackendError::OpenRoot { path, errno, .. } => HostError {
                    kind: "io",
                    action: "open",
                    path: path.display().to_string(),
                    errno,
                    hint: "pass an existing directory this process may read".to_owned(),
                },
                other => HostError {
                    kind: "io",
                    action: "open",
                    path: dir.display().to_string(),
                    errno: Errno::EIO,
                    hint: other.to_string(),
                },
            })?;
        HostDir::parse(&real).map_err(|error| HostError {
            kind: "usage",
            action: "use",
            path: real.clone(),
            errno: Errno::EINVAL,
            hint: error.to_string(),
        })
    }
}

/// A host that changes nothing, for `--dry-run`: effects that only read
/// run on the real pods directory (or find nothing, when it does not exist
/// yet), every change is recorded and answered as done, and nothing is
/// created or locked.
pub struct DryRunHost {
    backend: DryRun<Box<dyn Backend>>,
}

impl std::fmt::Debug for DryRunHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRunHost")
            .field("planned", &self.plan().len())
            .finish()
    }
}

impl DryRunHost {
    /// The host and settings for `config`, creating nothing.
    pub fn open(config: &NodeConfig) -> Result<(DryRunHost, NodeSettings), Error> {
        let own = config::OwnUserns::read();
        let (pool, pool_origin) = config.pool.resolve_in(&own)?;
        let pods_dir = config::pods_dir(config, &own)?.ok_or_else(|| {
            crate::config::ConfigError::new("usage", "a dry run plans requests on a pods directory")
        })?;
        let seed = config::seed(config)?;
        let inner: Box<dyn Backend> = if pods_dir.is_dir() {
            Box::new(LinuxBackend::open(&pods_dir).map_err(setup_error)?)
        } else {
            Box::new(MissingPodsDir)
        };
        let settings = NodeSettings {
            pool,
            seed,
            policy: config.policy,
            has_pods_dir: true,
            run_dir: None,
            labels: RootLabels::new().with(Root::Pods, pods_dir.display().to_string()),
            parent_maps: None,
            pool_origin,
        };
        Ok((
            DryRunHost {
                backend: DryRun::new(inner),
            },
            settings,
        ))
    }

    /// Every effect seen so far, in order.
    pub fn plan(&self) -> &[Planned] {
        self.backend.plan()
    }
}

#[async_trait]
impl Backend for DryRunHost {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        self.backend.execute(effect).await
    }
}

impl Host for DryRunHost {
    fn lock(&mut self, _root: Root) -> Result<(), HostError> {
        Ok(())
    }

    fn unlock(&mut self, _root: Root) {}

    fn generation(&mut self) -> Result<u64, HostError> {
        Ok(0)
    }

    fn set_generation(&mut self, _generation: u64) -> Result<(), HostError> {
        Ok(())
    }

    fn open_root(&mut self, root: Root, dir: &Path) -> Result<HostDir, HostError> {
        Err(HostError {
            kind: "usage",
            action: "open",
            path: format!("{} as the {root} root", dir.display()),
            errno: Errno::EINVAL,
            hint: "a dry run plans user-namespace requests only".to_owned(),
        })
    }
}

/// Stands in for the pods directory when it does not exist yet: every path
/// is missing, exactly as the real directory would report.
struct MissingPodsDir;

#[async_trait]
impl Backend for MissingPodsDir {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        Err(EffectError::new(
            Errno::ENOENT,
            format!(
                "{} (the pods directory does not exist yet)",
                effect.subject()
            ),
        ))
    }
}

fn create_dir_all(dir: &Path, mode: u32) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
    builder.create(dir)
}

fn host_error(action: &'static str, path: &Path, error: std::io::Error, hint: &str) -> Error {
    Error::Host(HostError {
        kind: "io",
        action,
        path: path.display().to_string(),
        errno: crate::error::io_errno(&error),
        hint: hint.to_owned(),
    })
}

fn setup_error(error: BackendError) -> Error {
    let (kind, path, errno) = match &error {
        BackendError::OpenRoot { path, errno, .. } => ("io", path.clone(), *errno),
        BackendError::OpenLock { path, errno } | BackendError::Lock { path, errno } => {
            ("lock", path.clone(), *errno)
        }
    };
    Error::Host(HostError {
        kind,
        action: "open",
        path: path.display().to_string(),
        errno,
        hint: match kind {
            "lock" => format!(
                "make sure its directory exists and is writable by this process, and that \
                 {LOCK_NAME} is not a symlink"
            ),
            _ => "make sure this process may read it".to_owned(),
        },
    })
}

/// `dir` with every symlink resolved: the mount table names mount points by
/// their real path.
fn real_dir(dir: &Path) -> Result<String, HostError> {
    let fail = |errno, hint: &str| HostError {
        kind: "usage",
        action: "resolve",
        path: dir.display().to_string(),
        errno,
        hint: hint.to_owned(),
    };
    let real: PathBuf = std::fs::canonicalize(dir)
        .map_err(|error| fail(crate::error::io_errno(&error), "pass an existing directory"))?;
    if !real.is_dir() {
        return Err(fail(Errno::ENOTDIR, "pass a directory"));
    }
    real.into_os_string().into_string().map_err(|_| {
        fail(
            Errno::EINVAL,
            "the path is not UTF-8, so it cannot be matched against the mount table",
        )
    })
}

/// Creates the run directory if needed and returns its canonical path, as
/// the mount table shows it (symlinks resolved).
fn canonical_run_dir(dir: &Path) -> Result<RunDirPath, Error> {
    let canonical = create_dir_all(dir, crate::ns::RUN_DIR_MODE)
        .and_then(|()| std::fs::canonicalize(dir))
        .map_err(|error| {
            host_error(
                "create the run directory",
                dir,
                error,
                "create it or pass --run-dir DIR",
            )
        })?;
    let text = canonical.to_str().map(str::to_owned).unwrap_or_default();
    RunDirPath::new(text)
        .map_err(|error| Error::Config(crate::config::ConfigError::new("usage", error.to_string())))
}
