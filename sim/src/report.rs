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
    /// Counters over every scenario (operations, crashes, faults, checks).
    #[serde(flatten)]
    pub stats: Stats,
    /// Violations found.
    pub violations: u64,
    /// Wall time in seconds.
    pub wall_time_seconds: f64,
    /// Scenarios per second.
    pub scenarios_per_second: f64,
}

impl Report {
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
            "seeds: {}\nexhaustive workloads: {}\nscenarios: {}\noperations: {}\ncrashes: {} process kills, {} power losses\nfaults injected: {} ({} ambiguous)\nidmapped mounts: {}\nout-of-band removals: {}\ninvariant checks: {}\nviolations: {}\nwall time: {:.2} s\nscenarios per second: {:.0}",
            self.seeds,
            self.exhaustive_workloads,
            self.scenarios,
            self.stats.operations,
            self.stats.process_kills,
            self.stats.power_losses,
            self.stats.faults_injected,
            self.stats.ambiguous_faults,
            self.stats.idmapped_mounts,
            self.stats.out_of_band_removals,
            self.stats.checks,
            self.violations,
            self.wall_time_seconds,
            self.scenarios_per_second
        )
    }
}
