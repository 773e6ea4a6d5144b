//! What the subpath engine is asked, what it answers, and how it fails.

use super::lexical::HostDir;
use super::names::{SubpathName, SubpathTarget};
use crate::effect::{EffectError, Errno, IdmapWith, InodeInfo};
use crate::error_details::{ErrorDetails, serialize_as_error_details};
use crate::mountinfo::MountInfoError;
use crate::path::{RelPath, RootPath};

/// One request to [`super::SubpathEngine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubpathRequest {
    /// Bind-mount a volume subpath on its mount point below the pod
    /// directory, or find it already mounted there.
    Prepare(PrepareSubpath),
    /// Unmount and remove every subpath mount point of one volume of a pod.
    Clean(CleanSubpaths),
    /// Create a directory and its missing parents below a base directory
    /// ([`crate::Root::Volume`]), as kubelet's `SafeMakeDir` does.
    MakeDir(MakeDir),
}

/// Create `dir` below the base directory held as [`crate::Root::Volume`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeDir {
    /// The directory, relative to the base.
    pub dir: RelPath,
    /// Its mode, applied exactly (setgid, setuid and sticky bits included,
    /// no umask) to each directory created.
    pub mode: u32,
}

/// Mount `subpath` of the volume ([`crate::Root::Volume`]) on `target` below
/// the pod directory ([`crate::Root::PodDir`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareSubpath {
    /// The subpath, lexically clean (see [`super::parse_subpath`]).
    pub subpath: RelPath,
    /// The mount point's names.
    pub target: SubpathTarget,
    /// The pod directory's real absolute path: mounts are found in the mount
    /// table by it.
    pub pod_dir: HostDir,
    /// The user namespace to idmap the mount with (a pod's pin, which
    /// [`crate::NodeRequest::MountIdmappedSubpath`] finds), or `None` for a
    /// plain bind mount. An idmapped request replaces any mount already in
    /// place (the mount table does not say with which namespace a mount is
    /// idmapped); a plain one keeps a plain mount of the same file.
    pub idmap: Option<IdmapWith>,
}

/// Remove every mount point below `volume-subpaths/<volume>` of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanSubpaths {
    /// The volume.
    pub volume: SubpathName,
    /// The pod directory's real absolute path.
    pub pod_dir: HostDir,
}

/// The result of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubpathResponse {
    /// The subpath is mounted.
    Prepared(PreparedSubpath),
    /// What a clean did and could not do.
    Cleaned(SubpathCleanReport),
    /// The directory exists; `created` is false when it already did.
    MadeDir {
        /// True when the last component was created by this request.
        created: bool,
    },
}

/// A subpath mount that is in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedSubpath {
    /// The mount point, below [`crate::Root::PodDir`].
    pub target: RootPath,
    /// The mount point's absolute path: what a runtime gives the container.
    pub host_path: String,
    /// The mounted file, as resolved in the volume.
    pub source: InodeInfo,
    /// True when the same file was already mounted there and nothing was
    /// done.
    pub already_mounted: bool,
    /// The user namespace the mount is idmapped with, or `None` for a
    /// plain bind mount.
    pub idmapped: Option<IdmapWith>,
    /// How many mounts of another file were removed from the mount point
    /// first.
    pub replaced_mounts: u32,
}

/// What [`SubpathRequest::Clean`] did. A clean never stops at the first
/// problem: it does everything it safely can and lists the rest in `kept`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubpathCleanReport {
    /// Mount points unmounted, in order (a stacked one appears once per
    /// mount).
    pub unmounted: Vec<RootPath>,
    /// Entries removed, children before their directories.
    pub removed: Vec<RootPath>,
    /// Entries left in place, with the reason.
    pub kept: Vec<KeptPath>,
}

impl SubpathCleanReport {
    /// True when nothing was left behind.
    pub fn is_complete(&self) -> bool {
        self.kept.is_empty()
    }
}

/// An entry a clean could not remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPath {
    /// The entry.
    pub path: RootPath,
    /// The entry with its root's real directory.
    pub shown: String,
    /// Why it is still there.
    pub error: EffectError,
}

/// Why a subpath request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubpathError {
    /// A request was submitted while another was running.
    #[error("a subpath request is already running; wait for its result before submitting another")]
    Busy,
    /// The subpath leads out of the volume (a symlink to an outside path, or
    /// a magic link); nothing was mounted.
    #[error(
        "refusing to mount subpath {shown}: it {why} ({errno}); nothing was mounted; remove or \
         fix that symlink in the volume"
    )]
    Unsafe {
        /// The subpath, below [`crate::Root::Volume`].
        path: RootPath,
        /// The subpath with the volume's real directory.
        shown: String,
        /// `EXDEV` or `ELOOP`.
        errno: Errno,
        /// What that errno means here.
        why: &'static str,
    },
    /// The subpath does not exist in the volume.
    #[error(
        "subpath {shown} does not exist ({source}); create it in the volume first, or fix the \
         subpath"
    )]
    Missing {
        /// The subpath, below [`crate::Root::Volume`].
        path: RootPath,
        /// The subpath with the volume's real directory.
        shown: String,
        /// What the backend reported.
        source: EffectError,
    },
    /// A step failed.
    #[error("cannot {action} {shown}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path it was done to.
        path: RootPath,
        /// The path with its root's real directory.
        shown: String,
        /// What the backend reported.
        source: EffectError,
    },
    /// The mount table could not be parsed, so no mount decision was made.
    #[error(
        "cannot parse /proc/self/mountinfo: {source}; podns decides what to mount and unmount \
         only from a table it fully understands, so it changed nothing"
    )]
    MountInfo {
        /// The first bad line.
        source: MountInfoError,
    },
    /// The volume's file system, the kernel or this process's privileges
    /// do not allow an idmapped mount; nothing was mounted.
    #[error("cannot make an idmapped mount of {shown}: {source}; nothing was mounted; {remedy}")]
    NotIdmappable {
        /// The subpath, below [`crate::Root::Volume`].
        path: RootPath,
        /// The subpath with the volume's real directory.
        shown: String,
        /// What the backend reported (it names the file system type).
        source: EffectError,
        /// What to do, for that errno (and what became of a mount that was
        /// there before).
        remedy: String,
    },
    /// A mount point kept having other mounts on it.
    #[error(
        "{shown} still has a mount of another file after {count} unmounts; something keeps \
         mounting there: stop it, then unmount it by hand (umount {shown}) and retry"
    )]
    StackedMounts {
        /// The mount point.
        path: RootPath,
        /// The mount point with the pod directory's real path.
        shown: String,
        /// How many mounts were removed.
        count: u32,
    },
    /// The driver broke the driving contract.
    #[error(transparent)]
    Driving(#[from] crate::op_error::DrivingError),
    /// The backend answered an effect with an observation it never returns.
    #[error(
        "the backend answered {effect} with {got}, which that effect never returns; this is a \
         backend bug, please report it"
    )]
    UnexpectedObservation {
        /// The effect's name.
        effect: &'static str,
        /// What came back.
        got: String,
    },
}

impl ErrorDetails for SubpathError {
    fn kind(&self) -> &'static str {
        match self {
            SubpathError::Busy => "busy",
            SubpathError::Unsafe { .. } => "unsafe-subpath",
            SubpathError::Missing { .. } => "missing-subpath",
            SubpathError::Io { .. } => "io",
            SubpathError::MountInfo { .. } => "bad-mountinfo",
            SubpathError::NotIdmappable { .. } => "not-idmappable",
            SubpathError::StackedMounts { .. } => "stacked-mounts",
            SubpathError::UnexpectedObservation { .. } => "backend-bug",
            SubpathError::Driving(_) => "driving-error",
        }
    }

    fn errno(&self) -> Option<Errno> {
        match self {
            SubpathError::Unsafe { errno, .. } => Some(*errno),
            SubpathError::Missing { source, .. }
            | SubpathError::Io { source, .. }
            | SubpathError::NotIdmappable { source, .. } => Some(source.errno),
            _ => None,
        }
    }

    fn path(&self) -> Option<&str> {
        match self {
            SubpathError::Unsafe { shown, .. }
            | SubpathError::Missing { shown, .. }
            | SubpathError::Io { shown, .. }
            | SubpathError::NotIdmappable { shown, .. }
            | SubpathError::StackedMounts { shown, .. } => Some(shown),
            _ => None,
        }
    }
}

serialize_as_error_details!(SubpathError);
crate::op_error::op_error_variants!(SubpathError);
