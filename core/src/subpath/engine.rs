//! [`SubpathEngine`]: the state machine that decides every subpath mount and
//! cleanup.

use super::ops::{ActiveOp, CleanOp, MakeDirOp, PrepareOp};
use super::request::{SubpathError, SubpathRequest, SubpathResponse};
use crate::effect::{Effect, Outcome};
use crate::path::RootLabels;
use crate::request_slot::RequestSlot;

/// The subpath mount engine. It performs no I/O: it hands out [`Effect`]s and
/// is told their [`Outcome`]s.
///
/// # Methods, by group
/// - Construction: [`SubpathEngine::new`], [`SubpathEngine::set_root_labels`].
/// - Commands: [`SubpathEngine::submit`] starts a [`SubpathRequest`].
/// - Driving: [`SubpathEngine::poll_effect`] returns the next effect;
///   [`SubpathEngine::handle_outcome`] takes its result.
/// - Completion: [`SubpathEngine::poll_completion`].
///
/// It follows the [`crate::Engine`] contract. What differs: its effects
/// need a backend whose [`crate::Root::Volume`] and [`crate::Root::PodDir`]
/// are open, and there is no recovery step: the kernel's mount table and
/// the directory tree are read afresh by each request, so a request after a
/// crash sees whatever the crash left.
#[derive(Debug, Clone, Default)]
pub struct SubpathEngine {
    labels: RootLabels,
    request: RequestSlot<ActiveOp, SubpathResponse, SubpathError>,
}

impl SubpathEngine {
    /// An idle engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the roots in every message with `labels` (the real directories).
    pub fn set_root_labels(&mut self, labels: RootLabels) {
        self.labels = labels;
    }

    /// Starts `request`; its result comes from
    /// [`SubpathEngine::poll_completion`] once [`SubpathEngine::poll_effect`]
    /// returns `None`.
    pub fn submit(&mut self, request: SubpathRequest) -> Result<(), SubpathError> {
        if self.request.is_busy() {
            return Err(SubpathError::Busy);
        }
        self.request.start(match request {
            SubpathRequest::Prepare(prepare) => ActiveOp::Prepare(PrepareOp::new(prepare)),
            SubpathRequest::Clean(clean) => ActiveOp::Clean(CleanOp::new(clean)),
            SubpathRequest::MakeDir(make) => ActiveOp::MakeDir(MakeDirOp::new(make)),
        });
        Ok(())
    }

    /// The next effect to execute, or `None` when the request is complete (or
    /// while the previous effect's outcome has not been handed back).
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.request.poll(ActiveOp::poll)
    }

    /// The outcome of the effect last returned by
    /// [`SubpathEngine::poll_effect`]. Ignored when none is outstanding.
    pub fn handle_outcome(&mut self, outcome: Outcome) {
        self.request
            .handle(outcome, |op, outcome| op.handle(&self.labels, outcome));
    }

    /// The result of the submitted request, once it is complete.
    pub fn poll_completion(&mut self) -> Option<Result<SubpathResponse, SubpathError>> {
        self.request.poll_completion()
    }
}

crate::driver::impl_engine!(SubpathEngine, SubpathRequest, SubpathResponse, SubpathError);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::{EffectError, EntryKind, Errno, FileId, InodeInfo, Observation};
    use crate::path::{RelPath, Root, RootPath};
    use crate::subpath::{HostDir, PrepareSubpath, SubpathTarget};

    fn prepare() -> SubpathRequest {
        SubpathRequest::Prepare(PrepareSubpath {
            subpath: RelPath::parse("data").unwrap(),
            target: SubpathTarget::new("v", "c", "0").unwrap(),
            pod_dir: HostDir::parse("/pods/p").unwrap(),
            idmap: None,
        })
    }

    fn dir(ino: u64) -> Observation {
        Observation::Inode(InodeInfo {
            id: FileId { dev: 1, ino },
            kind: EntryKind::Directory,
            mode: 0o755,
        })
    }

    const MOUNTED: &[u8] = b"1 0 0:1 / / rw - ext4 /dev/vda rw\n\
                             7 1 0:1 /other /pods/p/volume-subpaths/v/c/0 rw - ext4 /dev/vda rw\n";

    /// Answers each effect with `answer` and returns the effects seen.
    fn run(
        engine: &mut SubpathEngine,
        mut answer: impl FnMut(&Effect) -> Outcome,
    ) -> (Vec<Effect>, Result<SubpathResponse, SubpathError>) {
        let mut seen = Vec::new();
        while let Some(effect) = engine.poll_effect() {
            assert!(seen.len() < 100, "the engine does not stop: {seen:?}");
            let outcome = answer(&effect);
            seen.push(effect);
            engine.handle_outcome(outcome);
        }
        (seen, engine.poll_completion().expect("complete"))
    }

    #[test]
    fn one_request_at_a_time() {
        let mut engine = SubpathEngine::new();
        engine.submit(prepare()).unwrap();
        assert_eq!(engine.submit(prepare()), Err(SubpathError::Busy));
        assert!(engine.poll_effect().is_some());
    }

    #[test]
    fn a_mount_point_that_stays_mounted_is_given_up_on() {
        let mut engine = SubpathEngine::new();
        engine.submit(prepare()).unwrap();
        let (seen, result) = run(&mut engine, |effect| match effect {
            Effect::StatBeneath { .. } => Ok(dir(5)),
            Effect::ReadMountInfo => Ok(Observation::Contents(MOUNTED.to_vec())),
            Effect::StatNoFollow { .. } => Ok(dir(6)),
            Effect::Unmount { .. } => Ok(Observation::Done),
            other => panic!("unexpected {other}"),
        });
        let unmounts = seen
            .iter()
            .filter(|effect| matches!(effect, Effect::Unmount { .. }))
            .count();
        assert_eq!(unmounts, 8);
        assert!(
            matches!(result, Err(SubpathError::StackedMounts { count: 8, .. })),
            "{result:?}"
        );
    }

    #[test]
    fn a_symlink_swapped_in_before_the_bind_is_refused_and_rolled_back() {
        let mut engine = SubpathEngine::new();
        engine.submit(prepare()).unwrap();
        let (seen, result) = run(&mut engine, |effect| match effect {
            Effect::StatBeneath { .. } => Ok(dir(5)),
            Effect::ReadMountInfo => {
                Ok(Observation::Contents(b"1 0 0:1 / / rw - a b c\n".to_vec()))
            }
            Effect::MakeDirBeneath { .. } | Effect::CreateDir { .. } => {
                Ok(Observation::DirCreated { created: true })
            }
            Effect::BindMount { .. } => Err(EffectError::new(Errno::EXDEV, "openat2")),
            Effect::RemoveDir { .. } => Ok(Observation::Done),
            other => panic!("unexpected {other}"),
        });
        let pod = |text: &str| RootPath {
            root: Root::PodDir,
            path: RelPath::parse(text).unwrap(),
        };
        assert_eq!(
            seen[4..],
            [
                Effect::BindMount {
                    source: RootPath {
                        root: Root::Volume,
                        path: RelPath::parse("data").unwrap()
                    },
                    target: pod("volume-subpaths/v/c/0"),
                    expect: FileId { dev: 1, ino: 5 },
                    idmap: None,
                },
                Effect::RemoveDir {
                    dir: pod("volume-subpaths/v/c/0")
                },
                Effect::RemoveDir {
                    dir: pod("volume-subpaths/v/c")
                },
                Effect::RemoveDir {
                    dir: pod("volume-subpaths/v")
                },
                Effect::RemoveDir {
                    dir: pod("volume-subpaths")
                },
            ]
        );
        assert!(
            matches!(
                result,
                Err(SubpathError::Unsafe {
                    errno: Errno::EXDEV,
                    ..
                })
            ),
            "{result:?}"
        );
    }

    #[test]
    fn an_answer_of_the_wrong_shape_is_an_internal_error() {
        let mut engine = SubpathEngine::new();
        engine.submit(prepare()).unwrap();
        let (_, result) = run(&mut engine, |_| Ok(Observation::Done));
        assert_eq!(
            crate::ErrorDetails::kind(&result.unwrap_err()),
            "backend-bug"
        );
    }
}
