//! The `podns` command-line tool: the core's decisions, executed by the Linux
//! backend, one command per invocation.

mod args;
mod failure;
mod output;
mod run;
mod settings;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let json = cli.global.json;
    match run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(json),
    }
}
