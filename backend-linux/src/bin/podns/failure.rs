//! How the CLI fails: a message that names the thing and says what to do, a
//! stable kind, and an exit code.

use std::process::ExitCode;

use podns_core::OperationError;
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

    pub fn report(&self, json: bool) -> ExitCode {
        if json {
            #[derive(Serialize)]
            struct JsonError<'a> {
                error: &'a str,
                kind: &'a str,
            }
            let line = serde_json::to_string(&JsonError {
                error: &self.message,
                kind: self.kind,
            })
            .unwrap_or_else(|_| format!("{{\"error\":{:?}}}", self.message));
            eprintln!("{line}");
        } else {
            eprintln!("podns: {}", self.message);
        }
        ExitCode::from(self.exit)
    }
}

impl From<OperationError> for Failure {
    fn from(error: OperationError) -> Self {
        Failure::failed(error.kind(), error.to_string())
    }
}
