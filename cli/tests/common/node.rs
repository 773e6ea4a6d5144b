//! A temporary node for the userns commands.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use super::{Run, check_list_shape, podns_command, run};

/// A temporary node: `<temp>/pods` is the pods directory (not created until
/// a command or a test creates it), `<temp>/outside` is for files that must
/// not be touched.
#[derive(Debug)]
pub struct Node {
    pub temp: TempDir,
    /// Global options passed before every command, after `--pods-dir`.
    pub global: Vec<String>,
}

impl Node {
    pub fn new() -> Self {
        Self::with_options(&[])
    }

    /// A node whose invocations all carry `global` options.
    pub fn with_options(global: &[&str]) -> Self {
        Self {
            temp: TempDir::new().unwrap(),
            global: global.iter().map(|&option| option.to_owned()).collect(),
        }
    }

    pub fn pods(&self) -> PathBuf {
        self.temp.path().join("pods")
    }

    pub fn outside(&self) -> PathBuf {
        self.temp.path().join("outside")
    }

    /// `<pods>/<pod>/userns`.
    pub fn userns(&self, pod: &str) -> PathBuf {
        self.pods().join(pod).join("userns")
    }

    /// `podns --pods-dir <pods> <global...> args...`, not started.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut command = podns_command(&["--pods-dir"]);
        command.arg(self.pods()).args(&self.global).args(args);
        command
    }

    /// Runs `podns --pods-dir <pods> <global...> args...`.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        run(self.command(args))
    }

    /// `alloc <pod>` must succeed in POD mode; returns its output.
    pub fn alloc(&self, pod: &str) -> Value {
        self.alloc_with(pod, &[])
    }

    /// `<extra...> alloc <pod>` must succeed in POD mode; returns its output.
    pub fn alloc_with(&self, pod: &str, extra: &[&str]) -> Value {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["--json", "alloc", pod]);
        let output = self.run(&args).ok_json();
        assert_eq!(output["pod"], pod, "{output}");
        assert_eq!(output["mode"], "POD", "{output}");
        output
    }

    /// `list` must succeed; returns its output.
    pub fn list(&self) -> Value {
        let output = self.run(&["--json", "list"]).ok_json();
        check_list_shape(&output);
        output
    }

    /// Writes `<pods>/<pod>/userns` (creating the pod directory).
    pub fn plant(&self, pod: &str, contents: &[u8]) {
        std::fs::create_dir_all(self.pods().join(pod)).unwrap();
        std::fs::write(self.userns(pod), contents).unwrap();
    }
}

impl Default for Node {
    fn default() -> Self {
        Self::new()
    }
}
