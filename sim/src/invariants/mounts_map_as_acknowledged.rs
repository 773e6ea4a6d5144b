//! Invariant 10: an acknowledged subpath mount is what its answer says: a
//! plain bind mount, or one idmapped with the user namespace pinned for the
//! pod it names, which is a live user namespace.

use podns_backend_mock::MountSource;
use podns_core::{NamespaceKind, PreparedSubpath};

use super::Violation;
use crate::world::World;

const NAME: &str = "10. an acknowledged subpath mount is idmapped exactly as acknowledged, \
                    with the user namespace pinned for its pod";

/// Checks the topmost mount on the acknowledged mount point.
pub fn check(world: &World, prepared: &PreparedSubpath) -> Result<(), Violation> {
    let backend = world.backend.inner();
    let fail = |detail: String| Err(Violation::new(NAME, detail));
    let Some(mount) = backend.mounts().top(&prepared.target) else {
        return fail(format!("nothing is mounted on {}", prepared.target));
    };
    let mapped_with = match &mount.source {
        MountSource::Bind { idmap, .. } => *idmap,
        other => return fail(format!("{} shows {other:?}", prepared.target)),
    };
    match (&prepared.idmapped, mapped_with) {
        (None, None) => Ok(()),
        (Some(with), Some(ino)) => {
            let pinned = backend.pins().get(&with.pin).copied();
            let kind = backend
                .namespaces()
                .namespaces()
                .get(&ino)
                .map(|ns| ns.kind);
            if ino == with.userns.ino && pinned == Some(ino) && kind == Some(NamespaceKind::User) {
                Ok(())
            } else {
                fail(format!(
                    "{} is idmapped with namespace {ino} ({kind:?}), acknowledged as {}; the pin \
                     {} holds {pinned:?}",
                    prepared.target, with.userns, with.pin
                ))
            }
        }
        (acknowledged, found) => fail(format!(
            "{} was acknowledged as idmapped with {acknowledged:?} but is mapped with {found:?}",
            prepared.target
        )),
    }
}
