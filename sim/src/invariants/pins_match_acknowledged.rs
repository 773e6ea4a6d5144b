//! Invariant 8: after a sweep, the pinned namespaces are exactly those of the
//! pods whose pins were acknowledged, each a complete pair (a network
//! namespace owned by the pinned user namespace, with the pod's maps); after
//! a power loss there is no pin at all.

use std::collections::BTreeSet;

use podns_core::{NamespaceKind, PinKind, PodUid, pin_path};

use super::Violation;
use crate::model::Model;
use crate::world::World;

const NAME: &str = "8. after a sweep, pins are exactly the acknowledged pods', complete and owned";

/// Checks the mock's pins and namespaces against the model.
pub fn check(world: &World, model: &Model) -> Result<(), Violation> {
    let backend = world.backend.inner();
    let pins = backend.pins();
    let pinned: BTreeSet<String> = pins
        .keys()
        .filter_map(|path| path.path.first_component().map(str::to_owned))
        .collect();
    if pinned != model.pinned {
        return Err(Violation::new(
            NAME,
            format!("pods with pins {pinned:?}, acknowledged {:?}", model.pinned),
        ));
    }
    let namespaces = backend.namespaces().namespaces();
    for name in &model.pinned {
        let pod = PodUid::new(name.clone()).expect("simulated pod names are valid");
        let (Some(net), Some(user)) = (
            pins.get(&pin_path(&pod, PinKind::Net)),
            pins.get(&pin_path(&pod, PinKind::User)),
        ) else {
            return Err(Violation::new(
                NAME,
                format!("{name} has half a pair: {pins:?}"),
            ));
        };
        let (Some(net_ns), Some(user_ns)) = (namespaces.get(net), namespaces.get(user)) else {
            return Err(Violation::new(
                NAME,
                format!("{name}'s pins hold no namespace"),
            ));
        };
        if net_ns.kind != NamespaceKind::Net
            || user_ns.kind != NamespaceKind::User
            || net_ns.owner != Some(*user)
        {
            return Err(Violation::new(
                NAME,
                format!("{name}: the network namespace is not owned by the pinned user namespace"),
            ));
        }
    }
    Ok(())
}
