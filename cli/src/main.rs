//! The `podns` command-line tool: parsing, output and exit codes; every
//! command is one call on the library's `Node`, one command per invocation.

mod args;
mod doctor_cmd;
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
        // A closed stdout or stderr must not turn --help into a panic.
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

/// Logs on stderr: the operations with `-v`, their effects too with `-vv`;
/// `RUST_LOG` overrides both. Nothing is logged by default.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::format::FmtSpan;
    let default = match verbose {
        0 => "off",
        1 => "podns=info",
        _ => "podns=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .init();
}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    init_logging(cli.global.verbose);
    let json = cli.global.json;
    match run::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(json),
    }
}
