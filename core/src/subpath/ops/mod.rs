//! One state machine per subpath request, in the shape of the other
//! engines' operations: each issues one effect at a time and moves on only
//! when its outcome is known. They read the labels that name paths in
//! messages from the engine, as the argument of `handle`.

mod clean;
mod make_dir;
mod prepare;

pub(crate) use clean::CleanOp;
pub(crate) use make_dir::MakeDirOp;
pub(crate) use prepare::PrepareOp;

pub(crate) use crate::op_error::{io_error, unexpected};

use super::request::{SubpathError, SubpathResponse};
use crate::effect::Outcome;
use crate::path::RootLabels;

/// What an operation wants next.
pub(crate) type Step = crate::request_slot::Step<SubpathResponse, SubpathError>;
/// What an operation says once it has taken an outcome.
pub(crate) type Handled = crate::request_slot::Handled<SubpathResponse, SubpathError>;

/// Ends an operation with `error`.
fn fail(error: SubpathError) -> Handled {
    Handled::Finish(Err(error))
}

/// An operation in progress.
#[derive(Debug, Clone)]
pub(crate) enum ActiveOp {
    Prepare(PrepareOp),
    Clean(CleanOp),
    MakeDir(MakeDirOp),
}

impl ActiveOp {
    pub fn poll(&mut self) -> Step {
        match self {
            ActiveOp::Prepare(op) => op.poll(),
            ActiveOp::Clean(op) => op.poll(),
            ActiveOp::MakeDir(op) => op.poll(),
        }
    }

    pub fn handle(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        match self {
            ActiveOp::Prepare(op) => op.handle(labels, outcome),
            ActiveOp::Clean(op) => op.handle(labels, outcome),
            ActiveOp::MakeDir(op) => op.handle(labels, outcome),
        }
    }
}

#[cfg(test)]
mod tests;
