//! [`NsEngine`]: the state machine that decides how a pod's
//! namespaces are created, pinned, checked, removed and swept.

use super::layout::RunDirPath;
use super::ops::{ActiveOp, CreateOp, Ctx, Handled, ListOp, RemoveOp, Step, SweepOp};
use super::request::{NsError, NsRequest, NsResponse};
use crate::effect::{Effect, Outcome};
use crate::path::{Root, RootLabels, RootPath};
use crate::request_slot::RequestSlot;

/// The pod-namespace engine. It performs no I/O: it hands out [`Effect`]s
/// and is told their [`Outcome`]s, following the [`crate::Engine`]
/// contract. What differs:
///
/// The first request of an engine starts with [`Effect::SetUpRunDir`]; a
/// later one does not repeat it once it succeeded. [`NsRequest::Inspect`]
/// never sets it up. The engine keeps no other
/// state between requests: each one reads what it needs (the pod
/// directories, the mount table), so a fresh engine after a crash decides
/// from what the crash left.
#[derive(Debug, Clone)]
pub struct NsEngine {
    ctx: Ctx,
    run_dir_ready: bool,
    /// The effect awaiting its outcome is [`Effect::SetUpRunDir`], not one of
    /// the operation's.
    setting_up_run_dir: bool,
    request: RequestSlot<ActiveOp, NsResponse, NsError>,
}

impl NsEngine {
    /// An engine for the run directory whose absolute, canonical path is
    /// `run_dir` (the backend holds it as [`Root::Run`]); the core matches
    /// the mount table against this path.
    pub fn new(run_dir: RunDirPath) -> Self {
        let labels = RootLabels::new().with(Root::Run, run_dir.as_str());
        Self {
            ctx: Ctx {
                run: run_dir,
                labels,
            },
            run_dir_ready: false,
            setting_up_run_dir: false,
            request: RequestSlot::default(),
        }
    }

    /// Names the roots in messages with `labels` (by default the run
    /// directory is named by its path).
    pub fn set_root_labels(&mut self, labels: RootLabels) {
        self.ctx.labels = labels;
    }

    /// The run directory's path.
    pub fn run_dir(&self) -> &RunDirPath {
        &self.ctx.run
    }

    /// The absolute path of a [`Root::Run`] path.
    pub fn absolute(&self, path: &RootPath) -> String {
        self.ctx.absolute(path)
    }

    /// True once [`Effect::SetUpRunDir`] has succeeded.
    pub fn is_run_dir_ready(&self) -> bool {
        self.run_dir_ready
    }

    /// Starts `request`. The result comes from
    /// [`NsEngine::poll_completion`] once
    /// [`NsEngine::poll_effect`] returns `None`.
    pub fn submit(&mut self, request: NsRequest) -> Result<(), NsError> {
        if self.request.is_busy() {
            return Err(NsError::Busy);
        }
        self.request.start(match request {
            NsRequest::Create { pod, maps } => ActiveOp::Create(CreateOp::new(pod, maps)),
            NsRequest::Remove { pod } => ActiveOp::Remove(RemoveOp::new(pod)),
            NsRequest::Sweep { keep, allocations } => {
                ActiveOp::Sweep(SweepOp::new(keep, allocations))
            }
            NsRequest::List => ActiveOp::List(ListOp::new()),
            NsRequest::Inspect => ActiveOp::Inspect(ListOp::new()),
            NsRequest::Check { pod, maps } => ActiveOp::Create(CreateOp::check(pod, maps)),
        });
        Ok(())
    }

    /// The next effect to execute, or `None` when the request is complete
    /// (or the previous effect's outcome has not been handed back yet).
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.request.poll(|op| {
            if !self.run_dir_ready && !matches!(op, ActiveOp::Inspect(_)) {
                self.setting_up_run_dir = true;
                return Step::Run(Effect::SetUpRunDir);
            }
            op.poll()
        })
    }

    /// The outcome of the effect last returned by
    /// [`NsEngine::poll_effect`]. Ignored when none is outstanding.
    pub fn handle_outcome(&mut self, outcome: Outcome) {
        self.request.handle(outcome, |op, outcome| {
            if !std::mem::take(&mut self.setting_up_run_dir) {
                return op.handle(&self.ctx, outcome);
            }
            match outcome {
                Ok(_) => {
                    self.run_dir_ready = true;
                    Handled::Continue
                }
                Err(error) => Handled::Finish(Err(self.ctx.io(
                    "set up the run directory",
                    &RootPath::root(Root::Run),
                    error,
                ))),
            }
        });
    }

    /// The result of the submitted request, once it is complete.
    pub fn poll_completion(&mut self) -> Option<Result<NsResponse, NsError>> {
        self.request.poll_completion()
    }
}

crate::driver::impl_engine!(NsEngine, NsRequest, NsResponse, NsError);
