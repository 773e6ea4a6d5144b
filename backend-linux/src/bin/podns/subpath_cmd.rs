//! `podns subpath`: bind-mount volume subpaths that no symlink can escape,
//! and clean them up. These commands never touch the pods directory or its
//! lock: a subpath lives in one volume and one pod directory, both named on
//! the command line.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use podns_backend_linux::LinuxBackend;
use podns_core::{
    CleanSubpaths, HostDir, PrepareSubpath, Root, RootLabels, SubpathCleanReport, SubpathEngine,
    SubpathError, SubpathName, SubpathNameField, SubpathRequest, SubpathResponse, SubpathTarget,
    drive_subpath, parse_subpath,
};
use serde::Serialize;

use crate::failure::Failure;
use crate::output::to_json;
use crate::test_knobs::TestKnobs;

#[derive(Debug, Subcommand)]
pub enum SubpathCommand {
    /// Bind-mount a subpath of a volume on
    /// <pod-dir>/volume-subpaths/<volume-name>/<container>/<index> and print
    /// that path. Symlinks in the volume are followed only while they stay
    /// inside it; the mount is made from file descriptors, never from a path
    /// string. Mounting the same file again does nothing
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

pub fn run(command: &SubpathCommand, json: bool, dry_run: bool) -> Result<(), Failure> {
    if dry_run {
        return Err(Failure::bad_input(
            "usage",
            "--dry-run is not supported by subpath commands: a mount plan depends on what the \
             kernel answers at each step; run without --dry-run",
        ));
    }
    match command {
        SubpathCommand::Mount(args) => mount(args, json),
        SubpathCommand::Clean(args) => clean(args, json),
    }
}

fn mount(args: &MountArgs, json: bool) -> Result<(), Failure> {
    // Every input is checked before anything is opened.
    let target = SubpathTarget::new(&args.volume_name, &args.container, &args.index)
        .map_err(|error| Failure::bad_input("invalid-name", error.to_string()))?;
    let subpath = parse_subpath(&args.subpath)
        .map_err(|error| Failure::bad_input("invalid-subpath", error.to_string()))?;
    let volume = real_dir("--volume", &args.volume)?;
    let (pod_dir, pod_host_dir) = pod_dir(&args.pod_dir)?;
    let response = execute(
        &volume,
        &pod_dir,
        SubpathRequest::Prepare(PrepareSubpath {
            subpath,
            target,
            pod_dir: pod_host_dir,
        }),
    )?;
    let SubpathResponse::Prepared(prepared) = response else {
        return Err(unexpected(&response));
    };
    if json {
        println!(
            "{}",
            to_json(&MountOutput {
                target: &prepared.host_path,
                already_mounted: prepared.already_mounted,
                replaced_mounts: prepared.replaced_mounts,
            })
        );
    } else {
        println!("{}", prepared.host_path);
    }
    Ok(())
}

fn clean(args: &CleanArgs, json: bool) -> Result<(), Failure> {
    let volume = SubpathName::new(SubpathNameField::Volume, &args.volume_name)
        .map_err(|error| Failure::bad_input("invalid-name", error.to_string()))?;
    let (pod_dir, pod_host_dir) = pod_dir(&args.pod_dir)?;
    // No volume is opened: the pod directory stands in for the root a clean
    // never uses.
    let response = execute(
        &pod_dir,
        &pod_dir,
        SubpathRequest::Clean(CleanSubpaths {
            volume,
            pod_dir: pod_host_dir,
        }),
    )?;
    let SubpathResponse::Cleaned(report) = response else {
        return Err(unexpected(&response));
    };
    let labels = labels(&pod_dir, &pod_dir);
    print_report(&report, &labels, json);
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

fn print_report(report: &SubpathCleanReport, labels: &RootLabels, json: bool) {
    let shown = |paths: &[podns_core::RootPath]| -> Vec<String> {
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
        println!("{}", to_json(&output));
        return;
    }
    for path in &output.unmounted {
        println!("unmounted {path}");
    }
    for path in &output.removed {
        println!("removed {path}");
    }
    for kept in &output.kept {
        println!("kept {}: {}", kept.path, kept.error);
    }
}

fn execute(
    volume: &Path,
    pod_dir: &Path,
    request: SubpathRequest,
) -> Result<SubpathResponse, Failure> {
    let backend = LinuxBackend::open_for_subpaths(volume, pod_dir)
        .map_err(|error| Failure::failed("io", error.to_string()))?;
    let mut backend = TestKnobs::from_env(backend);
    let mut engine = SubpathEngine::new();
    engine.set_root_labels(labels(volume, pod_dir));
    pollster::block_on(drive_subpath(&mut engine, &mut backend, request)).map_err(failure)
}

fn labels(volume: &Path, pod_dir: &Path) -> RootLabels {
    RootLabels::new()
        .with(Root::Volume, volume.display().to_string())
        .with(Root::PodDir, pod_dir.display().to_string())
}

fn failure(error: SubpathError) -> Failure {
    Failure::failed(error.kind(), error.to_string())
}

fn unexpected(response: &SubpathResponse) -> Failure {
    Failure::failed(
        "internal",
        format!("unexpected response {response:?}; please report this"),
    )
}

/// `dir` with every symlink resolved: the mount table names mount points by
/// their real path. A directory that cannot be resolved is bad input.
fn real_dir(flag: &str, dir: &Path) -> Result<PathBuf, Failure> {
    let real = std::fs::canonicalize(dir).map_err(|error| {
        Failure::bad_input(
            "usage",
            format!(
                "{flag} {}: {error}; pass an existing directory",
                dir.display()
            ),
        )
    })?;
    if !real.is_dir() {
        return Err(Failure::bad_input(
            "usage",
            format!("{flag} {}: not a directory", dir.display()),
        ));
    }
    Ok(real)
}

fn pod_dir(dir: &Path) -> Result<(PathBuf, HostDir), Failure> {
    let real = real_dir("--pod-dir", dir)?;
    let text = real.to_str().ok_or_else(|| {
        Failure::bad_input(
            "usage",
            format!(
                "--pod-dir {}: the path is not UTF-8, so it cannot be matched against the mount \
                 table",
                dir.display()
            ),
        )
    })?;
    let host_dir =
        HostDir::parse(text).map_err(|error| Failure::bad_input("usage", error.to_string()))?;
    Ok((real, host_dir))
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
            let failure = mount(&args(subpath, volume_name), false).unwrap_err();
            assert_eq!(failure.exit, crate::failure::EXIT_BAD_INPUT, "{subpath}");
            assert_eq!(failure.kind, kind, "{subpath}: {}", failure.message);
        }
    }
}
