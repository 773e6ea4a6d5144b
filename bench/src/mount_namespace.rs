//! Running a benchmark in a private mount namespace, so that the mounts it
//! makes never reach the machine and vanish with it.

use std::process::{Command, Stdio};

/// Set in the re-executed benchmark, inside its private mount namespace.
const IN_PRIVATE_MOUNT_NS: &str = "PODNS_BENCH_IN_PRIVATE_MOUNT_NS";

/// True in the re-executed benchmark, inside its private mount namespace,
/// where the caller goes on to measure. Otherwise runs this benchmark binary
/// again with the same arguments under `unshare -m --propagation private`
/// and exits with its status; or, when `unshare(1)` cannot run, says why
/// `benchmark` is skipped and returns false.
///
/// The caller checks for root first: without it, unshare fails.
pub fn rerun_in_private_mount_namespace(benchmark: &str) -> bool {
    if std::env::var_os(IN_PRIVATE_MOUNT_NS).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let status = Command::new("unshare")
        .args(["-m", "--propagation", "private", "--"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(IN_PRIVATE_MOUNT_NS, "1")
        .stdin(Stdio::null())
        .status();
    match status {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(error) => {
            eprintln!(
                "skipping the {benchmark} benchmark: cannot run unshare(1) from util-linux: {error}"
            );
            false
        }
    }
}
