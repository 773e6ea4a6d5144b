//! Per-pod user-namespace host ID ranges: the pool, the allocator, the
//! kubelet-compatible `userns` file, and the operations on them.

mod broken_variant;
mod engine;
mod file_format;
mod mapping;
mod ops;
mod pool;
mod problem;
mod range;
mod registry;
mod request;
mod seeded_rng;
mod slot_map;

#[doc(hidden)]
pub use broken_variant::BrokenVariant;
pub use engine::{Allocation, AllocationPolicy, UsernsEngine};
pub use file_format::{
    FileFormatError, MAX_USERNS_FILE_LEN, TEMP_FILE_PREFIX, USERNS_FILE_NAME, parse_userns_file,
    render_userns_file,
};
pub use mapping::{IdMapping, NamespaceMode, OciIdMappings, UserNamespace};
pub use pool::{
    ID_BLOCK, ID_SPACE_END, INVALID_HOST_ID, Placement, Pool, PoolConfig, PoolError, SlotIndex,
};
pub use problem::{Problem, ProblemKind};
pub use range::HostIdRange;
pub use request::{
    CleanupFailure, CleanupReport, GetOrCreate, Inspection, PodUserNamespace, RecoveryReport,
    Release, UsernsError, UsernsRequest, UsernsResponse,
};
pub use seeded_rng::SeededRng;
pub use slot_map::SlotMap;
