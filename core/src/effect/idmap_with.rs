//! The user namespace an idmapped bind mount maps with.

use serde::{Deserialize, Serialize};

use crate::ns::NamespaceId;
use crate::path::RootPath;

/// A pod's pinned user namespace, as the core found it in the mount table:
/// files owned by ID `n` in that namespace's terms show through the mount
/// as the host ID the namespace maps `n` to, and the reverse for what is
/// written through it. The backend refuses a pin that holds any other
/// namespace by then.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdmapWith {
    /// The pin (`<run>/<pod>/user`, below [`crate::Root::Run`]).
    pub pin: RootPath,
    /// The user namespace the pin held.
    pub userns: NamespaceId,
}
