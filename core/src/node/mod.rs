//! One node's engines as one: the user-namespace, namespace and subpath
//! engines behind one request slot, and the flows across them.

mod engine;
mod request;

pub use engine::NodeEngine;
pub use request::{NamespaceListing, NodeError, NodeRequest, NodeResponse, PodSandbox};
