//! Shared helpers for the `podns` command-line tests: one way each to run the
//! binary (with a hang guard), run it as nobody, read its JSON and the mount
//! table, and snapshot directories.

// Each test binary uses a part of this module.
#![allow(dead_code, unused_imports)]

mod documents;
mod mount_ns;
mod mounts;
mod nobody;
mod node;
mod ns_dirs;
mod run;
mod subpath_args;
mod tree;
mod userns;

pub use documents::*;
pub use mount_ns::*;
pub use mounts::*;
pub use nobody::*;
pub use node::*;
pub use ns_dirs::*;
pub use run::*;
pub use subpath_args::*;
pub use tree::*;
pub use userns::*;
