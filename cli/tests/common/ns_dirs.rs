//! A pods directory and a run directory for the `podns ns` commands.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use super::{mounts_below, podns_command, run};

/// Every step of `podns ns create` that `PODNS_TEST_PAUSE_AT` can stop it
/// at, in the order a create of a new pod reaches them. The first
/// `create-dir` is the allocation's pod directory, hence `#2` for the pin
/// directory's.
pub const NS_CREATE_STEPS: [&str; 12] = [
    "before-set-up-run-dir",
    "after-set-up-run-dir",
    "after-create-dir#2",
    "after-create-pin-file",
    "after-create-pin-file#2",
    "before-create-pod-namespaces",
    "helper-in-userns",
    "maps-written",
    "helper-in-netns",
    "net-pinned",
    "user-pinned",
    "after-create-pod-namespaces",
];

/// A pods directory and a run directory in a fresh temporary directory, for
/// `podns ns` commands.
#[derive(Debug)]
pub struct NsDirs {
    _temp: TempDir,
    pub pods: PathBuf,
    pub run: PathBuf,
}

impl NsDirs {
    pub fn new() -> Self {
        let temp = TempDir::new().unwrap();
        let pods = temp.path().join("pods");
        let run = temp.path().join("run");
        Self {
            _temp: temp,
            pods,
            run,
        }
    }

    /// `podns --pods-dir <pods> --run-dir <run> --json args...`, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = podns_command(&["--pods-dir"]);
        command
            .arg(&self.pods)
            .arg("--run-dir")
            .arg(&self.run)
            .arg("--json")
            .args(args);
        command
    }

    /// Runs podns; returns the exit code, stdout (parsed when it is JSON,
    /// `Null` otherwise) and stderr.
    pub fn podns(&self, args: &[&str]) -> (i32, Value, String) {
        let done = run(self.command(args));
        let value = serde_json::from_str(done.stdout.trim()).unwrap_or(Value::Null);
        (done.code, value, done.stderr)
    }

    /// Runs podns, which must succeed and print one JSON document.
    pub fn ok(&self, args: &[&str]) -> Value {
        let done = run(self.command(args));
        done.assert_code(0);
        serde_json::from_str(&done.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {done:#?}"))
    }

    /// Mount points below the run directory (not on it), from this
    /// namespace's table.
    pub fn mounts_below_run(&self) -> Vec<String> {
        let run = std::fs::canonicalize(&self.run).unwrap();
        let run = run.to_str().unwrap();
        mounts_below(Path::new(run))
            .into_iter()
            .filter(|point| point != run)
            .collect()
    }

    /// Names in the run directory.
    pub fn run_entries(&self) -> BTreeSet<String> {
        std::fs::read_dir(&self.run)
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Nothing is left but the lock file: no pin, no pod directory, no
    /// mount below the run directory.
    pub fn assert_nothing_left(&self, context: &str) {
        assert_eq!(self.mounts_below_run(), Vec::<String>::new(), "{context}");
        assert_eq!(
            self.run_entries(),
            BTreeSet::from([".podns.lock".to_owned()]),
            "{context}"
        );
    }
}

impl Default for NsDirs {
    fn default() -> Self {
        Self::new()
    }
}
