//! How the CLI fails: a message that names the thing and says what to do, a
//! stable kind, and an exit code.

use std::process::ExitCode;

use podns_backend_linux::{Error, ErrorDetails};
use serde::Serialize;

/// Exit code 2: bad usage or bad input.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code 1: the operation failed.
pub const EXIT_FAILED: u8 = 1;

#[derive(Debug)]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
    pub exit: u8,
}

impl Failure {
    pub fn bad_input(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            exit: EXIT_BAD_INPUT,
        }
    }

    pub fn failed(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            exit: EXIT_FAILED,
        }
    }

    /// Prints the failure on stderr; a closed stderr is ignored (there is
    /// nowhere left to say anything), the exit code still tells.
    pub fn report(&self, json: bool) -> ExitCode {
        use std::io::Write;
        let line = if json {
            #[derive(Serialize)]
            struct JsonError<'a> {
                error: &'a str,
                kind: &'a str,
            }
            serde_json::to_string(&JsonError {
                error: &self.message,
                kind: self.kind,
            })
            .unwrap_or_else(|_| format!("{{\"error\":{:?}}}", self.message))
        } else {
            format!("podns: {}", self.message)
        };
        let _ = writeln!(std::io::stderr(), "{line}");
        ExitCode::from(self.exit)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let exit = if error.is_bad_input() {
            EXIT_BAD_INPUT
        } else {
            EXIT_FAILED
        };
        Failure {
            kind: error.kind(),
            message: error.to_string(),
            exit,
        }
    }
}
