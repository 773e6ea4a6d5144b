//! The bookkeeping every engine shares: one request at a time, at most one
//! effect awaiting its outcome, and the result kept until it is taken.
//!
//! Each engine holds a [`RequestSlot`] of its own operation type and keeps
//! only what is particular to it (the userns registry, the namespace run
//! directory, the subpath labels). The slot enforces the invariant of
//! [`crate::Engine`] the same way for every engine: at most one effect is
//! awaiting its outcome. Polling while one is awaited is a bug of the driver
//! that debug builds catch with an assertion; an outcome that no effect
//! awaits fails the running request with a [`DrivingError`].

use crate::effect::{Effect, Outcome};
use crate::op_error::DrivingError;

/// What an operation wants next.
#[derive(Debug, Clone)]
pub(crate) enum Step<R, E> {
    /// Execute this effect and hand back its outcome.
    Run(Effect),
    /// The operation is over.
    Finish(Result<R, E>),
}

/// What an operation says once it has taken an outcome: either it goes on
/// (the next poll gives its next step), or the outcome ended it. An
/// operation that ends returns its result here instead of keeping it for a
/// later poll, so no operation has a "finished" state to be polled in.
#[derive(Debug, Clone)]
pub(crate) enum Handled<R, E> {
    /// Poll the operation for its next step.
    Continue,
    /// The operation is over.
    Finish(Result<R, E>),
}

/// The request an engine is running, if any, and the result of the last one
/// until it is taken.
#[derive(Debug, Clone)]
pub(crate) struct RequestSlot<Op, R, E> {
    active: Option<Op>,
    /// An effect was handed out and its outcome is awaited. Only a flag: the
    /// effect itself went to the driver, and keeping a copy would cost a
    /// clone per effect.
    awaiting_outcome: bool,
    completion: Option<Result<R, E>>,
}

impl<Op, R, E> Default for RequestSlot<Op, R, E> {
    fn default() -> Self {
        Self {
            active: None,
            awaiting_outcome: false,
            completion: None,
        }
    }
}

impl<Op, R, E> RequestSlot<Op, R, E> {
    /// True while a request runs or its result has not been taken: a new
    /// request must be refused.
    pub fn is_busy(&self) -> bool {
        self.active.is_some() || self.completion.is_some()
    }

    /// Starts `op`. The engine checked [`RequestSlot::is_busy`] first.
    pub fn start(&mut self, op: Op) {
        debug_assert!(!self.is_busy(), "a request is already running");
        self.active = Some(op);
    }

    /// Completes a request that needs no effect at all.
    pub fn finish_at_once(&mut self, result: Result<R, E>) {
        debug_assert!(!self.is_busy(), "a request is already running");
        self.completion = Some(result);
    }

    /// The next effect of the running operation, asked of `step`; `None`
    /// when no request runs, when an outcome is still awaited, or when
    /// `step` finishes the operation (its result is then kept for
    /// [`RequestSlot::poll_completion`]).
    pub fn poll(&mut self, step: impl FnOnce(&mut Op) -> Step<R, E>) -> Option<Effect> {
        debug_assert!(
            !self.awaiting_outcome,
            "poll_effect while an effect awaits its outcome: hand the outcome back first"
        );
        if self.awaiting_outcome {
            return None;
        }
        match step(self.active.as_mut()?) {
            Step::Run(effect) => {
                self.awaiting_outcome = true;
                Some(effect)
            }
            Step::Finish(result) => {
                self.active = None;
                self.completion = Some(result);
                None
            }
        }
    }

    /// Hands `outcome` to the running operation through `handle`; when
    /// `handle` ends the operation, its result is kept for
    /// [`RequestSlot::poll_completion`]. An outcome that no effect awaits
    /// ends the running request with a [`DrivingError`]: whatever it
    /// answers, the operation never asked.
    pub fn handle(
        &mut self,
        outcome: Outcome,
        handle: impl FnOnce(&mut Op, Outcome) -> Handled<R, E>,
    ) where
        E: From<DrivingError>,
    {
        if std::mem::take(&mut self.awaiting_outcome) {
            if let Some(op) = self.active.as_mut() {
                if let Handled::Finish(result) = handle(op, outcome) {
                    self.active = None;
                    self.completion = Some(result);
                }
            }
            return;
        }
        if self.active.take().is_some() {
            self.completion = Some(Err(E::from(DrivingError)));
        }
    }

    /// The result of the last request, once it is complete.
    pub fn poll_completion(&mut self) -> Option<Result<R, E>> {
        self.completion.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::{EffectError, Errno, Observation};

    /// Counts the outcomes it is handed, and finishes after two effects.
    #[derive(Debug, Default)]
    struct TwoSyncs {
        handled: Vec<bool>,
    }

    /// The error of the slots under test.
    #[derive(Debug, PartialEq, Eq)]
    enum Failed {
        Driving,
        AtOnce,
    }

    impl From<DrivingError> for Failed {
        fn from(_: DrivingError) -> Self {
            Failed::Driving
        }
    }

    fn step(op: &mut TwoSyncs) -> Step<usize, Failed> {
        if op.handled.len() == 2 {
            return Step::Finish(Ok(op.handled.iter().filter(|ok| **ok).count()));
        }
        Step::Run(Effect::SyncFs {
            root: crate::path::Root::Pods,
        })
    }

    fn handle(op: &mut TwoSyncs, outcome: Outcome) -> Handled<usize, Failed> {
        op.handled.push(outcome.is_ok());
        Handled::Continue
    }

    #[test]
    fn one_effect_at_a_time() {
        let mut slot: RequestSlot<TwoSyncs, usize, Failed> = RequestSlot::default();
        assert_eq!(slot.poll(step), None, "nothing runs yet");
        slot.start(TwoSyncs::default());
        assert!(slot.is_busy());
        assert!(slot.poll(step).is_some());
        slot.handle(Ok(Observation::Done), handle);
        assert!(slot.poll(step).is_some());
        slot.handle(Err(EffectError::new(Errno::EIO, "sync")), handle);
        assert_eq!(slot.poll(step), None);
        assert_eq!(slot.poll_completion(), Some(Ok(1)));
        assert!(!slot.is_busy());
        assert_eq!(slot.poll_completion(), None);
    }

    #[test]
    fn a_stray_outcome_fails_the_request() {
        let mut slot: RequestSlot<TwoSyncs, usize, Failed> = RequestSlot::default();
        slot.start(TwoSyncs::default());
        assert!(slot.poll(step).is_some());
        slot.handle(Ok(Observation::Done), handle);
        // No effect was polled since: nobody asked for this one.
        slot.handle(Ok(Observation::Done), handle);
        assert_eq!(slot.poll(step), None);
        assert_eq!(slot.poll_completion(), Some(Err(Failed::Driving)));
        assert!(!slot.is_busy());
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "poll_effect while an effect awaits its outcome")]
    fn polling_while_an_outcome_is_awaited_is_caught() {
        let mut slot: RequestSlot<TwoSyncs, usize, Failed> = RequestSlot::default();
        slot.start(TwoSyncs::default());
        assert!(slot.poll(step).is_some());
        slot.poll(step);
    }

    #[test]
    fn a_result_at_once_keeps_the_slot_busy_until_taken() {
        let mut slot: RequestSlot<TwoSyncs, usize, Failed> = RequestSlot::default();
        slot.finish_at_once(Err(Failed::AtOnce));
        assert!(slot.is_busy());
        assert_eq!(slot.poll(step), None);
        assert_eq!(slot.poll_completion(), Some(Err(Failed::AtOnce)));
        assert!(!slot.is_busy());
    }
}
