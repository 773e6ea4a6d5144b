//! Subpath mounts across crashes, on the mock backend: a process killed
//! after any effect of a prepare (or of a clean) leaks its mounts, exactly as
//! the kernel keeps them; a later clean leaves nothing below the volume's
//! `volume-subpaths` directory, and nothing of other volumes is touched. A
//! power loss takes every mount with it; the clean still removes the rest.

use podns_backend_mock::{CrashKind, MockBackend, Node};
use podns_core::{
    CleanSubpaths, HostDir, PrepareSubpath, Root, SubpathEngine, SubpathName, SubpathNameField,
    SubpathRequest, SubpathResponse, SubpathTarget, drive, drive_bounded, parse_subpath,
};
use podns_tests::{mock_volume, paths_below};

const POD_DIR: &str = "/pods/pod-1";

fn mock() -> MockBackend {
    mock_volume(
        POD_DIR,
        "/volumes/data",
        vec![
            ("dir/file", Node::durable_file("x")),
            ("config", Node::durable_file("y")),
            ("link", Node::symlink("dir")),
        ],
    )
}

fn prepare(volume: &str, subpath: &str, container: &str, index: &str) -> SubpathRequest {
    SubpathRequest::Prepare(PrepareSubpath {
        subpath: parse_subpath(subpath).unwrap(),
        target: SubpathTarget::new(volume, container, index).unwrap(),
        pod_dir: HostDir::parse(POD_DIR).unwrap(),
        idmap: None,
    })
}

fn clean(volume: &str) -> SubpathRequest {
    SubpathRequest::Clean(CleanSubpaths {
        volume: SubpathName::new(SubpathNameField::Volume, volume).unwrap(),
        pod_dir: HostDir::parse(POD_DIR).unwrap(),
    })
}

fn run(mock: &mut MockBackend, request: SubpathRequest) -> SubpathResponse {
    // Each request starts a fresh engine: after a crash, nothing is known
    // but what the disk and the mount table say.
    pollster::block_on(drive(&mut SubpathEngine::new(), mock, request))
        .unwrap_or_else(|error| panic!("request failed: {error}"))
}

/// How many effects `request` runs to completion on a copy of `mock`.
fn effect_count(mock: &MockBackend, request: &SubpathRequest) -> usize {
    let mut copy = mock.clone();
    copy.take_log();
    run(&mut copy, request.clone());
    copy.log().len()
}

/// Paths below `volume-subpaths/<volume>`, and mounts whose mount point is
/// there.
fn leftovers(mock: &MockBackend, volume: &str) -> (Vec<String>, Vec<String>) {
    let prefix = format!("volume-subpaths/{volume}");
    let paths = paths_below(mock, Root::PodDir)
        .into_iter()
        .filter(|path| path == &prefix || path.starts_with(&format!("{prefix}/")))
        .collect();
    let mounts = mock
        .mounts()
        .iter()
        .map(|(point, _)| point.path.to_string())
        .filter(|point| point.starts_with(&format!("{prefix}/")))
        .collect();
    (paths, mounts)
}

fn assert_clean(mock: &MockBackend, volume: &str, context: &str) {
    let (paths, mounts) = leftovers(mock, volume);
    assert!(paths.is_empty(), "{context}: left {paths:?}");
    assert!(mounts.is_empty(), "{context}: left mounts {mounts:?}");
}

#[test]
fn a_prepare_killed_after_any_effect_leaks_only_what_clean_removes() {
    for (subpath, index) in [("dir", "0"), ("config", "1"), ("link", "2")] {
        let request = prepare("data", subpath, "app", index);
        let base = {
            let mut mock = mock();
            // Other state the clean must keep: another volume's mount, and
            // an earlier prepare of this volume.
            run(&mut mock, prepare("logs", "dir", "app", "0"));
            run(&mut mock, prepare("data", "dir", "sidecar", "0"));
            mock
        };
        let total = effect_count(&base, &request);
        let mut leaked = 0;
        for budget in 0..=total {
            let mut mock = base.clone();
            let outcome = pollster::block_on(drive_bounded(
                &mut SubpathEngine::new(),
                &mut mock,
                request.clone(),
                budget,
            ));
            assert_eq!(outcome.is_some(), budget == total, "budget {budget}");
            let mounts_before = mock.mounts().len();
            mock.crash(CrashKind::ProcessKill);
            // A process kill keeps every mount: they leak.
            assert_eq!(mock.mounts().len(), mounts_before);
            if budget == total {
                leaked += 1;
                assert_eq!(
                    mounts_before, 3,
                    "{subpath}: the new mount must be in place"
                );
            }
            let SubpathResponse::Cleaned(report) = run(&mut mock, clean("data")) else {
                unreachable!()
            };
            let context = format!("{subpath}, killed after {budget} of {total} effects");
            assert!(report.is_complete(), "{context}: {report:?}");
            assert_clean(&mock, "data", &context);
            // The other volume keeps its mount and its mount point.
            let (paths, mounts) = leftovers(&mock, "logs");
            assert_eq!(mounts, ["volume-subpaths/logs/app/0"], "{context}");
            assert_eq!(paths.len(), 3, "{context}: {paths:?}");
            // The volume's own files are untouched.
            assert_eq!(mock.fs().tree(Root::Volume).len(), 4, "{context}");
        }
        assert_eq!(leaked, 1);
    }
}

#[test]
fn a_clean_killed_after_any_effect_is_finished_by_the_next_clean() {
    let mut base = mock();
    for (subpath, container, index) in [
        ("dir", "app", "0"),
        ("config", "app", "1"),
        ("link", "sidecar", "0"),
    ] {
        run(&mut base, prepare("data", subpath, container, index));
    }
    let total = effect_count(&base, &clean("data"));
    for budget in 0..=total {
        let mut mock = base.clone();
        pollster::block_on(drive_bounded(
            &mut SubpathEngine::new(),
            &mut mock,
            clean("data"),
            budget,
        ));
        mock.crash(CrashKind::ProcessKill);
        let SubpathResponse::Cleaned(report) = run(&mut mock, clean("data")) else {
            unreachable!()
        };
        assert!(report.is_complete(), "budget {budget}: {report:?}");
        assert_clean(
            &mock,
            "data",
            &format!("clean killed after {budget} effects"),
        );
    }
}

#[test]
fn after_a_power_loss_no_mount_is_left_and_clean_removes_the_rest() {
    let base = mock();
    let request = prepare("data", "dir", "app", "0");
    let total = effect_count(&base, &request);
    for budget in 0..=total {
        let mut mock = base.clone();
        pollster::block_on(drive_bounded(
            &mut SubpathEngine::new(),
            &mut mock,
            request.clone(),
            budget,
        ));
        mock.crash(CrashKind::PowerLoss);
        assert!(mock.mounts().is_empty());
        let SubpathResponse::Cleaned(report) = run(&mut mock, clean("data")) else {
            unreachable!()
        };
        assert!(report.is_complete(), "budget {budget}: {report:?}");
        assert_clean(&mock, "data", &format!("power loss after {budget} effects"));
        // And the subpath can be mounted again from scratch.
        run(&mut mock, request.clone());
        assert_eq!(mock.mounts().len(), 1);
    }
}
