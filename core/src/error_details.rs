//! What a caller can read of any podns error beyond its message: a stable
//! kind, the errno of the system call that failed, the path it acted on,
//! and whether trying again can help.

use serde::ser::SerializeStruct;

use crate::effect::{EffectError, Errno};

/// The typed details of a podns error. Every error type of the engines
/// implements it, so an embedder decides what to do from fields, never by
/// parsing a message.
pub trait ErrorDetails: std::error::Error {
    /// A stable, machine-readable name, such as `"io"` or `"pool-exhausted"`.
    fn kind(&self) -> &'static str;

    /// The errno of the system call that failed, when one did.
    fn errno(&self) -> Option<Errno>;

    /// The path the failed step acted on, named with its real directory
    /// when the caller gave the engine its root labels.
    fn path(&self) -> Option<&str>;

    /// True when trying the same operation again may succeed: the failure
    /// was a system call that failed with `EIO`, `EAGAIN` or `EINTR`. Every
    /// other failure (a bad file, a full pool, a missing permission) comes
    /// back until something else changes.
    fn is_retryable(&self) -> bool {
        self.errno().is_some_and(Errno::is_transient)
    }
}

impl ErrorDetails for EffectError {
    fn kind(&self) -> &'static str {
        "io"
    }

    fn errno(&self) -> Option<Errno> {
        Some(self.errno)
    }

    fn path(&self) -> Option<&str> {
        None
    }
}

/// Serializes an error as `{"kind", "message", "errno"?, "path"?,
/// "retryable"}`: the same fields for every error type.
pub(crate) fn serialize_error<E, S>(error: &E, serializer: S) -> Result<S::Ok, S::Error>
where
    E: ErrorDetails + ?Sized,
    S: serde::Serializer,
{
    let mut state = serializer.serialize_struct("Error", 5)?;
    state.serialize_field("kind", error.kind())?;
    state.serialize_field("message", &error.to_string())?;
    match error.errno() {
        Some(errno) => state.serialize_field("errno", &errno.name().unwrap_or("unknown"))?,
        None => state.skip_field("errno")?,
    }
    match error.path() {
        Some(path) => state.serialize_field("path", path)?,
        None => state.skip_field("path")?,
    }
    state.serialize_field("retryable", &error.is_retryable())?;
    state.end()
}

/// `impl Serialize` through [`serialize_error`] for each error type.
macro_rules! serialize_as_error_details {
    ($($error:ty),* $(,)?) => {
        $(
            impl serde::Serialize for $error {
                fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                    $crate::error_details::serialize_error(self, serializer)
                }
            }
        )*
    };
}
pub(crate) use serialize_as_error_details;
