//! Each namespace operation alone: the exact effects it issues for a script
//! of outcomes, and its result.

use std::collections::{BTreeMap, BTreeSet};

use super::{ActiveOp, CreateOp, Ctx, ListOp, RemoveOp, SweepOp};
use crate::effect::{DirEntry, Effect, EffectError, EntryKind, Errno, Observation, Outcome};
use crate::error_details::ErrorDetails;
use crate::idmap::IdMap;
use crate::ns::facts::{NamespaceId, NamespaceKind, PinnedNamespaces, PodIdMaps};
use crate::ns::layout::{POD_NS_DIR_MODE, PinKind, RunDirPath, pin_path, pod_ns_dir};
use crate::ns::request::{NsError, NsRemoval, NsResponse, SweepReason};
use crate::op_test::{Run, run};
use crate::path::{PodUid, Root, RootLabels, RootPath};
use crate::userns::{HostIdRange, IdMapping, UserNamespace};

fn pod(name: &str) -> PodUid {
    PodUid::new(name).unwrap()
}

fn ctx() -> Ctx {
    Ctx {
        run: RunDirPath::new("/run/podns").unwrap(),
        labels: RootLabels::new().with(Root::Run, "/run/podns"),
    }
}

/// The maps of a pod with host IDs 131072-196607.
fn maps() -> PodIdMaps {
    let mapping = IdMapping::root_to(HostIdRange::new(131072, 65536)).unwrap();
    PodIdMaps::from_userns(&UserNamespace::pod(mapping)).unwrap()
}

/// What the kernel shows for a correct pair with `uid_map`.
fn facts(uid_map: &str) -> Outcome {
    let user = NamespaceId {
        kind: NamespaceKind::User,
        ino: 10,
    };
    Ok(Observation::PodNamespaces(PinnedNamespaces {
        net: NamespaceId {
            kind: NamespaceKind::Net,
            ino: 11,
        },
        user,
        net_owner: user,
        maps_from: user,
        uid_map: IdMap::parse(uid_map).unwrap(),
        gid_map: maps().gid_map,
    }))
}

/// A mount table with a complete pin pair for each of `pods`.
fn mountinfo(pods: &[&str]) -> Outcome {
    let mut table = String::from("22 1 0:20 / /run rw - tmpfs tmpfs rw\n");
    for (n, pod) in pods.iter().enumerate() {
        let id = 40 + 2 * n;
        table += &format!(
            "{id} 22 0:4 net:[{}] /run/podns/{pod}/net rw - nsfs nsfs rw\n",
            4026532281 + id
        );
        table += &format!(
            "{} 22 0:4 user:[{}] /run/podns/{pod}/user rw - nsfs nsfs rw\n",
            id + 1,
            4026532281 + id + 1
        );
    }
    Ok(Observation::Contents(table.into_bytes()))
}

fn done() -> Outcome {
    Ok(Observation::Done)
}

fn removed() -> Outcome {
    Ok(Observation::FileRemoved { existed: true })
}

fn failed(errno: Errno) -> Outcome {
    Err(EffectError::new(errno, "test"))
}

fn listing(names: &[(&str, EntryKind)]) -> Outcome {
    Ok(Observation::Listing(
        names
            .iter()
            .map(|(name, kind)| DirEntry {
                name: (*name).to_owned(),
                kind: *kind,
            })
            .collect(),
    ))
}

fn pin(pod: &PodUid, kind: PinKind) -> RootPath {
    pin_path(pod, kind)
}

/// Runs one operation, as the engine does, over `outcomes`.
fn drive(op: ActiveOp, outcomes: Vec<Outcome>) -> Run<NsResponse, NsError> {
    let mut ctx = ctx();
    run(
        op,
        &mut ctx,
        |op, _| op.poll(),
        |op, ctx, outcome| op.handle(ctx, outcome),
        outcomes,
    )
}

fn create(outcomes: Vec<Outcome>) -> Run<NsResponse, NsError> {
    drive(ActiveOp::Create(CreateOp::new(pod("a"), maps())), outcomes)
}

/// The effects of a create from nothing, up to the pinning.
fn fresh_create_effects(pod: &PodUid) -> Vec<Effect> {
    vec![
        Effect::ListDir {
            dir: pod_ns_dir(pod),
        },
        Effect::CreateDir {
            dir: pod_ns_dir(pod),
            mode: POD_NS_DIR_MODE,
        },
        Effect::CreatePinFile {
            file: pin(pod, PinKind::Net),
        },
        Effect::CreatePinFile {
            file: pin(pod, PinKind::User),
        },
        Effect::CreatePodNamespaces {
            pod: pod.clone(),
            uid_map: maps().uid_map,
            gid_map: maps().gid_map,
            net_pin: pin(pod, PinKind::Net),
            user_pin: pin(pod, PinKind::User),
        },
    ]
}

/// What `fresh_create_effects` needs answered to reach the pinning.
fn fresh_create_outcomes() -> Vec<Outcome> {
    vec![
        failed(Errno::ENOENT),
        Ok(Observation::DirCreated { created: true }),
        done(),
        done(),
    ]
}

#[test]
fn a_create_from_nothing_pins_both_namespaces_and_checks_them() {
    let a = pod("a");
    let mut outcomes = fresh_create_outcomes();
    outcomes.push(facts("0 131072 65536"));
    let run = create(outcomes);
    assert_eq!(run.effects, fresh_create_effects(&a));
    let Ok(NsResponse::Created(created)) = run.finished() else {
        panic!("the create failed");
    };
    assert!(created.created);
    assert_eq!(created.net_pin, "/run/podns/a/net");
    assert_eq!(created.user_pin, "/run/podns/a/user");
}

/// What a create finds for pod a's complete pair whose user namespace has
/// `uid_map`.
fn complete_pair_with(uid_map: &str) -> Vec<Outcome> {
    vec![
        listing(&[("net", EntryKind::File), ("user", EntryKind::File)]),
        mountinfo(&["a"]),
        facts(uid_map),
    ]
}

#[test]
fn a_complete_pair_is_checked_and_returned_as_is() {
    let a = pod("a");
    let run = create(complete_pair_with("0 131072 65536"));
    assert_eq!(
        run.effects,
        vec![
            Effect::ListDir {
                dir: pod_ns_dir(&a),
            },
            Effect::ReadMountInfo,
            Effect::InspectPodNamespaces {
                net_pin: pin(&a, PinKind::Net),
                user_pin: pin(&a, PinKind::User),
            },
        ]
    );
    let Ok(NsResponse::Created(created)) = run.finished() else {
        panic!("the create failed");
    };
    assert!(!created.created);
}

#[test]
fn a_complete_pair_with_other_maps_is_refused_and_left_alone() {
    let run = create(complete_pair_with("0 196608 65536"));
    assert_eq!(
        run.effects.len(),
        3,
        "nothing is removed: {:?}",
        run.effects
    );
    let Err(NsError::Mismatch { problems, .. }) = run.finished() else {
        panic!("the pair was accepted");
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
}

#[test]
fn pin_files_of_a_killed_create_are_removed_before_creating_again() {
    let a = pod("a");
    let mut outcomes = vec![
        listing(&[("net", EntryKind::File)]),
        mountinfo(&[]),
        removed(),
        Ok(Observation::FileRemoved { existed: false }),
    ];
    outcomes.extend(fresh_create_outcomes().into_iter().skip(1));
    outcomes.push(facts("0 131072 65536"));
    let run = create(outcomes);
    let mut expected = vec![
        Effect::ListDir {
            dir: pod_ns_dir(&a),
        },
        Effect::ReadMountInfo,
        Effect::RemoveFile {
            file: pin(&a, PinKind::Net),
        },
        Effect::RemoveFile {
            file: pin(&a, PinKind::User),
        },
    ];
    expected.extend(fresh_create_effects(&a).into_iter().skip(1));
    assert_eq!(run.effects, expected);
    assert!(run.finished().is_ok());
}

/// The rollback of a create that got as far as pinning.
fn rollback_effects(pod: &PodUid) -> Vec<Effect> {
    vec![
        Effect::DetachMount {
            target: pin(pod, PinKind::Net),
        },
        Effect::DetachMount {
            target: pin(pod, PinKind::User),
        },
        Effect::RemoveFile {
            file: pin(pod, PinKind::User),
        },
        Effect::RemoveFile {
            file: pin(pod, PinKind::Net),
        },
        Effect::RemoveDir {
            dir: pod_ns_dir(pod),
        },
    ]
}

/// Checks that `run` pinned, failed and rolled back everything; returns
/// why it failed and what the rollback could not remove.
fn rolled_back(pod: &PodUid, run: Run<NsResponse, NsError>) -> (Box<NsError>, Vec<NsError>) {
    let mut expected = fresh_create_effects(pod);
    expected.extend(rollback_effects(pod));
    assert_eq!(run.effects, expected);
    match run.finished() {
        Err(NsError::CreateFailed {
            cause, left_behind, ..
        }) => (cause, left_behind),
        other => panic!("the create did not fail: {other:?}"),
    }
}

#[test]
fn a_failed_pinning_removes_everything_the_create_made() {
    let a = pod("a");
    let mut outcomes = fresh_create_outcomes();
    outcomes.extend([
        failed(Errno::EPERM),
        done(),
        done(),
        removed(),
        removed(),
        done(),
    ]);
    let (cause, left_behind) = rolled_back(&a, create(outcomes));
    assert_eq!(cause.errno(), Some(Errno::EPERM));
    assert!(left_behind.is_empty(), "{left_behind:?}");
}

#[test]
fn pins_the_kernel_got_wrong_are_rolled_back_and_what_stays_is_named() {
    let a = pod("a");
    let mut outcomes = fresh_create_outcomes();
    outcomes.push(facts("0 196608 65536"));
    // The rollback tries every step even when one fails.
    outcomes.extend([done(), failed(Errno::EBUSY), removed(), removed(), done()]);
    let (cause, left_behind) = rolled_back(&a, create(outcomes));
    assert!(matches!(*cause, NsError::Verification { .. }), "{cause}");
    assert_eq!(left_behind.len(), 1);
    assert!(
        left_behind[0]
            .to_string()
            .starts_with("cannot detach the mount on /run/podns/a/user"),
        "{}",
        left_behind[0]
    );
}

/// The teardown of a complete pair: detach newest first, then unlink both
/// pins and remove the directory.
fn teardown_effects(pod: &PodUid) -> Vec<Effect> {
    vec![
        Effect::DetachMount {
            target: pin(pod, PinKind::User),
        },
        Effect::DetachMount {
            target: pin(pod, PinKind::Net),
        },
        Effect::RemoveFile {
            file: pin(pod, PinKind::Net),
        },
        Effect::RemoveFile {
            file: pin(pod, PinKind::User),
        },
        Effect::RemoveDir {
            dir: pod_ns_dir(pod),
        },
    ]
}

/// What a teardown of a complete pair needs answered.
fn teardown_outcomes() -> [Outcome; 5] {
    [done(), done(), removed(), removed(), done()]
}

/// A remove of pod `a`'s complete pair with `outcomes`: checks that it
/// issued the whole teardown and succeeded, and returns what it did.
fn whole_teardown(outcomes: Vec<Outcome>) -> NsRemoval {
    let a = pod("a");
    let run = drive(ActiveOp::Remove(RemoveOp::new(a.clone())), outcomes);
    let mut expected = vec![Effect::ReadMountInfo];
    expected.extend(teardown_effects(&a));
    assert_eq!(run.effects, expected);
    let Ok(NsResponse::Removed(removal)) = run.finished() else {
        panic!("the remove failed");
    };
    removal
}

#[test]
fn a_remove_detaches_newest_first_then_unlinks() {
    let mut outcomes = vec![mountinfo(&["a"])];
    outcomes.extend(teardown_outcomes());
    let removal = whole_teardown(outcomes);
    assert_eq!(removal.unmounted, 2);
    assert!(removal.removed);
}

#[test]
fn a_remove_of_a_pod_without_a_directory_stops_at_the_first_pin() {
    let a = pod("a");
    let outcomes = vec![mountinfo(&[]), failed(Errno::ENOENT)];
    let run = drive(ActiveOp::Remove(RemoveOp::new(a.clone())), outcomes);
    assert_eq!(run.effects.len(), 2);
    let Ok(NsResponse::Removed(removal)) = run.finished() else {
        panic!("the remove failed");
    };
    assert!(!removal.removed);
}

#[test]
fn a_sweep_keeps_a_checked_pair_and_takes_down_a_pod_not_kept() {
    let (a, b) = (pod("a"), pod("b"));
    let keep = BTreeSet::from([a.clone()]);
    let allocations = BTreeMap::from([(a.clone(), maps())]);
    let mut outcomes = vec![
        listing(&[
            ("a", EntryKind::Directory),
            ("b", EntryKind::Directory),
            ("lock", EntryKind::File),
        ]),
        mountinfo(&["a", "b"]),
        facts("0 131072 65536"),
    ];
    outcomes.extend(teardown_outcomes());
    let run = drive(ActiveOp::Sweep(SweepOp::new(keep, allocations)), outcomes);
    assert_eq!(
        run.effects,
        vec![
            Effect::ListDir {
                dir: RootPath::root(Root::Run),
            },
            Effect::ReadMountInfo,
            Effect::InspectPodNamespaces {
                net_pin: pin(&a, PinKind::Net),
                user_pin: pin(&a, PinKind::User),
            },
        ]
        .into_iter()
        .chain(teardown_effects(&b))
        .collect::<Vec<_>>()
    );
    let Ok(NsResponse::Swept(report)) = run.finished() else {
        panic!("the sweep failed");
    };
    assert_eq!(report.kept, vec![a]);
    assert_eq!(report.swept.len(), 1);
    assert_eq!(report.swept[0].pod, b);
    assert_eq!(report.swept[0].reason, SweepReason::NotKept);
    assert!(report.failures.is_empty());
}

#[test]
fn a_sweep_reports_a_pod_it_cannot_take_down_and_goes_on() {
    let (a, b) = (pod("a"), pod("b"));
    let mut outcomes = vec![
        listing(&[("a", EntryKind::Directory), ("b", EntryKind::Directory)]),
        mountinfo(&["a", "b"]),
        failed(Errno::EPERM),
    ];
    outcomes.extend(teardown_outcomes());
    let run = drive(
        ActiveOp::Sweep(SweepOp::new(BTreeSet::new(), BTreeMap::new())),
        outcomes,
    );
    assert_eq!(run.effects.len(), 8);
    let Ok(NsResponse::Swept(report)) = run.finished() else {
        panic!("the sweep failed");
    };
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].pod, a);
    assert_eq!(report.swept.len(), 1);
    assert_eq!(report.swept[0].pod, b);
}

#[test]
fn a_listing_names_only_pod_directories_and_changes_nothing() {
    let outcomes = vec![
        listing(&[("a", EntryKind::Directory), ("lock", EntryKind::File)]),
        mountinfo(&["a"]),
    ];
    let run = drive(ActiveOp::List(ListOp::new()), outcomes);
    assert_eq!(
        run.effects,
        vec![
            Effect::ListDir {
                dir: RootPath::root(Root::Run),
            },
            Effect::ReadMountInfo,
        ]
    );
    let Ok(NsResponse::Listed(listing)) = run.finished() else {
        panic!("the listing failed");
    };
    assert_eq!(listing.pods.len(), 1);
    assert_eq!(listing.pods[0].pod, pod("a"));
    assert_eq!(listing.pods[0].incomplete, None);
    assert!(listing.ignored_mounts.is_empty());
}

#[test]
fn a_sweep_takes_down_a_pod_directory_with_no_mount_left() {
    // A create killed before pinning leaves a directory and pin files that
    // no mount names: only the listing of the run directory shows it.
    let a = pod("a");
    let mut outcomes = vec![
        listing(&[("a", EntryKind::Directory), ("lock", EntryKind::File)]),
        mountinfo(&[]),
    ];
    outcomes.extend([removed(), removed(), done()]);
    let run = drive(
        ActiveOp::Sweep(SweepOp::new(BTreeSet::new(), BTreeMap::new())),
        outcomes,
    );
    let mut expected = vec![
        Effect::ListDir {
            dir: RootPath::root(Root::Run),
        },
        Effect::ReadMountInfo,
    ];
    expected.extend(teardown_effects(&a).into_iter().skip(2));
    assert_eq!(run.effects, expected);
    let Ok(NsResponse::Swept(report)) = run.finished() else {
        panic!("the sweep failed");
    };
    assert_eq!(report.swept.len(), 1);
    assert_eq!(report.swept[0].pod, a);
    assert_eq!(report.swept[0].unmounted, 0);
}

#[test]
fn a_listing_shows_a_pod_directory_with_no_mount_as_incomplete() {
    let outcomes = vec![listing(&[("a", EntryKind::Directory)]), mountinfo(&[])];
    let run = drive(ActiveOp::List(ListOp::new()), outcomes);
    let Ok(NsResponse::Listed(listing)) = run.finished() else {
        panic!("the listing failed");
    };
    assert_eq!(listing.pods.len(), 1);
    assert_eq!(listing.pods[0].pod, pod("a"));
    assert!(listing.pods[0].incomplete.is_some());
}

#[test]
fn a_detach_of_a_mount_gone_since_the_table_was_read_counts_as_done() {
    // Another process detached the user pin between our read of the mount
    // table and our detach: the kernel says EINVAL, and the teardown goes on.
    let mut outcomes = vec![mountinfo(&["a"]), failed(Errno::EINVAL)];
    outcomes.extend(teardown_outcomes().into_iter().skip(1));
    let removal = whole_teardown(outcomes);
    assert_eq!(removal.unmounted, 1);
    assert!(removal.removed);
}

fn check(outcomes: Vec<Outcome>) -> Run<NsResponse, NsError> {
    drive(
        ActiveOp::Create(CreateOp::check(pod("a"), maps())),
        outcomes,
    )
}

#[test]
fn a_check_of_a_pod_without_a_directory_says_not_pinned_and_makes_nothing() {
    let a = pod("a");
    let run = check(vec![failed(Errno::ENOENT)]);
    assert_eq!(
        run.effects,
        vec![Effect::ListDir {
            dir: pod_ns_dir(&a)
        }]
    );
    assert!(matches!(run.finished(), Err(NsError::NotPinned { .. })));
}

#[test]
fn a_check_of_a_directory_without_pins_says_not_pinned_and_makes_nothing() {
    let run = check(vec![listing(&[])]);
    assert_eq!(run.effects.len(), 1);
    assert!(matches!(run.finished(), Err(NsError::NotPinned { .. })));
}

#[test]
fn a_check_of_half_a_pair_says_not_pinned_and_removes_nothing() {
    let a = pod("a");
    let table = "22 1 0:20 / /run rw - tmpfs tmpfs rw\n\
                 40 22 0:4 net:[4026532321] /run/podns/a/net rw - nsfs nsfs rw\n";
    let run = check(vec![
        listing(&[("net", EntryKind::File), ("user", EntryKind::File)]),
        Ok(Observation::Contents(table.as_bytes().to_vec())),
    ]);
    assert_eq!(
        run.effects,
        vec![
            Effect::ListDir {
                dir: pod_ns_dir(&a)
            },
            Effect::ReadMountInfo
        ]
    );
    assert!(matches!(run.finished(), Err(NsError::NotPinned { .. })));
}

/// A remove of a complete pair whose last step, the directory's removal,
/// answers `last`.
fn remove_ending_with(last: Outcome) -> Run<NsResponse, NsError> {
    let mut outcomes = vec![mountinfo(&["a"])];
    outcomes.extend(teardown_outcomes().into_iter().take(4));
    outcomes.push(last);
    drive(ActiveOp::Remove(RemoveOp::new(pod("a"))), outcomes)
}

#[test]
fn a_pod_directory_removed_by_someone_else_meanwhile_counts_as_removed() {
    let run = remove_ending_with(failed(Errno::ENOENT));
    assert_eq!(run.effects.len(), 6);
    assert!(matches!(run.finished(), Ok(NsResponse::Removed(_))));
}

#[test]
fn a_pod_directory_left_with_foreign_entries_says_to_remove_them_by_hand() {
    let message = remove_ending_with(failed(Errno::ENOTEMPTY))
        .finished()
        .unwrap_err()
        .to_string();
    assert!(message.contains("remove them by hand"), "{message}");
    let message = remove_ending_with(failed(Errno::EACCES))
        .finished()
        .unwrap_err()
        .to_string();
    assert!(!message.contains("by hand"), "{message}");
    assert!(
        message.starts_with("cannot remove /run/podns/a"),
        "{message}"
    );
}

#[test]
fn pin_files_that_were_there_count_as_removed_even_when_the_directory_went_first() {
    let a = pod("a");
    let outcomes = vec![mountinfo(&[]), removed(), removed(), failed(Errno::ENOENT)];
    let run = drive(ActiveOp::Remove(RemoveOp::new(a)), outcomes);
    let Ok(NsResponse::Removed(removal)) = run.finished() else {
        panic!("the remove failed");
    };
    assert!(removal.removed);
    assert_eq!(removal.unmounted, 0);
}
