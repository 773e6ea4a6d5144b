//! Re-running one test in a private mount namespace, so that its mounts
//! never reach the machine.

use std::process::{Command, Stdio};

/// Set in a test binary that [`rerun_in_private_mount_namespace`] started.
pub const IN_PRIVATE_MOUNT_NAMESPACE: &str = "PODNS_TEST_IN_PRIVATE_MOUNT_NAMESPACE";

/// Runs the named test again, alone, in a private mount namespace, so that
/// the mounts it makes never reach the machine; returns true in that re-run
/// (the caller then does the work) and false in the outer run. Without root
/// it prints why the test is skipped and returns false.
///
/// The re-run's output is printed, and it must have run exactly one test:
/// `--exact` with a name that matches nothing runs no test and still exits 0,
/// so a renamed test would otherwise pass without doing anything.
pub fn rerun_in_private_mount_namespace(test_name: &str) -> bool {
    const MARKER: &str = IN_PRIVATE_MOUNT_NAMESPACE;
    if std::env::var_os(MARKER).is_some() {
        return true;
    }
    if !rustix::process::geteuid().is_root() {
        println!(
            "skipping {test_name}: it mounts file systems in a private mount namespace, which \
             needs root; run the tests as root"
        );
        return false;
    }
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(MARKER, "1")
        // A paused podns waits for its stdin to close; the re-run must not
        // hold the harness's.
        .stdin(Stdio::null())
        .output()
        .expect("unshare(1) from util-linux runs");
    let stdout = shown_success(&format!("{test_name} in its mount namespace"), &output);
    assert!(
        stdout.contains("running 1 test\n") && stdout.contains("test result: ok. 1 passed;"),
        "the re-run did not run exactly one test named {test_name}: is the name right? \
         Its output is above"
    );
    false
}

/// Prints a re-run test process's output under `what`, checks that it
/// succeeded, and returns its stdout.
pub fn shown_success(what: &str, output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {what}: stdout ---\n{stdout}");
    println!("--- {what}: stderr ---\n{stderr}");
    assert!(
        output.status.success(),
        "{what} failed ({}); its output is above",
        output.status
    );
    stdout
}

/// Runs a command that must succeed (mount, umount).
pub fn sh(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .expect("the command runs");
    assert!(status.success(), "{program} {args:?}: {status:?}");
}
