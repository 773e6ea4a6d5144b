//! One invocation of a range command (`alloc`, `release`, `list`,
//! `cleanup`): validate everything, open the node (which recovers), make
//! one call on it, print the result.

use std::collections::BTreeSet;

use podns_backend_linux::{DryRunHost, Host, Node, NodeConfig, PodUid, UsernsOptions, block_on};
use serde::Serialize;

use crate::args::{AllocArgs, CleanupArgs, Cli, Command, Format};
use crate::failure::Failure;
use crate::output::{AllocOutput, CleanupOutput, ListOutput, ReleaseOutput, emit, to_json};
use crate::settings::{Uses, node_config, open_node};

pub fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        // ID map commands use neither the pods directory, nor its lock, nor the pool.
        Command::Idmap(command) => crate::idmap_cmd::run(command),
        // Subpath commands act on one volume and one pod directory, not the pool.
        Command::Subpath(command) => crate::subpath_cmd::run(command, &cli.global),
        // Namespace commands use the run directory as well.
        Command::Ns(command) => crate::ns_cmd::run(command, &cli.global),
        // The health check reads, and never takes the lock.
        Command::Doctor => crate::doctor_cmd::run(&cli.global),
        command => {
            let config = node_config(&cli.global, Uses::PodsDir)?;
            // Every input is checked before the disk is touched.
            let request = RangeRequest::from_command(command)?;
            if cli.global.dry_run {
                return dry_run(&config, request);
            }
            let node = open_node(&config)?;
            if !matches!(request, RangeRequest::List) {
                warn_about_problems(&node);
            }
            let (output, outcome) = request.run(&node)?;
            emit(&output)?;
            outcome
        }
    }
}

/// A range command, validated.
enum RangeRequest {
    Alloc(PodUid, UsernsOptions, Format),
    Release(PodUid),
    List,
    Cleanup(BTreeSet<PodUid>),
}

impl RangeRequest {
    fn from_command(command: &Command) -> Result<Self, Failure> {
        Ok(match command {
            Command::Alloc(AllocArgs {
                pod,
                host_users,
                handler_supports_userns,
                handler,
                format,
            }) => RangeRequest::Alloc(
                pod_uid(pod)?,
                UsernsOptions {
                    host_users: Some(*host_users),
                    runtime_handler: handler.clone(),
                    handler_supports_userns: *handler_supports_userns,
                },
                *format,
            ),
            Command::Release { pod } => RangeRequest::Release(pod_uid(pod)?),
            Command::Cleanup(args) => RangeRequest::Cleanup(keep_set(args)?),
            _ => RangeRequest::List,
        })
    }

    /// Makes the one call on `node`; returns what to print and whether the
    /// command succeeded.
    fn run<H: Host>(self, node: &Node<H>) -> Result<(String, Result<(), Failure>), Failure> {
        Ok(match self {
            RangeRequest::Alloc(pod, options, format) => {
                let userns = block_on(node.get_or_create_user_namespace(&pod, options))?;
                let output = match format {
                    Format::Cri => to_json(&AllocOutput::new(&userns)),
                    Format::Oci => to_json(&node.runtime_mappings(&userns)?),
                };
                (output, Ok(()))
            }
            RangeRequest::Release(pod) => {
                let release = block_on(node.release(&pod))?;
                (to_json(&ReleaseOutput::from(&release)), Ok(()))
            }
            RangeRequest::List => (to_json(&ListOutput::new(node)), Ok(())),
            RangeRequest::Cleanup(keep) => {
                let report = block_on(node.cleanup_orphaned(&keep, &BTreeSet::new()))?;
                let outcome = if report.failures.is_empty() {
                    Ok(())
                } else {
                    Err(Failure::failed(
                        "cleanup-incomplete",
                        format!(
                            "{} release(s) failed; those pods keep their ranges; see \
                             \"failures\" and run cleanup again",
                            report.failures.len()
                        ),
                    ))
                };
                (to_json(&CleanupOutput::new(&report)), outcome)
            }
        })
    }
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

pub(crate) fn warn_about_problems<H: Host>(node: &Node<H>) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    for problem in node.problems() {
        let _ = writeln!(
            stderr,
            "podns: warning: {} ({}): {}",
            problem.pod,
            problem.kind.as_str(),
            problem.message
        );
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

/// Runs the command on a node whose host changes nothing, and prints every
/// effect it planned with the result it would print.
fn dry_run(config: &NodeConfig, request: RangeRequest) -> Result<(), Failure> {
    let (host, settings) = DryRunHost::open(config)?;
    let labels = settings.labels.clone();
    let node = block_on(Node::with_host(host, settings))?;
    let result = request.run(&node);
    let planned = block_on(node.with_host_mut(|host| host.plan().to_vec()))?;
    let (rendered, error) = match &result {
        Ok((output, Ok(()))) => (Some(output.clone()), None),
        Ok((output, Err(failure))) => (Some(output.clone()), Some(failure.message.clone())),
        Err(failure) => (None, Some(failure.message.clone())),
    };
    let output = DryRunOutput {
        dry_run: true,
        effects: planned
            .iter()
            .map(|planned| PlannedOutput {
                effect: planned.effect.describe(&labels),
                simulated: planned.simulated,
            })
            .collect(),
        result: rendered.and_then(|text| serde_json::value::RawValue::from_string(text).ok()),
        error,
    };
    emit(&to_json(&output))?;
    result.and_then(|(_, outcome)| outcome)
}
