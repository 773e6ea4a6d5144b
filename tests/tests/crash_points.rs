//! A crash after every effect of an allocation or a release, of both kinds:
//! after recovery no range is shared, an acknowledged allocation is intact and
//! an acknowledged release stays released.

use podns_backend_mock::CrashKind;
use podns_core::{GetOrCreate, UsernsRequest, UsernsResponse, drive_bounded};
use podns_tests::{TestNode, pod};

fn ranges(node: &TestNode) -> Vec<(String, u64)> {
    node.engine
        .allocations()
        .into_iter()
        .map(|allocation| (allocation.pod.to_string(), allocation.range.first))
        .collect()
}

fn assert_no_overlap(node: &TestNode) {
    let allocations = node.engine.allocations();
    for (index, a) in allocations.iter().enumerate() {
        for b in &allocations[index + 1..] {
            assert!(
                !a.range.overlaps(&b.range),
                "{} and {} overlap",
                a.pod,
                b.pod
            );
        }
    }
}

#[test]
fn crash_during_allocation() {
    for crash in [CrashKind::ProcessKill, CrashKind::PowerLoss] {
        for budget in 0..6 {
            let mut node = TestNode::new();
            node.recover();
            node.alloc("acked").0.unwrap();
            let before = ranges(&node);
            assert_eq!(before.len(), 1, "{before:?}");
            let acked = node.engine.allocations().remove(0);
            let outcome = pollster::block_on(drive_bounded(
                &mut node.engine,
                &mut node.backend,
                UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod("new"))),
                budget,
            ));
            assert!(outcome.is_none(), "the allocation must still be running");
            node.restart_after(crash);
            node.recover();
            assert_no_overlap(&node);
            assert!(
                node.engine.problems().is_empty(),
                "{:?}",
                node.engine.problems()
            );
            // The acknowledged allocation is intact, mapping included.
            let after = ranges(&node);
            assert!(
                after.contains(&before[0]),
                "{crash:?} at {budget}: {before:?} lost, now {after:?}"
            );
            assert!(
                node.engine.allocations().contains(&acked),
                "{crash:?} at {budget}: {acked:?} changed"
            );
            // No temp file survives recovery.
            assert!(
                node.paths()
                    .iter()
                    .all(|path| !path.contains(".userns.podns-tmp"))
            );
            // The pod can always be allocated afterwards, without overlap.
            let Ok(UsernsResponse::UserNamespace(_)) = node.alloc("new").0 else {
                panic!("allocation after {crash:?} at {budget} failed");
            };
            assert_no_overlap(&node);
        }
    }
}

#[test]
fn crash_during_release() {
    for crash in [CrashKind::ProcessKill, CrashKind::PowerLoss] {
        for budget in 0..2 {
            let mut node = TestNode::new();
            node.recover();
            node.alloc("a").0.unwrap();
            let allocated = node.engine.allocations();
            assert_eq!(allocated.len(), 1, "{allocated:?}");
            let outcome = pollster::block_on(drive_bounded(
                &mut node.engine,
                &mut node.backend,
                UsernsRequest::Release { pod: pod("a") },
                budget,
            ));
            assert!(outcome.is_none());
            node.restart_after(crash);
            node.recover();
            // Not acknowledged: either state is allowed, but never a problem.
            assert!(node.engine.problems().is_empty());
            let after = node.engine.allocations();
            assert!(after.len() <= 1);
            // Released, or still holding exactly the range it was given:
            // never another one.
            assert!(
                after.is_empty() || after == allocated,
                "{crash:?} at {budget}: {allocated:?} became {after:?}"
            );
        }
    }
}

#[test]
fn an_acknowledged_release_survives_power_loss() {
    let mut node = TestNode::new();
    node.recover();
    node.alloc("a").0.unwrap();
    node.release("a").0.unwrap();
    node.restart_after(CrashKind::PowerLoss);
    node.recover();
    assert!(node.engine.allocations().is_empty());
}

#[test]
fn an_acknowledged_allocation_survives_power_loss() {
    let mut node = TestNode::new();
    node.recover();
    node.alloc("a").0.unwrap();
    let before = ranges(&node);
    node.restart_after(CrashKind::PowerLoss);
    node.recover();
    assert_eq!(ranges(&node), before);
}
