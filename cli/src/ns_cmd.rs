//! `podns ns`: a pod's user namespace (with its allocated ID maps) and a
//! network namespace owned by it, pinned under the run directory, joinable,
//! and swept after crashes.
//!
//! Each command is one call on the node, which first recovers the pods
//! directory (a pod's namespaces are checked against its allocation) and
//! runs every request under the locks of the pods directory and then of the
//! run directory (one order, so no deadlock).
//!
//! The test knobs of [`crate::test_knobs`] apply here as everywhere; the
//! pause steps inside `create-pod-namespaces` matter most to these commands.

use std::collections::BTreeSet;

use clap::{Subcommand, ValueEnum};
use podns_backend_linux::{PidMode, PodUid, block_on};

use crate::args::GlobalOptions;
use crate::failure::Failure;
use crate::ns_output::{CreateOutput, ListOutput, RemoveOutput, SpecOutput, SweepOutput};
use crate::output::{emit, to_json};
use crate::run::{pod_uid, warn_about_problems};
use crate::settings::{Uses, node_config, open_node};

#[derive(Debug, Subcommand)]
pub enum NsCommand {
    /// Get or create the pod's user namespace (with its allocated ID maps,
    /// allocating them if needed) and a network namespace owned by it, pinned
    /// at <run-dir>/<pod>/user and <run-dir>/<pod>/net; prints the pins, the
    /// mappings and the OCI namespaces
    Create {
        /// The pod UID
        pod: String,
    },
    /// Unmount and remove a pod's pins; a pod without pins is a no-op (its
    /// ID range stays allocated: see podns release)
    Remove {
        /// The pod UID
        pod: String,
    },
    /// List every pod directory in the run directory and its pins
    List,
    /// Remove every pin that should not be there: pods not kept, pods
    /// without an allocation, incomplete or mismatched pairs
    Sweep {
        /// A pod UID whose pins may stay; repeatable (none: remove all)
        #[arg(long, value_name = "POD_UID")]
        keep: Vec<String>,
    },
    /// Print the OCI linux.namespaces and ID mappings a container of the pod
    /// needs to join it
    Spec {
        /// The pod UID
        pod: String,
        /// CRI PID namespace mode: share the sandbox's, or one per container
        #[arg(long, value_enum, default_value_t = PidModeArg::Pod)]
        pid_mode: PidModeArg,
        /// The sandbox (pause) process whose IPC, UTS and PID namespaces
        /// containers join; without it the entries have no path (the sandbox
        /// container creates them)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        sandbox_pid: Option<u32>,
        /// Add a "mounts" entry that bind-mounts host directory SRC on DST in
        /// the container, idmapped by the runtime with the pod's mappings
        /// (uidMappings/gidMappings on the mount: crun, runc 1.2+);
        /// repeatable
        #[arg(long, value_name = "SRC:DST")]
        idmapped_volume: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PidModeArg {
    /// The containers share the sandbox's PID namespace
    Pod,
    /// Each container has its own PID namespace
    Container,
}

/// The validated request.
enum Plan {
    Create(PodUid),
    Remove(PodUid),
    List,
    Sweep(BTreeSet<PodUid>),
    Spec(PodUid, PidMode, Option<u32>, Vec<(String, String)>),
}

fn plan(command: &NsCommand) -> Result<Plan, Failure> {
    Ok(match command {
        NsCommand::Create { pod } => Plan::Create(pod_uid(pod)?),
        NsCommand::Remove { pod } => Plan::Remove(pod_uid(pod)?),
        NsCommand::List => Plan::List,
        NsCommand::Sweep { keep } => Plan::Sweep(
            keep.iter()
                .map(|uid| pod_uid(uid))
                .collect::<Result<_, _>>()?,
        ),
        NsCommand::Spec {
            pod,
            pid_mode,
            sandbox_pid,
            idmapped_volume,
        } => {
            let mode = match pid_mode {
                PidModeArg::Pod => PidMode::Pod,
                PidModeArg::Container => PidMode::Container,
            };
            let volumes = idmapped_volume
                .iter()
                .map(|text| volume(text))
                .collect::<Result<_, _>>()?;
            Plan::Spec(pod_uid(pod)?, mode, *sandbox_pid, volumes)
        }
    })
}

/// `SRC:DST` of `--idmapped-volume`: two absolute paths, split at the
/// first colon.
fn volume(text: &str) -> Result<(String, String), Failure> {
    match text.split_once(':') {
        Some((source, destination)) if source.starts_with('/') && destination.starts_with('/') => {
            Ok((source.to_owned(), destination.to_owned()))
        }
        _ => Err(Failure::bad_input(
            "invalid-volume",
            format!(
                "--idmapped-volume {text:?} is not SRC:DST with two absolute paths (the host \
                 directory, then where it appears in the container); pass e.g. \
                 /var/lib/data:/data"
            ),
        )),
    }
}

pub fn run(command: &NsCommand, global: &GlobalOptions) -> Result<(), Failure> {
    let config = node_config(global, Uses::PodsAndRunDir)?;
    let plan = plan(command)?;
    if global.dry_run {
        return Err(Failure::bad_input(
            "usage",
            "podns ns does not support --dry-run: namespaces and mounts cannot be simulated; \
             `podns ns list` shows what is pinned",
        ));
    }
    if matches!(plan, Plan::Create(_)) && !rustix::process::geteuid().is_root() {
        let run_dir = match config.resolved_run_dir() {
            Ok(Some(dir)) => dir.display().to_string(),
            _ => "the run directory".to_owned(),
        };
        return Err(Failure::failed(
            "needs-root",
            format!(
                "podns ns create needs root: an unprivileged user (effective UID {}) may map only \
                 its own UID into a new user namespace, not a pod's range of host IDs, and may \
                 not bind-mount namespace files into {run_dir} outside a mount namespace it \
                 owns; run it as root",
                rustix::process::geteuid().as_raw(),
            ),
        ));
    }
    let node = open_node(&config)?;
    warn_about_problems(&node);
    match plan {
        Plan::Create(pod) => {
            let sandbox = block_on(node.create_pod_namespaces(&pod))?;
            emit(&to_json(&CreateOutput::new(&sandbox)))
        }
        Plan::Remove(pod) => {
            let removal = block_on(node.remove_pod_namespaces(&pod))?;
            emit(&to_json(&RemoveOutput::from(&removal)))
        }
        Plan::List => {
            let listing = block_on(node.list_namespaces())?;
            emit(&to_json(&ListOutput::new(
                &listing.listing,
                &listing.allocated,
            )))
        }
        Plan::Sweep(keep) => {
            let report = block_on(node.sweep(&keep))?;
            emit(&to_json(&SweepOutput::from(&report)))?;
            if report.failures.is_empty() {
                Ok(())
            } else {
                Err(Failure::failed(
                    "sweep-incomplete",
                    format!(
                        "{} pod(s) could not be swept; see \"failures\" and run podns ns sweep \
                         again",
                        report.failures.len()
                    ),
                ))
            }
        }
        Plan::Spec(pod, pid_mode, sandbox_pid, volumes) => {
            let spec = block_on(node.join_spec(&pod, pid_mode, sandbox_pid))?;
            let spec = volumes.iter().fold(spec, |spec, (source, destination)| {
                spec.with_idmapped_volume(source, destination)
            });
            emit(&to_json(&SpecOutput::new(&pod, &spec)))
        }
    }
}
