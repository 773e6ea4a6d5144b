//! The machine a long-lived node runs on: a [`Backend`] that also gives the
//! coordination between processes that the protocol relies on.
//!
//! The engines assume they are the only writer of their directories while a
//! request runs, and a node keeps what it learned of the pods directory in
//! memory between requests. Both hold only if every request runs under an
//! exclusive lock of the directories it touches, and if a node notices
//! cheaply that another process wrote since its last request. A [`Host`]
//! provides both: [`Host::lock`] per request, and a change counter (the
//! *generation*) that every writer moves before its first change.

use std::path::Path;

use crate::backend::Backend;
use crate::effect::Errno;
use crate::error_details::{ErrorDetails, serialize_as_error_details};
use crate::path::Root;
use crate::subpath::HostDir;

/// A [`Backend`] with the locks and the change counter of a node's
/// directories, and the roots of subpath requests.
///
/// Every method may block the calling thread (a lock can wait for another
/// process's request): a node calls them from its own thread, never from an
/// async executor's.
///
/// # The protocol a node follows
/// 1. [`Host::lock`] the pods directory ([`Root::Pods`]), and the run
///    directory ([`Root::Run`]) too for a namespace request: pods first, so
///    two nodes never deadlock.
/// 2. Read [`Host::generation`]; when it differs from the value this node
///    saw last, another process changed the pods directory: recover again.
/// 3. Run the request. Before the first effect that can change the pods
///    directory ([`crate::Effect::mutates`]), [`Host::set_generation`] to the
///    next value, so that a process killed half-way still tells the others
///    to re-read.
/// 4. [`Host::unlock`] in the reverse order.
pub trait Host: Backend {
    /// Waits until this host holds the exclusive lock of `root`'s
    /// directory. Locking a root already held is an error of the caller.
    fn lock(&mut self, root: Root) -> Result<(), HostError>;

    /// Releases the lock of `root`'s directory; nothing when it is not held.
    fn unlock(&mut self, root: Root);

    /// The pods directory's change counter. Called only under its lock. A
    /// directory no writer has touched yet reads 0.
    fn generation(&mut self) -> Result<u64, HostError>;

    /// Records `generation` as the pods directory's change counter, under
    /// its lock. It need not be durable: a power loss restarts every node,
    /// and each one recovers when it starts.
    fn set_generation(&mut self, generation: u64) -> Result<(), HostError>;

    /// Opens `dir` as `root` ([`Root::Volume`] or [`Root::PodDir`]) for the
    /// subpath requests that follow, replacing the one opened before, and
    /// returns its real absolute path (symlinks resolved), by which the
    /// mount table names it.
    fn open_root(&mut self, root: Root, dir: &Path) -> Result<HostDir, HostError>;
}

/// Why a host could not lock, count or open what a node asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} {path}: {errno}; {hint}")]
pub struct HostError {
    /// A stable name: `"lock"` for the locks and the change counter, `"io"`
    /// for the rest.
    pub kind: &'static str,
    /// What the host was doing, such as `"lock"`.
    pub action: &'static str,
    /// The file or directory it was doing it to.
    pub path: String,
    /// What the system call returned.
    pub errno: Errno,
    /// What to do about it.
    pub hint: String,
}

impl ErrorDetails for HostError {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn errno(&self) -> Option<Errno> {
        Some(self.errno)
    }

    fn path(&self) -> Option<&str> {
        Some(&self.path)
    }
}

serialize_as_error_details!(HostError);
