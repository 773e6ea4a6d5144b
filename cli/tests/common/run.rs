//! Starting `podns`: the one way every command-line test runs the binary,
//! with stdin closed and a hang guard, and what it did.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

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
    /// The exit code; -1 when a signal ended the process.
    pub code: i32,
    /// The signal that ended the process, if one did.
    pub signal: Option<i32>,
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

/// `podns args...`, not started: the one place a test builds a podns
/// command. Add options, environment or a user before [`run`] or `spawn`.
pub fn podns_command<S: AsRef<OsStr>>(args: &[S]) -> Command {
    podns_command_at(Path::new(PODNS), args)
}

/// [`podns_command`] for a copy of the binary at `binary` (one that another
/// user may execute, say).
pub fn podns_command_at<S: AsRef<OsStr>>(binary: &Path, args: &[S]) -> Command {
    let mut command = Command::new(binary);
    command.args(args).stdin(Stdio::null());
    command
}

/// Runs `podns args...` with stdin closed and waits for it.
pub fn podns<S: AsRef<OsStr>>(args: &[S]) -> Run {
    run(podns_command(args))
}

/// Runs a podns command and waits for it, with a generous hang guard that
/// kills the child and fails the test.
pub fn run(mut command: Command) -> Run {
    let args: Vec<String> = command
        .get_args()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {:?}: {error}", command.get_program()));
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
    Run {
        args,
        code: status.code().unwrap_or(-1),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

/// Where a test asks podns to stop and wait until its stdin closes (the
/// binary's test knobs).
#[derive(Debug, Clone, Copy)]
pub enum Pause<'a> {
    /// `PODNS_TEST_PAUSE_AT=<step>`: `ns` commands stop at a named step
    /// and say `paused at <step>` on stdout (the step without its `#N`).
    At(&'a str),
    /// `PODNS_TEST_PAUSE_AFTER_EFFECTS=<n>`: userns commands stop after `n`
    /// effects, holding the lock, and say `paused` on stderr.
    AfterEffects(u64),
}

/// Starts a podns command with `pause` and waits until podns says it
/// paused: `Ok` with the paused child (kill it, or close its stdin), or
/// `Err` with the child and the line it printed instead (it exited before
/// the pause, or said something else).
pub fn spawn_paused(mut command: Command, pause: Pause<'_>) -> Result<Child, (Child, String)> {
    let (name, value, expected) = match pause {
        Pause::At(step) => {
            let shown = step.split('#').next().unwrap_or(step);
            (
                "PODNS_TEST_PAUSE_AT",
                step.to_owned(),
                format!("paused at {shown}"),
            )
        }
        Pause::AfterEffects(count) => (
            "PODNS_TEST_PAUSE_AFTER_EFFECTS",
            count.to_string(),
            "paused".to_owned(),
        ),
    };
    let mut child = command
        .env(name, value)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {:?}: {error}", command.get_program()));
    let mut line = String::new();
    let said = match pause {
        Pause::At(_) => BufReader::new(child.stdout.take().unwrap()).read_line(&mut line),
        Pause::AfterEffects(_) => BufReader::new(child.stderr.take().unwrap()).read_line(&mut line),
    };
    if said.is_ok() && line.trim() == expected {
        Ok(child)
    } else {
        Err((child, line))
    }
}
