//! The prepare and clean operations alone: the exact effects each issues for
//! a script of outcomes, and its result.

use super::super::lexical::HostDir;
use super::super::names::{SubpathName, SubpathNameField, SubpathTarget};
use super::super::request::{
    CleanSubpaths, PrepareSubpath, PreparedSubpath, SubpathCleanReport, SubpathError,
    SubpathResponse,
};
use super::{ActiveOp, CleanOp, PrepareOp};
use crate::effect::{
    DirEntry, Effect, EffectError, EntryKind, Errno, FileId, IdmapWith, InodeInfo, Observation,
    Outcome,
};
use crate::error_details::ErrorDetails;
use crate::ns::{NamespaceId, NamespaceKind};
use crate::op_test::{Run, run};
use crate::path::{RelPath, Root, RootLabels, RootPath};

const POD_DIR: &str = "/pods/p";

fn path(root: Root, text: &str) -> RootPath {
    RootPath {
        root,
        path: RelPath::parse(text).unwrap(),
    }
}

fn drive(op: ActiveOp, outcomes: Vec<Outcome>) -> Run<SubpathResponse, SubpathError> {
    let mut labels = RootLabels::new()
        .with(Root::Volume, "/volume")
        .with(Root::PodDir, POD_DIR);
    run(
        op,
        &mut labels,
        |op, _| op.poll(),
        |op, labels, outcome| op.handle(labels, outcome),
        outcomes,
    )
}

fn prepare(subpath: &str, outcomes: Vec<Outcome>) -> Run<SubpathResponse, SubpathError> {
    prepare_with(subpath, None, outcomes)
}

fn prepare_with(
    subpath: &str,
    idmap: Option<IdmapWith>,
    outcomes: Vec<Outcome>,
) -> Run<SubpathResponse, SubpathError> {
    let op = PrepareOp::new(PrepareSubpath {
        subpath: RelPath::parse(subpath).unwrap(),
        target: SubpathTarget::new("data", "app", "0").unwrap(),
        pod_dir: HostDir::parse(POD_DIR).unwrap(),
        idmap,
    });
    drive(ActiveOp::Prepare(op), outcomes)
}

/// The pod's pinned user namespace.
fn pod_userns() -> IdmapWith {
    IdmapWith {
        pin: path(Root::Run, "p/user"),
        userns: NamespaceId {
            kind: NamespaceKind::User,
            ino: 4_026_532_001,
        },
    }
}

fn clean(outcomes: Vec<Outcome>) -> Run<SubpathResponse, SubpathError> {
    let op = CleanOp::new(CleanSubpaths {
        volume: SubpathName::new(SubpathNameField::Volume, "data").unwrap(),
        pod_dir: HostDir::parse(POD_DIR).unwrap(),
    });
    drive(ActiveOp::Clean(op), outcomes)
}

const SOURCE_ID: FileId = FileId { dev: 1, ino: 5 };

fn directory(id: FileId) -> Outcome {
    Ok(Observation::Inode(InodeInfo {
        id,
        kind: EntryKind::Directory,
        mode: 0o755,
    }))
}

/// A mount table with one mount on each of `points` (relative to the pod
/// directory).
fn mounts(points: &[&str]) -> Outcome {
    let mut table = String::from("1 0 0:1 / / rw - ext4 /dev/sda rw\n");
    for (n, point) in points.iter().enumerate() {
        table += &format!(
            "{} 1 0:1 /volume/dir {POD_DIR}/{point} rw - ext4 /dev/sda rw\n",
            n + 2
        );
    }
    Ok(Observation::Contents(table.into_bytes()))
}

/// A listing of one directory named `name`.
fn directory_holding(name: &str) -> Outcome {
    directories(&[name])
}

fn done() -> Outcome {
    Ok(Observation::Done)
}

fn failed(errno: Errno) -> Outcome {
    Err(EffectError::new(errno, "test"))
}

const TARGET: &str = "volume-subpaths/data/app/0";
const CONTAINER_DIR: &str = "volume-subpaths/data/app";

/// `remove-dir` of each of `dirs` below the pod directory, in order.
fn remove_dirs(dirs: &[&str]) -> Vec<Effect> {
    dirs.iter()
        .map(|dir| Effect::RemoveDir {
            dir: path(Root::PodDir, dir),
        })
        .collect()
}

/// The effects of a prepare of the directory `dir` with nothing mounted.
fn fresh_prepare_effects() -> Vec<Effect> {
    vec![
        Effect::StatBeneath {
            path: path(Root::Volume, "dir"),
        },
        Effect::ReadMountInfo,
        Effect::MakeDirBeneath {
            dir: path(Root::PodDir, CONTAINER_DIR),
            mode: 0o750,
        },
        Effect::CreateDir {
            dir: path(Root::PodDir, TARGET),
            mode: 0o750,
        },
        Effect::BindMount {
            source: path(Root::Volume, "dir"),
            target: path(Root::PodDir, TARGET),
            expect: SOURCE_ID,
            idmap: None,
        },
    ]
}

fn fresh_prepare_outcomes() -> Vec<Outcome> {
    vec![
        directory(SOURCE_ID),
        mounts(&[]),
        Ok(Observation::DirCreated { created: true }),
        Ok(Observation::DirCreated { created: true }),
    ]
}

#[test]
fn a_directory_is_bound_on_a_new_directory_with_the_source_it_was_chosen_for() {
    let mut outcomes = fresh_prepare_outcomes();
    outcomes.push(done());
    let run = prepare("dir", outcomes);
    assert_eq!(run.effects, fresh_prepare_effects());
    let Ok(SubpathResponse::Prepared(prepared)) = run.finished() else {
        panic!("the prepare failed");
    };
    assert_eq!(prepared.host_path, format!("{POD_DIR}/{TARGET}"));
    assert_eq!(prepared.source.id, SOURCE_ID);
    assert!(!prepared.already_mounted);
}

#[test]
fn the_same_file_mounted_already_is_left_as_it_is() {
    let run = prepare(
        "dir",
        vec![
            directory(SOURCE_ID),
            mounts(&[TARGET]),
            directory(SOURCE_ID),
        ],
    );
    assert_eq!(
        run.effects[2],
        Effect::StatNoFollow {
            path: path(Root::PodDir, TARGET),
        }
    );
    assert_eq!(run.effects.len(), 3);
    let Ok(SubpathResponse::Prepared(prepared)) = run.finished() else {
        panic!("the prepare failed");
    };
    assert!(prepared.already_mounted);
}

#[test]
fn another_file_mounted_there_is_unmounted_and_the_table_read_again() {
    another_file_replaced(done());
}

#[test]
fn another_file_unmounted_by_someone_else_first_is_looked_at_again() {
    // EINVAL: nothing is mounted there any more.
    another_file_replaced(failed(Errno::EINVAL));
}

/// A prepare that finds another file mounted on the target and whose
/// unmount answers `unmounted`.
fn another_file_replaced(unmounted: Outcome) {
    let other = FileId { dev: 1, ino: 9 };
    let mut outcomes = vec![directory(SOURCE_ID), mounts(&[TARGET]), directory(other)];
    outcomes.extend([unmounted, mounts(&[])]);
    outcomes.extend(fresh_prepare_outcomes().into_iter().skip(2));
    outcomes.push(done());
    let run = prepare("dir", outcomes);
    let mut expected = fresh_prepare_effects();
    expected.splice(
        2..2,
        [
            Effect::StatNoFollow {
                path: path(Root::PodDir, TARGET),
            },
            Effect::Unmount {
                target: path(Root::PodDir, TARGET),
            },
            Effect::ReadMountInfo,
        ],
    );
    assert_eq!(run.effects, expected);
    let Ok(SubpathResponse::Prepared(prepared)) = run.finished() else {
        panic!("the prepare failed");
    };
    assert_eq!(prepared.replaced_mounts, 1);
}

#[test]
fn an_idmapped_bind_carries_the_pods_user_namespace() {
    let mut outcomes = fresh_prepare_outcomes();
    outcomes.push(done());
    let run = prepare_with("dir", Some(pod_userns()), outcomes);
    let mut expected = fresh_prepare_effects();
    if let Some(Effect::BindMount { idmap, .. }) = expected.last_mut() {
        *idmap = Some(pod_userns());
    }
    assert_eq!(run.effects, expected);
    let Ok(SubpathResponse::Prepared(prepared)) = run.finished() else {
        panic!("the prepare failed");
    };
    assert_eq!(prepared.idmapped, Some(pod_userns()));
}

#[test]
fn the_same_file_mounted_without_idmapping_is_replaced_by_an_idmapped_mount() {
    let prepared = replaced_by_an_idmapped_mount(mounts(&[TARGET]));
    assert!(!prepared.already_mounted);
}

#[test]
fn an_idmapped_mount_in_place_is_replaced_since_its_namespace_is_unknown() {
    let idmapped_table = Ok(Observation::Contents(
        format!(
            "1 0 0:1 / / rw - ext4 /dev/sda rw\n\
             2 1 0:1 /volume/dir {POD_DIR}/{TARGET} rw,idmapped - ext4 /dev/sda rw\n"
        )
        .into_bytes(),
    ));
    let prepared = replaced_by_an_idmapped_mount(idmapped_table);
    assert_eq!(prepared.idmapped, Some(pod_userns()));
}

/// An idmapped prepare of `dir` that finds the same file mounted as the
/// mount table `table` shows: it unmounts it and mounts again.
fn replaced_by_an_idmapped_mount(table: Outcome) -> PreparedSubpath {
    let mut outcomes = vec![directory(SOURCE_ID), table, directory(SOURCE_ID)];
    outcomes.extend([done(), mounts(&[])]);
    outcomes.extend(fresh_prepare_outcomes().into_iter().skip(2));
    outcomes.push(done());
    let run = prepare_with("dir", Some(pod_userns()), outcomes);
    assert_eq!(
        run.effects[3],
        Effect::Unmount {
            target: path(Root::PodDir, TARGET),
        }
    );
    let Ok(SubpathResponse::Prepared(prepared)) = run.finished() else {
        panic!("the prepare failed");
    };
    assert_eq!(prepared.replaced_mounts, 1);
    prepared
}

/// An idmapped prepare from nothing whose bind answers `failure`, each
/// removal of the rollback succeeding.
fn idmapped_bind_failing(failure: Outcome) -> Run<SubpathResponse, SubpathError> {
    let mut outcomes = fresh_prepare_outcomes();
    outcomes.push(failure);
    outcomes.extend(std::iter::repeat_with(done).take(4));
    prepare_with("dir", Some(pod_userns()), outcomes)
}

#[test]
fn a_file_system_that_cannot_idmap_is_named_and_the_mount_point_rolled_back() {
    let run = idmapped_bind_failing(Err(EffectError::new(
        Errno::EOPNOTSUPP,
        "mount_setattr(MOUNT_ATTR_IDMAP) /volume/dir: is on ramfs, which does not support \
         idmapped mounts",
    )));
    assert_eq!(
        run.effects[5..],
        remove_dirs(&[
            TARGET,
            CONTAINER_DIR,
            "volume-subpaths/data",
            "volume-subpaths"
        ])[..]
    );
    let error = run.finished().unwrap_err();
    assert_eq!(error.kind(), "not-idmappable");
    let message = error.to_string();
    assert!(message.contains("/volume/dir"), "{message}");
    assert!(message.contains("is on ramfs"), "{message}");
    assert!(message.contains("nothing was mounted"), "{message}");
    assert!(!message.contains("removed first"), "{message}");
}

#[test]
fn a_refused_idmapping_after_replacing_a_mount_says_how_to_restore_it() {
    let mut outcomes = vec![
        directory(SOURCE_ID),
        mounts(&[TARGET]),
        directory(SOURCE_ID),
    ];
    outcomes.extend([done(), mounts(&[])]);
    outcomes.extend(fresh_prepare_outcomes().into_iter().skip(2));
    outcomes.push(failed(Errno::EOPNOTSUPP));
    outcomes.extend(std::iter::repeat_with(done).take(4));
    let error = prepare_with("dir", Some(pod_userns()), outcomes)
        .finished()
        .unwrap_err();
    assert_eq!(error.kind(), "not-idmappable");
    let message = error.to_string();
    assert!(
        message.contains("the mount that was there before was removed first"),
        "{message}"
    );
}

/// The error of a prepare of `subpath` whose resolution fails with `errno`,
/// checked to have done nothing else.
fn refused_at_the_source(subpath: &str, errno: Errno) -> SubpathError {
    let run = prepare(subpath, vec![failed(errno)]);
    assert_eq!(run.effects.len(), 1);
    run.finished().unwrap_err()
}

#[test]
fn a_source_out_of_the_volume_mounts_nothing() {
    for errno in [Errno::EXDEV, Errno::ELOOP] {
        let error = refused_at_the_source("escape", errno);
        assert_eq!(error.kind(), "unsafe-subpath", "{errno}");
        assert!(error.to_string().contains("/volume/escape"), "{error}");
    }
}

/// A prepare whose bind fails with EPERM and whose rollback's removals
/// answer `rollback`: checks that the rollback removed exactly `removed`,
/// in order, and returns the error.
fn rolled_back(rollback: Vec<Outcome>, removed: &[&str]) -> SubpathError {
    let mut outcomes = fresh_prepare_outcomes();
    outcomes.push(failed(Errno::EPERM));
    outcomes.extend(rollback);
    let run = prepare("dir", outcomes);
    let mut expected = fresh_prepare_effects();
    expected.extend(remove_dirs(removed));
    assert_eq!(run.effects, expected);
    run.finished().unwrap_err()
}

#[test]
fn a_failed_bind_removes_the_mount_point_and_its_empty_parents_only() {
    // volume-subpaths itself is not tried: its child was not empty.
    let error = rolled_back(
        vec![done(), done(), failed(Errno::ENOTEMPTY)],
        &[TARGET, CONTAINER_DIR, "volume-subpaths/data"],
    );
    assert_eq!(error.errno(), Some(Errno::EPERM));
}

/// The effects of a clean of the target's volume up to the listing of its
/// container directory, the target mounted.
fn clean_of_the_target_effects() -> Vec<Effect> {
    vec![
        Effect::ReadMountInfo,
        Effect::Unmount {
            target: path(Root::PodDir, TARGET),
        },
        Effect::ListDir {
            dir: path(Root::PodDir, "volume-subpaths/data"),
        },
        Effect::ListDir {
            dir: path(Root::PodDir, CONTAINER_DIR),
        },
    ]
}

#[test]
fn a_clean_unmounts_deepest_first_then_removes_bottom_up() {
    let outcomes = vec![
        mounts(&[TARGET, "volume-subpaths/logs/app/0"]),
        done(),
        directory_holding("app"),
        directory_holding("0"),
        done(),
        done(),
        done(),
        // Another volume still has mount points there.
        failed(Errno::ENOTEMPTY),
    ];
    let run = clean(outcomes);
    assert_eq!(
        run.effects,
        clean_of_the_target_effects()
            .into_iter()
            .chain(remove_dirs(&[
                TARGET,
                CONTAINER_DIR,
                "volume-subpaths/data",
                "volume-subpaths",
            ]))
            .collect::<Vec<_>>()
    );
    let Ok(SubpathResponse::Cleaned(report)) = run.finished() else {
        panic!("the clean failed");
    };
    assert_eq!(report.unmounted, [path(Root::PodDir, TARGET)]);
    assert_eq!(report.removed.len(), 3);
    assert!(report.kept.is_empty());
}

#[test]
fn a_mount_point_that_stays_mounted_is_kept_and_never_removed_through() {
    let outcomes = vec![
        mounts(&[TARGET]),
        failed(Errno::EBUSY),
        directory_holding("app"),
        directory_holding("0"),
    ];
    let run = clean(outcomes);
    // After the listings nothing is removed: the kept mount point blocks
    // itself and every directory above it.
    assert_eq!(run.effects.len(), 4, "{:#?}", run.effects);
    let Ok(SubpathResponse::Cleaned(report)) = run.finished() else {
        panic!("the clean failed");
    };
    assert_eq!(report.kept.len(), 1);
    assert_eq!(report.kept[0].path, path(Root::PodDir, TARGET));
    assert!(report.removed.is_empty());
}

/// A listing of the directories `names`.
fn directories(names: &[&str]) -> Outcome {
    Ok(Observation::Listing(
        names
            .iter()
            .map(|name| DirEntry {
                name: (*name).to_owned(),
                kind: EntryKind::Directory,
            })
            .collect(),
    ))
}

fn cleaned(run: Run<SubpathResponse, SubpathError>) -> SubpathCleanReport {
    match run.finished() {
        Ok(SubpathResponse::Cleaned(report)) => report,
        other => panic!("the clean failed: {other:?}"),
    }
}

#[test]
fn a_clean_racing_another_cleaner_counts_what_is_gone_as_done() {
    // The other cleaner unmounted the mount point and removed the
    // directories between our reads and our removals.
    let run = clean(vec![
        mounts(&[TARGET]),
        failed(Errno::EINVAL),
        directory_holding("app"),
        failed(Errno::ENOENT),
        failed(Errno::ENOENT),
        failed(Errno::ENOENT),
    ]);
    assert_eq!(run.effects.len(), 6, "{:#?}", run.effects);
    let report = cleaned(run);
    assert!(report.kept.is_empty(), "{:?}", report.kept);
    assert!(report.unmounted.is_empty() && report.removed.is_empty());
}

#[test]
fn a_clean_of_a_volume_never_mounted_keeps_nothing() {
    let run = clean(vec![
        mounts(&[]),
        failed(Errno::ENOENT),
        failed(Errno::ENOENT),
        failed(Errno::ENOENT),
    ]);
    assert_eq!(
        run.effects,
        vec![
            Effect::ReadMountInfo,
            Effect::ListDir {
                dir: path(Root::PodDir, "volume-subpaths/data"),
            },
        ]
        .into_iter()
        .chain(remove_dirs(&["volume-subpaths/data", "volume-subpaths"]))
        .collect::<Vec<_>>()
    );
    assert!(cleaned(run).kept.is_empty());
}

#[test]
fn what_cannot_be_cleaned_blocks_only_its_own_parents() {
    // app/0 stays mounted and x cannot be listed: both are kept, and so are
    // the volume directory above them; side is cleaned all the same.
    let run = clean(vec![
        mounts(&[TARGET]),
        failed(Errno::EBUSY),
        directories(&["app", "side", "x"]),
        directory_holding("0"),
        directory_holding("0"),
        done(),
        done(),
        failed(Errno::EACCES),
    ]);
    assert_eq!(
        run.effects,
        clean_of_the_target_effects()
            .into_iter()
            .chain([Effect::ListDir {
                dir: path(Root::PodDir, "volume-subpaths/data/side"),
            }])
            .chain(remove_dirs(&[
                "volume-subpaths/data/side/0",
                "volume-subpaths/data/side"
            ]))
            .chain([Effect::ListDir {
                dir: path(Root::PodDir, "volume-subpaths/data/x"),
            }])
            .collect::<Vec<_>>()
    );
    let report = cleaned(run);
    let kept: Vec<&RootPath> = report.kept.iter().map(|kept| &kept.path).collect();
    assert_eq!(
        kept,
        [
            &path(Root::PodDir, TARGET),
            &path(Root::PodDir, "volume-subpaths/data/x")
        ]
    );
    assert_eq!(report.removed.len(), 2);
}

fn regular_file(id: FileId) -> Outcome {
    Ok(Observation::Inode(InodeInfo {
        id,
        kind: EntryKind::File,
        mode: 0o644,
    }))
}

/// The outcomes of a prepare of the source `found` up to the creation of
/// its mount point: nothing mounted, the parents made.
fn up_to_the_mount_point(found: Outcome) -> Vec<Outcome> {
    vec![
        found,
        mounts(&[]),
        Ok(Observation::DirCreated { created: true }),
    ]
}

/// A prepare of the source `found` whose mount point's creation answers
/// each of `creates` in turn, every removal and the bind succeeding.
fn prepare_creating(found: Outcome, creates: Vec<Outcome>) -> Run<SubpathResponse, SubpathError> {
    let mut outcomes = up_to_the_mount_point(found);
    let last = creates.len() - 1;
    for (index, create) in creates.into_iter().enumerate() {
        outcomes.push(create);
        if index < last {
            outcomes.push(done());
        }
    }
    outcomes.push(done());
    prepare("dir", outcomes)
}

/// The effects from the mount point's first creation on.
fn after_parents(run: &Run<SubpathResponse, SubpathError>) -> &[Effect] {
    &run.effects[3..]
}

fn target() -> RootPath {
    path(Root::PodDir, TARGET)
}

#[test]
fn a_file_where_a_directory_mount_point_goes_is_replaced_once() {
    let run = prepare_creating(
        directory(SOURCE_ID),
        vec![
            failed(Errno::ENOTDIR),
            Ok(Observation::DirCreated { created: true }),
        ],
    );
    let create = Effect::CreateDir {
        dir: target(),
        mode: 0o750,
    };
    assert_eq!(
        after_parents(&run)[..3],
        [
            create.clone(),
            Effect::RemoveFile { file: target() },
            create
        ]
    );
    assert!(matches!(run.finished(), Ok(SubpathResponse::Prepared(_))));
}

#[test]
fn a_directory_or_a_symlink_where_a_file_mount_point_goes_is_replaced_once() {
    for (errno, removal) in [
        (Errno::EISDIR, Effect::RemoveDir { dir: target() }),
        (Errno::EEXIST, Effect::RemoveFile { file: target() }),
    ] {
        let run = prepare_creating(regular_file(SOURCE_ID), vec![failed(errno), done()]);
        let create = Effect::CreateEmptyFile {
            file: target(),
            mode: 0o640,
        };
        assert_eq!(
            after_parents(&run)[..3],
            [create.clone(), removal, create],
            "{errno}"
        );
        assert!(
            matches!(run.finished(), Ok(SubpathResponse::Prepared(_))),
            "{errno}"
        );
    }
}

#[test]
fn a_mount_point_of_the_wrong_kind_again_after_its_replacement_is_an_error() {
    // Something keeps putting a file there: replace it once, then stop.
    let mut outcomes = up_to_the_mount_point(directory(SOURCE_ID));
    outcomes.extend([failed(Errno::ENOTDIR), done(), failed(Errno::ENOTDIR)]);
    let run = prepare("dir", outcomes);
    assert_eq!(after_parents(&run).len(), 3, "{:#?}", run.effects);
    let error = run.finished().unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot create the mount point {POD_DIR}/{TARGET}")),
        "{error}"
    );
}

#[test]
fn a_directory_mount_point_that_cannot_be_made_is_not_replaced() {
    // EEXIST for a directory means something raced the creation: nothing
    // is removed on a guess.
    let mut outcomes = up_to_the_mount_point(directory(SOURCE_ID));
    outcomes.push(failed(Errno::EEXIST));
    let run = prepare("dir", outcomes);
    assert_eq!(after_parents(&run).len(), 1, "{:#?}", run.effects);
    assert_eq!(run.finished().unwrap_err().kind(), "io");
}

#[test]
fn a_missing_subpath_is_named_as_missing() {
    let error = refused_at_the_source("dir", Errno::ENOENT);
    assert_eq!(error.kind(), "missing-subpath");
    assert!(error.to_string().contains("/volume/dir"), "{error}");
}

#[test]
fn a_rollback_goes_on_past_a_mount_point_already_gone() {
    rolled_back(
        vec![failed(Errno::ENOENT), done(), done(), done()],
        &[
            TARGET,
            CONTAINER_DIR,
            "volume-subpaths/data",
            "volume-subpaths",
        ],
    );
}

#[test]
fn each_reason_an_idmapped_mount_is_refused_has_its_own_remedy() {
    for (errno, remedy) in [
        (
            Errno::EOPNOTSUPP,
            "a file system that supports idmapped mounts",
        ),
        (Errno::ENOSYS, "Linux 5.12 or later"),
        (Errno::EPERM, "CAP_SYS_ADMIN"),
    ] {
        let error = idmapped_bind_failing(failed(errno)).finished().unwrap_err();
        assert_eq!(error.kind(), "not-idmappable", "{errno}");
        assert!(error.to_string().contains(remedy), "{errno}: {error}");
    }
    // Any other failure is an I/O error like a plain mount's.
    let error = idmapped_bind_failing(failed(Errno::EIO))
        .finished()
        .unwrap_err();
    assert_eq!(error.kind(), "io");
}
