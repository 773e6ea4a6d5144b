//! Writing a child user namespace's ID maps from outside, the way the kernel
//! wants it: one `write(2)` per file, `uid_map` first, then `setgroups`
//! (`deny`) when the writer is unprivileged, then `gid_map`; each map read
//! back and compared with what was written.
//!
//! The kernel refuses a map with `EPERM` when an extent's outside range is
//! not inside ONE extent of the parent namespace's map (split it with
//! [`podns_core::split_for_parent`] first), when the map was already
//! written, or when an unprivileged writer maps more than its own ID. On
//! `EPERM` or `EINVAL` the error names the extent most likely at fault,
//! checked against this process's own map (the writer is expected to run in
//! the parent of the target namespace).

use std::fmt;
use std::path::PathBuf;

use podns_core::{Errno, IdExtent, IdMap};
use rustix::fs::{Mode, OFlags};
use rustix::io::retry_on_intr;

use crate::error::errno;
use crate::idmap_read::{
    IdMapKind, IdMapReadError, proc_id_map_path, read_own_id_map, read_process_id_map,
};

/// Whether to write `deny` to `/proc/<pid>/setgroups` before `gid_map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetgroupsPolicy {
    /// `deny` when this process's effective UID is not 0: an unprivileged
    /// writer (no `CAP_SETGID` in the parent namespace) cannot write
    /// `gid_map` otherwise. A root writer leaves `setgroups` alone.
    #[default]
    Auto,
    /// Always write `deny`: nothing in the namespace may ever call
    /// `setgroups(2)` (which could drop a group that denies access).
    Deny,
    /// Never touch `setgroups`.
    Leave,
}

impl SetgroupsPolicy {
    /// True when this policy writes `deny`, for a writer whose effective UID
    /// is root or not.
    pub fn denies(self, writer_is_root: bool) -> bool {
        match self {
            SetgroupsPolicy::Auto => !writer_is_root,
            SetgroupsPolicy::Deny => true,
            SetgroupsPolicy::Leave => false,
        }
    }
}

/// The extent the kernel most likely refused, with its 1-based line in the
/// written text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultyExtent {
    /// 1-based line (position) of the extent in the map.
    pub line: usize,
    /// The extent.
    pub extent: IdExtent,
}

impl fmt::Display for FaultyExtent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "extent {} (`{}`)", self.line, self.extent)
    }
}

/// Why a map could not be written. Every message names the process and the
/// file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdMapWriteError {
    /// An empty map cannot be written (the kernel refuses it with `EINVAL`).
    #[error(
        "refusing to write an empty {kind} map to {} (process {pid}): map at least one ID",
        file.display()
    )]
    EmptyMap {
        /// The target process.
        pid: u32,
        /// Which map.
        kind: IdMapKind,
        /// The file.
        file: PathBuf,
    },
    /// The file could not be opened.
    #[error(
        "cannot open {} (process {pid}) for writing: {errno}; the process must exist and this \
         process must be allowed to write its maps",
        file.display()
    )]
    Open {
        /// The target process.
        pid: u32,
        /// The file.
        file: PathBuf,
        /// What `open(2)` returned.
        errno: Errno,
    },
    /// The kernel refused the map.
    #[error(
        "cannot write the {kind} map of process {pid} to {}: {errno}; {diagnosis}",
        file.display()
    )]
    Write {
        /// The target process.
        pid: u32,
        /// Which map.
        kind: IdMapKind,
        /// The file.
        file: PathBuf,
        /// What `write(2)` returned.
        errno: Errno,
        /// The extent most likely at fault, when one can be named.
        culprit: Option<FaultyExtent>,
        /// Why, and what to do.
        diagnosis: String,
    },
    /// The kernel took only part of the text, which it never does for a map.
    #[error(
        "the kernel took {written} of {len} bytes written to {} (process {pid}); a map must be \
         written in one write",
        file.display()
    )]
    ShortWrite {
        /// The target process.
        pid: u32,
        /// The file.
        file: PathBuf,
        /// Bytes taken.
        written: usize,
        /// Bytes offered.
        len: usize,
    },
    /// `deny` could not be written to `setgroups`.
    #[error(
        "cannot write \"deny\" to {} (process {pid}): {errno}; it must be written before gid_map",
        file.display()
    )]
    Setgroups {
        /// The target process.
        pid: u32,
        /// The file.
        file: PathBuf,
        /// What `open(2)` or `write(2)` returned.
        errno: Errno,
    },
    /// The map was written but could not be read back.
    #[error("the {kind} map of process {pid} was written but cannot be read back: {source}")]
    ReadBack {
        /// The target process.
        pid: u32,
        /// Which map.
        kind: IdMapKind,
        /// Why.
        source: IdMapReadError,
    },
    /// The map read back differs from the map written.
    #[error(
        "the {kind} map of process {pid} read back from {} differs from what was written: wrote \
         `{}`, read `{}`",
        file.display(),
        written.one_line(),
        read.one_line()
    )]
    Mismatch {
        /// The target process.
        pid: u32,
        /// Which map.
        kind: IdMapKind,
        /// The file.
        file: PathBuf,
        /// What was written.
        written: IdMap,
        /// What was read back.
        read: IdMap,
    },
}

/// Writes the ID maps of a child user namespace, identified by the pid of a
/// process in it.
///
/// ```no_run
/// use podns_backend_linux::{IdMapKind, IdMapWriter, read_own_id_map};
/// use podns_core::{IdExtent, IdMap, split_for_parent};
///
/// # fn run(child_pid: u32) -> Result<(), Box<dyn std::error::Error>> {
/// let request = IdMap::new(vec![IdExtent::new(0, 0, 65536)])?;
/// let uid_map = split_for_parent(&request, &read_own_id_map(IdMapKind::Uid)?)?;
/// let gid_map = split_for_parent(&request, &read_own_id_map(IdMapKind::Gid)?)?;
/// IdMapWriter::new(child_pid).write(&uid_map, &gid_map)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMapWriter {
    pid: u32,
    setgroups: SetgroupsPolicy,
}

impl IdMapWriter {
    /// A writer for the user namespace of process `pid`, with
    /// [`SetgroupsPolicy::Auto`].
    pub fn new(pid: u32) -> Self {
        Self {
            pid,
            setgroups: SetgroupsPolicy::Auto,
        }
    }

    /// Chooses whether `deny` is written to `setgroups`.
    pub fn with_setgroups(mut self, policy: SetgroupsPolicy) -> Self {
        self.setgroups = policy;
        self
    }

    /// The target process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Writes `uid_map`, then `deny` to `setgroups` if the policy says so,
    /// then `gid_map`; each map is read back and compared. Stops at the first
    /// failure: a map, once written, cannot be written again.
    pub fn write(&self, uid_map: &IdMap, gid_map: &IdMap) -> Result<(), IdMapWriteError> {
        self.write_and_read_back(uid_map, gid_map).map(drop)
    }

    /// [`IdMapWriter::write`], returning the UID and GID maps as read back
    /// (as the kernel applied them).
    pub(crate) fn write_and_read_back(
        &self,
        uid_map: &IdMap,
        gid_map: &IdMap,
    ) -> Result<(IdMap, IdMap), IdMapWriteError> {
        let uid_read = self.write_one(IdMapKind::Uid, uid_map)?;
        if self.setgroups.denies(rustix::process::geteuid().is_root()) {
            self.deny_setgroups()?;
        }
        let gid_read = self.write_one(IdMapKind::Gid, gid_map)?;
        Ok((uid_read, gid_read))
    }

    /// Writes one map in one `write(2)` and reads it back. Does not touch
    /// `setgroups`: for `gid_map`, an unprivileged writer must call
    /// [`IdMapWriter::deny_setgroups`] first.
    pub fn write_map(&self, kind: IdMapKind, map: &IdMap) -> Result<(), IdMapWriteError> {
        self.write_one(kind, map).map(drop)
    }

    /// [`IdMapWriter::write_map`], returning the map as read back.
    fn write_one(&self, kind: IdMapKind, map: &IdMap) -> Result<IdMap, IdMapWriteError> {
        let pid = self.pid;
        let file = proc_id_map_path(Some(pid), kind);
        if map.is_empty() {
            return Err(IdMapWriteError::EmptyMap { pid, kind, file });
        }
        let text = map.render_for_write();
        let fd = rustix::fs::open(&file, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty()).map_err(
            |error| IdMapWriteError::Open {
                pid,
                file: file.clone(),
                errno: errno(error),
            },
        )?;
        let written = retry_on_intr(|| rustix::io::write(&fd, text.as_bytes()));
        drop(fd);
        match written {
            Ok(count) if count == text.len() => {}
            Ok(count) => {
                return Err(IdMapWriteError::ShortWrite {
                    pid,
                    file,
                    written: count,
                    len: text.len(),
                });
            }
            Err(error) => {
                let errno = errno(error);
                let (culprit, diagnosis) = diagnose(pid, kind, map, &text, errno);
                return Err(IdMapWriteError::Write {
                    pid,
                    kind,
                    file,
                    errno,
                    culprit,
                    diagnosis,
                });
            }
        }
        let read = read_process_id_map(pid, kind).map_err(|source| IdMapWriteError::ReadBack {
            pid,
            kind,
            source,
        })?;
        if !read.same_extents(map) {
            return Err(IdMapWriteError::Mismatch {
                pid,
                kind,
                file,
                written: map.clone(),
                read,
            });
        }
        Ok(read)
    }

    /// Writes `deny` to `/proc/<pid>/setgroups` in one `write(2)`.
    pub fn deny_setgroups(&self) -> Result<(), IdMapWriteError> {
        let pid = self.pid;
        let file = PathBuf::from(format!("/proc/{pid}/setgroups"));
        let fail = |error| IdMapWriteError::Setgroups {
            pid,
            file: file.clone(),
            errno: errno(error),
        };
        let fd = rustix::fs::open(&file, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(fail)?;
        match retry_on_intr(|| rustix::io::write(&fd, b"deny")) {
            Ok(4) => Ok(()),
            Ok(_) => Err(fail(rustix::io::Errno::IO)),
            Err(error) => Err(fail(error)),
        }
    }
}

/// The extent most likely at fault for a refused write, and what to do.
fn diagnose(
    pid: u32,
    kind: IdMapKind,
    map: &IdMap,
    text: &str,
    errno: Errno,
) -> (Option<FaultyExtent>, String) {
    if errno != Errno::EPERM && errno != Errno::EINVAL {
        return (None, "the kernel refused the map".to_owned());
    }
    let own_file = proc_id_map_path(None, kind);
    let parent = read_own_id_map(kind)
        .ok()
        .filter(|parent| !parent.is_empty());
    if let Some((parent, (line, extent))) = parent
        .as_ref()
        .and_then(|parent| Some((parent, map.first_extent_outside(parent)?)))
    {
        let culprit = FaultyExtent { line, extent };
        let diagnosis = format!(
            "{culprit} maps outside IDs {}-{}, which do not lie inside ONE extent of this \
             process's {kind} map ({}: `{}`); the kernel needs each extent inside one parent \
             extent: split the map against the parent's (podns idmap split) and request only \
             IDs it maps",
            extent.outside,
            extent.outside_end() - 1,
            own_file.display(),
            parent.one_line(),
        );
        return (Some(culprit), diagnosis);
    }
    if errno == Errno::EINVAL && text.len() >= 4096 {
        return (
            None,
            format!(
                "the map is {} bytes in {} extents; the kernel refuses a write of a page (4096 \
                 bytes on most systems) or more: use fewer extents",
                text.len(),
                map.len()
            ),
        );
    }
    if errno == Errno::EPERM {
        if read_process_id_map(pid, kind).is_ok_and(|current| !current.is_empty()) {
            return (
                None,
                format!(
                    "the {kind} map of process {pid} is already written, and a map can be written \
                     only once"
                ),
            );
        }
        let euid = rustix::process::geteuid();
        if !euid.is_root() {
            let setgroups = match kind {
                IdMapKind::Gid => ", and gid_map only after \"deny\" is written to setgroups",
                IdMapKind::Uid => "",
            };
            return (
                None,
                format!(
                    "this process (effective UID {}) is not root: without CAP_SETUID and \
                     CAP_SETGID in the parent user namespace the kernel accepts only one extent \
                     of count 1 mapping the writer's own ID{setgroups}; use newuidmap/newgidmap \
                     or run as root",
                    euid.as_raw()
                ),
            );
        }
        return (
            None,
            format!(
                "every extent lies inside this process's {kind} map, so the writer probably \
                 lacks the capability in the parent namespace of process {pid}, or is not in \
                 that parent namespace"
            ),
        );
    }
    (
        None,
        "the kernel found the map invalid (overlapping, zero-length or out-of-range extents)"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setgroups_policy() {
        assert!(SetgroupsPolicy::Auto.denies(false));
        assert!(!SetgroupsPolicy::Auto.denies(true));
        assert!(SetgroupsPolicy::Deny.denies(true));
        assert!(!SetgroupsPolicy::Leave.denies(false));
    }

    #[test]
    fn an_empty_map_is_refused_before_any_syscall() {
        let error = IdMapWriter::new(1)
            .write_map(IdMapKind::Uid, &IdMap::default())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "refusing to write an empty UID map to /proc/1/uid_map (process 1): map at least one ID"
        );
    }

    #[test]
    fn a_missing_process_is_named() {
        // Pid 0 never names a process in /proc.
        let map = IdMap::parse("0 0 1").unwrap();
        let error = IdMapWriter::new(0).write(&map, &map).unwrap_err();
        assert!(
            matches!(error, IdMapWriteError::Open { pid: 0, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("/proc/0/uid_map"), "{error}");
    }

    #[test]
    fn our_own_written_map_cannot_be_written_again() {
        // This process's uid_map is always written already: EPERM, with the
        // reason named (or, outside the initial namespace, the first extent
        // not inside our own map).
        let own = read_own_id_map(IdMapKind::Uid).unwrap();
        let pid = std::process::id();
        let error = IdMapWriter::new(pid)
            .write_map(IdMapKind::Uid, &own)
            .unwrap_err();
        let IdMapWriteError::Write {
            errno, diagnosis, ..
        } = &error
        else {
            panic!("unexpected {error}");
        };
        assert_eq!(*errno, Errno::EPERM, "{error}");
        assert!(
            diagnosis.contains("already written") || diagnosis.contains("ONE extent"),
            "{error}"
        );
    }
}
