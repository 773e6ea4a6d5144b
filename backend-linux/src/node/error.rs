//! Why a [`super::Node`] call failed.

use podns_core::{Errno, ErrorDetails, HostError, NodeError, NsError, SubpathError, UsernsError};

use crate::config::ConfigError;

/// Why a [`super::Node`] call failed. Every variant names the thing and says
/// what to do; [`ErrorDetails`] gives the kind, the errno, the path and
/// whether retrying can help, without parsing the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An engine refused or failed the request (nothing half-done was
    /// acknowledged).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A lock, the change counter or a directory could not be used.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The configuration cannot be used; nothing was touched.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The node's thread has ended: the node was shut down, or a bug made
    /// the thread panic.
    #[error(
        "the node has stopped: its thread ended (it was shut down, or a bug made it panic, \
         which is worth reporting); open the node again"
    )]
    Stopped,
}

impl From<UsernsError> for Error {
    fn from(error: UsernsError) -> Self {
        Error::Node(NodeError::Userns(error))
    }
}

impl From<NsError> for Error {
    fn from(error: NsError) -> Self {
        Error::Node(NodeError::Namespaces(error))
    }
}

impl From<SubpathError> for Error {
    fn from(error: SubpathError) -> Self {
        Error::Node(NodeError::Subpath(error))
    }
}

impl Error {
    /// True when the request was refused for its input or the
    /// configuration (a bad pool, a pod in NODE mode on a handler without
    /// user namespaces...), false when it failed on the machine: the CLI's
    /// exit 2 versus 1.
    pub fn is_bad_input(&self) -> bool {
        match self {
            // Too few IDs is the machine's set-up, not the command's input.
            Error::Config(error) => !matches!(error.kind, "io" | "too-few-ids"),
            Error::Host(error) => error.kind == "usage",
            Error::Node(_) | Error::Stopped => false,
        }
    }
}

impl ErrorDetails for Error {
    fn kind(&self) -> &'static str {
        match self {
            Error::Node(error) => error.kind(),
            Error::Host(error) => error.kind(),
            Error::Config(error) => error.kind(),
            Error::Stopped => "stopped",
        }
    }

    fn errno(&self) -> Option<Errno> {
        match self {
            Error::Node(error) => error.errno(),
            Error::Host(error) => error.errno(),
            Error::Config(error) => error.errno(),
            Error::Stopped => None,
        }
    }

    fn path(&self) -> Option<&str> {
        match self {
            Error::Node(error) => error.path(),
            Error::Host(error) => error.path(),
            Error::Config(error) => error.path(),
            Error::Stopped => None,
        }
    }
}
