//! Invariant 3: an acknowledged allocation survives every later crash with
//! the same mapping until its release is acknowledged.

use std::collections::BTreeMap;

use podns_core::UsernsEngine;

use super::Violation;
use crate::model::Model;

const NAME: &str = "3. an acknowledged allocation survives with the same mapping until released";

/// Checks every acknowledged pod against the engine's allocations.
pub fn check(engine: &UsernsEngine, model: &Model) -> Result<(), Violation> {
    let live: BTreeMap<String, _> = engine
        .allocations()
        .into_iter()
        .map(|allocation| (allocation.pod.to_string(), allocation.range))
        .collect();
    for (pod, range) in &model.acknowledged {
        match live.get(pod) {
            Some(now) if now == range => {}
            now => {
                let problem = engine
                    .problems()
                    .into_iter()
                    .find(|problem| problem.pod.as_str() == pod)
                    .map(|problem| format!(" (problem: {})", problem.message))
                    .unwrap_or_default();
                return Err(Violation::new(
                    NAME,
                    format!("{pod} was acknowledged with {range}, now {now:?}{problem}"),
                ));
            }
        }
    }
    Ok(())
}
