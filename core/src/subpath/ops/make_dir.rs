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

use super::super::request::{MakeDir, SubpathError, SubpathResponse};
use super::{Handled, Step, io_error, unexpected};
use crate::effect::{Effect, Errno, Observation, Outcome};
use crate::path::{Root, RootLabels, RootPath};

#[derive(Debug, Clone)]
pub(crate) struct MakeDirOp {
    dir: RootPath,
    mode: u32,
}

impl MakeDirOp {
    pub fn new(request: MakeDir) -> Self {
        Self {
            dir: RootPath {
                root: Root::Volume,
                path: request.dir,
            },
            mode: request.mode,
        }
    }

    /// Its one effect: the outcome ends it.
    pub fn poll(&mut self) -> Step {
        Step::Run(Effect::MakeDirBeneath {
            dir: self.dir.clone(),
            mode: self.mode,
        })
    }

    pub fn handle(&mut self, labels: &RootLabels, outcome: Outcome) -> Handled {
        Handled::Finish(match outcome {
            Ok(Observation::DirCreated { created }) => Ok(SubpathResponse::MadeDir { created }),
            Ok(other) => Err(unexpected("make-dir-beneath", &other)),
            Err(error) => Err(match error.errno {
                Errno::EXDEV | Errno::ELOOP | Errno::EEXIST => SubpathError::Unsafe {
                    shown: labels.show(&self.dir),
                    path: self.dir.clone(),
                    errno: error.errno,
                    why: "leads out of the base directory (an absolute or dangling symlink, \
                          '..' above the base, or a magic link)",
                },
                _ => io_error(labels, "create the directory", &self.dir, error),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::EffectError;
    use crate::op_test::run;
    use crate::path::RelPath;

    fn make(outcome: Outcome) -> crate::op_test::Run<SubpathResponse, SubpathError> {
        let op = MakeDirOp::new(MakeDir {
            dir: RelPath::parse("a/b").unwrap(),
            mode: 0o2750,
        });
        let mut labels = RootLabels::new().with(Root::Volume, "/base");
        run(
            op,
            &mut labels,
            |op, _| op.poll(),
            |op, labels, outcome| op.handle(labels, outcome),
            [outcome],
        )
    }

    #[test]
    fn one_effect_with_the_exact_mode() {
        let run = make(Ok(Observation::DirCreated { created: true }));
        assert_eq!(
            run.effects,
            [Effect::MakeDirBeneath {
                dir: RootPath {
                    root: Root::Volume,
                    path: RelPath::parse("a/b").unwrap()
                },
                mode: 0o2750,
            }]
        );
        assert_eq!(
            run.finished(),
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
            let error = make(Err(EffectError::new(errno, "mkdirat")))
                .finished()
                .unwrap_err();
            assert_eq!(crate::ErrorDetails::kind(&error), kind, "{errno}");
            assert_eq!(crate::ErrorDetails::errno(&error), Some(errno));
            assert_eq!(crate::ErrorDetails::path(&error), Some("/base/a/b"));
        }
    }
}
