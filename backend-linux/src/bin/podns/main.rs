//! The `podns` command-line tool: the core's decisions, executed by the Linux
//! backend, one command per invocation.

mod args;
mod failure;
mod idmap_cmd;
mod ns_cmd;
mod ns_output;
mod output;
mod run;
mod settings;
mod subpath_cmd;
mod test_knobs;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// clap's own errors, honouring `--json` even though parsing failed.
fn usage_error(error: clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) || !std::env::args().any(|arg| arg == "--json")
    {
        let _ = error.print();
        return ExitCode::from(if error.use_stderr() {
            failure::EXIT_BAD_INPUT
        } else {
            0
        });
    }
    let message = error.render().to_string();
    let first_line = message
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_owned();
    failure::Failure::bad_input("usage", format!("{first_line}; see podns --help")).report(true)
}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    let json = cli.global.json;
    match run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(json),
    }
}
