//! The driver against a mockall backend: the exact effect order, and the
//! rollback the core runs when each step fails.

use std::sync::{Arc, Mutex};

use mockall::Sequence;
use mockall::predicate::eq;
use podns_core::{
    AllocationPolicy, Effect, EffectError, Errno, GetOrCreate, MockBackend, Observation,
    PoolConfig, ProblemKind, RelPath, Root, RootPath, UsernsEngine, UsernsError, UsernsRequest,
    UsernsResponse, drive,
};
use podns_tests::{pod, trace_line};

fn path(text: &str) -> RootPath {
    RootPath {
        root: Root::Pods,
        path: RelPath::parse(text).unwrap(),
    }
}

fn recovered_engine() -> UsernsEngine {
    let pool = PoolConfig::default().validate().unwrap();
    let mut engine = UsernsEngine::new(pool, 1, AllocationPolicy::LowestFree);
    let mut backend = MockBackend::new();
    backend
        .expect_execute()
        .with(eq(Effect::ListDir {
            dir: RootPath::root(Root::Pods),
        }))
        .times(1)
        .returning(|_| Ok(Observation::Listing(Vec::new())));
    backend
        .expect_execute()
        .with(eq(Effect::SyncFs { root: Root::Pods }))
        .times(1)
        .returning(|_| Ok(Observation::Done));
    pollster::block_on(drive(&mut engine, &mut backend, UsernsRequest::Recover)).unwrap();
    engine
}

fn alloc_request() -> UsernsRequest {
    UsernsRequest::GetOrCreate(GetOrCreate::pod_mode(pod("p")))
}

#[test]
fn alloc_runs_the_durable_sequence_in_order() {
    let mut engine = recovered_engine();
    let mut backend = MockBackend::new();
    let mut seq = Sequence::new();
    let expected: Vec<(Effect, Observation)> = vec![
        (
            Effect::CreateDir {
                dir: path("p"),
                mode: 0o750,
            },
            Observation::DirCreated { created: true },
        ),
        (
            Effect::SyncDir {
                dir: RootPath::root(Root::Pods),
            },
            Observation::Done,
        ),
        (
            Effect::WriteNewFile {
                file: path("p/.userns.podns-tmp.0"),
                mode: 0o600,
                contents: podns_core::render_userns_file(podns_core::IdMapping {
                    host_id: 65536,
                    container_id: 0,
                    length: 65536,
                }),
            },
            Observation::Done,
        ),
        (
            Effect::SyncFile {
                file: path("p/.userns.podns-tmp.0"),
            },
            Observation::Done,
        ),
        (
            Effect::Rename {
                from: path("p/.userns.podns-tmp.0"),
                to: path("p/userns"),
            },
            Observation::Done,
        ),
        (Effect::SyncDir { dir: path("p") }, Observation::Done),
    ];
    for (effect, observation) in expected {
        backend
            .expect_execute()
            .with(eq(effect))
            .times(1)
            .in_sequence(&mut seq)
            .return_once(move |_| Ok(observation));
    }
    let response = pollster::block_on(drive(&mut engine, &mut backend, alloc_request())).unwrap();
    assert!(matches!(response, UsernsResponse::UserNamespace(_)));
    assert_eq!(engine.allocations().len(), 1);
}

/// Runs an allocation whose effect number `failing` fails with EIO; returns
/// the effects seen, the result and the engine.
fn alloc_failing_at(
    failing: usize,
    answers: fn(&Effect) -> Observation,
) -> (
    Vec<String>,
    Result<UsernsResponse, UsernsError>,
    UsernsEngine,
) {
    let mut engine = recovered_engine();
    let mut backend = MockBackend::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    backend.expect_execute().returning(move |effect| {
        let mut log = log.lock().unwrap();
        let outcome = if log.len() == failing {
            Err(EffectError::new(Errno::EIO, "injected"))
        } else {
            Ok(answers(effect))
        };
        log.push(trace_line(effect, &outcome));
        outcome
    });
    let result = pollster::block_on(drive(&mut engine, &mut backend, alloc_request()));
    let seen = seen.lock().unwrap().clone();
    (seen, result, engine)
}

fn truthful(effect: &Effect) -> Observation {
    match effect {
        Effect::CreateDir { .. } => Observation::DirCreated { created: true },
        Effect::RemoveFile { .. } => Observation::FileRemoved { existed: true },
        _ => Observation::Done,
    }
}

#[test]
fn rollback_when_each_allocation_step_fails() {
    let mut report = Vec::new();
    for failing in 0..6 {
        let (seen, result, engine) = alloc_failing_at(failing, truthful);
        let error = result.unwrap_err();
        assert!(matches!(error, UsernsError::Io { .. }), "{error}");
        // Nothing half-done is acknowledged, and the slot is free again.
        assert!(engine.allocations().is_empty());
        assert_eq!(engine.free(), engine.capacity(), "step {failing}");
        assert!(engine.problems().is_empty());
        report.push(format!("fail step {failing}: {}", error));
        report.extend(seen.into_iter().map(|line| format!("  {line}")));
    }
    insta::assert_yaml_snapshot!(report);
}

#[test]
fn a_rename_that_happened_despite_its_error_is_undone_durably() {
    // The temp file is gone after the failed rename: the rename took effect,
    // so the core removes `userns` and syncs before freeing the slot.
    let (seen, result, engine) = alloc_failing_at(4, |effect| match effect {
        Effect::CreateDir { .. } => Observation::DirCreated { created: false },
        Effect::RemoveFile { file } if file.file_name() != Some("userns") => {
            Observation::FileRemoved { existed: false }
        }
        Effect::RemoveFile { .. } => Observation::FileRemoved { existed: true },
        _ => Observation::Done,
    });
    assert!(result.is_err());
    assert_eq!(engine.free(), engine.capacity());
    insta::assert_yaml_snapshot!(seen);
}

#[test]
fn an_undoable_failure_keeps_the_slot_reserved_in_doubt() {
    let mut engine = recovered_engine();
    let mut backend = MockBackend::new();
    let calls = Arc::new(Mutex::new(0usize));
    let count = Arc::clone(&calls);
    // The final directory sync fails, and so does every later step.
    backend.expect_execute().returning(move |effect| {
        let mut count = count.lock().unwrap();
        *count += 1;
        if *count >= 5 {
            return Err(EffectError::new(Errno::EIO, "disk gone"));
        }
        Ok(truthful(effect))
    });
    let result = pollster::block_on(drive(&mut engine, &mut backend, alloc_request()));
    assert!(result.is_err());
    assert_eq!(engine.free(), engine.capacity() - 1);
    let problems = engine.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].kind, ProblemKind::InDoubt);
    // The pod cannot use a range that may not be on disk...
    let mut backend = MockBackend::new();
    backend.expect_execute().never();
    let again = pollster::block_on(drive(&mut engine, &mut backend, alloc_request()));
    assert!(matches!(again, Err(UsernsError::PodProblem { .. })));
    // ...and a later successful release gives it back.
    let mut backend = MockBackend::new();
    backend
        .expect_execute()
        .times(2)
        .returning(|effect| Ok(truthful(effect)));
    pollster::block_on(drive(
        &mut engine,
        &mut backend,
        UsernsRequest::Release { pod: pod("p") },
    ))
    .unwrap();
    assert_eq!(engine.free(), engine.capacity());
}

#[test]
fn a_release_whose_sync_fails_keeps_the_slot() {
    let mut engine = recovered_engine();
    let mut backend = MockBackend::new();
    backend
        .expect_execute()
        .times(6)
        .returning(|effect| Ok(truthful(effect)));
    pollster::block_on(drive(&mut engine, &mut backend, alloc_request())).unwrap();

    let mut backend = MockBackend::new();
    let mut seq = Sequence::new();
    backend
        .expect_execute()
        .with(eq(Effect::RemoveFile {
            file: path("p/userns"),
        }))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Observation::FileRemoved { existed: true }));
    backend
        .expect_execute()
        .with(eq(Effect::SyncDir { dir: path("p") }))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(EffectError::new(Errno::EIO, "fsync")));
    let result = pollster::block_on(drive(
        &mut engine,
        &mut backend,
        UsernsRequest::Release { pod: pod("p") },
    ));
    assert!(matches!(result, Err(UsernsError::Io { .. })));
    assert_eq!(
        engine.free(),
        engine.capacity() - 1,
        "the slot must not be reused yet"
    );
}
