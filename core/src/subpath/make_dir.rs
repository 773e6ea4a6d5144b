//! kubelet's `SafeMakeDir`: create a directory and its missing parents below
//! a base directory, so that no symlink in the base can make it create
//! anything outside.
//!
//! ```text
//! make-dir-beneath <base>/<dir> mode=M    existing components resolved beneath the base
//! ```
//!
//! The base is held as [`Root::Volume`]: like a volume, its contents may have
//! been written by a container.

use super::request::{MakeDir, SubpathError, SubpathResponse};
use super::{Step, io_error, unexpected};
use crate::effect::{Effect, Errno, Observation, Outcome};
use crate::path::{Root, RootLabels, RootPath};

#[derive(Debug, Clone)]
pub(crate) struct MakeDirOp {
    dir: RootPath,
    mode: u32,
    labels: RootLabels,
    stage: Stage,
}

#[derive(Debug, Clone)]
enum Stage {
    Make,
    Finished(Option<Result<SubpathResponse, SubpathError>>),
}

impl MakeDirOp {
    pub fn new(request: MakeDir, labels: RootLabels) -> Self {
        Self {
            dir: RootPath {
                root: Root::Volume,
                path: request.dir,
            },
            mode: request.mode,
            labels,
            stage: Stage::Make,
        }
    }

    pub fn poll(&mut self) -> Step {
        match &mut self.stage {
            Stage::Make => Step::Run(Effect::MakeDirBeneath {
                dir: self.dir.clone(),
                mode: self.mode,
            }),
            Stage::Finished(result) => Step::Finish(
                result
                    .take()
                    .expect("a finished operation is polled once: the slot takes its result"),
            ),
        }
    }

    pub fn handle(&mut self, outcome: Outcome) {
        let result = match outcome {
            Ok(Observation::DirCreated { created }) => Ok(SubpathResponse::MadeDir { created }),
            Ok(other) => Err(unexpected("make-dir-beneath", &other)),
            Err(error) => Err(match error.errno {
                Errno::EXDEV | Errno::ELOOP | Errno::EEXIST => SubpathError::Unsafe {
                    shown: self.labels.show(&self.dir),
                    path: self.dir.clone(),
                    errno: error.errno,
                    why: "leads out of the base directory (an absolute or dangling symlink, \
                          '..' above the base, or a magic link)",
                },
                _ => io_error(&self.labels, "create the directory", &self.dir, error),
            }),
        };
        self.stage = Stage::Finished(Some(result));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::EffectError;
    use crate::path::RelPath;

    fn op() -> MakeDirOp {
        MakeDirOp::new(
            MakeDir {
                dir: RelPath::parse("a/b").unwrap(),
                mode: 0o2750,
            },
            RootLabels::new().with(Root::Volume, "/base"),
        )
    }

    fn finish(op: &mut MakeDirOp) -> Result<SubpathResponse, SubpathError> {
        match op.poll() {
            Step::Finish(result) => result,
            Step::Run(effect) => panic!("still running: {effect}"),
        }
    }

    #[test]
    fn one_effect_with_the_exact_mode() {
        let mut op = op();
        let Step::Run(effect) = op.poll() else {
            panic!("no effect");
        };
        assert_eq!(
            effect,
            Effect::MakeDirBeneath {
                dir: RootPath {
                    root: Root::Volume,
                    path: RelPath::parse("a/b").unwrap()
                },
                mode: 0o2750,
            }
        );
        op.handle(Ok(Observation::DirCreated { created: true }));
        assert_eq!(
            finish(&mut op),
            Ok(SubpathResponse::MadeDir { created: true })
        );
    }

    #[test]
    fn a_symlink_out_of_the_base_is_unsafe_and_other_errors_are_io() {
        for (errno, kind) in [
            (Errno::EXDEV, "unsafe-subpath"),
            (Errno::EEXIST, "unsafe-subpath"),
            (Errno::ENOTDIR, "io"),
            (Errno::EIO, "io"),
        ] {
            let mut op = op();
            op.poll();
            op.handle(Err(EffectError::new(errno, "mkdirat")));
            let error = finish(&mut op).unwrap_err();
            assert_eq!(crate::ErrorDetails::kind(&error), kind, "{errno}");
            assert_eq!(crate::ErrorDetails::errno(&error), Some(errno));
            assert_eq!(crate::ErrorDetails::path(&error), Some("/base/a/b"));
        }
    }
}
