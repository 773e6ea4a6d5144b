//! Subpath mounts on the real kernel, as tables after kubelet's
//! (`pkg/volume/util/subpath/subpath_linux_test.go`): bind subpath, clean
//! subpaths, remove empty dirs, and magic links in a mounted `/proc`. Every
//! mount case runs with `open_tree` + `move_mount` and with the
//! `/proc/self/fd` fallback. The tests run as root in a private mount
//! namespace (see `subpath_support`); resolution alone is in
//! `subpath_kernel.rs`.

mod common;
mod subpath_support;

use std::os::unix::fs::symlink;
use std::path::Path;

use common::{mounts_below, unmount_all_below};
use podns_core::{Errno, SubpathError, SubpathResponse};
use subpath_support::{Layout, id_of, in_private_mount_ns, plant_tree};

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
            plant_tree(
                &layout.volume,
                &[
                    "d:dir",
                    "l:to-root>proc/self/root",
                    "l:to-fd>proc/self/fd/0",
                ],
            );
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
                    let _sockets = plant_tree(&layout.volume, spec);
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
                plant_tree(&layout.volume, &["d:one", "d:two"]);
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

/// What a clean kept, by path below the pod directory, with the errno.
fn kept(report: &podns_core::SubpathCleanReport) -> Vec<(String, Errno)> {
    report
        .kept
        .iter()
        .map(|kept| (kept.path.path.to_string(), kept.error.errno))
        .collect()
}

#[test]
fn clean_subpaths() {
    in_private_mount_ns("clean_subpaths", |scratch| {
        for walk in [false, true] {
            let layout = Layout::new(&scratch.join(format!("case-{walk}")));
            plant_tree(
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
            plant_tree(&layout.volume, &["f:dir/data"]);
            let mut backend = layout.backend(false, false);
            layout.prepare(&mut backend, "dir", "app", "0").unwrap();
            layout.prepare(&mut backend, "dir", "other", "0").unwrap();
            // A container still uses the mount: an open file keeps it busy.
            let busy =
                std::fs::File::open(layout.pod.join("volume-subpaths/vol/app/0/data")).unwrap();
            let report = cleaned(layout.clean(&mut backend, "vol"));
            assert_eq!(
                kept(&report),
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
            plant_tree(&layout.volume, &["d:dir"]);
            let mut backend = layout.backend(false, false);
            layout.prepare(&mut backend, "dir", "app", "0").unwrap();
            // A non-empty directory that is not a mount point, next to one.
            std::fs::create_dir_all(layout.pod.join("volume-subpaths/vol/app/1/left")).unwrap();
            std::fs::write(layout.pod.join("volume-subpaths/vol/app/1/left/file"), b"").unwrap();
            let report = cleaned(layout.clean(&mut backend, "vol"));
            assert_eq!(
                kept(&report),
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
