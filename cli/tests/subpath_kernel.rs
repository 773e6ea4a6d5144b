//! Subpath effects on the real kernel, as tables after kubelet's
//! (`pkg/volume/util/subpath/subpath_linux_test.go`): safe open, safe mkdir,
//! and magic links. Every resolution case runs twice, with `openat2` and
//! with the forced `openat` walk, and must give the same answer. The mount
//! tables are in `subpath_mount_kernel.rs`.
//!
//! They need no privilege and run anywhere.

mod common;
mod subpath_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use podns_backend_linux::LinuxBackend;
use podns_core::{Effect, EntryKind, Errno, Observation, Root, SubpathProblem, parse_subpath};
use subpath_support::{Layout, execute, id_of, plant_tree, rel};
use tempfile::TempDir;

/// What a resolution case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok(EntryKind),
    Err(Errno),
    /// Refused lexically, before any lookup.
    Lexical,
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
        let _sockets = plant_tree(&layout.volume, spec);
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
        plant_tree(&layout.volume, &["f:dir/file", "l:link>dir/../dir/file"]);
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
