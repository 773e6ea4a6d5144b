//! Invariant 1: no two live allocations share a host ID.

use podns_core::{ProblemKind, UsernsEngine};

use super::Violation;

const NAME: &str = "1. no two live allocations share a host ID";

/// Checks the allocations the engine hands out, and that recovery found no
/// two files claiming overlapping ranges (the simulator never writes such a
/// pair itself, so a conflict means the protocol produced one).
pub fn check(engine: &UsernsEngine) -> Result<(), Violation> {
    let allocations = engine.allocations();
    for (index, a) in allocations.iter().enumerate() {
        for b in &allocations[index + 1..] {
            if a.range.overlaps(&b.range) {
                return Err(Violation::new(
                    NAME,
                    format!(
                        "{} holds {} and {} holds {}",
                        a.pod, a.range, b.pod, b.range
                    ),
                ));
            }
        }
    }
    if let Some(conflict) = engine
        .problems()
        .into_iter()
        .find(|problem| problem.kind == ProblemKind::Conflict)
    {
        return Err(Violation::new(NAME, conflict.message));
    }
    Ok(())
}
