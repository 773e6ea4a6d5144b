use std::fmt;

use serde::{Deserialize, Serialize};

use super::pool::{ID_BLOCK, INVALID_HOST_ID};

/// A half-open range of host IDs `[first, first + len)`, in u64 so that no
/// arithmetic on it can wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HostIdRange {
    /// First host ID.
    pub first: u64,
    /// Number of IDs.
    pub len: u64,
}

impl HostIdRange {
    /// `[first, first + len)`.
    pub const fn new(first: u64, len: u64) -> Self {
        Self { first, len }
    }

    /// One past the last ID. Ranges are built from 32-bit values, so this
    /// cannot overflow.
    pub const fn end(&self) -> u64 {
        self.first + self.len
    }

    /// True when the two ranges share an ID.
    pub fn overlaps(&self, other: &HostIdRange) -> bool {
        self.first < other.end() && other.first < self.end()
    }

    /// True when the range contains a host ID in 0..=65535 or 4294967295.
    pub fn touches_reserved_ids(&self) -> bool {
        self.len > 0 && (self.first < ID_BLOCK || self.end() > INVALID_HOST_ID)
    }
}

impl fmt::Display for HostIdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == 0 {
            return write!(f, "empty range at {}", self.first);
        }
        write!(f, "{}-{}", self.first, self.end() - 1)
    }
}
