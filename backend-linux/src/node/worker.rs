//! The node's own thread: every request runs here, under the locks of the
//! [`Host`] protocol, so no caller's thread ever waits for a lock or a
//! system call.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use podns_core::{
    Backend, Effect, EffectError, Engine, ErrorDetails, Host, HostDir, NodeEngine, NodeError,
    NodeRequest, NodeResponse, Observation, Outcome, RecoveryReport, RelPath, Root, RootLabels,
    RunDirPath, UsernsEngine, UsernsRequest, UsernsResponse, drive,
};

use super::{Error, NodeSettings};
use crate::block_on::block_on;

/// What the node's handle and its thread share: the engine (locked only
/// while one of its methods runs, never while an effect executes, so that
/// getters never wait for I/O) and what the last recovery found.
#[derive(Debug)]
pub(crate) struct Shared {
    engine: Mutex<NodeEngine>,
    report: Mutex<RecoveryReport>,
    labels: Mutex<RootLabels>,
    pub(crate) run_dir: Option<RunDirPath>,
    has_pods_dir: bool,
    pub(crate) pool_origin: String,
}

impl Shared {
    /// The engine. A panic of the node's thread leaves it as it was at the
    /// last completed engine call, which is still a consistent state.
    pub(crate) fn engine(&self) -> MutexGuard<'_, NodeEngine> {
        self.engine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn labels(&self) -> RootLabels {
        self.labels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn report(&self) -> RecoveryReport {
        self.report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The node's thread: the host, the change counter this node last saw,
/// and the engine it shares with the handle.
pub(crate) struct Worker<H> {
    pub(crate) host: H,
    shared: Arc<Shared>,
    /// The pods directory's change counter as of this node's last request.
    generation: u64,
    /// The roots as the effects' debug events name them.
    labels: RootLabels,
}

impl<H: Host> Worker<H> {
    /// A worker over `host` that has recovered the pods directory once.
    pub(crate) fn start(host: H, settings: NodeSettings) -> Result<(Self, Arc<Shared>), Error> {
        let userns = UsernsEngine::new(settings.pool, settings.seed, settings.policy);
        let mut engine = NodeEngine::new(userns, settings.run_dir.clone());
        if let Some(parent) = settings.parent_maps.clone() {
            engine = engine.with_parent_maps(parent);
        }
        engine.set_root_labels(settings.labels.clone());
        let shared = Arc::new(Shared {
            engine: Mutex::new(engine),
            report: Mutex::new(RecoveryReport::default()),
            labels: Mutex::new(settings.labels.clone()),
            run_dir: settings.run_dir,
            has_pods_dir: settings.has_pods_dir,
            pool_origin: settings.pool_origin.clone(),
        });
        let mut worker = Worker {
            host,
            shared: Arc::clone(&shared),
            generation: 0,
            labels: settings.labels,
        };
        if !settings.has_pods_dir {
            return Ok((worker, shared));
        }
        traced("open", None, || {
            worker.locked(&[Root::Pods], |worker| {
                worker.generation = worker.host.generation()?;
                worker.recover()
            })
        })?;
        Ok((worker, shared))
    }

    /// Runs `request` under the locks it needs, after re-reading the pods
    /// directory when another process changed it.
    pub(crate) fn run(&mut self, request: NodeRequest) -> Result<NodeResponse, Error> {
        let pod = request.pod().cloned();
        traced(request.name(), pod.as_ref(), || self.run_locked(request))
    }

    fn run_locked(&mut self, request: NodeRequest) -> Result<NodeResponse, Error> {
        if request.uses_pods_dir() && !self.shared.has_pods_dir {
            return Err(NodeError::NoPodsDir.into());
        }
        let mut roots = Vec::with_capacity(2);
        if request.uses_pods_dir() {
            roots.push(Root::Pods);
        }
        // Without a run directory the engine refuses the request itself,
        // with a better message than a missing lock would give.
        if request.uses_run_dir() && self.shared.run_dir.is_some() {
            roots.push(Root::Run);
        }
        let refresh = request.uses_pods_dir();
        self.locked(&roots, |worker| {
            if refresh {
                worker.refresh()?;
            }
            worker.drive(request)
        })
    }

    /// Re-reads the pods directory, under its lock, when another process
    /// changed it since this node's last request; true when it did.
    pub(crate) fn refresh_now(&mut self) -> Result<bool, Error> {
        if !self.shared.has_pods_dir {
            return Err(NodeError::NoPodsDir.into());
        }
        traced("refresh", None, || {
            self.locked(&[Root::Pods], Self::refresh)
        })
    }

    /// Opens `dir` as a subpath root (the volume, the pod directory or a
    /// base directory) and names it in messages; returns its real path.
    pub(crate) fn open_subpath_root(&mut self, root: Root, dir: &Path) -> Result<HostDir, Error> {
        let real = self.host.open_root(root, dir)?;
        self.labels = std::mem::take(&mut self.labels).with(root, real.join(&RelPath::default()));
        Ok(real)
    }

    /// Runs a subpath request on the roots opened for it.
    pub(crate) fn run_subpath(&mut self, request: NodeRequest) -> Result<NodeResponse, Error> {
        self.shared.engine().set_root_labels(self.labels.clone());
        *self
            .shared
            .labels
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self.labels.clone();
        self.run(request)
    }

    /// Takes the locks of `roots` in order, runs `body`, and releases them
    /// in the reverse order, whatever `body` returned.
    fn locked<T>(
        &mut self,
        roots: &[Root],
        body: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        for (taken, root) in roots.iter().enumerate() {
            if let Err(error) = self.host.lock(*root) {
                for held in roots[..taken].iter().rev() {
                    self.host.unlock(*held);
                }
                return Err(error.into());
            }
        }
        let result = body(self);
        for root in roots.iter().rev() {
            self.host.unlock(*root);
        }
        result
    }

    fn refresh(&mut self) -> Result<bool, Error> {
        let current = self.host.generation()?;
        let recovered = self.shared.engine().userns().is_recovered();
        if current == self.generation && recovered {
            return Ok(false);
        }
        tracing::debug!(
            target: "podns",
            seen = self.generation,
            now = current,
            "the pods directory changed since this node's last request: reading it again"
        );
        self.generation = current;
        self.recover()?;
        Ok(true)
    }

    fn recover(&mut self) -> Result<(), Error> {
        match self.drive(NodeRequest::Userns(UsernsRequest::Recover))? {
            NodeResponse::Userns(UsernsResponse::Recovered(report)) => {
                *self
                    .shared
                    .report
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = report;
                Ok(())
            }
            other => {
                Err(NodeError::Internal(format!("recovery was answered with {other:?}")).into())
            }
        }
    }

    fn drive(&mut self, request: NodeRequest) -> Result<NodeResponse, Error> {
        let mut engine = SharedEngine(&self.shared);
        let mut backend = Coordinated {
            host: &mut self.host,
            generation: &mut self.generation,
            moved: false,
            labels: &self.labels,
        };
        block_on(drive(&mut engine, &mut backend, request)).map_err(Error::Node)
    }
}

/// Runs `body` in a span of `operation` on `pod`, which records the
/// outcome: `ok` or the error's kind.
fn traced<T>(
    operation: &'static str,
    pod: Option<&podns_core::PodUid>,
    body: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    let span = tracing::info_span!(
        target: "podns",
        "podns",
        operation,
        pod = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    if let Some(pod) = pod {
        span.record("pod", pod.as_str());
    }
    let _entered = span.enter();
    let result = body();
    span.record(
        "outcome",
        match &result {
            Ok(_) => "ok",
            Err(error) => error.kind(),
        },
    );
    result
}

/// The shared engine, locked for each call of the driving loop.
struct SharedEngine<'a>(&'a Shared);

impl Engine for SharedEngine<'_> {
    type Request = NodeRequest;
    type Response = NodeResponse;
    type Error = NodeError;

    fn submit(&mut self, request: NodeRequest) -> Result<(), NodeError> {
        self.0.engine().submit(request)
    }

    fn poll_effect(&mut self) -> Option<Effect> {
        self.0.engine().poll_effect()
    }

    fn handle_outcome(&mut self, outcome: Outcome) {
        self.0.engine().handle_outcome(outcome);
    }

    fn poll_completion(&mut self) -> Option<Result<NodeResponse, NodeError>> {
        self.0.engine().poll_completion()
    }
}

/// The host as the driving loop sees it: it moves the change counter before
/// the request's first change of the pods directory, and logs every effect.
struct Coordinated<'a, H> {
    host: &'a mut H,
    generation: &'a mut u64,
    /// The counter was moved for this request.
    moved: bool,
    labels: &'a RootLabels,
}

#[async_trait]
impl<H: Host> Backend for Coordinated<'_, H> {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        if !self.moved && effect.changes_contents() && effect.subject().root == Root::Pods {
            let next = self.generation.wrapping_add(1);
            if let Err(error) = self.host.set_generation(next) {
                tracing::debug!(
                    target: "podns",
                    effect = %effect.describe(self.labels),
                    error = %error,
                    "not run"
                );
                // Nothing ran: the engine rolls back as for any failed step.
                return Err(EffectError::new(error.errno, error.to_string()));
            }
            *self.generation = next;
            self.moved = true;
        }
        let outcome = self.host.execute(effect).await;
        match &outcome {
            Ok(_) => {
                tracing::debug!(target: "podns", effect = %effect.describe(self.labels), "done")
            }
            Err(error) => tracing::debug!(
                target: "podns",
                effect = %effect.describe(self.labels),
                errno = %error.errno,
                error = %error.detail,
                "failed"
            ),
        }
        outcome
    }
}
