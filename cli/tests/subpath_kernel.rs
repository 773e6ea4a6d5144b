//! Subpath effects on the real kernel, as tables after kubelet's
//! (`pkg/volume/util/subpath/subpath_linux_test.go`): safe open, safe mkdir,
//! bind subpath, clean subpaths, remove empty dirs, and magic links. Every
//! resolution case runs twice, with `openat2` and with the forced `openat`
//! walk, and must give the same answer; every mount case runs with
//! `open_tree` + `move_mount` and with the `/proc/self/fd` fallback.
//!
//! Safe open and safe mkdir need no privilege and run anywhere; the mount
//! tests run as root in a private mount namespace (see `subpath_support`).

mod common;
mod subpath_support;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::net::UnixListener;
use std::path::Path;

use podns_backend_linux::LinuxBackend;
use podns_core::{
    Effect, EntryKind, Errno, Observation, Root, SubpathError, SubpathProblem, SubpathResponse,
    parse_subpath,
};
use rustix::fs::{FileType, Mode};
use subpath_support::{
    Layout, execute, id_of, in_private_mount_ns, mounts_below, rel, unmount_all_below,
};
use tempfile::TempDir;

/// What a resolution case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok(EntryKind),
    Err(Errno),
    /// Refused lexically, before any lookup.
    Lexical,
}

fn make_fifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        FileType::Fifo,
        Mode::from_bits_truncate(0o600),
        0,
    )
    .unwrap();
}

/// Builds the entries a case needs below `volume`: `d:path` a directory,
/// `f:path` a file, `l:path>target` a symlink, `p:path` a FIFO, `s:path` a
/// socket.
fn build(volume: &Path, spec: &[&str]) -> Vec<UnixListener> {
    let mut sockets = Vec::new();
    for item in spec {
        let (kind, rest) = item.split_once(':').unwrap();
        let (path, target) = rest.split_once('>').unwrap_or((rest, ""));
        let full = volume.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        match kind {
            "d" => std::fs::create_dir_all(&full).unwrap(),
            "f" => std::fs::write(&full, b"inside").unwrap(),
            "l" => symlink(target, &full).unwrap(),
            "p" => make_fifo(&full),
            "s" => sockets.push(UnixListener::bind(&full).unwrap()),
            other => panic!("unknown kind {other}"),
        }
    }
    sockets
}

fn outcome_of(result: Result<Observation, podns_core::EffectError>) -> Result<EntryKind, Errno> {
    match result {
        Ok(Observation::Inode(inode)) => Ok(inode.kind),
        Ok(Observation::DirCreated { .. }) => Ok(EntryKind::Directory),
        Ok(other) => panic!("unexpected {other:?}"),
        Err(error) => Err(error.errno),
    }
}

/// Runs `effect` on a fresh volume built from `spec`, with `openat2` and
/// with the walk, and checks both against `expect`. Returns the volume of
/// the last run for further checks.
fn check_both_modes(
    name: &str,
    spec: &[&str],
    subpath: &str,
    expect: Expect,
    effect: impl Fn(podns_core::RootPath) -> Effect,
    after: impl Fn(&Path, &Path),
) {
    for walk in [false, true] {
        let temp = TempDir::new().unwrap();
        let layout = Layout::new(temp.path());
        let _sockets = build(&layout.volume, spec);
        let path = match parse_subpath(subpath) {
            Ok(path) => path,
            Err(invalid) => {
                assert_eq!(expect, Expect::Lexical, "{name}: {invalid}");
                assert!(
                    matches!(
                        invalid.problem,
                        SubpathProblem::Escapes | SubpathProblem::Absolute
                    ),
                    "{name}: {invalid}"
                );
                continue;
            }
        };
        let mut backend = layout.backend(walk, false);
        let got = outcome_of(execute(
            &mut backend,
            &effect(podns_core::RootPath {
                root: Root::Volume,
                path,
            }),
        ));
        let want = match expect {
            Expect::Ok(kind) => Ok(kind),
            Expect::Err(errno) => Err(errno),
            Expect::Lexical => panic!("{name}: {subpath:?} passed the lexical check"),
        };
        assert_eq!(got, want, "{name} (walk: {walk})");
        // Nothing may ever appear outside the volume.
        let outside: Vec<_> = std::fs::read_dir(&layout.outside)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(outside, ["secret"], "{name}: something was created outside");
        after(&layout.volume, temp.path());
    }
}

#[test]
fn safe_open() {
    use EntryKind::*;
    use Expect::{Err as E, Lexical, Ok as O};
    let cases: &[(&str, &[&str], &str, Expect)] = &[
        (
            "directory-does-not-exist",
            &[],
            "test/directory",
            E(Errno::ENOENT),
        ),
        (
            "directory-exists",
            &["d:test/directory"],
            "test/directory",
            O(Directory),
        ),
        ("file-exists", &["f:test/file"], "test/file", O(File)),
        ("the-volume-root", &[], "test/..", O(Directory)),
        ("escape-base-using-dots", &[], "..", Lexical),
        (
            "escape-base-using-dots-2",
            &["d:test"],
            "test/../../",
            Lexical,
        ),
        ("absolute-subpath", &[], "/etc", Lexical),
        ("symlink-to-root", &["l:test>/"], "test", E(Errno::EXDEV)),
        (
            "symlink-to-root-then-below",
            &["l:test>/"],
            "test/etc/passwd",
            E(Errno::EXDEV),
        ),
        (
            "symlink-absolute-into-the-volume",
            &["d:dir", "l:test>/volume/dir"],
            "test",
            E(Errno::EXDEV),
        ),
        (
            "relative-symlink-out",
            &["l:test>.."],
            "test",
            E(Errno::EXDEV),
        ),
        (
            "relative-symlink-out-deep",
            &["d:a/b", "l:a/b/up>../../../outside"],
            "a/b/up/secret",
            E(Errno::EXDEV),
        ),
        (
            "relative-symlink-out-and-back",
            &["d:dir", "l:test>../volume/dir"],
            "test",
            E(Errno::EXDEV),
        ),
        (
            "relative-symlink-inside",
            &["d:dir", "d:test", "l:test/link>../dir"],
            "test/link",
            O(Directory),
        ),
        (
            "symlink-chain-inside",
            &["d:dir", "l:one>two", "l:two>dir"],
            "one",
            O(Directory),
        ),
        (
            "symlink-to-file-inside",
            &["f:file", "l:link>file"],
            "link",
            O(File),
        ),
        (
            "symlink-in-the-middle-inside",
            &["f:dir/file", "l:link>dir"],
            "link/file",
            O(File),
        ),
        (
            "dangling-symlink",
            &["l:test>does-not-exist"],
            "test",
            E(Errno::ENOENT),
        ),
        ("symlink-loop", &["l:test>test"], "test", E(Errno::ELOOP)),
        (
            "symlink-loop-pair",
            &["l:a>b", "l:b>a"],
            "a",
            E(Errno::ELOOP),
        ),
        (
            "non-directory-in-the-middle",
            &["f:test"],
            "test/directory",
            E(Errno::ENOTDIR),
        ),
        (
            "symlink-to-file-in-the-middle",
            &["f:file", "l:test>file"],
            "test/x",
            E(Errno::ENOTDIR),
        ),
        (
            "socket-at-the-end",
            &["s:test/socket"],
            "test/socket",
            O(Other),
        ),
        ("fifo-at-the-end", &["p:test/fifo"], "test/fifo", O(Other)),
        (
            "fifo-in-the-middle",
            &["p:test/fifo"],
            "test/fifo/x",
            E(Errno::ENOTDIR),
        ),
    ];
    for (name, spec, subpath, expect) in cases {
        check_both_modes(
            name,
            spec,
            subpath,
            *expect,
            |path| Effect::StatBeneath { path },
            |_, _| {},
        );
    }
}

#[test]
fn safe_open_resolves_to_the_file_inside() {
    for walk in [false, true] {
        let temp = TempDir::new().unwrap();
        let layout = Layout::new(temp.path());
        build(&layout.volume, &["f:dir/file", "l:link>dir/../dir/file"]);
        let mut backend = layout.backend(walk, false);
        let Observation::Inode(inode) = execute(
            &mut backend,
            &Effect::StatBeneath {
                path: rel(Root::Volume, "link"),
            },
        )
        .unwrap() else {
            panic!("not an inode")
        };
        assert_eq!(inode.id, id_of(&layout.volume.join("dir/file")));
    }
}

#[test]
fn safe_make_dir() {
    use EntryKind::Directory;
    use Expect::{Err as E, Lexical, Ok as O};
    let cases: &[(&str, &[&str], &str, Expect)] = &[
        (
            "directory-does-not-exist",
            &[],
            "test/directory",
            O(Directory),
        ),
        (
            "directory-exists",
            &["d:test/directory"],
            "test/directory",
            O(Directory),
        ),
        ("create-base", &[], "test/..", O(Directory)),
        ("escape-base-using-dots", &[], "..", Lexical),
        ("escape-base-using-dots-2", &[], "test/../../", Lexical),
        (
            "follow-symlinks",
            &["d:destination", "l:test>destination"],
            "test/directory",
            O(Directory),
        ),
        (
            "follow-symlink-loop",
            &["l:test>test"],
            "test/directory",
            E(Errno::ELOOP),
        ),
        (
            "follow-symlink-multiple-follow",
            &["d:destination", "l:test>second", "l:second>destination"],
            "test/directory",
            O(Directory),
        ),
        (
            "follow-symlink-to-file",
            &["f:file", "l:test>file"],
            "test/directory",
            E(Errno::ENOTDIR),
        ),
        (
            "non-directory",
            &["f:test"],
            "test/directory",
            E(Errno::ENOTDIR),
        ),
        (
            "non-directory-final",
            &["f:test"],
            "test",
            E(Errno::ENOTDIR),
        ),
        (
            "escape-with-relative-symlink",
            &["d:dir", "l:dir/test>../../outside"],
            "dir/test/directory",
            E(Errno::EXDEV),
        ),
        (
            "escape-with-relative-symlink-not-exists",
            &["d:dir", "l:dir/test>../../does-not-exist"],
            "dir/test/directory",
            E(Errno::EXDEV),
        ),
        (
            "escape-with-symlink",
            &["l:test>/"],
            "test/directory",
            E(Errno::EXDEV),
        ),
        (
            "dangling-symlink",
            &["l:test>does-not-exist"],
            "test/directory",
            E(Errno::EEXIST),
        ),
        (
            "dangling-symlink-final",
            &["l:test>does-not-exist"],
            "test",
            E(Errno::EEXIST),
        ),
        (
            "fifo-in-the-middle",
            &["p:test"],
            "test/directory",
            E(Errno::ENOTDIR),
        ),
        ("socket-final", &["s:test"], "test", E(Errno::ENOTDIR)),
    ];
    for (name, spec, subpath, expect) in cases {
        check_both_modes(
            name,
            spec,
            subpath,
            *expect,
            |dir| Effect::MakeDirBeneath { dir, mode: 0o750 },
            |volume, _| {
                if *expect == O(Directory) {
                    let made = parse_subpath(subpath).unwrap().to_string();
                    assert!(volume.join(made).is_dir(), "{name}");
                }
            },
        );
    }
}

#[test]
fn safe_make_dir_sets_the_exact_mode_and_leaves_existing_directories_alone() {
    for walk in [false, true] {
        for mode in [0o750, 0o775, 0o2750, 0o4750, 0o1777, 0o2775] {
            let temp = TempDir::new().unwrap();
            let layout = Layout::new(temp.path());
            std::fs::create_dir(layout.volume.join("existing")).unwrap();
            std::fs::set_permissions(
                layout.volume.join("existing"),
                std::fs::Permissions::from_mode(0o700),
            )
            .unwrap();
            let mut backend = layout.backend(walk, false);
            let made = execute(
                &mut backend,
                &Effect::MakeDirBeneath {
                    dir: rel(Root::Volume, "existing/new/deeper"),
                    mode,
                },
            )
            .unwrap();
            assert_eq!(made, Observation::DirCreated { created: true });
            // umask strips group/other write and never sets special bits:
            // fchmod gave every created directory exactly `mode`.
            for created in ["existing/new", "existing/new/deeper"] {
                let found = std::fs::metadata(layout.volume.join(created))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o7777;
                assert_eq!(found, mode, "{created} with {mode:o} (walk: {walk})");
            }
            let existing = std::fs::metadata(layout.volume.join("existing"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(existing & 0o7777, 0o700);
            let again = execute(
                &mut backend,
                &Effect::MakeDirBeneath {
                    dir: rel(Root::Volume, "existing/new/deeper"),
                    mode,
                },
            )
            .unwrap();
            assert_eq!(again, Observation::DirCreated { created: false });
        }
    }
}

#[test]
fn magic_links_are_refused() {
    use rustix::fd::AsRawFd;
    for walk in [false, true] {
        // A "volume" that is procfs itself: every link in it is magic.
        let mut backend =
            LinuxBackend::open_for_subpaths(Path::new("/proc/self"), Path::new("/proc/self"))
                .unwrap();
        backend.set_force_walk(walk);
        let open = std::fs::File::open("/proc/self/status").unwrap();
        let fd_link = format!("fd/{}", open.as_raw_fd());
        for magic in ["root", "cwd", "exe", fd_link.as_str(), "root/etc", "cwd/x"] {
            let path = parse_subpath(magic).unwrap();
            let result = execute(
                &mut backend,
                &Effect::StatBeneath {
                    path: podns_core::RootPath {
                        root: Root::Volume,
                        path,
                    },
                },
            );
            assert_eq!(
                result.map_err(|error| error.errno),
                Err(Errno::ELOOP),
                "{magic} (walk: {walk})"
            );
        }
    }
}

#[test]
fn magic_links_in_a_mounted_proc_inside_the_volume_mount_nothing() {
    in_private_mount_ns(
        "magic_links_in_a_mounted_proc_inside_the_volume_mount_nothing",
        |scratch| {
            let layout = Layout::new(scratch);
            let proc_dir = layout.volume.join("proc");
            std::fs::create_dir(&proc_dir).unwrap();
            rustix::mount::mount(
                "proc",
                &proc_dir,
                "proc",
                rustix::mount::MountFlags::empty(),
                None::<&std::ffi::CStr>,
            )
            .unwrap();
            std::fs::create_dir(layout.volume.join("dir")).unwrap();
            symlink("proc/self/root", layout.volume.join("to-root")).unwrap();
            symlink("proc/self/fd/0", layout.volume.join("to-fd")).unwrap();
            for walk in [false, true] {
                for proc_fd_bind in [false, true] {
                    let mut backend = layout.backend(walk, proc_fd_bind);
                    for subpath in [
                        "proc/self/root",
                        "proc/self/root/etc",
                        "proc/1/root",
                        "proc/self/cwd",
                        "proc/thread-self/root",
                        "to-root",
                        "to-fd",
                    ] {
                        let before = mounts_below(scratch).len();
                        let result = layout.prepare(&mut backend, subpath, "app", "0");
                        let errno = match result {
                            Err(SubpathError::Unsafe { errno, .. }) => errno,
                            // Another process's links: the ptrace check can
                            // refuse them before the magic-link rule does.
                            Err(SubpathError::Io { source, .. }) => source.errno,
                            other => panic!("{subpath} (walk {walk}): {other:?}"),
                        };
                        if subpath == "proc/1/root" {
                            assert!(
                                [Errno::ELOOP, Errno::EACCES].contains(&errno),
                                "{subpath}: {errno}"
                            );
                        } else {
                            assert_eq!(errno, Errno::ELOOP, "{subpath} (walk {walk})");
                        }
                        assert_eq!(mounts_below(scratch).len(), before, "{subpath}");
                    }
                }
            }
            unmount_all_below(&layout.volume);
        },
    );
}

/// What a bind case expects.
#[derive(Debug, Clone, Copy)]
enum Bind {
    /// Mounted; the target shows the file at this path (in the volume).
    Mounted(&'static str),
    Unsafe(Errno),
    Missing,
    Io(Errno),
}

#[test]
fn bind_subpath() {
    in_private_mount_ns("bind_subpath", |scratch| {
        let cases: &[(&str, &[&str], &str, Bind)] = &[
            ("directory", &["d:dir"], "dir", Bind::Mounted("dir")),
            (
                "file",
                &["f:dir/file"],
                "dir/file",
                Bind::Mounted("dir/file"),
            ),
            (
                "socket",
                &["s:dir/socket"],
                "dir/socket",
                Bind::Mounted("dir/socket"),
            ),
            (
                "fifo",
                &["p:dir/fifo"],
                "dir/fifo",
                Bind::Mounted("dir/fifo"),
            ),
            ("the-volume-root", &[], "x/..", Bind::Mounted("")),
            (
                "relative-symlink-inside",
                &["d:dir", "d:a", "l:a/link>../dir"],
                "a/link",
                Bind::Mounted("dir"),
            ),
            (
                "symlink-to-file-inside",
                &["f:file", "l:link>file"],
                "link",
                Bind::Mounted("file"),
            ),
            (
                "symlink-to-root",
                &["l:link>/"],
                "link",
                Bind::Unsafe(Errno::EXDEV),
            ),
            (
                "symlink-to-root-in-the-middle",
                &["l:link>/"],
                "link/etc",
                Bind::Unsafe(Errno::EXDEV),
            ),
            (
                "relative-symlink-out",
                &["d:a", "l:a/up>../../outside"],
                "a/up",
                Bind::Unsafe(Errno::EXDEV),
            ),
            (
                "symlink-loop",
                &["l:link>link"],
                "link",
                Bind::Unsafe(Errno::ELOOP),
            ),
            ("dangling-symlink", &["l:link>nope"], "link", Bind::Missing),
            ("missing", &[], "nope", Bind::Missing),
            (
                "non-directory-in-the-middle",
                &["f:file"],
                "file/x",
                Bind::Io(Errno::ENOTDIR),
            ),
            (
                "fifo-in-the-middle",
                &["p:fifo"],
                "fifo/x",
                Bind::Io(Errno::ENOTDIR),
            ),
        ];
        let baseline = mounts_below(Path::new("/")).len();
        for walk in [false, true] {
            for proc_fd_bind in [false, true] {
                for (index, (name, spec, subpath, expect)) in cases.iter().enumerate() {
                    let case = scratch.join(format!("{name}-{walk}-{proc_fd_bind}"));
                    let layout = Layout::new(&case);
                    let _sockets = build(&layout.volume, spec);
                    let mut backend = layout.backend(walk, proc_fd_bind);
                    let index = index.to_string();
                    let result = layout.prepare(&mut backend, subpath, "app", &index);
                    let context = format!("{name} (walk {walk}, proc fd {proc_fd_bind})");
                    let target = layout.pod.join(format!("volume-subpaths/vol/app/{index}"));
                    match (expect, result) {
                        (Bind::Mounted(inside), Ok(SubpathResponse::Prepared(prepared))) => {
                            assert_eq!(prepared.host_path, target.to_str().unwrap());
                            let expected = id_of(&layout.volume.join(inside));
                            assert_eq!(prepared.source.id, expected, "{context}");
                            // The mount point shows the file inside the volume.
                            let shown = rustix::fs::lstat(&target).unwrap();
                            assert_eq!(
                                (shown.st_dev, shown.st_ino),
                                (expected.dev, expected.ino),
                                "{context}"
                            );
                            assert_eq!(mounts_below(&layout.pod).len(), 1, "{context}");
                            // Idempotent: the same file again does nothing.
                            let again = layout.prepare(&mut backend, subpath, "app", &index);
                            let Ok(SubpathResponse::Prepared(again)) = again else {
                                panic!("{context}: again: {again:?}");
                            };
                            assert!(again.already_mounted, "{context}");
                            assert_eq!(mounts_below(&layout.pod).len(), 1, "{context}");
                        }
                        (Bind::Unsafe(errno), Err(SubpathError::Unsafe { errno: got, .. })) => {
                            assert_eq!(got, *errno, "{context}");
                        }
                        (Bind::Missing, Err(SubpathError::Missing { .. })) => {}
                        (Bind::Io(errno), Err(SubpathError::Io { source, .. })) => {
                            assert_eq!(source.errno, *errno, "{context}");
                        }
                        (expect, got) => panic!("{context}: expected {expect:?}, got {got:?}"),
                    }
                    if !matches!(expect, Bind::Mounted(_)) {
                        assert!(mounts_below(&layout.pod).is_empty(), "{context}");
                        // Refused before the mount point was made.
                        assert!(!layout.pod.join("volume-subpaths").exists(), "{context}");
                    }
                    unmount_all_below(&layout.pod);
                }
            }
        }
        assert_eq!(mounts_below(Path::new("/")).len(), baseline);
    });
}

#[test]
fn bind_subpath_replaces_a_mount_of_another_file_and_is_a_real_bind() {
    in_private_mount_ns(
        "bind_subpath_replaces_a_mount_of_another_file_and_is_a_real_bind",
        |scratch| {
            for proc_fd_bind in [false, true] {
                let layout = Layout::new(&scratch.join(format!("case-{proc_fd_bind}")));
                build(&layout.volume, &["d:one", "d:two"]);
                let mut backend = layout.backend(false, proc_fd_bind);
                layout.prepare(&mut backend, "one", "app", "0").unwrap();
                let target = layout.pod.join("volume-subpaths/vol/app/0");
                std::fs::write(target.join("written-through-the-mount"), b"x").unwrap();
                assert!(layout.volume.join("one/written-through-the-mount").exists());
                let Ok(SubpathResponse::Prepared(prepared)) =
                    layout.prepare(&mut backend, "two", "app", "0")
                else {
                    panic!("replace failed");
                };
                assert_eq!(prepared.replaced_mounts, 1);
                assert_eq!(id_of(&target), id_of(&layout.volume.join("two")));
                assert_eq!(mounts_below(&layout.pod).len(), 1);
                unmount_all_below(&layout.pod);
            }
        },
    );
}

fn cleaned(result: Result<SubpathResponse, SubpathError>) -> podns_core::SubpathCleanReport {
    match result {
        Ok(SubpathResponse::Cleaned(report)) => report,
        other => panic!("not cleaned: {other:?}"),
    }
}

#[test]
fn clean_subpaths() {
    in_private_mount_ns("clean_subpaths", |scratch| {
        for walk in [false, true] {
            let layout = Layout::new(&scratch.join(format!("case-{walk}")));
            build(
                &layout.volume,
                &["d:dir", "f:dir/keep-me", "f:file", "p:fifo"],
            );
            let mut backend = layout.backend(walk, false);
            for (subpath, container, index) in [
                ("dir", "app", "0"),
                ("file", "app", "1"),
                ("fifo", "app", "2"),
                ("dir", "sidecar", "0"),
            ] {
                layout
                    .prepare(&mut backend, subpath, container, index)
                    .unwrap();
            }
            // Stacked: another mount on top of app/0.
            let app0 = layout.pod.join("volume-subpaths/vol/app/0");
            rustix::mount::mount_bind(&layout.volume, &app0).unwrap();
            // Leftovers a crash or an attacker could leave, and another
            // volume's mount point, which must be kept.
            let container = layout.pod.join("volume-subpaths/vol/app");
            symlink(&layout.outside, container.join("3")).unwrap();
            symlink("/", layout.pod.join("volume-subpaths/vol/stray-link")).unwrap();
            std::fs::create_dir_all(layout.pod.join("volume-subpaths/other/app/0")).unwrap();
            let report = cleaned(layout.clean(&mut backend, "vol"));
            assert!(report.is_complete(), "{report:?}");
            assert_eq!(report.unmounted.len(), 5, "{report:?}");
            assert!(mounts_below(&layout.pod).is_empty());
            assert!(!layout.pod.join("volume-subpaths/vol").exists());
            // Only the other volume's tree is left.
            assert!(layout.pod.join("volume-subpaths/other/app/0").is_dir());
            // Nothing was followed or deleted through a mount or a symlink.
            assert!(layout.volume.join("dir/keep-me").exists());
            assert!(layout.volume.join("file").exists());
            assert!(layout.outside.join("secret").exists());
            // The last volume gone: volume-subpaths itself goes too.
            std::fs::remove_dir_all(layout.pod.join("volume-subpaths/other")).unwrap();
            let report = cleaned(layout.clean(&mut backend, "vol"));
            assert!(report.is_complete());
            assert!(report.unmounted.is_empty());
            assert!(!layout.pod.join("volume-subpaths").exists());
        }
    });
}

#[test]
fn clean_keeps_a_busy_mount_and_never_deletes_through_it() {
    in_private_mount_ns(
        "clean_keeps_a_busy_mount_and_never_deletes_through_it",
        |scratch| {
            let layout = Layout::new(scratch);
            build(&layout.volume, &["f:dir/data"]);
            let mut backend = layout.backend(false, false);
            layout.prepare(&mut backend, "dir", "app", "0").unwrap();
            layout.prepare(&mut backend, "dir", "other", "0").unwrap();
            // A container still uses the mount: an open file keeps it busy.
            let busy =
                std::fs::File::open(layout.pod.join("volume-subpaths/vol/app/0/data")).unwrap();
            let report = cleaned(layout.clean(&mut backend, "vol"));
            let kept: Vec<(String, Errno)> = report
                .kept
                .iter()
                .map(|kept| (kept.path.path.to_string(), kept.error.errno))
                .collect();
            assert_eq!(
                kept,
                [("volume-subpaths/vol/app/0".to_owned(), Errno::EBUSY)]
            );
            // The other container's mount is gone; the busy one and its
            // parents are still there, with the volume's file intact.
            assert_eq!(mounts_below(&layout.pod).len(), 1);
            assert!(!layout.pod.join("volume-subpaths/vol/other").exists());
            assert!(layout.volume.join("dir/data").exists());
            drop(busy);
            let report = cleaned(layout.clean(&mut backend, "vol"));
            assert!(report.is_complete(), "{report:?}");
            assert!(mounts_below(&layout.pod).is_empty());
            assert!(!layout.pod.join("volume-subpaths").exists());
            assert!(layout.volume.join("dir/data").exists());
        },
    );
}

#[test]
fn remove_empty_dirs_stops_at_the_first_non_empty_one() {
    in_private_mount_ns(
        "remove_empty_dirs_stops_at_the_first_non_empty_one",
        |scratch| {
            let layout = Layout::new(scratch);
            build(&layout.volume, &["d:dir"]);
            let mut backend = layout.backend(false, false);
            layout.prepare(&mut backend, "dir", "app", "0").unwrap();
            // A non-empty directory that is not a mount point, next to one.
            std::fs::create_dir_all(layout.pod.join("volume-subpaths/vol/app/1/left")).unwrap();
            std::fs::write(layout.pod.join("volume-subpaths/vol/app/1/left/file"), b"").unwrap();
            let report = cleaned(layout.clean(&mut backend, "vol"));
            let kept: Vec<(String, Errno)> = report
                .kept
                .iter()
                .map(|kept| (kept.path.path.to_string(), kept.error.errno))
                .collect();
            assert_eq!(
                kept,
                [("volume-subpaths/vol/app/1".to_owned(), Errno::ENOTEMPTY)]
            );
            assert!(mounts_below(&layout.pod).is_empty());
            assert!(!layout.pod.join("volume-subpaths/vol/app/0").exists());
            assert!(
                layout
                    .pod
                    .join("volume-subpaths/vol/app/1/left/file")
                    .exists()
            );
            // Its parents were not tried: they cannot be empty.
            let tried: Vec<String> = report
                .removed
                .iter()
                .map(|path| path.path.to_string())
                .collect();
            assert_eq!(tried, ["volume-subpaths/vol/app/0"]);
        },
    );
}
