//! Each userns operation alone: the exact effects it issues for a script of
//! outcomes, its result, and what it leaves in the registry.

use std::collections::BTreeSet;

use super::super::file_format::{USERNS_FILE_NAME, render_userns_file};
use super::super::mapping::{IdMapping, UserNamespace};
use super::super::pool::PoolConfig;
use super::super::registry::{Claim, FoundClaim, Registry};
use super::super::request::{PodUserNamespace, Release, UsernsError, UsernsResponse};
use super::{AllocateOp, CleanupOp, RecoverOp, ReleaseOp};
use crate::effect::{DirEntry, Effect, EffectError, EntryKind, Errno, Observation, Outcome};
use crate::op_test::{Run, run};
use crate::path::{PodUid, Root, RootLabels, RootPath};

const TEMP: &str = ".userns.podns-tmp.0";

fn pod(name: &str) -> PodUid {
    PodUid::new(name).unwrap()
}

/// A pool of 64 Ki IDs per pod from host ID 65536.
fn registry() -> Registry {
    Registry::new(PoolConfig::kubelet_default(65536, 110).validate().unwrap())
}

fn pod_dir(pod: &PodUid) -> RootPath {
    RootPath::pod_dir(Root::Pods, pod)
}

fn pods_dir() -> RootPath {
    RootPath::root(Root::Pods)
}

fn done() -> Outcome {
    Ok(Observation::Done)
}

fn failed(errno: Errno) -> Outcome {
    Err(EffectError::new(errno, "test"))
}

fn entry(name: &str, kind: EntryKind) -> DirEntry {
    DirEntry {
        name: name.to_owned(),
        kind,
    }
}

/// Allocates slot 0 to `pod` with `outcomes`.
fn allocate(
    registry: &mut Registry,
    pod: &PodUid,
    outcomes: Vec<Outcome>,
) -> (Run<UsernsResponse, UsernsError>, IdMapping) {
    let slot = registry.reserve_slot(0).unwrap();
    let mapping = IdMapping::root_to(registry.pool().slot_range(slot)).unwrap();
    let op = AllocateOp::new(pod.clone(), slot, mapping, TEMP, None);
    let run = run(
        op,
        registry,
        |op, _| op.poll(),
        AllocateOp::handle,
        outcomes,
    );
    (run, mapping)
}

fn allocation_effects(pod: &PodUid, mapping: IdMapping) -> Vec<Effect> {
    let dir = pod_dir(pod);
    vec![
        Effect::CreateDir {
            dir: dir.clone(),
            mode: 0o750,
        },
        Effect::SyncDir { dir: pods_dir() },
        Effect::WriteNewFile {
            file: dir.join(TEMP),
            mode: 0o600,
            contents: render_userns_file(mapping),
        },
        Effect::SyncFile {
            file: dir.join(TEMP),
        },
        Effect::Rename {
            from: dir.join(TEMP),
            to: dir.join(USERNS_FILE_NAME),
        },
        Effect::SyncDir { dir },
    ]
}

fn is_in_doubt(registry: &Registry, pod: &PodUid) -> bool {
    matches!(registry.claim(pod), Some(Claim::Known(known)) if known.in_doubt)
}

#[test]
fn allocate_writes_through_a_temp_file_and_syncs_before_acknowledging() {
    let mut registry = registry();
    let free = registry.free();
    let p = pod("a");
    let created = Ok(Observation::DirCreated { created: true });
    let (run, mapping) = allocate(
        &mut registry,
        &p,
        vec![created, done(), done(), done(), done(), done()],
    );
    assert_eq!(run.effects, allocation_effects(&p, mapping));
    assert_eq!(
        run.finished(),
        Ok(UsernsResponse::UserNamespace(PodUserNamespace {
            pod: p.clone(),
            userns: UserNamespace::pod(mapping),
            created: true,
        }))
    );
    assert!(matches!(registry.claim(&p), Some(Claim::Known(known)) if !known.in_doubt));
    assert_eq!(registry.free(), free - 1);
}

#[test]
fn allocate_into_a_directory_known_durable_does_not_sync_the_pods_directory() {
    let mut registry = registry();
    let p = pod("a");
    registry.mark_pod_dir_durable(&p);
    let existing = Ok(Observation::DirCreated { created: false });
    let (run, mapping) = allocate(
        &mut registry,
        &p,
        vec![existing, done(), done(), done(), done()],
    );
    let mut expected = allocation_effects(&p, mapping);
    expected.remove(1);
    assert_eq!(run.effects, expected);
    assert!(run.finished().is_ok());
}

#[test]
fn allocate_into_a_directory_not_known_durable_syncs_the_pods_directory_first() {
    // Someone else made the directory since recovery: its entry may not
    // survive a power loss until the pods directory is synced.
    let mut registry = registry();
    let p = pod("a");
    let existing = Ok(Observation::DirCreated { created: false });
    let (run, mapping) = allocate(
        &mut registry,
        &p,
        vec![existing, done(), done(), done(), done(), done()],
    );
    assert_eq!(run.effects, allocation_effects(&p, mapping));
    assert!(run.finished().is_ok());
    assert!(registry.pod_dir_is_durable(&p));
}

#[test]
fn a_failure_names_the_path_as_the_roots_are_labelled() {
    let mut registry = registry();
    registry.set_labels(RootLabels::new().with(Root::Pods, "/var/lib/kubelet/pods"));
    let p = pod("a");
    let (run, _) = allocate(&mut registry, &p, vec![failed(Errno::EACCES)]);
    let message = run.finished().unwrap_err().to_string();
    assert!(
        message.contains("/var/lib/kubelet/pods/a"),
        "the message does not name the labelled path: {message}"
    );
}

#[test]
fn a_failed_temp_sync_removes_the_temp_file_and_frees_the_slot() {
    let mut registry = registry();
    let free = registry.free();
    let p = pod("a");
    let created = Ok(Observation::DirCreated { created: true });
    let outcomes = vec![
        created,
        done(),
        done(),
        failed(Errno::EIO),
        failed(Errno::EIO),
    ];
    let (run, mapping) = allocate(&mut registry, &p, outcomes);
    let mut expected = allocation_effects(&p, mapping)[..4].to_vec();
    expected.push(Effect::RemoveFile {
        file: pod_dir(&p).join(TEMP),
    });
    assert_eq!(run.effects, expected);
    let error = run.finished().unwrap_err();
    assert_eq!(crate::ErrorDetails::errno(&error), Some(Errno::EIO));
    assert_eq!(
        error.to_string(),
        format!("cannot sync <pods>/a/{TEMP}: test: EIO (Input/output error)")
    );
    assert!(registry.claim(&p).is_none());
    assert_eq!(registry.free(), free);
}

#[test]
fn a_failed_directory_sync_after_the_rename_removes_userns_durably_before_freeing() {
    let mut registry = registry();
    let free = registry.free();
    let p = pod("a");
    let created = Ok(Observation::DirCreated { created: true });
    let mut outcomes = vec![created, done(), done(), done(), done(), failed(Errno::EIO)];
    outcomes.extend([done(), done()]);
    let (run, mapping) = allocate(&mut registry, &p, outcomes);
    let mut expected = allocation_effects(&p, mapping);
    expected.push(Effect::RemoveFile {
        file: pod_dir(&p).join(USERNS_FILE_NAME),
    });
    expected.push(Effect::SyncDir { dir: pod_dir(&p) });
    assert_eq!(run.effects, expected);
    assert!(run.finished().is_err());
    assert_eq!(registry.free(), free);
}

#[test]
fn a_rollback_that_cannot_be_made_durable_keeps_the_slot_in_doubt() {
    let mut registry = registry();
    let free = registry.free();
    let p = pod("a");
    let created = Ok(Observation::DirCreated { created: true });
    let mut outcomes = vec![created, done(), done(), done(), done(), failed(Errno::EIO)];
    outcomes.extend([done(), failed(Errno::EIO)]);
    let (run, _) = allocate(&mut registry, &p, outcomes);
    let error = run.finished().unwrap_err();
    // The request fails with the error that started the rollback.
    assert!(
        error.to_string().starts_with("cannot sync <pods>/a:"),
        "{error}"
    );
    assert!(is_in_doubt(&registry, &p));
    assert_eq!(registry.free(), free - 1);
}

#[test]
fn a_failed_rename_whose_temp_file_is_still_there_frees_the_slot() {
    let mut registry = registry();
    let p = pod("a");
    let created = Ok(Observation::DirCreated { created: true });
    let still_there = Ok(Observation::FileRemoved { existed: true });
    let outcomes = vec![
        created,
        done(),
        done(),
        done(),
        failed(Errno::EIO),
        still_there,
    ];
    let (run, mapping) = allocate(&mut registry, &p, outcomes);
    let mut expected = allocation_effects(&p, mapping)[..5].to_vec();
    expected.push(Effect::RemoveFile {
        file: pod_dir(&p).join(TEMP),
    });
    assert_eq!(run.effects, expected);
    assert!(run.finished().is_err());
    assert!(registry.claim(&p).is_none());
}

/// A registry where `pod` holds slot 0.
fn allocated(pod: &PodUid) -> Registry {
    let mut registry = registry();
    let slot = registry.reserve_slot(0).unwrap();
    registry.record_allocated(pod.clone(), slot);
    registry
}

/// A registry where `pod`'s directory was a symlink at recovery: an
/// unknown claim.
fn symlinked(pod: &PodUid) -> Registry {
    let mut registry = registry();
    let found = FoundClaim::Unknown {
        kind: crate::userns::ProblemKind::Unreadable,
        detail: "a symbolic link".to_owned(),
    };
    registry.rebuild(vec![(pod.clone(), found)], BTreeSet::new());
    registry
}

fn release(
    registry: &mut Registry,
    pod: &PodUid,
    outcomes: Vec<Outcome>,
) -> Run<UsernsResponse, UsernsError> {
    let op = ReleaseOp::of_claim(pod.clone(), registry, None).unwrap();
    run(op, registry, |op, _| op.poll(), ReleaseOp::handle, outcomes)
}

/// Releases `pod` with `outcomes`, checks that the release was acknowledged
/// and the claim forgotten, and returns the effects it issued.
fn released(mut registry: Registry, pod: &PodUid, outcomes: Vec<Outcome>) -> Vec<Effect> {
    let run = release(&mut registry, pod, outcomes);
    let effects = run.effects.clone();
    assert!(run.finished().is_ok(), "{effects:?}");
    assert!(registry.claim(pod).is_none());
    effects
}

#[test]
fn release_removes_the_file_and_syncs_before_freeing_the_slot() {
    let p = pod("a");
    let mut registry = allocated(&p);
    let range = registry.pool().slot_range(0);
    let run = release(
        &mut registry,
        &p,
        vec![Ok(Observation::FileRemoved { existed: true }), done()],
    );
    assert_eq!(
        run.effects,
        [
            Effect::RemoveFile {
                file: pod_dir(&p).join(USERNS_FILE_NAME),
            },
            Effect::SyncDir { dir: pod_dir(&p) },
        ]
    );
    assert_eq!(
        run.finished(),
        Ok(UsernsResponse::Released(Release {
            pod: p.clone(),
            range: Some(range),
            released: true,
        }))
    );
    assert!(registry.claim(&p).is_none());
}

#[test]
fn release_of_a_pod_whose_directory_is_gone_syncs_the_pods_directory() {
    let p = pod("a");
    let mut registry = allocated(&p);
    let run = release(&mut registry, &p, vec![failed(Errno::ENOENT), done()]);
    assert_eq!(run.effects[1], Effect::SyncDir { dir: pods_dir() });
    assert!(run.finished().is_ok());
}

#[test]
fn release_of_a_pod_whose_directory_is_a_symlink_removes_the_link_only() {
    let p = pod("a");
    let mut registry = symlinked(&p);
    let run = release(
        &mut registry,
        &p,
        vec![
            failed(Errno::ELOOP),
            Ok(Observation::FileRemoved { existed: true }),
            done(),
        ],
    );
    assert_eq!(
        run.effects,
        [
            Effect::RemoveFile {
                file: pod_dir(&p).join(USERNS_FILE_NAME),
            },
            Effect::RemoveFile { file: pod_dir(&p) },
            Effect::SyncDir { dir: pods_dir() },
        ]
    );
    assert!(run.finished().is_ok());
    assert!(registry.claim(&p).is_none());
}

#[test]
fn a_known_range_whose_directory_became_a_symlink_stays_reserved() {
    let p = pod("a");
    let mut registry = allocated(&p);
    let run = release(&mut registry, &p, vec![failed(Errno::ELOOP)]);
    assert_eq!(run.effects.len(), 1, "the link is not removed");
    assert!(run.finished().is_err());
    assert!(registry.claim(&p).is_some());
}

#[test]
fn a_symlink_that_became_a_directory_again_is_left_and_the_claim_kept() {
    let p = pod("a");
    let mut registry = symlinked(&p);
    let run = release(
        &mut registry,
        &p,
        vec![failed(Errno::ELOOP), failed(Errno::EISDIR)],
    );
    assert_eq!(run.effects.len(), 2);
    assert!(run.finished().is_err());
    assert!(registry.claim(&p).is_some());
}

#[test]
fn a_failed_removal_that_took_place_anyway_is_found_and_the_release_completes() {
    let p = pod("a");
    let mut registry = allocated(&p);
    let run = release(
        &mut registry,
        &p,
        vec![failed(Errno::EIO), failed(Errno::ENOENT), done()],
    );
    assert_eq!(
        run.effects,
        [
            Effect::RemoveFile {
                file: pod_dir(&p).join(USERNS_FILE_NAME),
            },
            Effect::StatNoFollow {
                path: pod_dir(&p).join(USERNS_FILE_NAME),
            },
            Effect::SyncDir { dir: pod_dir(&p) },
        ]
    );
    assert!(run.finished().is_ok());
    assert!(registry.claim(&p).is_none());
}

#[test]
fn a_failed_removal_whose_file_is_still_there_changes_nothing() {
    let p = pod("a");
    let mut registry = allocated(&p);
    let still = Ok(Observation::Inode(crate::effect::InodeInfo {
        id: crate::effect::FileId { dev: 1, ino: 2 },
        kind: EntryKind::File,
        mode: 0o600,
    }));
    let run = release(&mut registry, &p, vec![failed(Errno::EIO), still]);
    assert_eq!(run.effects.len(), 2);
    assert!(run.finished().is_err());
    assert!(registry.claim(&p).is_some());
    assert!(!is_in_doubt(&registry, &p));
}

#[test]
fn a_failed_removal_that_cannot_be_checked_keeps_the_range_in_doubt() {
    let p = pod("a");
    let mut registry = allocated(&p);
    let run = release(
        &mut registry,
        &p,
        vec![failed(Errno::EIO), failed(Errno::EIO)],
    );
    let error = run.finished().unwrap_err();
    assert!(error.to_string().contains("cannot remove"), "{error}");
    assert!(is_in_doubt(&registry, &p));
}

#[test]
fn a_release_whose_sync_fails_keeps_the_range_in_doubt() {
    let p = pod("a");
    let mut registry = allocated(&p);
    let run = release(&mut registry, &p, vec![done(), failed(Errno::EIO)]);
    assert_eq!(run.effects.len(), 2);
    assert!(run.finished().is_err());
    assert!(is_in_doubt(&registry, &p));
}

#[test]
fn release_of_a_pod_without_a_claim_answers_at_once() {
    let registry = registry();
    let answer = ReleaseOp::of_claim(pod("a"), &registry, None).err();
    assert_eq!(
        answer,
        Some(Release {
            pod: pod("a"),
            range: None,
            released: false,
        })
    );
}

#[test]
fn cleanup_releases_pods_not_kept_and_pods_whose_directory_is_gone_in_order() {
    let mut registry = registry();
    for (slot, name) in ["kept", "stale", "vanished"].into_iter().enumerate() {
        let slot = registry.reserve_slot(slot as u32).unwrap();
        registry.record_allocated(pod(name), slot);
    }
    let keep: BTreeSet<PodUid> = [pod("kept"), pod("vanished")].into();
    let listing = Ok(Observation::Listing(vec![
        entry("kept", EntryKind::Directory),
        entry("stale", EntryKind::Directory),
        entry("not-a-pod-dir", EntryKind::File),
    ]));
    let outcomes = vec![
        listing,
        done(),
        done(),
        failed(Errno::ENOENT),
        failed(Errno::EIO),
    ];
    let op = CleanupOp::new(keep, None);
    let run = run(
        op,
        &mut registry,
        |op, _| op.poll(),
        CleanupOp::handle,
        outcomes,
    );
    let userns = |name| pod_dir(&pod(name)).join(USERNS_FILE_NAME);
    assert_eq!(
        run.effects,
        [
            Effect::ListDir { dir: pods_dir() },
            Effect::RemoveFile {
                file: userns("stale")
            },
            Effect::SyncDir {
                dir: pod_dir(&pod("stale")),
            },
            Effect::RemoveFile {
                file: userns("vanished"),
            },
            Effect::SyncDir { dir: pods_dir() },
        ]
    );
    let Ok(UsernsResponse::CleanedUp(report)) = run.finished() else {
        panic!("cleanup failed");
    };
    let released: Vec<_> = report.released.iter().map(|r| r.pod.clone()).collect();
    assert_eq!(released, [pod("stale")]);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].pod, pod("vanished"));
    assert!(registry.claim(&pod("kept")).is_some());
    assert!(is_in_doubt(&registry, &pod("vanished")));
}

#[test]
fn cleanup_of_a_node_whose_pods_directory_is_gone_releases_every_claim() {
    let p = pod("a");
    let mut registry = allocated(&p);
    let outcomes = vec![failed(Errno::ENOENT), failed(Errno::ENOENT), done()];
    let run = run(
        CleanupOp::new(BTreeSet::new(), None),
        &mut registry,
        |op, _| op.poll(),
        CleanupOp::handle,
        outcomes,
    );
    assert_eq!(run.effects.len(), 3);
    let Ok(UsernsResponse::CleanedUp(report)) = run.finished() else {
        panic!("the cleanup failed");
    };
    assert_eq!(report.released.len(), 1);
    assert!(report.failures.is_empty());
    assert!(registry.claim(&p).is_none());
}

fn recover(registry: &mut Registry, outcomes: Vec<Outcome>) -> Run<UsernsResponse, UsernsError> {
    run(
        RecoverOp::new(None),
        registry,
        RecoverOp::poll,
        RecoverOp::handle,
        outcomes,
    )
}

#[test]
fn recovery_reads_each_userns_file_removes_temp_files_and_syncs_before_building() {
    let mut registry = registry();
    let p = pod("a");
    let range = registry.pool().slot_range(3);
    let contents = render_userns_file(IdMapping::root_to(range).unwrap());
    let outcomes = vec![
        Ok(Observation::Listing(vec![entry("a", EntryKind::Directory)])),
        Ok(Observation::Listing(vec![
            entry(USERNS_FILE_NAME, EntryKind::File),
            entry(TEMP, EntryKind::File),
        ])),
        Ok(Observation::FileRemoved { existed: true }),
        Ok(Observation::Contents(contents)),
        done(),
    ];
    let run = recover(&mut registry, outcomes);
    assert_eq!(
        run.effects,
        [
            Effect::ListDir { dir: pods_dir() },
            Effect::ListDir { dir: pod_dir(&p) },
            Effect::RemoveFile {
                file: pod_dir(&p).join(TEMP),
            },
            Effect::ReadFile {
                file: pod_dir(&p).join(USERNS_FILE_NAME),
                max_len: super::super::file_format::MAX_USERNS_FILE_LEN,
            },
            Effect::SyncFs { root: Root::Pods },
        ]
    );
    let Ok(UsernsResponse::Recovered(report)) = run.finished() else {
        panic!("recovery failed");
    };
    assert_eq!((report.pod_dirs, report.allocations), (1, 1));
    assert_eq!(report.temp_files_removed, [pod_dir(&p).join(TEMP)]);
    assert!(matches!(registry.claim(&p), Some(Claim::Known(known)) if known.range == range));
}

#[test]
fn an_inspection_reads_what_recovery_reads_and_removes_syncs_and_builds_nothing() {
    let mut registry = registry();
    let p = pod("a");
    let range = registry.pool().slot_range(3);
    let contents = render_userns_file(IdMapping::root_to(range).unwrap());
    let outcomes = vec![
        Ok(Observation::Listing(vec![
            entry("a", EntryKind::Directory),
            entry("b", EntryKind::Symlink),
        ])),
        Ok(Observation::Listing(vec![
            entry(USERNS_FILE_NAME, EntryKind::File),
            entry(TEMP, EntryKind::File),
        ])),
        Ok(Observation::Contents(contents)),
    ];
    let run = crate::op_test::run(
        RecoverOp::inspect(),
        &mut registry,
        RecoverOp::poll,
        RecoverOp::handle,
        outcomes,
    );
    assert_eq!(
        run.effects,
        [
            Effect::ListDir { dir: pods_dir() },
            Effect::ListDir { dir: pod_dir(&p) },
            Effect::ReadFile {
                file: pod_dir(&p).join(USERNS_FILE_NAME),
                max_len: super::super::file_format::MAX_USERNS_FILE_LEN,
            },
        ]
    );
    assert!(run.effects.iter().all(|effect| !effect.mutates()));
    let Ok(UsernsResponse::Recovered(report)) = run.finished() else {
        panic!("the inspection failed");
    };
    assert_eq!((report.pod_dirs, report.allocations), (1, 1));
    let inspection = report.inspection.as_ref().expect("an inspection's report");
    assert_eq!(inspection.temp_files_kept, [pod_dir(&p).join(TEMP)]);
    assert_eq!(inspection.claimed_pods, [pod("a"), pod("b")]);
    assert!(report.temp_files_removed.is_empty());
    assert_eq!(report.problems.len(), 1, "the symlinked pod b");
    assert!(registry.claim(&p).is_none(), "the registry stays as it was");
}

#[test]
fn recovery_builds_nothing_when_its_final_sync_fails() {
    let mut registry = registry();
    let outcomes = vec![
        Ok(Observation::Listing(vec![entry("a", EntryKind::Directory)])),
        Ok(Observation::Listing(Vec::new())),
        failed(Errno::EIO),
    ];
    let run = recover(&mut registry, outcomes);
    assert_eq!(run.effects.len(), 3);
    let error = run.finished().unwrap_err();
    assert!(
        error.to_string().starts_with("cannot syncfs <pods>"),
        "{error}"
    );
    assert_eq!(registry.claim_count(), 0);
}

#[test]
fn recovery_of_a_missing_pods_directory_finds_nothing() {
    let mut registry = registry();
    let run = recover(&mut registry, vec![failed(Errno::ENOENT), done()]);
    assert_eq!(
        run.effects,
        [
            Effect::ListDir { dir: pods_dir() },
            Effect::SyncFs { root: Root::Pods },
        ]
    );
    assert!(
        matches!(run.finished(), Ok(UsernsResponse::Recovered(report)) if report.pod_dirs == 0)
    );
}

#[test]
fn recovery_never_follows_a_pod_directory_symlink() {
    let mut registry = registry();
    let outcomes = vec![
        Ok(Observation::Listing(vec![entry("a", EntryKind::Symlink)])),
        done(),
    ];
    let run = recover(&mut registry, outcomes);
    assert_eq!(run.effects.len(), 2, "no listing through the symlink");
    let Ok(UsernsResponse::Recovered(report)) = run.finished() else {
        panic!("recovery failed");
    };
    assert_eq!(report.problems.len(), 1);
    assert!(registry.unknown_claims().contains(&pod("a")));
}

#[test]
fn recovery_skips_a_directory_or_a_file_removed_since_it_was_listed() {
    let mut registry = registry();
    let outcomes = vec![
        Ok(Observation::Listing(vec![
            entry("a", EntryKind::Directory),
            entry("b", EntryKind::Directory),
        ])),
        failed(Errno::ENOENT),
        Ok(Observation::Listing(vec![entry(
            USERNS_FILE_NAME,
            EntryKind::File,
        )])),
        failed(Errno::ENOENT),
        done(),
    ];
    let run = recover(&mut registry, outcomes);
    assert_eq!(run.effects.len(), 5);
    let Ok(UsernsResponse::Recovered(report)) = run.finished() else {
        panic!("recovery failed");
    };
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(registry.claim_count(), 0);
}

#[test]
fn recovery_removes_temp_files_only() {
    // kubelet keeps its own files and directories in the pod directory, and
    // a directory with a temp file's name is nobody's temp file.
    let mut registry = registry();
    let p = pod("a");
    let contents = render_userns_file(IdMapping::root_to(registry.pool().slot_range(3)).unwrap());
    let outcomes = vec![
        Ok(Observation::Listing(vec![entry("a", EntryKind::Directory)])),
        Ok(Observation::Listing(vec![
            entry("containers", EntryKind::Directory),
            entry("etc-hosts", EntryKind::File),
            entry(TEMP, EntryKind::Directory),
            entry(USERNS_FILE_NAME, EntryKind::File),
        ])),
        Ok(Observation::Contents(contents)),
        done(),
    ];
    let run = recover(&mut registry, outcomes);
    assert_eq!(
        run.effects[2],
        Effect::ReadFile {
            file: pod_dir(&p).join(USERNS_FILE_NAME),
            max_len: super::super::file_format::MAX_USERNS_FILE_LEN,
        }
    );
    assert_eq!(run.effects.len(), 4, "{:#?}", run.effects);
    assert!(run.finished().is_ok());
}

/// The one problem recovery reports for pod `a` whose `userns` entry is
/// listed as `kind` and read with `read` (when it is a file).
fn problem_of_userns(kind: EntryKind, read: Option<Outcome>) -> String {
    let mut registry = registry();
    let mut outcomes = vec![
        Ok(Observation::Listing(vec![entry("a", EntryKind::Directory)])),
        Ok(Observation::Listing(vec![entry(USERNS_FILE_NAME, kind)])),
    ];
    outcomes.extend(read);
    outcomes.push(done());
    let Ok(UsernsResponse::Recovered(report)) = recover(&mut registry, outcomes).finished() else {
        panic!("recovery failed");
    };
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    report.problems[0].message.clone()
}

#[test]
fn a_userns_entry_that_is_not_a_regular_file_is_named_for_what_it_is() {
    for (kind, what) in [
        (EntryKind::Directory, "is a directory, not a regular file"),
        (EntryKind::Symlink, "is a symbolic link, not a regular file"),
        (
            EntryKind::Other,
            "is a FIFO, socket or device, not a regular file",
        ),
    ] {
        let message = problem_of_userns(kind, None);
        assert!(message.contains(what), "{kind:?}: {message}");
    }
    // Listed as a file, then found otherwise when opened.
    for (errno, what) in [
        (Errno::ELOOP, "is a symbolic link, not a regular file"),
        (Errno::EISDIR, "is a directory, not a regular file"),
        (
            Errno::EINVAL,
            "is a FIFO, socket or device, not a regular file",
        ),
        (Errno::EFBIG, "is larger than"),
        (Errno::EACCES, "cannot read <pods>/a/userns"),
    ] {
        let message = problem_of_userns(EntryKind::File, Some(failed(errno)));
        assert!(message.contains(what), "{errno}: {message}");
    }
}

#[test]
fn a_failed_removal_of_the_link_that_took_place_anyway_is_found_and_synced() {
    let p = pod("a");
    let outcomes = vec![
        failed(Errno::ELOOP),
        failed(Errno::EIO),
        failed(Errno::ENOENT),
        done(),
    ];
    assert_eq!(
        released(symlinked(&p), &p, outcomes)[2..],
        [
            Effect::StatNoFollow { path: pod_dir(&p) },
            Effect::SyncDir { dir: pods_dir() },
        ]
    );
}

#[test]
fn a_pod_directory_removed_between_the_unlink_and_its_sync_syncs_the_pods_directory() {
    let p = pod("a");
    let outcomes = vec![
        Ok(Observation::FileRemoved { existed: true }),
        failed(Errno::ENOENT),
        done(),
    ];
    assert_eq!(
        released(allocated(&p), &p, outcomes)[1..],
        [
            Effect::SyncDir { dir: pod_dir(&p) },
            Effect::SyncDir { dir: pods_dir() },
        ]
    );
}

#[test]
fn a_link_gone_before_its_removal_is_synced_away_without_a_probe() {
    let p = pod("a");
    let outcomes = vec![failed(Errno::ELOOP), failed(Errno::ENOENT), done()];
    assert_eq!(
        released(symlinked(&p), &p, outcomes)[2..],
        [Effect::SyncDir { dir: pods_dir() }]
    );
}
