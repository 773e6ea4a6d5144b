//! One invocation: validate everything, lock, recover, run the command.

use std::collections::BTreeSet;
use std::path::Path;

use async_trait::async_trait;
use podns_backend_linux::{DirLock, LinuxBackend};
use podns_core::DryRun;
use podns_core::{
    Backend, Effect, EffectError, Errno, GetOrCreate, Observation, OperationError, PodUid, Request,
    Response, Root, RootLabels, UsernsEngine, drive,
};
use serde::Serialize;

use crate::args::{CleanupArgs, Cli, Command, Format};
use crate::failure::Failure;
use crate::output::{AllocOutput, CleanupOutput, ListOutput, ReleaseOutput, to_json};
use crate::settings::Settings;
use crate::test_knobs::TestKnobs;

pub fn run(cli: Cli) -> Result<(), Failure> {
    // ID map commands use neither the pods directory, nor its lock, nor the pool.
    if let Command::Idmap(command) = &cli.command {
        return crate::idmap_cmd::run(command);
    }
    // Subpath commands act on one volume and one pod directory, not the pool.
    if let Command::Subpath(command) = &cli.command {
        return crate::subpath_cmd::run(command, cli.global.json, cli.global.dry_run);
    }
    // Namespace commands recover the pods directory, then use the run directory.
    if let Command::Ns(command) = &cli.command {
        return crate::ns_cmd::run(command, &cli.global);
    }
    let settings = Settings::from_options(&cli.global)?;
    // Every input is checked before the disk is touched.
    let request = request_for(&cli.command)?;
    if cli.global.dry_run {
        return dry_run(&settings, &cli.command, request);
    }
    create_pods_dir(&settings.pods_dir)?;
    let _lock = DirLock::acquire(&settings.pods_dir)
        .map_err(|error| Failure::failed("lock", error.to_string()))?;
    let mut backend = TestKnobs::from_env(
        LinuxBackend::open(&settings.pods_dir)
            .map_err(|error| Failure::failed("io", error.to_string()))?,
    );
    let mut engine = new_engine(&settings);
    recover(&mut engine, &mut backend)?;
    if !matches!(cli.command, Command::List) {
        warn_about_problems(&engine);
    }
    let response = match request {
        Some(request) => Some(execute(&mut engine, &mut backend, request)?),
        None => None,
    };
    let (output, outcome) =
        render_result(&cli.command, &engine, response.as_ref(), &settings.pods_dir);
    println!("{output}");
    outcome
}

fn request_for(command: &Command) -> Result<Option<Request>, Failure> {
    Ok(match command {
        Command::Alloc(args) => Some(Request::GetOrCreate(GetOrCreate {
            pod: pod_uid(&args.pod)?,
            host_users: Some(args.host_users),
            runtime_handler: args.handler.clone(),
            handler_supports_userns: args.handler_supports_userns,
        })),
        Command::Release { pod } => Some(Request::Release { pod: pod_uid(pod)? }),
        Command::List => None,
        // Dispatched in `run` before anything else.
        Command::Idmap(_) => None,
        Command::Subpath(_) => None,
        Command::Ns(_) => None,
        Command::Cleanup(args) => Some(Request::Cleanup {
            keep: keep_set(args)?,
        }),
    })
}

/// A pod UID from the command line; `invalid-pod-uid` when it is not one.
pub(crate) fn pod_uid(text: &str) -> Result<PodUid, Failure> {
    PodUid::new(text).map_err(|error| Failure::bad_input("invalid-pod-uid", error.to_string()))
}

fn keep_set(args: &CleanupArgs) -> Result<BTreeSet<PodUid>, Failure> {
    let mut keep = BTreeSet::new();
    for uid in &args.keep {
        keep.insert(pod_uid(uid)?);
    }
    for file in &args.keep_file {
        let text = std::fs::read_to_string(file).map_err(|error| {
            Failure::bad_input(
                "usage",
                format!("cannot read keep file {}: {error}", file.display()),
            )
        })?;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let uid = PodUid::new(line).map_err(|error| {
                Failure::bad_input(
                    "invalid-pod-uid",
                    format!("{}:{}: {error}", file.display(), index + 1),
                )
            })?;
            keep.insert(uid);
        }
    }
    Ok(keep)
}

pub(crate) fn create_pods_dir(dir: &Path) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o750);
    builder.create(dir).map_err(|error| {
        Failure::failed(
            "io",
            format!(
                "cannot create pods directory {}: {error}; create it or pass --pods-dir DIR",
                dir.display()
            ),
        )
    })
}

fn block_on<B: Backend>(
    engine: &mut UsernsEngine,
    backend: &mut B,
    request: Request,
) -> Result<Response, OperationError> {
    pollster::block_on(drive(engine, backend, request))
}

/// An engine whose messages name the real pods directory.
pub(crate) fn new_engine(settings: &Settings) -> UsernsEngine {
    let mut engine = UsernsEngine::new(settings.pool, settings.seed, settings.policy);
    engine.set_root_labels(labels(&settings.pods_dir));
    engine
}

fn labels(pods_dir: &Path) -> RootLabels {
    RootLabels::new().with(Root::Pods, pods_dir.display().to_string())
}

pub(crate) fn recover<B: Backend>(
    engine: &mut UsernsEngine,
    backend: &mut B,
) -> Result<(), Failure> {
    block_on(engine, backend, Request::Recover)
        .map(|_| ())
        .map_err(Failure::from)
}

fn execute<B: Backend>(
    engine: &mut UsernsEngine,
    backend: &mut B,
    request: Request,
) -> Result<Response, Failure> {
    block_on(engine, backend, request).map_err(Failure::from)
}

pub(crate) fn warn_about_problems(engine: &UsernsEngine) {
    for problem in engine.problems() {
        eprintln!(
            "podns: warning: {} ({}): {}",
            problem.pod,
            problem.kind.as_str(),
            problem.message
        );
    }
}

/// The JSON document for a command's result, and whether the command
/// succeeded.
fn render_result(
    command: &Command,
    engine: &UsernsEngine,
    response: Option<&Response>,
    pods_dir: &Path,
) -> (String, Result<(), Failure>) {
    let output = match (command, response) {
        (Command::Alloc(args), Some(Response::UserNamespace(userns))) => match args.format {
            Format::Cri => to_json(&AllocOutput::new(userns)),
            Format::Oci => to_json(&userns.userns.to_oci()),
        },
        (Command::Release { .. }, Some(Response::Released(release))) => {
            to_json(&ReleaseOutput::from(release))
        }
        (Command::List, None) => to_json(&ListOutput::new(engine, pods_dir)),
        (Command::Cleanup(_), Some(Response::CleanedUp(report))) => {
            let output = to_json(&CleanupOutput::new(report));
            if !report.failures.is_empty() {
                let failure = Failure::failed(
                    "cleanup-incomplete",
                    format!(
                        "{} release(s) failed; those pods keep their ranges; see \"failures\" and run cleanup again",
                        report.failures.len()
                    ),
                );
                return (output, Err(failure));
            }
            output
        }
        (_, other) => {
            let failure = Failure::failed(
                "internal",
                format!("unexpected response {other:?}; please report this"),
            );
            return ("{}".to_owned(), Err(failure));
        }
    };
    (output, Ok(()))
}

/// Stands in for the pods directory when it does not exist yet: every path is
/// missing, exactly as the real directory would report.
struct MissingPodsDir;

#[async_trait]
impl Backend for MissingPodsDir {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        Err(EffectError::new(
            Errno::ENOENT,
            format!(
                "{} (the pods directory does not exist yet)",
                effect.subject()
            ),
        ))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRunOutput {
    dry_run: bool,
    effects: Vec<PlannedOutput>,
    /// What the command would print.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Box<serde_json::value::RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct PlannedOutput {
    effect: String,
    simulated: bool,
}

fn dry_run(
    settings: &Settings,
    command: &Command,
    request: Option<Request>,
) -> Result<(), Failure> {
    let inner: Box<dyn Backend> = if settings.pods_dir.is_dir() {
        Box::new(
            LinuxBackend::open(&settings.pods_dir)
                .map_err(|error| Failure::failed("io", error.to_string()))?,
        )
    } else {
        Box::new(MissingPodsDir)
    };
    let mut backend = DryRun::new(inner);
    let mut engine = new_engine(settings);
    let mut result = block_on(&mut engine, &mut backend, Request::Recover).map(|_| None);
    if let (Ok(_), Some(request)) = (&result, request) {
        result = block_on(&mut engine, &mut backend, request).map(Some);
    }
    let pods_dir = &settings.pods_dir;
    let rendered = result
        .as_ref()
        .ok()
        .map(|response| render_result(command, &engine, response.as_ref(), pods_dir).0)
        .and_then(|text| serde_json::value::RawValue::from_string(text).ok());
    let output = DryRunOutput {
        dry_run: true,
        effects: backend
            .plan()
            .iter()
            .map(|planned| PlannedOutput {
                effect: planned.effect.describe(&labels(pods_dir)),
                simulated: planned.simulated,
            })
            .collect(),
        result: rendered,
        error: result.as_ref().err().map(ToString::to_string),
    };
    println!("{}", to_json(&output));
    match result {
        Ok(_) => Ok(()),
        Err(error) => Err(Failure::from(error)),
    }
}
