//! The one helper of the operations' unit tests: it runs an operation in a
//! [`RequestSlot`], as its engine does, answering each effect with the next
//! scripted outcome, and gives back every effect issued and the result.
//! Tests then state the exact effect list with `assert_eq!`.

use crate::effect::{Effect, Outcome};
use crate::op_error::DrivingError;
use crate::request_slot::{Handled, RequestSlot, Step};

/// What a scripted run did.
#[derive(Debug)]
pub(crate) struct Run<R, E> {
    /// Every effect, in order, the one left without an outcome included.
    pub effects: Vec<Effect>,
    /// The result; `None` when the script ran out first.
    pub result: Option<Result<R, E>>,
}

impl<R: std::fmt::Debug, E: std::fmt::Debug> Run<R, E> {
    /// The result of a run that finished.
    pub fn finished(self) -> Result<R, E> {
        match self.result {
            Some(result) => result,
            None => panic!("the script ran out; effects so far: {:#?}", self.effects),
        }
    }
}

/// Runs `op` with context `ctx`: `poll` and `handle` are the operation's own
/// methods, and each effect gets the next of `outcomes`.
pub(crate) fn run<Op, C, R, E: From<DrivingError>>(
    op: Op,
    ctx: &mut C,
    mut poll: impl FnMut(&mut Op, &mut C) -> Step<R, E>,
    mut handle: impl FnMut(&mut Op, &mut C, Outcome) -> Handled<R, E>,
    outcomes: impl IntoIterator<Item = Outcome>,
) -> Run<R, E> {
    let mut slot = RequestSlot::default();
    slot.start(op);
    let mut outcomes = outcomes.into_iter();
    let mut effects = Vec::new();
    while let Some(effect) = slot.poll(|op| poll(op, ctx)) {
        effects.push(effect);
        let Some(outcome) = outcomes.next() else {
            return Run {
                effects,
                result: None,
            };
        };
        slot.handle(outcome, |op, outcome| handle(op, ctx, outcome));
    }
    assert!(
        outcomes.next().is_none(),
        "the operation finished with outcomes left in the script"
    );
    Run {
        effects,
        result: slot.poll_completion(),
    }
}
