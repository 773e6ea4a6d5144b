//! One state machine per request. Each issues one effect at a time and moves
//! on only when the outcome of that effect is known, so a crash between any two
//! effects leaves a state the protocol was designed for.

mod allocate;
mod cleanup;
mod recover;
mod release;

pub(crate) use allocate::AllocateOp;
pub(crate) use cleanup::CleanupOp;
pub(crate) use recover::RecoverOp;
pub(crate) use release::ReleaseOp;

pub(crate) use crate::op_error::{io_error, unexpected};

use super::registry::Registry;
use super::request::{UsernsError, UsernsResponse};
use crate::effect::Outcome;

/// What an operation wants next.
pub(crate) type Step = crate::request_slot::Step<UsernsResponse, UsernsError>;
/// What an operation says once it has taken an outcome.
pub(crate) type Handled = crate::request_slot::Handled<UsernsResponse, UsernsError>;

/// An operation in progress.
#[derive(Debug, Clone)]
pub(crate) enum ActiveOp {
    Recover(RecoverOp),
    Allocate(AllocateOp),
    Release(ReleaseOp),
    Cleanup(CleanupOp),
}

impl ActiveOp {
    pub fn poll(&mut self, registry: &mut Registry) -> Step {
        match self {
            ActiveOp::Recover(op) => op.poll(registry),
            ActiveOp::Allocate(op) => op.poll(),
            ActiveOp::Release(op) => op.poll(),
            ActiveOp::Cleanup(op) => op.poll(),
        }
    }

    pub fn handle(&mut self, registry: &mut Registry, outcome: Outcome) -> Handled {
        match self {
            ActiveOp::Recover(op) => op.handle(registry, outcome),
            ActiveOp::Allocate(op) => op.handle(registry, outcome),
            ActiveOp::Release(op) => op.handle(registry, outcome),
            ActiveOp::Cleanup(op) => op.handle(registry, outcome),
        }
    }
}

#[cfg(test)]
mod tests;
