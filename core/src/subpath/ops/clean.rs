//! Clean: unmount and remove every mount point of one volume of a pod.
//!
//! ```text
//! read-mount-info                          the mounts below volume-subpaths/<volume>
//! unmount <mount point>                    each one, deepest first, once per stacked mount
//! list-dir volume-subpaths/<volume>        the container directories
//!   list-dir .../<container>               its mount points
//!     remove-dir | remove-file .../<index> never recursive, never through a symlink
//!   remove-dir .../<container>
//! remove-dir volume-subpaths/<volume>
//! remove-dir volume-subpaths               only if empty: other volumes may be there
//! ```
//!
//! Every path is below [`crate::Root::PodDir`], so nothing outside the pod
//! directory can be touched, and the mount table is matched component by
//! component against the pod directory's real path. Removal is bottom-up and
//! stops going up at the first directory that cannot be removed: a
//! non-empty or still-mounted entry is reported in
//! [`SubpathCleanReport::kept`], and its parents are not tried, since they
//! cannot be empty. Nothing is ever removed recursively, so a mount point
//! whose unmount failed never has the volume's files deleted through it.

use std::collections::VecDeque;

use super::super::lexical::{HostDir, is_within};
use super::super::mount_table::MountsBelow;
use super::super::names::{VOLUME_SUBPATHS_DIR, volume_subpaths_dir};
use super::super::request::{CleanSubpaths, KeptPath, SubpathCleanReport, SubpathResponse};
use super::{Handled, Step, fail, unexpected};
use crate::effect::{DirEntry, Effect, EffectError, EntryKind, Errno, Observation, Outcome};
use crate::op_error::DrivingError;
use crate::path::{Root, RootLabels, RootPath};

#[derive(Debug, Clone)]
enum Task {
    ReadMounts,
    Unmount(RootPath),
    ListVolumeDir,
    ListContainerDir(RootPath),
    Remove {
        path: RootPath,
        kind: EntryKind,
    },
    /// `volume-subpaths` itself: left in place without complaint when other
    /// volumes still have mount points in it.
    RemoveSubpathsDir,
}

#[derive(Debug, Clone)]
pub(crate) struct CleanOp {
    volume_dir: RootPath,
    pod_dir: HostDir,
    tasks: VecDeque<Task>,
    report: SubpathCleanReport,
    /// Paths that could not be removed or unmounted: they and their parents
    /// are left alone.
    blocked: Vec<RootPath>,
}

impl CleanOp {
    pub fn new(request: CleanSubpaths) -> Self {
        let CleanSubpaths { volume, pod_dir } = request;
        Self {
            volume_dir: volume_subpaths_dir(&volume),
            pod_dir,
            tasks: VecDeque::from([Task::ReadMounts]),
            report: SubpathCleanReport::default(),
            blocked: Vec::new(),
        }
    }

    pub fn poll(&mut self) -> Step {
        loop {
            let Some(task) = self.tasks.front() else {
                return Step::Finish(Ok(SubpathResponse::Cleaned(std::mem::take(
                    &mut self.report,
                ))));
            };
            let effect = match task {
                Task::ReadMounts => Effect::ReadMountInfo,
                Task::Unmount(target) => Effect::Unmount {
                    target: target.clone(),
                },
                Task::ListVolumeDir => Effect::ListDir {
                    dir: self.volume_dir.clone(),
                },
                Task::ListContainerDir(dir) => Effect::ListDir { dir: dir.clone() },
                Task::Remove { path, kind } => {
                    if self.is_blocked(path) {
                        self.tasks.pop_front();
                        continue;
                    }
                    remove(path.clone(), *kind)
                }
                Task::RemoveSubpathsDir => {
                    if self.is_blocked(&self.volume_dir) {
                        self.tasks.pop_front();
                        continue;
                    }
                    Effect::RemoveDir {
                        dir: subpaths_dir(),
                    }
                }
            };
            return Step::Run(effect);
        }
    }

    pub fn handle(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        // `poll` issues an effect only for the task at the front.
        let Some(task) = self.tasks.pop_front() else {
            return fail(DrivingError.into());
        };
        match task {
            Task::ReadMounts => return self.after_read_mounts(labels, outcome),
            Task::Unmount(target) => match outcome {
                Ok(_) => self.report.unmounted.push(target),
                // Already unmounted (the table was a snapshot), or gone.
                Err(error) if error.is_not_mounted() => {}
                Err(error) => self.keep(labels, target, error),
            },
            Task::ListVolumeDir => match outcome {
                Ok(Observation::Listing(entries)) => self.plan_volume_dir(entries),
                // Nothing was ever mounted for this volume.
                Err(error) if error.is_not_found() => {}
                Ok(other) => return fail(unexpected("list-dir", &other)),
                Err(error) => self.keep(labels, self.volume_dir.clone(), error),
            },
            Task::ListContainerDir(dir) => match outcome {
                Ok(Observation::Listing(entries)) => self.plan_container_dir(&dir, entries),
                Err(error) if error.is_not_found() => {}
                Ok(other) => return fail(unexpected("list-dir", &other)),
                Err(error) => self.keep(labels, dir, error),
            },
            Task::Remove { path, .. } => match outcome {
                Ok(Observation::FileRemoved { existed: false }) => {}
                Ok(_) => self.report.removed.push(path),
                Err(error) if error.is_not_found() => {}
                Err(error) => self.keep(labels, path, error),
            },
            Task::RemoveSubpathsDir => match outcome {
                Ok(_) => self.report.removed.push(subpaths_dir()),
                // Other volumes' mount points are still there, or it is gone.
                Err(error) if matches!(error.errno, Errno::ENOTEMPTY | Errno::EEXIST) => {}
                Err(error) if error.is_not_found() => {}
                Err(error) => self.keep(labels, subpaths_dir(), error),
            },
        }
        Handled::Continue
    }

    fn after_read_mounts(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        let read = MountsBelow::from_outcome(outcome, &self.pod_dir, labels, &self.volume_dir);
        let mounts = match read {
            Ok(mounts) => mounts,
            Err(error) => return fail(error),
        };
        for point in mounts.strictly_below(&self.volume_dir.path) {
            self.tasks.push_back(Task::Unmount(RootPath {
                root: Root::PodDir,
                path: point,
            }));
        }
        self.tasks.push_back(Task::ListVolumeDir);
        self.tasks.push_back(Task::Remove {
            path: self.volume_dir.clone(),
            kind: EntryKind::Directory,
        });
        self.tasks.push_back(Task::RemoveSubpathsDir);
        Handled::Continue
    }

    /// Queues, before the removal of the volume directory, each container
    /// directory's contents and then the container directory.
    fn plan_volume_dir(&mut self, entries: Vec<DirEntry>) {
        let mut planned = Vec::new();
        for entry in sorted(entries) {
            let path = self.volume_dir.join(&entry.name);
            planned.push(match entry.kind {
                EntryKind::Directory => Task::ListContainerDir(path),
                // kubelet skips these and then fails to remove the volume
                // directory; they are podns's (or kubelet's) own entries, and
                // unlinking never follows a symlink.
                kind => Task::Remove { path, kind },
            });
        }
        self.push_front_in_order(planned);
    }

    fn plan_container_dir(&mut self, dir: &RootPath, entries: Vec<DirEntry>) {
        let mut planned: Vec<Task> = sorted(entries)
            .into_iter()
            .map(|entry| Task::Remove {
                path: dir.join(&entry.name),
                kind: entry.kind,
            })
            .collect();
        planned.push(Task::Remove {
            path: dir.clone(),
            kind: EntryKind::Directory,
        });
        self.push_front_in_order(planned);
    }

    fn push_front_in_order(&mut self, tasks: Vec<Task>) {
        for task in tasks.into_iter().rev() {
            self.tasks.push_front(task);
        }
    }

    fn keep(&mut self, labels: &RootLabels, path: RootPath, error: EffectError) {
        self.report.kept.push(KeptPath {
            shown: labels.show(&path),
            path: path.clone(),
            error,
        });
        self.blocked.push(path);
    }

    /// True when `dir` holds (or is) something that could not be removed.
    fn is_blocked(&self, dir: &RootPath) -> bool {
        self.blocked
            .iter()
            .any(|blocked| blocked.root == dir.root && is_within(&blocked.path, &dir.path))
    }
}

fn remove(path: RootPath, kind: EntryKind) -> Effect {
    match kind {
        EntryKind::Directory => Effect::RemoveDir { dir: path },
        // unlinkat removes a symlink itself, never its target.
        _ => Effect::RemoveFile { file: path },
    }
}

fn subpaths_dir() -> RootPath {
    RootPath::root(Root::PodDir).join(VOLUME_SUBPATHS_DIR)
}

fn sorted(mut entries: Vec<DirEntry>) -> Vec<DirEntry> {
    entries.sort();
    entries
}
