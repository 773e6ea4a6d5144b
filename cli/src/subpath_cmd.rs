//! `podns subpath`: bind-mount volume subpaths that no symlink can escape,
//! and clean them up. A plain mount and a clean never take the pods
//! directory's lock: a subpath lives in one volume and one pod directory,
//! both named on the command line. An idmapped mount (`--idmap-pod`) opens
//! the node's pods and run directories and takes their locks, to check the
//! pod's pins against its allocation before mapping with them.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use podns_backend_linux::{
    MountSubpath, RootLabels, SubpathCleanReport, SubpathName, SubpathNameField, SubpathTarget,
    block_on, parse_subpath,
};
use serde::Serialize;

use crate::args::GlobalOptions;
use crate::failure::Failure;
use crate::output::{emit, to_json};
use crate::run::pod_uid;
use crate::settings::{Uses, node_config, open_node};

#[derive(Debug, Subcommand)]
pub enum SubpathCommand {
    /// Bind-mount a subpath of a volume on
    /// <pod-dir>/volume-subpaths/<volume-name>/<container>/<index> and print
    /// that path. Symlinks in the volume are followed only while they stay
    /// inside it; the mount is made from file descriptors, never from a path
    /// string. Mounting the same file again does nothing. With --idmap-pod
    /// the mount is idmapped with that pod's pinned user namespace (checked
    /// against its allocation), and made again each time
    Mount(MountArgs),
    /// Unmount and remove every subpath mount point of one volume of a pod
    /// (never following a symlink, never outside the pod directory) and print
    /// what was unmounted, removed and kept
    Clean(CleanArgs),
}

#[derive(Debug, Args)]
pub struct MountArgs {
    /// The volume's directory
    #[arg(long, value_name = "DIR")]
    pub volume: PathBuf,
    /// The file or directory to mount, relative to the volume ('..' may not
    /// climb out of it)
    #[arg(long, value_name = "REL")]
    pub subpath: String,
    /// The pod's directory (kubelet's <pods-dir>/<pod-uid>)
    #[arg(long, value_name = "DIR")]
    pub pod_dir: PathBuf,
    /// The volume's name in the pod
    #[arg(long, value_name = "N")]
    pub volume_name: String,
    /// The container's name
    #[arg(long, value_name = "C")]
    pub container: String,
    /// The volume mount's index in the container
    #[arg(long, value_name = "I")]
    pub index: String,
    /// Idmap the mount with this pod's pinned user namespace (`podns ns
    /// create POD` made it): files of host root show as root inside the
    /// pod, and what the pod's root creates is host root's on disk. Without
    /// it, the pod sees host-owned files as the overflow ID 65534
    #[arg(long, value_name = "POD")]
    pub idmap_pod: Option<String>,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// The pod's directory (kubelet's <pods-dir>/<pod-uid>)
    #[arg(long, value_name = "DIR")]
    pub pod_dir: PathBuf,
    /// The volume whose subpath mounts are removed
    #[arg(long, value_name = "N")]
    pub volume_name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MountOutput<'a> {
    target: &'a str,
    already_mounted: bool,
    replaced_mounts: u32,
    /// The user namespace (`user:[ino]`) of an idmapped mount.
    #[serde(skip_serializing_if = "Option::is_none")]
    idmapped_with: Option<String>,
}

#[derive(Debug, Serialize)]
struct CleanOutput {
    unmounted: Vec<String>,
    removed: Vec<String>,
    kept: Vec<KeptOutput>,
}

#[derive(Debug, Serialize)]
struct KeptOutput {
    path: String,
    error: String,
}

pub fn run(command: &SubpathCommand, global: &GlobalOptions) -> Result<(), Failure> {
    if global.dry_run {
        return Err(Failure::bad_input(
            "usage",
            "--dry-run is not supported by subpath commands: a mount plan depends on what the \
             kernel answers at each step; run without --dry-run",
        ));
    }
    match command {
        SubpathCommand::Mount(args) => mount(args, global),
        SubpathCommand::Clean(args) => clean(args, global),
    }
}

fn mount(args: &MountArgs, global: &GlobalOptions) -> Result<(), Failure> {
    // Every input is checked before anything is opened.
    let target = SubpathTarget::new(&args.volume_name, &args.container, &args.index)
        .map_err(|error| Failure::bad_input("invalid-name", error.to_string()))?;
    let subpath = parse_subpath(&args.subpath)
        .map_err(|error| Failure::bad_input("invalid-subpath", error.to_string()))?;
    let idmap_pod = args.idmap_pod.as_deref().map(pod_uid).transpose()?;
    // The pod's pins are in the run directory; the node checks them against
    // the pod's allocation in the pods directory.
    let uses = match idmap_pod {
        Some(_) => Uses::PodsAndRunDir,
        None => Uses::Nothing,
    };
    let node = open_node(&node_config(global, uses)?)?;
    let prepared = block_on(node.mount_subpath(MountSubpath {
        volume: args.volume.clone(),
        subpath,
        pod_dir: args.pod_dir.clone(),
        target,
        idmap_pod,
    }))?;
    if global.json {
        emit(&to_json(&MountOutput {
            target: &prepared.host_path,
            already_mounted: prepared.already_mounted,
            replaced_mounts: prepared.replaced_mounts,
            idmapped_with: prepared
                .idmapped
                .as_ref()
                .map(|with| with.userns.to_string()),
        }))
    } else {
        emit(&prepared.host_path)
    }
}

fn clean(args: &CleanArgs, global: &GlobalOptions) -> Result<(), Failure> {
    let volume = SubpathName::new(SubpathNameField::Volume, &args.volume_name)
        .map_err(|error| Failure::bad_input("invalid-name", error.to_string()))?;
    let node = open_node(&node_config(global, Uses::Nothing)?)?;
    let report = block_on(node.clean_subpaths(&args.pod_dir, &volume))?;
    print_report(&report, &node.labels(), global.json)?;
    if report.is_complete() {
        return Ok(());
    }
    Err(Failure::failed(
        "clean-incomplete",
        format!(
            "{} entr{} could not be removed (see \"kept\"); unmount or empty them (a container \
             may still use a mount), then run clean again",
            report.kept.len(),
            if report.kept.len() == 1 { "y" } else { "ies" }
        ),
    ))
}

fn print_report(
    report: &SubpathCleanReport,
    labels: &RootLabels,
    json: bool,
) -> Result<(), Failure> {
    let shown = |paths: &[podns_backend_linux::RootPath]| -> Vec<String> {
        paths.iter().map(|path| labels.show(path)).collect()
    };
    let output = CleanOutput {
        unmounted: shown(&report.unmounted),
        removed: shown(&report.removed),
        kept: report
            .kept
            .iter()
            .map(|kept| KeptOutput {
                path: kept.shown.clone(),
                error: kept.error.to_string(),
            })
            .collect(),
    };
    if json {
        return emit(&to_json(&output));
    }
    for path in &output.unmounted {
        emit(&format!("unmounted {path}"))?;
    }
    for path in &output.removed {
        emit(&format!("removed {path}"))?;
    }
    for kept in &output.kept {
        emit(&format!("kept {}: {}", kept.path, kept.error))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(subpath: &str, volume_name: &str) -> MountArgs {
        MountArgs {
            volume: "/nonexistent/volume".into(),
            subpath: subpath.into(),
            pod_dir: "/nonexistent/pod".into(),
            volume_name: volume_name.into(),
            container: "app".into(),
            index: "0".into(),
            idmap_pod: None,
        }
    }

    #[test]
    fn bad_names_and_escaping_subpaths_are_bad_input_before_any_lookup() {
        for (subpath, volume_name, kind) in [
            ("../etc", "data", "invalid-subpath"),
            ("a/../../etc", "data", "invalid-subpath"),
            ("/etc", "data", "invalid-subpath"),
            ("a", "..", "invalid-name"),
            ("a", "x/y", "invalid-name"),
            // Valid input: the missing directories are reported next.
            ("a", "data", "usage"),
        ] {
            let global = <crate::args::Cli as clap::Parser>::parse_from(["podns", "list"]).global;
            let failure = mount(&args(subpath, volume_name), &global).unwrap_err();
            assert_eq!(failure.exit, crate::failure::EXIT_BAD_INPUT, "{subpath}");
            assert_eq!(failure.kind, kind, "{subpath}: {}", failure.message);
        }
    }

    #[test]
    fn a_bad_idmap_pod_is_bad_input_before_any_lookup() {
        let global = <crate::args::Cli as clap::Parser>::parse_from(["podns", "list"]).global;
        let mut bad = args("a", "data");
        bad.idmap_pod = Some("../evil".into());
        let failure = mount(&bad, &global).unwrap_err();
        assert_eq!(failure.exit, crate::failure::EXIT_BAD_INPUT);
        assert_eq!(failure.kind, "invalid-pod-uid", "{}", failure.message);
    }
}
