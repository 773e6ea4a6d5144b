//! The summary a run prints.

use std::time::Duration;

use serde::Serialize;

use crate::sim::Stats;

/// Totals over a whole invocation.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Seeds run.
    pub seeds: u64,
    /// Exhaustive workloads enumerated.
    pub exhaustive_workloads: u64,
    /// Scenarios run (seeds, plus exhaustive crash scenarios).
    pub scenarios: u64,
    /// Operations run.
    pub operations: u64,
    /// Process kills.
    pub process_kills: u64,
    /// Power losses.
    pub power_losses: u64,
    /// Faults that fired.
    pub faults_injected: u64,
    /// Invariant checks performed.
    pub invariant_checks: u64,
    /// Violations found.
    pub violations: u64,
    /// Wall time in seconds.
    pub wall_time_seconds: f64,
    /// Scenarios per second.
    pub scenarios_per_second: f64,
}

impl Report {
    /// Adds one run's counters.
    pub fn add(&mut self, stats: &Stats) {
        self.operations += stats.operations;
        self.process_kills += stats.process_kills;
        self.power_losses += stats.power_losses;
        self.faults_injected += stats.faults_injected;
        self.invariant_checks += stats.checks;
    }

    /// Sets the wall time and the rate.
    pub fn finish(&mut self, elapsed: Duration) {
        self.wall_time_seconds = elapsed.as_secs_f64();
        self.scenarios_per_second = if self.wall_time_seconds > 0.0 {
            self.scenarios as f64 / self.wall_time_seconds
        } else {
            0.0
        };
    }

    /// The human-readable summary.
    pub fn to_text(&self) -> String {
        format!(
            "seeds: {}\nexhaustive workloads: {}\nscenarios: {}\noperations: {}\ncrashes: {} process kills, {} power losses\nfaults injected: {}\ninvariant checks: {}\nviolations: {}\nwall time: {:.2} s\nscenarios per second: {:.0}",
            self.seeds,
            self.exhaustive_workloads,
            self.scenarios,
            self.operations,
            self.process_kills,
            self.power_losses,
            self.faults_injected,
            self.invariant_checks,
            self.violations,
            self.wall_time_seconds,
            self.scenarios_per_second
        )
    }
}
