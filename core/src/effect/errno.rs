use std::fmt;

use serde::{Deserialize, Serialize};

/// A Linux errno value, as a backend observed it.
///
/// The core knows the numbers (they are part of the Linux ABI) but never asks
/// the OS for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $value:literal, $text:literal;)*) => {
        impl Errno {
            $(
                #[doc = $text]
                pub const $name: Errno = Errno($value);
            )*

            /// The symbolic name, such as `"ENOENT"`, when known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            fn description(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    EBADF = 9, "Bad file descriptor";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Invalid cross-device link";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    EROFS = 30, "Read-only file system";
    ENAMETOOLONG = 36, "File name too long";
    ENOSYS = 38, "Function not implemented";
    ENOTEMPTY = 39, "Directory not empty";
    ELOOP = 40, "Too many levels of symbolic links";
    EOPNOTSUPP = 95, "Operation not supported";
    EDQUOT = 122, "Disk quota exceeded";
}

impl Errno {
    /// True for the errors after which the same call may succeed when tried
    /// again: `EIO` (a passing device or network file system fault),
    /// `EAGAIN` and `EINTR`.
    pub fn is_transient(self) -> bool {
        matches!(self, Errno::EIO | Errno::EAGAIN | Errno::EINTR)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.description()) {
            (Some(name), Some(text)) => write!(f, "{name} ({text})"),
            _ => write!(f, "errno {}", self.0),
        }
    }
}

/// Why a backend could not execute an effect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[error("{detail}: {errno}")]
pub struct EffectError {
    /// The errno the failing system call returned.
    pub errno: Errno,
    /// What the backend was doing, with the path it used.
    pub detail: String,
}

impl EffectError {
    /// An error with `errno` and a description of the failed step.
    pub fn new(errno: Errno, detail: impl Into<String>) -> Self {
        Self {
            errno,
            detail: detail.into(),
        }
    }

    /// True for `ENOENT`.
    pub fn is_not_found(&self) -> bool {
        self.errno == Errno::ENOENT
    }
    /// True for the errors `umount2` gives when nothing is mounted there
    /// (`EINVAL`) or the name is gone (`ENOENT`): the goal of an unmount is
    /// already reached.
    pub fn is_not_mounted(&self) -> bool {
        self.errno == Errno::EINVAL || self.errno == Errno::ENOENT
    }
}
