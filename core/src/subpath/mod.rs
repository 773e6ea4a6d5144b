//! Subpath bind mounts that no symlink can escape, and their cleanup.
//!
//! A container may write anything into a volume it shares, symlinks
//! included; a later container that mounts a subpath of that volume must get
//! a file inside the volume, never the host's `/` (CVE-2017-1002101), not
//! even when the path is swapped between the check and the mount
//! (CVE-2021-25741). [`SubpathEngine`] plans a mount as effects whose paths
//! are all relative to two roots the backend holds as directory fds, the
//! volume ([`crate::Root::Volume`]) and the pod directory
//! ([`crate::Root::PodDir`]); the backend resolves the subpath below the
//! volume's fd and mounts from fd to fd, so neither a symlink nor a rename
//! can point it elsewhere.
//!
//! Mount points follow kubelet's layout,
//! `<pod-dir>/volume-subpaths/<volume>/<container>/<index>` ([`SubpathTarget`]),
//! so kubelet and podns can clean each other's mounts. The mount table comes
//! in as text and is matched against the pod directory's real path
//! ([`HostDir`]), component by component.

mod engine;
mod lexical;
mod mount_table;
mod names;
mod ops;
mod request;

pub use engine::SubpathEngine;
pub use lexical::{HostDir, InvalidHostDir, InvalidSubpath, SubpathProblem, parse_subpath};
pub use names::{
    InvalidSubpathName, SubpathName, SubpathNameField, SubpathTarget, VOLUME_SUBPATHS_DIR,
    volume_subpaths_dir,
};
pub use request::{
    CleanSubpaths, KeptPath, MakeDir, PrepareSubpath, PreparedSubpath, SubpathCleanReport,
    SubpathError, SubpathRequest, SubpathResponse,
};
