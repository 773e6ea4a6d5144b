//! `podns-sim`: run seeded and exhaustive crash simulations and report.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use podns_core::BrokenVariant;
use podns_sim::{Report, Workload, exhaustive, run_seed, run_workload, shrink};

/// Seeded simulation of podns under restarts, crashes and faults.
///
/// Exits non-zero on any invariant violation, printing the seed, the
/// workload, the trace up to the violation and the replay command.
#[derive(Debug, Parser)]
#[command(name = "podns-sim", version)]
struct Args {
    /// Number of seeds to run, starting at --first-seed [env: PODNS_SIM_SEEDS]
    #[arg(long, env = "PODNS_SIM_SEEDS", default_value_t = 1000)]
    seeds: u64,
    /// First seed of the range
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Run only this seed
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Operations per seed
    #[arg(long, default_value_t = 100)]
    ops: u64,
    /// Also run the bounded-exhaustive mode up to this many operations
    #[arg(long, value_name = "DEPTH")]
    exhaustive: Option<usize>,
    /// Print the trace of a single seed (with --seed)
    #[arg(long)]
    trace: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// Run each seed once instead of twice (skips the determinism check)
    #[arg(long)]
    no_determinism_check: bool,
    /// Run a deliberately broken protocol, to see the simulator catch it
    #[arg(long, value_enum)]
    broken: Option<Broken>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Broken {
    ReleaseFreesBeforeDirSync,
    NoTempFileSync,
    AckBeforeDirSync,
    RecoveryTrustsTempFile,
    NoSyncfsAtRecovery,
    /// Needs an ambiguous failure to show.
    ReleaseTrustsFailedRemoval,
    /// Needs an unsynced out-of-band removal to show.
    ReleaseOfMissingFileSkipsSync,
}

impl From<Broken> for BrokenVariant {
    fn from(broken: Broken) -> Self {
        match broken {
            Broken::ReleaseFreesBeforeDirSync => BrokenVariant::ReleaseFreesBeforeDirSync,
            Broken::NoTempFileSync => BrokenVariant::NoTempFileSync,
            Broken::AckBeforeDirSync => BrokenVariant::AckBeforeDirSync,
            Broken::RecoveryTrustsTempFile => BrokenVariant::RecoveryTrustsTempFile,
            Broken::NoSyncfsAtRecovery => BrokenVariant::NoSyncFsAtRecovery,
            Broken::ReleaseTrustsFailedRemoval => BrokenVariant::ReleaseTrustsFailedRemoval,
            Broken::ReleaseOfMissingFileSkipsSync => BrokenVariant::ReleaseOfMissingFileSkipsSync,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let variant = args.broken.map(BrokenVariant::from);
    let started = Instant::now();
    let mut report = Report::default();
    let seeds: Vec<u64> = match args.seed {
        Some(seed) => vec![seed],
        None => (args.first_seed..args.first_seed.saturating_add(args.seeds)).collect(),
    };
    for seed in seeds {
        report.seeds += 1;
        report.scenarios += 1;
        let outcome = run_seed(seed, args.ops, variant, !args.no_determinism_check);
        report.stats.add(&outcome.stats);
        if args.trace && args.seed.is_some() {
            let traced = run_workload(&Workload::generate(seed, args.ops), variant, true);
            for line in &traced.trace {
                println!("{line}");
            }
        }
        if let Some((step, violation)) = outcome.violation {
            report.violations += 1;
            let workload = Workload::generate(seed, args.ops);
            let small = shrink(&workload, variant, violation.invariant);
            let traced = run_workload(&small, variant, true);
            eprintln!(
                "VIOLATION in seed {seed} at step {step}: {}",
                violation.invariant
            );
            eprintln!("  {}", violation.detail);
            eprintln!(
                "shrunk workload ({} of {} steps):",
                small.steps.len(),
                workload.steps.len()
            );
            for (index, step) in small.steps.iter().enumerate() {
                eprintln!("  {index}: {step}");
            }
            eprintln!("trace of the shrunk workload up to the violation:");
            for line in &traced.trace {
                eprintln!("{line}");
            }
            if let Some((_, shrunk)) = &traced.violation {
                eprintln!("  => {}: {}", shrunk.invariant, shrunk.detail);
            }
            let broken = args
                .broken
                .map(|broken| {
                    format!(
                        " --broken {}",
                        broken
                            .to_possible_value()
                            .map(|value| value.get_name().to_owned())
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "replay: podns-sim --seed {seed} --ops {}{broken} --trace",
                args.ops
            );
            break;
        }
    }
    if report.violations == 0 {
        if let Some(depth) = args.exhaustive {
            let explored = exhaustive::explore(depth, variant);
            report.exhaustive_workloads = explored.workloads;
            report.scenarios += explored.scenarios;
            report.stats.add(&explored.stats);
            if let Some((steps, at, violation)) = explored.violation {
                report.violations += 1;
                eprintln!(
                    "VIOLATION in exhaustive mode at {at}: {}",
                    violation.invariant
                );
                eprintln!("  {}", violation.detail);
                for (index, step) in steps.iter().enumerate() {
                    eprintln!("  {index}: {step}");
                }
            }
        }
    }
    report.finish(started.elapsed());
    if args.json {
        match serde_json::to_string(&report) {
            Ok(text) => println!("{text}"),
            Err(error) => eprintln!("podns-sim: cannot render the report: {error}"),
        }
    } else {
        println!("{}", report.to_text());
    }
    if report.violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
