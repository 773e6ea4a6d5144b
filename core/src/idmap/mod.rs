//! User-namespace ID maps: strict parsing and rendering of
//! `/proc/<pid>/uid_map` and `gid_map`, splitting a requested map so that a
//! rootless parent's kernel accepts it, rootless detection, and subordinate
//! ID ranges (`/etc/subuid`, `/etc/subgid`, `getsubids`) as a userns pool.
//!
//! Everything here is pure: backends read the files and hand the bytes in.

mod extent;
mod map;
mod mapped_pool;
mod number;
mod parse;
mod passwd;
mod rootless;
mod split;
mod subid;
mod subid_pool;

#[cfg(test)]
mod proptests;

pub use extent::{ID_MAP_END, IdExtent, IdSide};
pub use map::{IdField, IdMap, IdMapError, IdMapProblem, MAX_ID_MAP_EXTENTS};
pub use mapped_pool::{MappedPool, MappedPoolError};
pub(crate) use number::parse_decimal;
pub use passwd::{passwd_name_of, passwd_uid_of};
pub use rootless::RootlessStatus;
pub use split::{SplitError, split_for_parent};
pub use subid::{SubidEntry, SubidError, SubidField, SubidProblem, SubidRange, SubidTable};
pub use subid_pool::{SubidPoolError, SubidPoolRange, SubidSource};
