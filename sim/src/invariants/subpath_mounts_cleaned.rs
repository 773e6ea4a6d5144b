//! Invariant 9: subpath mounts leak on a process kill (the kernel keeps
//! them) but never survive a power loss, and after a complete clean nothing
//! remains below the volume's `volume-subpaths` directory: no mount, no file,
//! no directory.

use podns_core::Root;

use super::Violation;
use crate::world::World;

const NAME: &str =
    "9. after a clean nothing remains of a volume's subpath mounts; none survives a power loss";

/// Checks `volume-subpaths/<volume>` after a clean that reported success.
pub fn cleaned(world: &World, volume: &str) -> Result<(), Violation> {
    let prefix = format!("volume-subpaths/{volume}");
    let backend = world.backend.inner();
    let left: Vec<String> = backend
        .fs()
        .tree(Root::PodDir)
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| *path == prefix || path.starts_with(&format!("{prefix}/")))
        .collect();
    let mounts: Vec<String> = backend
        .mounts()
        .iter()
        .map(|(point, _)| point.path.to_string())
        .filter(|point| point.starts_with(&format!("{prefix}/")))
        .collect();
    if left.is_empty() && mounts.is_empty() {
        return Ok(());
    }
    Err(Violation::new(
        NAME,
        format!("after a complete clean of {volume}: paths {left:?}, mounts {mounts:?}"),
    ))
}

/// Checks that a power loss left no mount at all.
pub fn none_after_power_loss(world: &World) -> Result<(), Violation> {
    let mounts = world.backend.inner().mounts();
    if mounts.is_empty() {
        return Ok(());
    }
    Err(Violation::new(
        NAME,
        format!("{} mount(s) survived a power loss", mounts.len()),
    ))
}
