//! Shared helpers for the `podns` command-line tests: running the binary with
//! a hang guard, reading its JSON, and snapshotting directories.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
pub const PODNS: &str = env!("CARGO_BIN_EXE_podns");

/// Only a guard against a hung child (for example one blocked opening a
/// FIFO): no test asserts anything about time, and a healthy invocation
/// takes milliseconds.
const HANG_LIMIT: Duration = Duration::from_secs(120);

/// Exit code: the operation failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad usage or bad input.
pub const EXIT_BAD_INPUT: i32 = 2;

/// What one `podns` invocation did.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0 and parses stdout as one JSON document.
    pub fn ok_json(&self) -> Value {
        assert_eq!(self.code, 0, "podns {:?} failed: {self:#?}", self.args);
        self.stdout_json()
    }

    /// Parses stdout as exactly one JSON document on one line.
    pub fn stdout_json(&self) -> Value {
        let text = self.stdout.strip_suffix('\n').unwrap_or(&self.stdout);
        assert!(
            !text.contains('\n'),
            "stdout of podns {:?} is not one line: {self:#?}",
            self.args
        );
        serde_json::from_str(text)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:#?}"))
    }

    /// Asserts exit code `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "podns {:?}: expected exit {code}: {self:#?}",
            self.args
        );
        self
    }

    /// The error object a `--json` invocation printed as the last line of
    /// stderr (warnings may precede it), checked to have exactly the keys
    /// `error` (non-empty) and `kind`.
    pub fn json_error(&self) -> JsonError {
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or_else(|| panic!("no stderr: {self:#?}"));
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("last stderr line is not JSON ({error}): {self:#?}"));
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("error is not an object: {self:#?}"));
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["error", "kind"], "{self:#?}");
        let error = object["error"].as_str().unwrap().to_owned();
        let kind = object["kind"].as_str().unwrap().to_owned();
        assert!(!error.is_empty(), "{self:#?}");
        JsonError { error, kind }
    }

    /// Asserts the failure exit code and the JSON error kind, and returns the
    /// message.
    pub fn assert_failure(&self, code: i32, kind: &str) -> String {
        self.assert_code(code);
        let error = self.json_error();
        assert_eq!(error.kind, kind, "{self:#?}");
        error.error
    }
}

/// A `--json` error line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub error: String,
    pub kind: String,
}

/// Runs `podns args...` with stdin closed and waits for it (with a generous
/// hang guard that kills the child and fails the test).
pub fn podns<S: AsRef<str>>(args: &[S]) -> Run {
    let args: Vec<String> = args.iter().map(|arg| arg.as_ref().to_owned()).collect();
    let mut child = Command::new(PODNS)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {PODNS}: {error}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let result = stdout.read_to_end(&mut bytes);
        let _ = done_tx.send(());
        result.map(|_| bytes)
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stderr.read_to_end(&mut bytes).map(|_| bytes)
    });
    // stdout reaches EOF when the child exits (it starts no processes).
    if done_rx.recv_timeout(HANG_LIMIT).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("podns {args:?} hung: killed after {HANG_LIMIT:?}");
    }
    let status = child.wait().unwrap();
    let stdout = out_reader.join().unwrap().unwrap();
    let stderr = err_reader.join().unwrap().unwrap();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("podns {args:?} was killed by a signal: {status:?}"));
    Run {
        args,
        code,
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

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

    /// Runs `podns --pods-dir <pods> <global...> args...`.
    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> Run {
        let mut all = vec![
            "--pods-dir".to_owned(),
            self.pods().to_str().unwrap().to_owned(),
        ];
        all.extend(self.global.iter().cloned());
        all.extend(args.iter().map(|arg| arg.as_ref().to_owned()));
        podns(&all)
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

/// A `userns` file exactly as kubelet writes it.
pub fn kubelet_file(host_id: u64, length: u64) -> String {
    format!(
        r#"{{"uidMappings":[{{"hostId":{host_id},"containerId":0,"length":{length}}}],"gidMappings":[{{"hostId":{host_id},"containerId":0,"length":{length}}}]}}"#
    )
}

/// A host ID range `[first, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub first: u64,
    pub len: u64,
}

impl Range {
    pub fn end(self) -> u64 {
        self.first + self.len
    }

    pub fn overlaps(self, other: Range) -> bool {
        self.first < other.end() && other.first < self.end()
    }
}

/// The range of a document with CRI-style `uidMappings` and `gidMappings`:
/// checks there is exactly one mapping, from container ID 0, identical for
/// UIDs and GIDs.
pub fn range_of(document: &Value) -> Range {
    let uid = document["uidMappings"]
        .as_array()
        .unwrap_or_else(|| panic!("no uidMappings: {document}"));
    assert_eq!(uid.len(), 1, "{document}");
    assert_eq!(
        document["gidMappings"], document["uidMappings"],
        "{document}"
    );
    let mapping = uid[0].as_object().unwrap();
    let mut keys: Vec<&str> = mapping.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["containerId", "hostId", "length"], "{document}");
    assert_eq!(mapping["containerId"], 0, "{document}");
    Range {
        first: mapping["hostId"].as_u64().unwrap(),
        len: mapping["length"].as_u64().unwrap(),
    }
}

/// Checks the keys of a `list` document.
pub fn check_list_shape(list: &Value) {
    let object = list.as_object().unwrap_or_else(|| panic!("{list}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["allocations", "capacity", "free", "problems"],
        "{list}"
    );
    for allocation in list["allocations"].as_array().unwrap() {
        let mut keys: Vec<&str> = allocation
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["gidMappings", "pod", "uidMappings"], "{list}");
        range_of(allocation);
    }
    for problem in list["problems"].as_array().unwrap() {
        let mut keys: Vec<&str> = problem
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["kind", "message", "path", "pod"], "{list}");
        assert!(!problem["message"].as_str().unwrap().is_empty(), "{list}");
    }
}

/// The allocations of a `list` document, by pod.
pub fn allocations(list: &Value) -> BTreeMap<String, Value> {
    list["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["pod"].as_str().unwrap().to_owned(), entry.clone()))
        .collect()
}

/// The problems of a `list` document, as (pod, kind) pairs in list order.
pub fn problem_kinds(list: &Value) -> Vec<(String, String)> {
    list["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| {
            (
                problem["pod"].as_str().unwrap().to_owned(),
                problem["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Asserts that no two ranges overlap.
pub fn assert_disjoint(ranges: &[Range]) {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    for pair in sorted.windows(2) {
        assert!(
            pair[0].end() <= pair[1].first,
            "ranges overlap: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// One entry of a directory snapshot. File contents are compared in full;
/// FIFOs and devices are never opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        len: u64,
        contents: Vec<u8>,
    },
    Symlink {
        target: PathBuf,
    },
    Fifo {
        mode: u32,
    },
    Other {
        mode: u32,
    },
}

/// Every entry under `root` (not following symlinks), by path relative to
/// `root`; empty when `root` does not exist.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    if std::fs::symlink_metadata(root).is_ok() {
        walk(root, Path::new(""), &mut entries);
    }
    entries
}

fn walk(root: &Path, relative: &Path, entries: &mut BTreeMap<PathBuf, Entry>) {
    let dir = root.join(relative);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        // podns's own lock file holds the change counter, which every
        // change moves: it is not part of what a test compares.
        if relative.as_os_str().is_empty() && name == ".podns.lock" {
            continue;
        }
        let path = relative.join(&name);
        let full = root.join(&path);
        let metadata = std::fs::symlink_metadata(&full).unwrap();
        let mode = metadata.permissions().mode();
        let file_type = metadata.file_type();
        let entry = if file_type.is_symlink() {
            Entry::Symlink {
                target: std::fs::read_link(&full).unwrap(),
            }
        } else if file_type.is_dir() {
            walk(root, &path, entries);
            Entry::Dir { mode }
        } else if file_type.is_file() {
            Entry::File {
                mode,
                len: metadata.len(),
                contents: std::fs::read(&full).unwrap(),
            }
        } else if file_type.is_fifo() {
            Entry::Fifo { mode }
        } else {
            Entry::Other { mode }
        };
        entries.insert(path, entry);
    }
}

/// Names in `dir` (not recursive), sorted; empty if it does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = read
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Creates a FIFO with the `mkfifo` binary.
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {} failed", path.display());
}

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
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {test_name} in its mount namespace: stdout ---\n{stdout}");
    println!("--- {test_name} in its mount namespace: stderr ---\n{stderr}");
    assert!(
        output.status.success(),
        "{test_name} failed in its mount namespace ({}); its output is above",
        output.status
    );
    assert!(
        stdout.contains("running 1 test\n") && stdout.contains("test result: ok. 1 passed;"),
        "the re-run did not run exactly one test named {test_name}: is the name right? \
         Its output is above"
    );
    false
}

/// Runs a command that must succeed (mount, umount).
pub fn sh(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .expect("the command runs");
    assert!(status.success(), "{program} {args:?}: {status:?}");
}

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
        let mut command = Command::new(PODNS);
        command
            .arg("--pods-dir")
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
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run podns");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let value = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
        (output.status.code().expect("podns exited"), value, stderr)
    }

    /// Runs podns, which must succeed and print one JSON document.
    pub fn ok(&self, args: &[&str]) -> Value {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run podns");
        assert!(output.status.success(), "podns {args:?}: {output:?}");
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!("podns {args:?}: stdout is not JSON ({error}): {output:?}")
        })
    }

    /// Mount points below the run directory, from this namespace's table.
    pub fn mounts_below_run(&self) -> Vec<String> {
        let run = std::fs::canonicalize(&self.run).unwrap();
        let prefix = format!("{}/", run.display());
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|line| line.split(' ').nth(4).map(str::to_owned))
            .filter(|point| point.starts_with(&prefix))
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
