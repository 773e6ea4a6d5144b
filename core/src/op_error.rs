//! The errors every operation of every engine can fail with, built one way:
//! a step whose effect failed, an observation that does not fit its effect,
//! and a driver that broke the driving contract.

use crate::effect::{EffectError, Observation};
use crate::path::{RootLabels, RootPath};

/// An engine's error type, as the shared builders make it.
pub(crate) trait OpError {
    /// A step failed: `action` on `path` (`shown` with its root's real
    /// directory) got `source` from the backend.
    fn io(action: &'static str, path: RootPath, shown: String, source: EffectError) -> Self;

    /// The backend answered `effect` with an observation it never returns.
    fn unexpected_observation(effect: &'static str, got: String) -> Self;
}

/// The error for a failed step.
pub(crate) fn io_error<E: OpError>(
    labels: &RootLabels,
    action: &'static str,
    path: &RootPath,
    source: EffectError,
) -> E {
    E::io(action, path.clone(), labels.show(path), source)
}

/// The error for an observation that does not fit the effect.
pub(crate) fn unexpected<E: OpError>(effect: &'static str, got: &Observation) -> E {
    E::unexpected_observation(effect, format!("{got:?}"))
}

/// Implements [`OpError`] for an error enum with `Io { action, path,
/// shown, source }` and `UnexpectedObservation { effect, got }` variants.
macro_rules! op_error_variants {
    ($error:ident) => {
        impl $crate::op_error::OpError for $error {
            fn io(
                action: &'static str,
                path: $crate::path::RootPath,
                shown: String,
                source: $crate::effect::EffectError,
            ) -> Self {
                $error::Io {
                    action,
                    path,
                    shown,
                    source,
                }
            }

            fn unexpected_observation(effect: &'static str, got: String) -> Self {
                $error::UnexpectedObservation { effect, got }
            }
        }
    };
}
pub(crate) use op_error_variants;

/// A driver broke the driving contract of [`crate::Engine`]: it handed back
/// an outcome when no effect was awaiting one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an outcome was handed back while no effect was awaiting one: the driver broke the driving \
     contract (one effect, then its outcome, then the next poll); this is a bug of the driver"
)]
pub struct DrivingError;
