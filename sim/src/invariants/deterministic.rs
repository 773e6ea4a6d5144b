//! Invariant 7: the same seed gives the same trace hash.

use super::Violation;

const NAME: &str = "7. the same seed gives the same trace";

/// Compares the trace hashes of two runs of one seed.
pub fn check(seed: u64, first: u64, second: u64) -> Result<(), Violation> {
    if first == second {
        return Ok(());
    }
    Err(Violation::new(
        NAME,
        format!("seed {seed} gave trace hash {first:016x}, then {second:016x}"),
    ))
}
