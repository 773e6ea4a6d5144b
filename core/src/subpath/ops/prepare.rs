//! Prepare: bind-mount a volume subpath on its mount point, so that nothing
//! but a file inside the volume can ever be mounted there.
//!
//! ```text
//! stat-beneath <volume>/<subpath>                  what is the source? (symlinks only inside)
//! read-mount-info                                  is the mount point already mounted?
//!   stat-no-follow <target>                        yes: the same file? -> done
//!   unmount <target>, read-mount-info again        another file: remove it, look again
//! make-dir-beneath <pod-dir>/volume-subpaths/<volume>/<container> mode=750
//! create-dir <target> | create-empty-file <target> a directory for a directory, else a file
//!   (remove-dir | remove-file <target>, again)     an old mount point of the other kind
//! bind-mount <source> -> <target> expect=<id>      fd to fd, checked after mounting
//!   [idmap=<pod's user ns>]                        idmapped when asked
//!   on failure: remove the target, then its empty parents up to the pod directory
//! ```
//!
//! The source's identity from the first step is passed to `bind-mount`, which
//! refuses to mount anything else: the mount point's kind was chosen for that
//! file, and a swap between the two steps must not go unnoticed. A plain
//! mount of the same file already in place is kept for a plain request. An
//! idmapped one is never kept: the mount table says that a mount is
//! idmapped, not with which user namespace, and a pod whose namespaces were
//! made again (after its range was released and reallocated, say) must not
//! keep a mapping of IDs that may now be another pod's. It is replaced like
//! a mount of another file, as is a plain one for an idmapped request.

use std::collections::VecDeque;

use super::super::lexical::HostDir;
use super::super::mount_table::MountsBelow;
use super::super::request::{PrepareSubpath, PreparedSubpath, SubpathError, SubpathResponse};
use super::{Handled, Step, fail, io_error, unexpected};
use crate::effect::{
    Effect, EffectError, EntryKind, Errno, FileId, IdmapWith, InodeInfo, Observation, Outcome,
};
use crate::path::{Root, RootLabels, RootPath};

/// kubelet's modes for what it creates below the pod directory.
const DIR_MODE: u32 = 0o750;
const FILE_MODE: u32 = 0o640;

/// More mounts than this on one mount point means something keeps mounting
/// there; stop instead of unmounting forever.
const MAX_UNMOUNTS: u32 = 8;

#[derive(Debug, Clone)]
pub(crate) struct PrepareOp {
    source: RootPath,
    target: RootPath,
    container_dir: RootPath,
    pod_dir: HostDir,
    idmap: Option<IdmapWith>,
    stage: Stage,
    /// The source as the first step found it. Every stage after that step is
    /// reached only when it succeeded, so the initial value is never used.
    found: InodeInfo,
    unmounts: u32,
    /// An old mount point of the wrong kind was removed once already.
    replaced_kind: bool,
    /// Whether the top mount on the target, per the last mount table read,
    /// is idmapped.
    mounted_idmapped: bool,
}

#[derive(Debug, Clone)]
enum Stage {
    StatSource,
    ReadMounts,
    StatMounted,
    UnmountOther,
    MakeParents,
    CreateTarget,
    /// Remove an old mount point of the other kind, then create again.
    RemoveWrongKind(Effect),
    Bind,
    /// Undo a failed bind: the effects still to run (the first is next),
    /// then fail with the error.
    Rollback(VecDeque<Effect>, SubpathError),
}

impl PrepareOp {
    pub fn new(request: PrepareSubpath) -> Self {
        let target = request.target.path();
        Self {
            source: RootPath {
                root: Root::Volume,
                path: request.subpath,
            },
            container_dir: request.target.container_dir(),
            target,
            pod_dir: request.pod_dir,
            idmap: request.idmap,
            stage: Stage::StatSource,
            found: InodeInfo {
                id: FileId { dev: 0, ino: 0 },
                kind: EntryKind::Other,
                mode: 0,
            },
            unmounts: 0,
            replaced_kind: false,
            mounted_idmapped: false,
        }
    }

    pub fn poll(&mut self) -> Step {
        Step::Run(match &self.stage {
            Stage::StatSource => Effect::StatBeneath {
                path: self.source.clone(),
            },
            Stage::ReadMounts => Effect::ReadMountInfo,
            Stage::StatMounted => Effect::StatNoFollow {
                path: self.target.clone(),
            },
            Stage::UnmountOther => Effect::Unmount {
                target: self.target.clone(),
            },
            Stage::MakeParents => Effect::MakeDirBeneath {
                dir: self.container_dir.clone(),
                mode: DIR_MODE,
            },
            Stage::CreateTarget => match self.found.kind {
                EntryKind::Directory => Effect::CreateDir {
                    dir: self.target.clone(),
                    mode: DIR_MODE,
                },
                _ => Effect::CreateEmptyFile {
                    file: self.target.clone(),
                    mode: FILE_MODE,
                },
            },
            Stage::RemoveWrongKind(effect) => effect.clone(),
            Stage::Bind => Effect::BindMount {
                source: self.source.clone(),
                target: self.target.clone(),
                expect: self.found.id,
                idmap: self.idmap.clone(),
            },
            Stage::Rollback(effects, error) => match effects.front() {
                Some(effect) => effect.clone(),
                None => return Step::Finish(Err(error.clone())),
            },
        })
    }

    pub fn handle(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        match &mut self.stage {
            Stage::StatSource => self.after_stat_source(labels, outcome),
            Stage::ReadMounts => self.after_read_mounts(labels, outcome),
            Stage::StatMounted => self.after_stat_mounted(labels, outcome),
            Stage::UnmountOther => match outcome {
                Err(error) if error.errno != Errno::EINVAL => {
                    fail(io_error(labels, "unmount", &self.target, error))
                }
                // Unmounted, or EINVAL: nothing is mounted there any more.
                // Either way, look again.
                Ok(_) | Err(_) => {
                    self.unmounts += 1;
                    self.go(Stage::ReadMounts)
                }
            },
            Stage::MakeParents => match outcome {
                Ok(Observation::DirCreated { .. }) => self.go(Stage::CreateTarget),
                Ok(other) => fail(unexpected("make-dir-beneath", &other)),
                Err(error) => fail(io_error(
                    labels,
                    "create the directory",
                    &self.container_dir,
                    error,
                )),
            },
            Stage::CreateTarget => self.after_create_target(labels, outcome),
            Stage::RemoveWrongKind(effect) => match outcome {
                Ok(_) => {
                    self.replaced_kind = true;
                    self.go(Stage::CreateTarget)
                }
                Err(error) => fail(io_error(
                    labels,
                    "remove the old mount point",
                    &effect.subject(),
                    error,
                )),
            },
            Stage::Bind => match outcome {
                Ok(Observation::Done) => Handled::Finish(Ok(self.prepared(false))),
                Ok(other) => self.roll_back(unexpected("bind-mount", &other)),
                Err(error) => {
                    let failure = match self.unsafe_source(labels, &error) {
                        Some(failure) => failure,
                        None => match (&self.idmap, not_idmappable_remedy(error.errno)) {
                            (Some(_), Some(remedy)) => SubpathError::NotIdmappable {
                                shown: labels.show(&self.source),
                                path: self.source.clone(),
                                source: error,
                                remedy: if self.unmounts > 0 {
                                    format!(
                                        "{remedy}; the mount that was there before was removed \
                                         first: mount it again without idmapping to restore it"
                                    )
                                } else {
                                    remedy.to_owned()
                                },
                            },
                            _ => io_error(labels, "bind-mount onto", &self.target, error),
                        },
                    };
                    self.roll_back(failure)
                }
            },
            Stage::Rollback(effects, _) => {
                // The effect that ran was the first.
                effects.pop_front();
                match outcome {
                    // Already gone: go on with its parent, as kubelet does.
                    Err(failed) if failed.is_not_found() => {}
                    Ok(_) => {}
                    // Not empty, busy, or anything else: what is above it
                    // cannot be empty either; stop here.
                    Err(_) => effects.clear(),
                }
                Handled::Continue
            }
        }
    }

    fn go(&mut self, stage: Stage) -> Handled {
        self.stage = stage;
        Handled::Continue
    }

    fn after_stat_source(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        match outcome {
            Ok(Observation::Inode(found)) => {
                self.found = found;
                self.go(Stage::ReadMounts)
            }
            Ok(other) => fail(unexpected("stat-beneath", &other)),
            Err(error) if error.is_not_found() => fail(SubpathError::Missing {
                shown: labels.show(&self.source),
                path: self.source.clone(),
                source: error,
            }),
            Err(error) => fail(match self.unsafe_source(labels, &error) {
                Some(failure) => failure,
                None => io_error(labels, "resolve", &self.source, error),
            }),
        }
    }

    fn after_read_mounts(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        let mounts = match MountsBelow::from_outcome(outcome, &self.pod_dir, labels, &self.target) {
            Ok(mounts) => mounts,
            Err(error) => return fail(error),
        };
        if mounts.count_at(&self.target.path) == 0 {
            return self.go(Stage::MakeParents);
        }
        self.mounted_idmapped = mounts.top_is_idmapped(&self.target.path);
        if self.unmounts >= MAX_UNMOUNTS {
            return fail(SubpathError::StackedMounts {
                shown: labels.show(&self.target),
                path: self.target.clone(),
                count: self.unmounts,
            });
        }
        self.go(Stage::StatMounted)
    }

    fn after_stat_mounted(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        match outcome {
            Ok(Observation::Inode(mounted))
                if mounted.id == self.found.id
                    && !self.mounted_idmapped
                    && self.idmap.is_none() =>
            {
                Handled::Finish(Ok(self.prepared(true)))
            }
            Ok(Observation::Inode(_)) => self.go(Stage::UnmountOther),
            Ok(other) => fail(unexpected("stat-no-follow", &other)),
            Err(error) => fail(io_error(
                labels,
                "examine the mount point",
                &self.target,
                error,
            )),
        }
    }

    fn after_create_target(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        let error = match outcome {
            Ok(Observation::DirCreated { .. } | Observation::Done) => return self.go(Stage::Bind),
            Ok(other) => return fail(unexpected("create the mount point", &other)),
            Err(error) => error,
        };
        let wrong_kind = match (self.found.kind, error.errno) {
            // A file (or symlink, FIFO...) where the directory goes.
            (EntryKind::Directory, Errno::ENOTDIR) => Some(Effect::RemoveFile {
                file: self.target.clone(),
            }),
            // A directory where the file goes.
            (_, Errno::EISDIR) => Some(Effect::RemoveDir {
                dir: self.target.clone(),
            }),
            // A symlink, FIFO, socket or device where the file goes.
            (kind, Errno::EEXIST) if kind != EntryKind::Directory => Some(Effect::RemoveFile {
                file: self.target.clone(),
            }),
            _ => None,
        };
        match wrong_kind {
            Some(remove) if !self.replaced_kind => self.go(Stage::RemoveWrongKind(remove)),
            _ => fail(io_error(
                labels,
                "create the mount point",
                &self.target,
                error,
            )),
        }
    }

    /// The error for a source that leads out of the volume, if it does.
    fn unsafe_source(&self, labels: &RootLabels, error: &EffectError) -> Option<SubpathError> {
        let why = match error.errno {
            Errno::EXDEV => "leads out of the volume (an absolute symlink, or '..' above its root)",
            Errno::ELOOP => {
                "goes through a magic link (/proc/<pid>/fd, /proc/<pid>/root...) \
                             or more than 40 symlinks"
            }
            _ => return None,
        };
        Some(SubpathError::Unsafe {
            shown: labels.show(&self.source),
            path: self.source.clone(),
            errno: error.errno,
            why,
        })
    }

    fn prepared(&self, already_mounted: bool) -> SubpathResponse {
        SubpathResponse::Prepared(PreparedSubpath {
            target: self.target.clone(),
            host_path: self.pod_dir.join(&self.target.path),
            source: self.found,
            already_mounted,
            idmapped: self.idmap.clone(),
            replaced_mounts: self.unmounts,
        })
    }

    /// Removes what a failed bind leaves: the mount point, then each parent
    /// up to (not including) the pod directory while it is empty.
    fn roll_back(&mut self, error: SubpathError) -> Handled {
        let mut effects = VecDeque::from([match self.found.kind {
            EntryKind::Directory => Effect::RemoveDir {
                dir: self.target.clone(),
            },
            _ => Effect::RemoveFile {
                file: self.target.clone(),
            },
        }]);
        // The pod directory itself is a root, so the walk stops below it.
        let mut dir = Some(self.container_dir.clone());
        while let Some(current) = dir.filter(|current| !current.path.is_root()) {
            dir = current.parent();
            effects.push_back(Effect::RemoveDir { dir: current });
        }
        self.go(Stage::Rollback(effects, error))
    }
}

/// What to do when an idmapped bind mount failed with `errno`, for the
/// errnos that mean it cannot be idmapped here at all.
fn not_idmappable_remedy(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::EOPNOTSUPP => Some(
            "put the volume on a file system that supports idmapped mounts (ext4, xfs, btrfs, \
             tmpfs since Linux 6.3) or mount it without idmapping",
        ),
        Errno::ENOSYS => Some(
            "idmapped mounts need Linux 5.12 or later (open_tree, mount_setattr); upgrade the \
             kernel or mount it without idmapping",
        ),
        Errno::EPERM => Some(
            "this process may not make that idmapped mount: idmap only volumes whose file \
             system its user namespace owns (in a rootless namespace, one mounted inside it, \
             such as its own tmpfs), run podns with CAP_SYS_ADMIN, or mount it without \
             idmapping",
        ),
        _ => None,
    }
}
