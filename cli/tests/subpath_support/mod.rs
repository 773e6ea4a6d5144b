//! Shared helpers for the subpath tests on the real kernel.
//!
//! Mount tests run in a re-run of the test binary, alone, in a private mount
//! namespace ([`crate::common::rerun_in_private_mount_namespace`]): every
//! mount the test makes lives in that namespace and dies with it, and the
//! scratch directory is a tmpfs mounted there, so even the files vanish.
//! Nothing can leak onto the machine. Not root: the test prints why it is
//! skipped and passes. Each test binary using this module also declares
//! `mod common;`.

#![allow(dead_code)]

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use podns_backend_linux::LinuxBackend;
use podns_core::{
    Backend, Effect, EffectError, FileId, HostDir, Observation, PrepareSubpath, RelPath, Root,
    RootPath, SubpathEngine, SubpathError, SubpathRequest, SubpathResponse, SubpathTarget, drive,
};
use rustix::mount::MountFlags;
use tempfile::TempDir;

use crate::common::unmount_all_below;

/// Runs `body` in a private mount namespace, with a fresh tmpfs directory.
/// `test` must be the name of the calling test function.
pub fn in_private_mount_ns(test: &str, body: impl FnOnce(&Path)) {
    if !crate::common::rerun_in_private_mount_namespace(test) {
        return;
    }
    let scratch = Scratch::new();
    body(scratch.dir.path());
}

/// A temporary directory with a tmpfs on it. Dropping it (a failed test
/// included) detaches every mount below it first, so that the empty
/// directory underneath can be removed.
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Self {
        let dir = TempDir::new().expect("a scratch directory");
        rustix::mount::mount("podns-test", dir.path(), "tmpfs", MountFlags::empty(), None)
            .expect("mount a tmpfs on the scratch directory");
        Self { dir }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        unmount_all_below(self.dir.path());
    }
}

/// A tmpfs-backed layout: `<scratch>/volume`, `<scratch>/pod`,
/// `<scratch>/outside` (with a marker file a bad mount would expose).
pub struct Layout {
    pub volume: PathBuf,
    pub pod: PathBuf,
    pub outside: PathBuf,
}

impl Layout {
    pub fn new(scratch: &Path) -> Self {
        let layout = Self {
            volume: scratch.join("volume"),
            pod: scratch.join("pod"),
            outside: scratch.join("outside"),
        };
        for dir in [&layout.volume, &layout.pod, &layout.outside] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(layout.outside.join("secret"), b"outside").unwrap();
        layout
    }

    pub fn backend(&self, walk: bool, proc_fd_bind: bool) -> LinuxBackend {
        let mut backend = LinuxBackend::open_for_subpaths(&self.volume, &self.pod).unwrap();
        backend.set_force_walk(walk);
        backend.set_force_proc_fd_bind(proc_fd_bind);
        backend
    }

    pub fn host_dir(&self) -> HostDir {
        HostDir::parse(self.pod.to_str().unwrap()).unwrap()
    }

    pub fn prepare(
        &self,
        backend: &mut LinuxBackend,
        subpath: &str,
        container: &str,
        index: &str,
    ) -> Result<SubpathResponse, SubpathError> {
        let request = SubpathRequest::Prepare(PrepareSubpath {
            subpath: podns_core::parse_subpath(subpath).expect("a lexically valid subpath"),
            target: SubpathTarget::new("vol", container, index).unwrap(),
            pod_dir: self.host_dir(),
            idmap: None,
        });
        pollster::block_on(drive(&mut SubpathEngine::new(), backend, request))
    }

    pub fn clean(
        &self,
        backend: &mut LinuxBackend,
        volume: &str,
    ) -> Result<SubpathResponse, SubpathError> {
        let request = SubpathRequest::Clean(podns_core::CleanSubpaths {
            volume: podns_core::SubpathName::new(podns_core::SubpathNameField::Volume, volume)
                .unwrap(),
            pod_dir: self.host_dir(),
        });
        pollster::block_on(drive(&mut SubpathEngine::new(), backend, request))
    }
}

/// `(st_dev, st_ino)` of `path`, following symlinks.
pub fn id_of(path: &Path) -> FileId {
    let stat = rustix::fs::stat(path).unwrap();
    FileId {
        dev: stat.st_dev,
        ino: stat.st_ino,
    }
}

/// Executes one effect.
pub fn execute(backend: &mut LinuxBackend, effect: &Effect) -> Result<Observation, EffectError> {
    pollster::block_on(backend.execute(effect))
}

pub fn rel(root: Root, text: &str) -> RootPath {
    RootPath {
        root,
        path: RelPath::parse(text).unwrap(),
    }
}

/// Builds a volume fixture below `root`: `d:path` a directory, `f:path` a
/// file holding `inside`, `l:path>target` a symlink, `p:path` a FIFO,
/// `s:path` a socket (alive as long as the returned listeners).
pub fn plant_tree(root: &Path, spec: &[&str]) -> Vec<UnixListener> {
    let mut sockets = Vec::new();
    for item in spec {
        let (kind, rest) = item.split_once(':').unwrap();
        let (path, target) = rest.split_once('>').unwrap_or((rest, ""));
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        match kind {
            "d" => std::fs::create_dir_all(&full).unwrap(),
            "f" => std::fs::write(&full, b"inside").unwrap(),
            "l" => std::os::unix::fs::symlink(target, &full).unwrap(),
            "p" => crate::common::mkfifo(&full),
            "s" => sockets.push(UnixListener::bind(&full).unwrap()),
            other => panic!("unknown kind {other}"),
        }
    }
    sockets
}
