//! Rename races against subpath mounts on the real kernel (CVE-2021-25741).
//!
//! A thread swaps a directory with a symlink leading out of the volume (to
//! `/`, or to a sibling directory through `..`) with
//! `renameat2(RENAME_EXCHANGE)`, as fast as it can, while mounts are
//! attempted; another case swaps the mount point with a symlink to `/`. Each
//! round checks that a successful mount shows an inode inside the volume,
//! that a failed one left no mount anywhere, and that nothing outside the pod
//! directory was ever mounted. `PODNS_RACE_ROUNDS` sets the total number of
//! rounds (default 24,000), shared by the cases; each case prints its counts.
//!
//! Root only, in a private mount namespace (see `subpath_support`).

mod common;
mod subpath_support;

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use common::mount_table;
use podns_backend_linux::LinuxBackend;
use podns_core::{Effect, FileId, Root, SubpathError, SubpathResponse};
use rustix::fs::{Mode, OFlags, RenameFlags};
use rustix::mount::UnmountFlags;
use subpath_support::{Layout, execute, id_of, in_private_mount_ns, plant_tree, rel};

const ROUNDS_ENV: &str = "PODNS_RACE_ROUNDS";
const DEFAULT_ROUNDS: u64 = 24_000;

/// Swaps two names in one directory until stopped; can be paused so that a
/// round's checks see a settled tree.
struct Swapper {
    stop: Arc<AtomicBool>,
    /// Odd: pause requested. The swapper acknowledges by storing the value
    /// in `parked` once no exchange is in progress.
    request: Arc<AtomicU64>,
    parked: Arc<AtomicU64>,
    swaps: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Swapper {
    fn start(dir: &Path, a: &'static str, b: &'static str) -> Self {
        let dir_fd = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let request = Arc::new(AtomicU64::new(0));
        let parked = Arc::new(AtomicU64::new(0));
        let swaps = Arc::new(AtomicU64::new(0));
        let handle = {
            let (stop, request, parked, swaps) =
                (stop.clone(), request.clone(), parked.clone(), swaps.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let asked = request.load(Ordering::SeqCst);
                    if asked % 2 == 1 {
                        parked.store(asked, Ordering::SeqCst);
                        std::hint::spin_loop();
                        continue;
                    }
                    // EBUSY while the directory is a mount point: the race
                    // is over for that round, which is fine.
                    if rustix::fs::renameat_with(&dir_fd, a, &dir_fd, b, RenameFlags::EXCHANGE)
                        .is_ok()
                    {
                        swaps.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        Self {
            stop,
            request,
            parked,
            swaps,
            handle: Some(handle),
        }
    }

    fn pause(&self) {
        let asked = self.request.fetch_add(1, Ordering::SeqCst) + 1;
        while self.parked.load(Ordering::SeqCst) != asked {
            std::thread::yield_now();
        }
    }

    fn resume(&self) {
        self.request.fetch_add(1, Ordering::SeqCst);
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            handle.join().unwrap();
        }
        self.swaps.load(Ordering::Relaxed)
    }
}

/// Counts of one case.
#[derive(Debug, Default)]
struct Tally {
    rounds: u64,
    mounted: u64,
    refused: BTreeMap<String, u64>,
    swaps: u64,
}

impl Tally {
    fn refuse(&mut self, why: String) {
        *self.refused.entry(why).or_default() += 1;
    }

    fn refusals(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// One mount as the table shows it: (mount point, root within its file
/// system).
fn mounts() -> Vec<(String, String)> {
    mount_table()
        .into_iter()
        .map(|mount| (mount.mount_point, mount.root))
        .collect()
}

/// Checks the whole table against the baseline: every extra mount is below
/// the pod directory and shows a directory of the volume. Returns the extra
/// mount points.
fn extra_mounts(baseline: &[(String, String)], layout: &Layout, context: &str) -> Vec<String> {
    let now = mounts();
    let mut extra = now.clone();
    for mount in baseline {
        let index = extra
            .iter()
            .position(|candidate| candidate == mount)
            .unwrap_or_else(|| panic!("{context}: a mount disappeared: {mount:?}"));
        extra.remove(index);
    }
    let pod = format!("{}/", layout.pod.display());
    // The scratch tmpfs holds <case>/volume, <case>/pod and <case>/outside:
    // a mount of anything but the volume shows another root.
    let case = layout.volume.parent().unwrap().file_name().unwrap();
    let volume_root = format!("/{}/volume/", case.to_str().unwrap());
    for (point, root) in &extra {
        assert!(
            point.starts_with(&pod),
            "{context}: something was mounted outside the pod directory: {point} ({root})"
        );
        assert!(
            root.starts_with(&volume_root),
            "{context}: {point} shows {root}, which is not inside the volume"
        );
    }
    extra.into_iter().map(|(point, _)| point).collect()
}

fn why(error: &SubpathError) -> String {
    match error {
        SubpathError::Unsafe { errno, .. } => format!("unsafe {}", errno.name().unwrap_or("?")),
        SubpathError::Io { source, action, .. } => {
            format!("{action}: {}", source.errno.name().unwrap_or("?"))
        }
        SubpathError::Missing { .. } => "missing".into(),
        other => podns_core::ErrorDetails::kind(other).into(),
    }
}

struct SourceCase {
    name: &'static str,
    /// The subpath mounted each round.
    subpath: &'static str,
    /// Where the swapped symlink points.
    escape: &'static str,
    walk: bool,
    proc_fd_bind: bool,
}

/// The volume has `dir/sub/` (each with a marker) and `evil -> <escape>`;
/// the swapper exchanges `dir` and `evil`. Every round runs a whole prepare.
fn race_source(scratch: &Path, case: &SourceCase, rounds: u64) -> Tally {
    let layout = Layout::new(&scratch.join(case.name));
    plant_tree(
        &layout.volume,
        &["f:dir/sub/inside", &format!("l:evil>{}", case.escape)],
    );
    plant_tree(&layout.outside, &["d:sub"]);
    let inside: [FileId; 2] = [
        id_of(&layout.volume.join("dir")),
        id_of(&layout.volume.join("dir/sub")),
    ];
    let mut backend = layout.backend(case.walk, case.proc_fd_bind);
    let baseline = mounts();
    let target = layout.pod.join("volume-subpaths/vol/app/0");
    let mut tally = Tally::default();
    let swapper = Swapper::start(&layout.volume, "dir", "evil");
    for round in 0..rounds {
        let context = format!("{} round {round}", case.name);
        match layout.prepare(&mut backend, case.subpath, "app", "0") {
            Ok(SubpathResponse::Prepared(prepared)) => {
                tally.mounted += 1;
                assert!(!prepared.already_mounted, "{context}");
                assert!(inside.contains(&prepared.source.id), "{context}");
                let shown = rustix::fs::lstat(&target).unwrap();
                let shown = FileId {
                    dev: shown.st_dev,
                    ino: shown.st_ino,
                };
                assert!(
                    inside.contains(&shown),
                    "{context}: the mount shows {shown}"
                );
                assert_eq!(extra_mounts(&baseline, &layout, &context).len(), 1);
                unmount(&mut backend, "volume-subpaths/vol/app/0", &context);
            }
            Ok(other) => panic!("{context}: {other:?}"),
            Err(error) => {
                tally.refuse(why(&error));
                assert!(
                    extra_mounts(&baseline, &layout, &context).is_empty(),
                    "{context}: a refused prepare left a mount ({error})"
                );
            }
        }
        tally.rounds += 1;
    }
    tally.swaps = swapper.finish();
    tally
}

fn unmount(backend: &mut LinuxBackend, target: &str, context: &str) {
    execute(
        backend,
        &Effect::Unmount {
            target: rel(Root::PodDir, target),
        },
    )
    .unwrap_or_else(|error| panic!("{context}: unmount: {error}"));
}

/// The mount point `volume-subpaths/vol/app/0` is a directory, `evil` next
/// to it a symlink to `/`; the swapper exchanges them while the bind-mount
/// effect runs (the effect resolves the target to an fd, mounts onto the fd
/// and checks the result).
fn race_target(scratch: &Path, name: &str, proc_fd_bind: bool, rounds: u64) -> Tally {
    let layout = Layout::new(&scratch.join(name));
    std::fs::create_dir_all(layout.volume.join("dir")).unwrap();
    let container = layout.pod.join("volume-subpaths/vol/app");
    std::fs::create_dir_all(container.join("0")).unwrap();
    symlink("/", container.join("evil")).unwrap();
    let source = id_of(&layout.volume.join("dir"));
    let mut backend = layout.backend(false, proc_fd_bind);
    let baseline = mounts();
    let bind = Effect::BindMount {
        source: rel(Root::Volume, "dir"),
        target: rel(Root::PodDir, "volume-subpaths/vol/app/0"),
        expect: source,
        idmap: None,
    };
    let mut tally = Tally::default();
    let swapper = Swapper::start(&container, "0", "evil");
    for round in 0..rounds {
        let context = format!("{name} round {round}");
        let result = execute(&mut backend, &bind);
        // Settle the tree to look at it.
        swapper.pause();
        let extra = extra_mounts(&baseline, &layout, &context);
        match &result {
            Ok(_) => {
                tally.mounted += 1;
                assert_eq!(extra.len(), 1, "{context}: {extra:?}");
            }
            Err(error) => {
                tally.refuse(format!("bind-mount: {}", error.errno.name().unwrap_or("?")));
                // Undone, except when the fallback could not find the moved
                // mount point: then it is still inside the pod directory
                // (checked above) and reported as EBUSY.
                assert!(
                    extra.is_empty() || (proc_fd_bind && error.errno == podns_core::Errno::EBUSY),
                    "{context}: a failed bind left {extra:?} ({error})"
                );
            }
        }
        for point in extra {
            rustix::mount::unmount(point.as_str(), UnmountFlags::NOFOLLOW)
                .unwrap_or_else(|error| panic!("{context}: unmount {point}: {error}"));
        }
        swapper.resume();
        tally.rounds += 1;
    }
    tally.swaps = swapper.finish();
    tally
}

fn total_rounds() -> u64 {
    match std::env::var(ROUNDS_ENV) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{ROUNDS_ENV}={text:?} is not a number")),
        Err(_) => DEFAULT_ROUNDS,
    }
}

#[test]
fn rename_exchange_races_never_mount_anything_outside() {
    in_private_mount_ns(
        "rename_exchange_races_never_mount_anything_outside",
        |scratch| {
            let sources = [
                SourceCase {
                    name: "source-last-component-openat2",
                    subpath: "dir",
                    escape: "/",
                    walk: false,
                    proc_fd_bind: false,
                },
                SourceCase {
                    name: "source-middle-component-openat2-dotdot",
                    subpath: "dir/sub",
                    escape: "../outside",
                    walk: false,
                    proc_fd_bind: false,
                },
                SourceCase {
                    name: "source-last-component-walk",
                    subpath: "dir",
                    escape: "/",
                    walk: true,
                    proc_fd_bind: false,
                },
                SourceCase {
                    name: "source-middle-component-walk-proc-fd-bind",
                    subpath: "dir/sub",
                    escape: "/",
                    walk: true,
                    proc_fd_bind: true,
                },
            ];
            let cases = sources.len() as u64 + 2;
            let per_case = total_rounds().div_ceil(cases);
            let mut results: Vec<(String, Tally)> = Vec::new();
            for case in &sources {
                results.push((case.name.into(), race_source(scratch, case, per_case)));
            }
            results.push((
                "target-open-tree".into(),
                race_target(scratch, "target-open-tree", false, per_case),
            ));
            results.push((
                "target-proc-fd-bind".into(),
                race_target(scratch, "target-proc-fd-bind", true, per_case),
            ));
            let mut total = Tally::default();
            println!("race results ({per_case} rounds per case):");
            for (name, tally) in &results {
                println!(
                    "  {name}: {} rounds, {} mounted (all inside the volume), {} refused {:?}, {} swaps",
                    tally.rounds,
                    tally.mounted,
                    tally.refusals(),
                    tally.refused,
                    tally.swaps
                );
                // The race really happened: both outcomes occurred.
                assert!(tally.swaps > 0, "{name}: the swapper never swapped");
                assert!(tally.mounted > 0, "{name}: no round mounted anything");
                assert!(tally.refusals() > 0, "{name}: no round saw the symlink");
                total.rounds += tally.rounds;
                total.mounted += tally.mounted;
                total.swaps += tally.swaps;
                for (why, count) in &tally.refused {
                    *total.refused.entry(why.clone()).or_default() += count;
                }
            }
            println!(
                "race total: {} rounds, {} mounted, {} refused, {} swaps; nothing outside the \
             volume was ever mounted",
                total.rounds,
                total.mounted,
                total.refusals(),
                total.swaps
            );
            assert!(mounts_left(scratch).is_empty());
        },
    );
}

fn mounts_left(scratch: &Path) -> Vec<PathBuf> {
    let scratch = format!("{}/", scratch.display());
    mounts()
        .into_iter()
        .filter(|(point, _)| point.starts_with(&scratch))
        .map(|(point, _)| PathBuf::from(point))
        .collect()
}
