//! `podns doctor`: the node's read-only health check, printed one finding a
//! line (grouped by area, errors first) with a summary, or as JSON; exit 1
//! when anything needs action.

use podns_backend_linux::{DoctorReport, Finding, Severity, doctor};

use crate::args::GlobalOptions;
use crate::failure::Failure;
use crate::output::{emit, to_json};
use crate::settings::{Uses, node_config};

pub fn run(global: &GlobalOptions) -> Result<(), Failure> {
    if global.dry_run {
        return Err(Failure::bad_input(
            "usage",
            "podns doctor changes nothing already; run it without --dry-run",
        ));
    }
    let report = doctor(&node_config(global, Uses::PodsAndRunDir)?)?;
    if global.json {
        emit(&to_json(&report))?;
    } else {
        print_report(&report)?;
    }
    if !report.needs_action() {
        return Ok(());
    }
    Err(Failure::failed(
        "needs-action",
        format!(
            "the node needs action: {} error(s), {} warning(s) (see the findings)",
            report.count(Severity::Error),
            report.count(Severity::Warning)
        ),
    ))
}

fn print_report(report: &DoctorReport) -> Result<(), Failure> {
    emit(&format!(
        "pods directory {}, pool: {} ({} slots), {} allocation(s)",
        report.pods_dir, report.pool, report.capacity, report.allocations
    ))?;
    for area in ["kernel", "pool", "pods", "run"] {
        for finding in report
            .findings
            .iter()
            .filter(|finding| finding.area == area)
        {
            emit(&line(finding))?;
        }
    }
    let summary = format!(
        "{} error(s), {} warning(s), {} note(s): {}",
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Info),
        if report.needs_action() {
            "needs action"
        } else {
            "healthy"
        }
    );
    emit(&summary)
}

/// `<area> <severity> <kind> [pod P] [path]: message`.
fn line(finding: &Finding) -> String {
    let severity = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    let mut subject = String::new();
    if let Some(pod) = &finding.pod {
        subject.push_str(&format!(" pod {pod}"));
    }
    if let Some(path) = &finding.path {
        subject.push_str(&format!(" {path}"));
    }
    format!(
        "{:<6} {severity:<7} {}{subject}: {}",
        finding.area, finding.kind, finding.message
    )
}
