//! Invariant 4: an acknowledged release never comes back after a crash.

use podns_core::UsernsEngine;

use super::Violation;
use crate::model::Model;

const NAME: &str = "4. an acknowledged release never comes back";

/// Checks that no released pod (not allocated again since) has any claim.
pub fn check(engine: &UsernsEngine, model: &Model) -> Result<(), Violation> {
    let pods = engine.pods();
    match model
        .released
        .iter()
        .find(|pod| pods.iter().any(|live| live.as_str() == pod.as_str()))
    {
        Some(pod) => Err(Violation::new(
            NAME,
            format!("{pod} was released, but the node holds a claim for it again"),
        )),
        None => Ok(()),
    }
}
