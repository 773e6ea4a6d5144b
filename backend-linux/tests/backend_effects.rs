//! Every effect against a real temporary directory, with openat2 and with the
//! forced openat walk.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use podns_backend_linux::LinuxBackend;
use podns_core::{
    Backend, DirEntry, Effect, EffectError, EntryKind, Errno, Observation, RelPath, Root, RootPath,
};
use pollster::block_on;
use rustix::fs::{CWD, Mode};
use tempfile::TempDir;

struct Fixture {
    temp: TempDir,
    backend: LinuxBackend,
}

impl Fixture {
    /// `<temp>/pods` is the root; `<temp>/outside` is what escapes would hit.
    fn new(walk: bool) -> Self {
        let temp = TempDir::new().unwrap();
        std::fs::create_dir(temp.path().join("pods")).unwrap();
        std::fs::create_dir(temp.path().join("outside")).unwrap();
        std::fs::write(temp.path().join("outside/userns"), b"outside").unwrap();
        let mut backend = LinuxBackend::open(&temp.path().join("pods")).unwrap();
        backend.set_force_walk(walk);
        Self { temp, backend }
    }

    fn pods(&self) -> PathBuf {
        self.temp.path().join("pods")
    }

    fn outside(&self) -> PathBuf {
        self.temp.path().join("outside")
    }

    fn run(&mut self, effect: Effect) -> Result<Observation, EffectError> {
        block_on(self.backend.execute(&effect))
    }

    fn errno(&mut self, effect: Effect) -> Errno {
        let shown = format!("{effect:?}");
        self.run(effect).expect_err(&shown).errno
    }
}

fn both_modes(test: impl Fn(Fixture)) {
    for walk in [false, true] {
        test(Fixture::new(walk));
    }
}

fn path(text: &str) -> RootPath {
    RootPath {
        root: Root::Pods,
        path: RelPath::parse(text).unwrap(),
    }
}

fn read(file: &str, max_len: u64) -> Effect {
    Effect::ReadFile {
        file: path(file),
        max_len,
    }
}

fn write(file: &str, contents: &[u8]) -> Effect {
    Effect::WriteNewFile {
        file: path(file),
        mode: 0o640,
        contents: contents.to_vec(),
    }
}

fn list(dir: &str) -> Effect {
    Effect::ListDir { dir: path(dir) }
}

fn entry(name: &str, kind: EntryKind) -> DirEntry {
    DirEntry {
        name: name.to_owned(),
        kind,
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_allocation_sequence_writes_a_durable_file() {
    both_modes(|mut fx| {
        let pod = path("pod");
        assert_eq!(
            fx.run(Effect::CreateDir {
                dir: pod.clone(),
                mode: 0o750
            }),
            Ok(Observation::DirCreated { created: true })
        );
        assert_eq!(
            fx.run(Effect::CreateDir {
                dir: pod,
                mode: 0o750
            }),
            Ok(Observation::DirCreated { created: false })
        );
        assert_eq!(
            fx.run(Effect::SyncDir {
                dir: RootPath::root(Root::Pods)
            }),
            Ok(Observation::Done)
        );
        assert_eq!(
            fx.run(write("pod/userns.tmp", b"{\"uid\":65536}")),
            Ok(Observation::Done)
        );
        assert_eq!(
            fx.run(Effect::SyncFile {
                file: path("pod/userns.tmp")
            }),
            Ok(Observation::Done)
        );
        assert_eq!(
            fx.run(Effect::Rename {
                from: path("pod/userns.tmp"),
                to: path("pod/userns"),
            }),
            Ok(Observation::Done)
        );
        assert_eq!(
            fx.run(Effect::SyncDir { dir: path("pod") }),
            Ok(Observation::Done)
        );
        assert_eq!(fx.backend.fsync_count(), 3);

        assert_eq!(
            fx.run(read("pod/userns", 1024)),
            Ok(Observation::Contents(b"{\"uid\":65536}".to_vec()))
        );
        assert_eq!(
            fx.run(list("")),
            Ok(Observation::Listing(vec![entry(
                "pod",
                EntryKind::Directory
            )]))
        );
        assert_eq!(
            fx.run(list("pod")),
            Ok(Observation::Listing(vec![entry("userns", EntryKind::File)]))
        );

        let on_disk = fx.pods().join("pod/userns");
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"{\"uid\":65536}");
        let mode = std::fs::metadata(&on_disk).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o7027,
            0,
            "written with 0o640 before umask, got {mode:o}"
        );
        assert_eq!(mode & 0o600, 0o600, "got {mode:o}");
    });
}

#[test]
fn fsync_count_counts_fsync_calls() {
    both_modes(|mut fx| {
        assert_eq!(fx.backend.fsync_count(), 0);
        fx.run(write("a", b"1")).unwrap();
        fx.run(list("")).unwrap();
        fx.run(read("a", 10)).unwrap();
        assert_eq!(fx.backend.fsync_count(), 0, "reads and writes do not sync");
        fx.run(Effect::SyncFile { file: path("a") }).unwrap();
        fx.run(Effect::SyncFile { file: path("a") }).unwrap();
        fx.run(Effect::SyncDir { dir: path("") }).unwrap();
        assert_eq!(fx.backend.fsync_count(), 3);
        // An effect that fails before reaching fsync does not count.
        assert_eq!(
            fx.errno(Effect::SyncDir {
                dir: path("missing")
            }),
            Errno::ENOENT
        );
        assert_eq!(fx.backend.fsync_count(), 3);
    });
}

#[test]
fn read_file_refuses_anything_but_a_small_regular_file() {
    both_modes(|mut fx| {
        let pods = fx.pods();
        std::fs::write(pods.join("file"), b"0123456789").unwrap();
        symlink("file", pods.join("link")).unwrap();
        std::fs::create_dir(pods.join("dir")).unwrap();
        rustix::fs::mkfifoat(CWD, pods.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();

        assert_eq!(fx.errno(read("link", 100)), Errno::ELOOP);
        assert_eq!(fx.errno(read("dir", 100)), Errno::EISDIR);
        // Would block forever without O_NONBLOCK: no writer ever comes.
        assert_eq!(fx.errno(read("fifo", 100)), Errno::EINVAL);
        assert_eq!(fx.errno(read("file", 9)), Errno::EFBIG);
        assert_eq!(fx.errno(read("missing", 100)), Errno::ENOENT);
        assert_eq!(
            fx.run(read("file", 10)),
            Ok(Observation::Contents(b"0123456789".to_vec()))
        );
    });
}

#[test]
fn a_symlinked_pod_dir_is_never_followed() {
    both_modes(|mut fx| {
        let outside = fx.outside();
        symlink(&outside, fx.pods().join("pod")).unwrap();

        assert_eq!(fx.errno(read("pod/userns", 100)), Errno::ELOOP);
        assert_eq!(fx.errno(list("pod")), Errno::ELOOP);
        assert_eq!(fx.errno(write("pod/new", b"x")), Errno::ELOOP);
        assert_eq!(
            fx.errno(Effect::SyncFile {
                file: path("pod/userns")
            }),
            Errno::ELOOP
        );
        assert_eq!(fx.errno(Effect::SyncDir { dir: path("pod") }), Errno::ELOOP);
        assert_eq!(
            fx.errno(Effect::CreateDir {
                dir: path("pod/sub"),
                mode: 0o700
            }),
            Errno::ELOOP
        );
        assert_eq!(
            fx.errno(Effect::Rename {
                from: path("pod/userns"),
                to: path("pod/moved"),
            }),
            Errno::ELOOP
        );
        assert_eq!(
            fx.errno(Effect::RemoveFile {
                file: path("pod/userns")
            }),
            Errno::ELOOP
        );
        assert_eq!(
            fx.errno(Effect::RemoveDir {
                dir: path("pod/userns")
            }),
            Errno::ELOOP
        );

        assert_eq!(names_in(&outside), ["userns"]);
        assert_eq!(std::fs::read(outside.join("userns")).unwrap(), b"outside");
        assert_eq!(fx.backend.fsync_count(), 0);
    });
}

#[test]
fn a_symlink_deeper_in_the_path_is_never_followed() {
    both_modes(|mut fx| {
        std::fs::create_dir_all(fx.pods().join("a/b")).unwrap();
        symlink(fx.outside(), fx.pods().join("a/b/c")).unwrap();
        assert_eq!(fx.errno(read("a/b/c/userns", 100)), Errno::ELOOP);
        assert_eq!(fx.errno(write("a/b/c/new", b"x")), Errno::ELOOP);
        assert_eq!(fx.errno(list("a/b/c")), Errno::ELOOP);
        assert_eq!(names_in(&fx.outside()), ["userns"]);
    });
}

#[test]
fn remove_file_distinguishes_a_missing_name_from_a_missing_parent() {
    both_modes(|mut fx| {
        let pods = fx.pods();
        std::fs::create_dir(pods.join("pod")).unwrap();
        std::fs::write(pods.join("pod/userns"), b"x").unwrap();
        symlink(fx.outside().join("userns"), pods.join("pod/link")).unwrap();

        let remove = |file: &str| Effect::RemoveFile { file: path(file) };
        assert_eq!(
            fx.run(remove("pod/userns")),
            Ok(Observation::FileRemoved { existed: true })
        );
        assert!(!pods.join("pod/userns").exists());
        assert_eq!(
            fx.run(remove("pod/userns")),
            Ok(Observation::FileRemoved { existed: false })
        );

        let error = fx.run(remove("gone/userns")).unwrap_err();
        assert_eq!(error.errno, Errno::ENOENT);
        let gone = format!("{}/gone", fx.pods().display());
        assert!(error.detail.contains(&gone), "{error}");

        // The link goes, its target stays.
        assert_eq!(
            fx.run(remove("pod/link")),
            Ok(Observation::FileRemoved { existed: true })
        );
        assert_eq!(
            std::fs::read(fx.outside().join("userns")).unwrap(),
            b"outside"
        );

        assert_eq!(fx.errno(remove("pod")), Errno::EISDIR);
    });
}

#[test]
fn create_dir_refuses_symlinks_and_files_in_its_place() {
    both_modes(|mut fx| {
        let pods = fx.pods();
        symlink(fx.outside(), pods.join("link")).unwrap();
        std::fs::write(pods.join("file"), b"").unwrap();
        let create = |dir: &str| Effect::CreateDir {
            dir: path(dir),
            mode: 0o700,
        };
        assert_eq!(fx.errno(create("link")), Errno::ENOTDIR);
        assert_eq!(fx.errno(create("file")), Errno::ENOTDIR);
        assert_eq!(fx.errno(create("missing/pod")), Errno::ENOENT);
        assert_eq!(
            fx.run(create("")),
            Ok(Observation::DirCreated { created: false })
        );
        assert_eq!(
            fx.run(create("pod")),
            Ok(Observation::DirCreated { created: true })
        );
        assert_eq!(
            fx.run(create("pod/sub")),
            Ok(Observation::DirCreated { created: true })
        );
        assert!(pods.join("pod/sub").is_dir());
    });
}

#[test]
fn write_new_file_never_replaces_anything() {
    both_modes(|mut fx| {
        let pods = fx.pods();
        std::fs::write(pods.join("old"), b"old").unwrap();
        symlink(fx.outside().join("created"), pods.join("dangling")).unwrap();
        assert_eq!(fx.errno(write("old", b"new")), Errno::EEXIST);
        assert_eq!(std::fs::read(pods.join("old")).unwrap(), b"old");
        // O_CREAT | O_EXCL never creates through a symlink, even a dangling one.
        assert_eq!(fx.errno(write("dangling", b"new")), Errno::EEXIST);
        assert!(!fx.outside().join("created").exists());
        assert_eq!(fx.errno(write("missing/file", b"new")), Errno::ENOENT);

        let big = vec![0x5a; 1 << 20];
        fx.run(write("big", &big)).unwrap();
        assert_eq!(std::fs::read(pods.join("big")).unwrap(), big);
    });
}

#[test]
fn rename_replaces_within_one_directory_only() {
    both_modes(|mut fx| {
        let pods = fx.pods();
        std::fs::create_dir_all(pods.join("a")).unwrap();
        std::fs::create_dir_all(pods.join("b")).unwrap();
        std::fs::write(pods.join("a/new"), b"new").unwrap();
        std::fs::write(pods.join("a/old"), b"old").unwrap();
        let rename = |from: &str, to: &str| Effect::Rename {
            from: path(from),
            to: path(to),
        };
        assert_eq!(fx.errno(rename("a/new", "b/new")), Errno::EXDEV);
        assert_eq!(fx.errno(rename("a/missing", "a/x")), Errno::ENOENT);
        assert_eq!(fx.errno(rename("a", "")), Errno::EINVAL);
        std::fs::create_dir(pods.join("a/dir")).unwrap();
        assert_eq!(fx.errno(rename("a/new", "a/dir")), Errno::EISDIR);

        assert_eq!(fx.run(rename("a/new", "a/old")), Ok(Observation::Done));
        assert_eq!(
            fx.run(Effect::SyncDir { dir: path("a") }),
            Ok(Observation::Done)
        );
        assert_eq!(names_in(&pods.join("a")), ["dir", "old"]);
        assert_eq!(std::fs::read(pods.join("a/old")).unwrap(), b"new");
    });
}

#[test]
fn rename_across_roots_is_refused() {
    let mut fx = Fixture::new(false);
    let run_dir = fx.temp.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let pods = fx.pods();
    let backend = std::mem::replace(&mut fx.backend, LinuxBackend::open(&pods).unwrap());
    fx.backend = backend.with_root(Root::Run, &run_dir).unwrap();
    std::fs::write(fx.pods().join("f"), b"").unwrap();
    let to = RootPath {
        root: Root::Run,
        path: RelPath::parse("f").unwrap(),
    };
    assert_eq!(
        fx.errno(Effect::Rename {
            from: path("f"),
            to
        }),
        Errno::EXDEV
    );
}

#[test]
fn remove_dir_removes_only_empty_directories() {
    both_modes(|mut fx| {
        let pods = fx.pods();
        std::fs::create_dir_all(pods.join("full/inner")).unwrap();
        std::fs::create_dir(pods.join("empty")).unwrap();
        std::fs::write(pods.join("file"), b"").unwrap();
        let remove = |dir: &str| Effect::RemoveDir { dir: path(dir) };
        assert_eq!(fx.errno(remove("full")), Errno::ENOTEMPTY);
        assert_eq!(fx.errno(remove("missing")), Errno::ENOENT);
        assert_eq!(fx.errno(remove("file")), Errno::ENOTDIR);
        assert_eq!(fx.run(remove("empty")), Ok(Observation::Done));
        assert_eq!(names_in(&pods), ["file", "full"]);
    });
}

#[test]
fn list_dir_reports_kinds_and_skips_non_utf8_names() {
    both_modes(|mut fx| {
        let pods = fx.pods();
        std::fs::create_dir(pods.join("dir")).unwrap();
        std::fs::write(pods.join("file"), b"").unwrap();
        symlink("dir", pods.join("link")).unwrap();
        rustix::fs::mkfifoat(CWD, pods.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let bad = std::ffi::OsStr::from_bytes(b"bad-\xff");
        std::fs::write(pods.join(bad), b"").unwrap();

        assert_eq!(
            fx.run(list("")),
            Ok(Observation::Listing(vec![
                entry("dir", EntryKind::Directory),
                entry("fifo", EntryKind::Other),
                entry("file", EntryKind::File),
                entry("link", EntryKind::Symlink),
            ]))
        );
        assert_eq!(fx.run(list("dir")), Ok(Observation::Listing(vec![])));
        assert_eq!(fx.errno(list("file")), Errno::ENOTDIR);
        assert_eq!(fx.errno(list("missing")), Errno::ENOENT);
        // Listing twice reads from the start again: each listing has its own fd.
        assert_eq!(fx.run(list("")), fx.run(list("")));
    });
}

#[test]
fn sync_dir_and_sync_file_fail_like_the_effects_say() {
    both_modes(|mut fx| {
        std::fs::write(fx.pods().join("file"), b"").unwrap();
        assert_eq!(
            fx.errno(Effect::SyncDir {
                dir: path("missing")
            }),
            Errno::ENOENT
        );
        assert_eq!(
            fx.errno(Effect::SyncDir { dir: path("file") }),
            Errno::ENOTDIR
        );
        assert_eq!(
            fx.errno(Effect::SyncFile {
                file: path("missing")
            }),
            Errno::ENOENT
        );
        assert_eq!(
            fx.run(Effect::SyncFile { file: path("file") }),
            Ok(Observation::Done)
        );
    });
}

#[test]
fn errors_name_the_call_and_the_path() {
    let mut fx = Fixture::new(false);
    let error = fx.run(read("pod/userns", 10)).unwrap_err();
    let userns = format!("{}/pod/userns", fx.pods().display());
    assert!(error.detail.contains(&userns), "{error}");
    assert!(error.detail.starts_with("openat"), "{error}");

    std::fs::write(fx.pods().join("f"), b"0123").unwrap();
    let error = fx.run(read("f", 2)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "read {}/f: is longer than 2 bytes: EFBIG (File too large)",
            fx.pods().display()
        )
    );

    let mut fx = Fixture::new(true);
    let error = fx.run(write("pod/x/y", b"")).unwrap_err();
    assert_eq!(
        error.detail,
        format!("openat {}/pod/x", fx.pods().display())
    );
}

#[test]
fn roots_that_were_not_opened_are_refused() {
    let mut fx = Fixture::new(false);
    let effect = Effect::ListDir {
        dir: RootPath::root(Root::Run),
    };
    let error = fx.run(effect).unwrap_err();
    assert_eq!(error.errno, Errno::EBADF);
    assert!(error.detail.contains("with_root"), "{error}");
}

#[test]
fn roots_are_separate_directories() {
    let temp = TempDir::new().unwrap();
    let (pods, run) = (temp.path().join("pods"), temp.path().join("run"));
    std::fs::create_dir(&pods).unwrap();
    std::fs::create_dir(&run).unwrap();
    let mut backend = LinuxBackend::open(&pods)
        .unwrap()
        .with_root(Root::Run, &run)
        .unwrap();
    let file = RootPath {
        root: Root::Run,
        path: RelPath::parse("state").unwrap(),
    };
    let effect = Effect::WriteNewFile {
        file,
        mode: 0o600,
        contents: b"run".to_vec(),
    };
    block_on(backend.execute(&effect)).unwrap();
    assert_eq!(std::fs::read(run.join("state")).unwrap(), b"run");
    assert!(!pods.join("state").exists());
}

#[test]
fn opening_a_missing_root_says_what_to_do() {
    let temp = TempDir::new().unwrap();
    let missing = temp.path().join("missing");
    let error = LinuxBackend::open(&missing).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("ENOENT"), "{message}");
    assert!(message.contains("create it"), "{message}");

    std::fs::write(&missing, b"").unwrap();
    let message = LinuxBackend::open(&missing).unwrap_err().to_string();
    assert!(message.contains("ENOTDIR"), "{message}");
}

#[test]
fn sync_fs_syncs_the_root_file_system() {
    let mut fx = Fixture::new(false);
    fx.run(write("a", b"1")).unwrap();
    assert_eq!(
        fx.run(Effect::SyncFs { root: Root::Pods }),
        Ok(Observation::Done)
    );
    assert_eq!(fx.backend.syncfs_count(), 1);
    assert_eq!(fx.backend.fsync_count(), 0);
    assert_eq!(fx.errno(Effect::SyncFs { root: Root::Run }), Errno::EBADF);
}
