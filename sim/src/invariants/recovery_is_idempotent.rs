//! Invariant 5: recovery is idempotent (twice = once), and after recovery no
//! temp file is left.

use podns_backend_mock::Node;
use podns_core::{Root, TEMP_FILE_PREFIX};

use super::Violation;
use crate::world::World;

const NAME: &str = "5. recovery is idempotent and leaves no temp file";

/// Call right after a successful recovery: recovers again and compares.
pub fn check(world: &mut World) -> Result<(), Violation> {
    if let Some((path, _)) = world
        .backend
        .inner()
        .fs()
        .tree(Root::Pods)
        .into_iter()
        .find(|(path, node)| {
            path.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with(TEMP_FILE_PREFIX))
                && !matches!(node, Node::Dir { .. })
        })
    {
        return Err(Violation::new(
            NAME,
            format!("temp file {path} survived recovery"),
        ));
    }
    let once = (
        world.engine().allocations(),
        world.engine().problems(),
        world.engine().free(),
    );
    world
        .recover()
        .map_err(|outcome| Violation::new(NAME, format!("a second recovery failed: {outcome}")))?;
    let twice = (
        world.engine().allocations(),
        world.engine().problems(),
        world.engine().free(),
    );
    if once != twice {
        return Err(Violation::new(
            NAME,
            format!("first recovery gave {once:?}, the second {twice:?}"),
        ));
    }
    Ok(())
}
