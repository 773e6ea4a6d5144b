//! `podns ns`: a pod's user namespace (with its allocated ID maps) and a
//! network namespace owned by it, pinned under the run directory, joinable,
//! and swept after crashes.
//!
//! Every command first recovers the pods directory under its lock (as the
//! other commands do), because a pod's namespaces are checked against its
//! allocation; the run directory is then set up and locked too (pods
//! directory first, then run directory: one order, so no deadlock).
//!
//! The test knobs of [`crate::test_knobs`] apply here as everywhere; the
//! pause steps inside `create-pod-namespaces` matter most to these commands.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use clap::{Subcommand, ValueEnum};
use podns_backend_linux::ns::RUN_DIR_MODE;
use podns_backend_linux::{DirLock, LinuxBackend};
use podns_core::{
    GetOrCreate, JoinTarget, NamespaceEngine, NsError, NsRequest, NsResponse, PidMode, PodIdMaps,
    PodUid, Request, Response, Root, RootLabels, RunDirPath, UserNamespace, UsernsEngine,
    drive_engine, join_spec,
};

use crate::args::GlobalOptions;
use crate::failure::Failure;
use crate::ns_output::{CreateOutput, ListOutput, RemoveOutput, SpecOutput, SweepOutput};
use crate::output::to_json;
use crate::run::pod_uid;
use crate::settings::Settings;
use crate::test_knobs::TestKnobs;

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
    Spec(PodUid, PidMode, Option<u32>),
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
        } => {
            let mode = match pid_mode {
                PidModeArg::Pod => PidMode::Pod,
                PidModeArg::Container => PidMode::Container,
            };
            Plan::Spec(pod_uid(pod)?, mode, *sandbox_pid)
        }
    })
}

fn ns_failure(error: NsError) -> Failure {
    Failure::failed(error.kind(), error.to_string())
}

pub fn run(command: &NsCommand, global: &GlobalOptions) -> Result<(), Failure> {
    let settings = Settings::from_options(global)?;
    let plan = plan(command)?;
    let run_dir = match &global.run_dir {
        Some(dir) => dir.clone(),
        None => crate::settings::default_run_dir()?,
    };
    if global.dry_run {
        return Err(Failure::bad_input(
            "usage",
            "podns ns does not support --dry-run: namespaces and mounts cannot be simulated; \
             `podns ns list` shows what is pinned",
        ));
    }
    if matches!(plan, Plan::Create(_)) && !rustix::process::geteuid().is_root() {
        return Err(Failure::failed(
            "needs-root",
            format!(
                "podns ns create needs root: an unprivileged user (effective UID {}) may map only \
                 its own UID into a new user namespace, not a pod's range of host IDs, and may \
                 not bind-mount namespace files into {} outside a mount namespace it owns; run \
                 it as root",
                rustix::process::geteuid().as_raw(),
                run_dir.display()
            ),
        ));
    }
    let run_path = canonical_run_dir(&run_dir)?;
    crate::run::create_pods_dir(&settings.pods_dir)?;
    let _lock = DirLock::acquire(&settings.pods_dir)
        .map_err(|error| Failure::failed("lock", error.to_string()))?;
    let linux = LinuxBackend::open(&settings.pods_dir)
        .map_err(|error| Failure::failed("io", error.to_string()))?
        .with_run_dir(Path::new(run_path.as_str()));
    let mut backend = TestKnobs::from_env(linux);
    let mut userns = crate::run::new_engine(&settings);
    crate::run::recover(&mut userns, &mut backend)?;
    crate::run::warn_about_problems(&userns);
    let mut ns = NamespaceEngine::new(run_path.clone());
    ns.set_root_labels(
        RootLabels::new()
            .with(Root::Pods, settings.pods_dir.display().to_string())
            .with(Root::Run, run_path.as_str()),
    );
    let mut run_ns = |backend: &mut _, request| {
        pollster::block_on(drive_engine(&mut ns, backend, request)).map_err(ns_failure)
    };
    match plan {
        Plan::Create(pod) => {
            let request = Request::GetOrCreate(GetOrCreate::pod_mode(pod.clone()));
            let userns_response =
                pollster::block_on(podns_core::drive(&mut userns, &mut backend, request))
                    .map_err(Failure::from)?;
            let Response::UserNamespace(allocation) = userns_response else {
                return Err(internal(&userns_response));
            };
            let maps = maps_of(&allocation.userns)?;
            let response = run_ns(
                &mut backend,
                NsRequest::Create {
                    pod,
                    maps: maps.clone(),
                },
            )?;
            let NsResponse::Created(pins) = &response else {
                return Err(internal(&response));
            };
            let target = JoinTarget {
                net_pin: &pins.net_pin,
                user_pin: &pins.user_pin,
                sandbox_pid: None,
            };
            let oci = join_spec(&target, &maps, PidMode::Pod);
            println!(
                "{}",
                to_json(&CreateOutput::new(
                    pins,
                    &allocation.userns.uid_mappings,
                    &allocation.userns.gid_mappings,
                    oci
                ))
            );
            Ok(())
        }
        Plan::Remove(pod) => {
            let response = run_ns(&mut backend, NsRequest::Remove { pod })?;
            let NsResponse::Removed(removal) = &response else {
                return Err(internal(&response));
            };
            println!("{}", to_json(&RemoveOutput::from(removal)));
            Ok(())
        }
        Plan::List => {
            let response = run_ns(&mut backend, NsRequest::List)?;
            let NsResponse::Listed(listing) = &response else {
                return Err(internal(&response));
            };
            let allocated = allocations(&userns)?.into_keys().collect();
            println!("{}", to_json(&ListOutput::new(listing, &allocated)));
            Ok(())
        }
        Plan::Sweep(keep) => {
            let allocations = allocations(&userns)?;
            let response = run_ns(&mut backend, NsRequest::Sweep { keep, allocations })?;
            let NsResponse::Swept(report) = &response else {
                return Err(internal(&response));
            };
            println!("{}", to_json(&SweepOutput::from(report)));
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
        Plan::Spec(pod, pid_mode, sandbox_pid) => {
            let maps = allocations(&userns)?.remove(&pod).ok_or_else(|| {
                Failure::failed(
                    "not-allocated",
                    format!(
                        "pod {pod} has no user-namespace allocation, so it has no pod \
                         namespaces; run podns ns create {pod}"
                    ),
                )
            })?;
            let response = run_ns(&mut backend, NsRequest::List)?;
            let NsResponse::Listed(listing) = &response else {
                return Err(internal(&response));
            };
            let pins = listing
                .pods
                .iter()
                .find(|pins| pins.pod == pod && pins.incomplete.is_none())
                .ok_or_else(|| {
                    Failure::failed(
                        "not-pinned",
                        format!(
                            "pod {pod} has no complete pair of pinned namespaces in {}; run \
                             podns ns create {pod}",
                            run_path
                        ),
                    )
                })?;
            let target = JoinTarget {
                net_pin: &pins.net_pin,
                user_pin: &pins.user_pin,
                sandbox_pid,
            };
            let spec = join_spec(&target, &maps, pid_mode);
            println!("{}", to_json(&SpecOutput::new(&pod, &spec)));
            Ok(())
        }
    }
}

fn internal(response: &impl std::fmt::Debug) -> Failure {
    Failure::failed(
        "internal",
        format!("unexpected response {response:?}; please report this"),
    )
}

fn maps_of(userns: &UserNamespace) -> Result<PodIdMaps, Failure> {
    PodIdMaps::from_userns(userns)
        .map_err(|error| Failure::failed("invalid-mapping", error.to_string()))
}

/// Every allocation's maps, by pod.
fn allocations(engine: &UsernsEngine) -> Result<BTreeMap<PodUid, PodIdMaps>, Failure> {
    engine
        .allocations()
        .into_iter()
        .map(|allocation| {
            Ok((
                allocation.pod,
                maps_of(&UserNamespace::pod(allocation.mapping))?,
            ))
        })
        .collect()
}

/// Creates the run directory if needed and returns its canonical path, as
/// the mount table shows it (symlinks resolved).
fn canonical_run_dir(dir: &Path) -> Result<RunDirPath, Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, RUN_DIR_MODE);
    let canonical = builder
        .create(dir)
        .and_then(|()| std::fs::canonicalize(dir))
        .map_err(|error| {
            Failure::failed(
                "io",
                format!(
                    "cannot create the run directory {}: {error}; create it or pass --run-dir DIR",
                    dir.display()
                ),
            )
        })?;
    let text = canonical.to_str().map(str::to_owned).unwrap_or_default();
    RunDirPath::new(text).map_err(|error| Failure::bad_input("usage", error.to_string()))
}
