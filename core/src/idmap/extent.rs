//! One line of a user namespace's `uid_map` or `gid_map`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One past the last ID an extent may cover. The kernel refuses any extent
/// whose range reaches 4294967295 (`(uid_t)-1`, the invalid ID): it requires
/// `first + count` not to wrap in 32 bits, so `first + count <= 4294967295`.
pub const ID_MAP_END: u64 = u32::MAX as u64;

/// A side of an ID map: the IDs inside the namespace, or the IDs they map to
/// outside it (in the parent user namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IdSide {
    /// The first field of a line: IDs inside the namespace (a container's
    /// IDs).
    Inside,
    /// The second field of a line: IDs in the parent user namespace (the
    /// host's IDs, seen from the parent).
    Outside,
}

impl IdSide {
    /// `"inside"` or `"outside"`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdSide::Inside => "inside",
            IdSide::Outside => "outside",
        }
    }
}

impl fmt::Display for IdSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One extent of an ID map: `count` consecutive IDs from `inside` (in the
/// namespace) map to `count` consecutive IDs from `outside` (in the parent
/// namespace). In OCI and CRI terms: `containerID`, `hostID`, `size`.
///
/// A bare extent is not checked; [`crate::IdMap`] validates its extents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IdExtent {
    /// First ID inside the namespace.
    pub inside: u32,
    /// First ID outside, in the parent namespace.
    pub outside: u32,
    /// Number of IDs.
    pub count: u32,
}

impl IdExtent {
    /// `count` IDs from `inside` mapped to `count` IDs from `outside`.
    pub const fn new(inside: u32, outside: u32, count: u32) -> Self {
        Self {
            inside,
            outside,
            count,
        }
    }

    /// The first ID on `side`.
    pub const fn first(&self, side: IdSide) -> u32 {
        match side {
            IdSide::Inside => self.inside,
            IdSide::Outside => self.outside,
        }
    }

    /// One past the last ID on `side`, in u64 so that it cannot wrap.
    pub const fn end(&self, side: IdSide) -> u64 {
        self.first(side) as u64 + self.count as u64
    }

    /// One past the last inside ID.
    pub const fn inside_end(&self) -> u64 {
        self.end(IdSide::Inside)
    }

    /// One past the last outside ID.
    pub const fn outside_end(&self) -> u64 {
        self.end(IdSide::Outside)
    }

    /// True when `id` is one of the extent's IDs on `side`.
    pub const fn contains(&self, side: IdSide, id: u32) -> bool {
        self.first(side) <= id && (id as u64) < self.end(side)
    }

    /// True when the two extents share an ID on `side`.
    pub const fn overlaps(&self, other: &IdExtent, side: IdSide) -> bool {
        (self.first(side) as u64) < other.end(side) && (other.first(side) as u64) < self.end(side)
    }

    /// True when every ID of `[first, first + count)` is one of the extent's
    /// IDs on `side`. An empty range is never contained.
    pub const fn contains_range(&self, side: IdSide, first: u32, count: u32) -> bool {
        count > 0 && self.first(side) <= first && first as u64 + count as u64 <= self.end(side)
    }

    /// The outside ID that inside ID `id` maps to.
    pub fn to_outside(&self, id: u32) -> Option<u32> {
        self.translate(IdSide::Inside, id)
    }

    /// The inside ID that outside ID `id` maps to.
    pub fn to_inside(&self, id: u32) -> Option<u32> {
        self.translate(IdSide::Outside, id)
    }

    /// `id` on side `from`, translated to the other side.
    fn translate(&self, from: IdSide, id: u32) -> Option<u32> {
        if !self.contains(from, id) {
            return None;
        }
        let (from_first, to_first) = match from {
            IdSide::Inside => (self.inside, self.outside),
            IdSide::Outside => (self.outside, self.inside),
        };
        // Both sides have the same length, so this cannot leave u32 for an
        // extent that fits 32 bits; checked anyway for unvalidated extents.
        to_first.checked_add(id - from_first)
    }
}

impl fmt::Display for IdExtent {
    /// `inside outside count`, as one line of a map is written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_half_open_and_do_not_wrap() {
        let extent = IdExtent::new(u32::MAX - 1, 0, 1);
        assert_eq!(extent.inside_end(), u64::from(u32::MAX));
        assert!(extent.contains(IdSide::Inside, u32::MAX - 1));
        assert!(!extent.contains(IdSide::Inside, u32::MAX));
        assert!(!extent.contains(IdSide::Outside, 1));
    }

    #[test]
    fn translation_goes_both_ways() {
        let extent = IdExtent::new(1, 100000, 65536);
        assert_eq!(extent.to_outside(1), Some(100000));
        assert_eq!(extent.to_outside(65536), Some(165535));
        assert_eq!(extent.to_outside(0), None);
        assert_eq!(extent.to_inside(100001), Some(2));
        assert_eq!(extent.to_inside(99999), None);
    }

    #[test]
    fn overlap_and_containment() {
        let a = IdExtent::new(0, 10, 5);
        let b = IdExtent::new(4, 15, 1);
        assert!(a.overlaps(&b, IdSide::Inside));
        assert!(!a.overlaps(&b, IdSide::Outside));
        assert!(a.contains_range(IdSide::Outside, 10, 5));
        assert!(!a.contains_range(IdSide::Outside, 10, 6));
        assert!(!a.contains_range(IdSide::Outside, 10, 0));
    }

    #[test]
    fn displays_as_a_written_line() {
        assert_eq!(IdExtent::new(0, 1000, 1).to_string(), "0 1000 1");
    }
}
