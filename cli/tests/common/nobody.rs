//! Running podns as `nobody`: the one way the command-line tests run it as
//! an unprivileged user (`setpriv` from util-linux, from root).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::{PODNS, podns_command_at};

/// The UID and GID of `nobody`.
pub const NOBODY: u32 = 65534;

/// A way to run podns as nobody.
#[derive(Debug)]
pub struct Nobody {
    podns: PathBuf,
    _copy: Option<TempDir>,
}

impl Nobody {
    /// Ready to run podns as nobody; `Err` names why this process cannot
    /// (it is not root, so it cannot switch users). Without `setpriv` the
    /// test fails: util-linux is part of every supported set-up.
    pub fn new() -> Result<Self, String> {
        if !rustix::process::geteuid().is_root() {
            return Err("switching to nobody needs root; run the tests as root".to_owned());
        }
        assert!(
            which("setpriv").is_some(),
            "setpriv(1) is missing: install util-linux"
        );
        let (podns, copy) = world_executable(Path::new(PODNS));
        Ok(Self { podns, _copy: copy })
    }

    /// `setpriv ... -- podns args...` as nobody (no supplementary group),
    /// not started.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut command = podns_command_at(
            Path::new("setpriv"),
            &[
                format!("--reuid={NOBODY}"),
                format!("--regid={NOBODY}"),
                "--clear-groups".to_owned(),
                "--".to_owned(),
            ],
        );
        command.arg(&self.podns).args(args);
        command
    }
}

/// `exe`, or a world-executable copy of it when some directory on its path
/// is not executable by "others" (as another user, or as host root unmapped
/// in a user namespace, only the "other" bits count). The second value keeps
/// the copy's directory alive.
pub fn world_executable(exe: &Path) -> (PathBuf, Option<TempDir>) {
    let others_may_execute = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0)
    };
    if exe.ancestors().all(others_may_execute) {
        return (exe.to_owned(), None);
    }
    let dir = TempDir::new().expect("temporary directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join(exe.file_name().expect("file name"));
    std::fs::copy(exe, &copy).expect("copy the binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        copy.ancestors().all(others_may_execute),
        "{} is not executable by others even as a copy in {}; set TMPDIR to a world-executable \
         directory",
        exe.display(),
        dir.path().display()
    );
    (copy, Some(dir))
}

/// The first `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}
