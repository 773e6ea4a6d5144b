//! `podns-sim`: run seeded crash and restart simulations and report.

use std::process::ExitCode;

use clap::Parser;

/// Seeded simulation of podns under restarts and crashes.
#[derive(Debug, Parser)]
#[command(name = "podns-sim", version)]
struct Args {
    /// Number of seeds to run, starting at 0
    #[arg(long, default_value_t = 200)]
    seeds: u64,
    /// Run only this seed
    #[arg(long)]
    seed: Option<u64>,
    /// Operations per seed
    #[arg(long, default_value_t = 100)]
    ops: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seeds: Vec<u64> = match args.seed {
        Some(seed) => vec![seed],
        None => (0..args.seeds).collect(),
    };
    let mut total = podns_sim::SeedReport::default();
    for seed in &seeds {
        match podns_sim::run_seed(*seed, args.ops) {
            Ok(report) => {
                total.operations += report.operations;
                total.crashes += report.crashes;
                total.checks += report.checks;
            }
            Err((violation, _)) => {
                eprintln!(
                    "seed {seed}: violated \"{}\": {}\nreplay: podns-sim --seed {seed} --ops {}",
                    violation.invariant, violation.detail, args.ops
                );
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "seeds: {}, operations: {}, crashes: {}, invariant checks: {}, violations: 0",
        seeds.len(),
        total.operations,
        total.crashes,
        total.checks
    );
    ExitCode::SUCCESS
}
