//! A validated ID map, its errors and its two text forms.

use std::fmt;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::extent::{ID_MAP_END, IdExtent, IdSide};

/// The kernel's limit on the extents of one map (since Linux 4.15; 5 before).
pub const MAX_ID_MAP_EXTENTS: usize = 340;

/// The field of a map line a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IdField {
    /// The first field: the first inside ID.
    Inside,
    /// The second field: the first outside ID.
    Outside,
    /// The third field: the number of IDs.
    Count,
}

impl IdField {
    /// The three fields of a line, in order.
    pub const ALL: [IdField; 3] = [IdField::Inside, IdField::Outside, IdField::Count];

    /// How the field is named in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            IdField::Inside => "inside ID (field 1)",
            IdField::Outside => "outside ID (field 2)",
            IdField::Count => "count (field 3)",
        }
    }
}

impl fmt::Display for IdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with one line (or extent) of a map.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdMapProblem {
    /// The line is empty or only whitespace.
    #[error("the line is blank; every line must be `inside outside count`")]
    BlankLine,
    /// Not exactly three fields.
    #[error(
        "expected 3 fields `inside outside count` separated by whitespace, found {found} field(s)"
    )]
    FieldCount {
        /// How many whitespace-separated fields the line has.
        found: usize,
    },
    /// A field is not a decimal number.
    #[error("{field} `{text}` is not a decimal number (digits only, no sign)")]
    NotANumber {
        /// Which field.
        field: IdField,
        /// The field as written (shortened, escaped).
        text: String,
    },
    /// A field does not fit 32 bits.
    #[error("{field} `{text}` is larger than 4294967295")]
    TooLarge {
        /// Which field.
        field: IdField,
        /// The field as written (shortened).
        text: String,
    },
    /// The count is zero.
    #[error("the count is 0; an extent maps at least one ID")]
    ZeroCount,
    /// The range reaches ID 4294967295 or beyond.
    #[error(
        "{side} range of {count} IDs from {first} reaches ID {last}; it must end at 4294967294 \
         at most, since the kernel never maps 4294967295",
        last = u64::from(*first) + u64::from(*count) - 1
    )]
    PastIdSpace {
        /// The side that runs past the end.
        side: IdSide,
        /// Its first ID.
        first: u32,
        /// The number of IDs.
        count: u32,
    },
    /// Two extents share IDs on one side.
    #[error(
        "{side} IDs {}-{} overlap {side} IDs {}-{} of line {other_line}; {side} ranges must be disjoint",
        extent.first(*side),
        extent.end(*side) - 1,
        other.first(*side),
        other.end(*side) - 1
    )]
    Overlap {
        /// The side on which they overlap.
        side: IdSide,
        /// The line (1-based) of the earlier extent.
        other_line: usize,
        /// This line's extent.
        extent: IdExtent,
        /// The earlier extent.
        other: IdExtent,
    },
    /// More extents than the kernel accepts.
    #[error("more than {max} extents; the kernel accepts at most {max} per map")]
    TooManyExtents {
        /// [`MAX_ID_MAP_EXTENTS`].
        max: usize,
    },
}

/// Why text or a list of extents is not a valid ID map. `line` is the 1-based
/// line of the text; for a map built from extents it is the extent's
/// position, which is its line in [`IdMap::render_for_write`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct IdMapError {
    /// 1-based line (or extent position).
    pub line: usize,
    /// What is wrong with it.
    pub problem: IdMapProblem,
}

impl IdMapError {
    pub(crate) fn new(line: usize, problem: IdMapProblem) -> Self {
        Self { line, problem }
    }
}

/// A valid user-namespace ID map: the contents of `/proc/<pid>/uid_map` or
/// `gid_map`, or a map to write there.
///
/// Valid means what the kernel checks on a write: at most
/// [`MAX_ID_MAP_EXTENTS`] extents, each of at least one ID, none reaching ID
/// 4294967295, and no two extents sharing an inside ID or an outside ID. The
/// extents keep their order. An empty map (a namespace whose map is not
/// written yet) is valid, but cannot be written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<IdExtent>", into = "Vec<IdExtent>")]
pub struct IdMap {
    extents: Vec<IdExtent>,
}

impl IdMap {
    /// Validates `extents` as a map; errors name the extent's 1-based
    /// position as its line.
    pub fn new(extents: Vec<IdExtent>) -> Result<Self, IdMapError> {
        let mut map = Self::default();
        for (index, extent) in extents.into_iter().enumerate() {
            map.push(index + 1, extent)?;
        }
        Ok(map)
    }

    /// Appends `extent` after checking it against the extents already there.
    /// `line` is what errors name.
    pub(crate) fn push(&mut self, line: usize, extent: IdExtent) -> Result<(), IdMapError> {
        let fail = |problem| Err(IdMapError::new(line, problem));
        if self.extents.len() >= MAX_ID_MAP_EXTENTS {
            return fail(IdMapProblem::TooManyExtents {
                max: MAX_ID_MAP_EXTENTS,
            });
        }
        if extent.count == 0 {
            return fail(IdMapProblem::ZeroCount);
        }
        for side in [IdSide::Inside, IdSide::Outside] {
            if extent.end(side) > ID_MAP_END {
                return fail(IdMapProblem::PastIdSpace {
                    side,
                    first: extent.first(side),
                    count: extent.count,
                });
            }
        }
        for side in [IdSide::Inside, IdSide::Outside] {
            if let Some(index) = self
                .extents
                .iter()
                .position(|other| extent.overlaps(other, side))
            {
                return fail(IdMapProblem::Overlap {
                    side,
                    other_line: index + 1,
                    extent,
                    other: self.extents[index],
                });
            }
        }
        self.extents.push(extent);
        Ok(())
    }

    /// The extents, in their order.
    pub fn extents(&self) -> &[IdExtent] {
        &self.extents
    }

    /// The extents, in their order.
    pub fn into_extents(self) -> Vec<IdExtent> {
        self.extents
    }

    /// Number of extents.
    pub fn len(&self) -> usize {
        self.extents.len()
    }

    /// True when nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.extents.is_empty()
    }

    /// How many IDs the map maps: the sum of the counts.
    pub fn id_count(&self) -> u64 {
        self.extents
            .iter()
            .map(|extent| u64::from(extent.count))
            .sum()
    }

    /// The position and extent whose `side` range contains `id`. At most one
    /// does, as ranges are disjoint on each side.
    pub fn find(&self, side: IdSide, id: u32) -> Option<(usize, &IdExtent)> {
        self.extents
            .iter()
            .enumerate()
            .find(|(_, extent)| extent.contains(side, id))
    }

    /// The outside ID that inside ID `id` maps to, if it is mapped.
    pub fn to_outside(&self, id: u32) -> Option<u32> {
        self.find(IdSide::Inside, id)
            .and_then(|(_, extent)| extent.to_outside(id))
    }

    /// The inside ID that outside ID `id` maps to, if it is mapped.
    pub fn to_inside(&self, id: u32) -> Option<u32> {
        self.find(IdSide::Outside, id)
            .and_then(|(_, extent)| extent.to_inside(id))
    }

    /// The extents sorted by inside ID.
    pub fn sorted_by_inside(&self) -> Vec<IdExtent> {
        let mut extents = self.extents.clone();
        extents.sort_unstable();
        extents
    }

    /// True when both maps have the same extents, in any order. The kernel
    /// prints a map of more than 5 extents sorted by inside ID, so a map read
    /// back is compared with this, not with `==`.
    pub fn same_extents(&self, other: &IdMap) -> bool {
        self.sorted_by_inside() == other.sorted_by_inside()
    }

    /// The text to write to `uid_map` or `gid_map` in one `write(2)`:
    /// `inside outside count\n` per extent, in order.
    pub fn render_for_write(&self) -> String {
        let mut text = String::new();
        for extent in &self.extents {
            let _ = writeln!(text, "{extent}");
        }
        text
    }

    /// The text exactly as the kernel prints the map in `/proc/<pid>/uid_map`:
    /// `%10u %10u %10u\n` per extent.
    pub fn render_kernel(&self) -> String {
        let mut text = String::new();
        for extent in &self.extents {
            let _ = writeln!(
                text,
                "{:>10} {:>10} {:>10}",
                extent.inside, extent.outside, extent.count
            );
        }
        text
    }

    /// The map on one line for messages: extents separated by `, `, or
    /// `(empty)` when nothing is mapped (a map not written yet).
    pub fn one_line(&self) -> String {
        if self.is_empty() {
            return "(empty)".to_owned();
        }
        self.extents
            .iter()
            .map(IdExtent::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for IdMap {
    /// The map as [`IdMap::render_for_write`] writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_for_write())
    }
}

impl TryFrom<Vec<IdExtent>> for IdMap {
    type Error = IdMapError;

    fn try_from(extents: Vec<IdExtent>) -> Result<Self, Self::Error> {
        Self::new(extents)
    }
}

impl From<IdMap> for Vec<IdExtent> {
    fn from(map: IdMap) -> Self {
        map.extents
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(inside: u32, outside: u32, count: u32) -> IdExtent {
        IdExtent::new(inside, outside, count)
    }

    #[test]
    fn a_rootless_map_is_valid_and_counts_its_ids() {
        let map = IdMap::new(vec![extent(0, 1000, 1), extent(1, 100000, 65536)]).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map.id_count(), 65537);
        assert_eq!(map.to_outside(0), Some(1000));
        assert_eq!(map.to_outside(65536), Some(165535));
        assert_eq!(map.to_outside(65537), None);
        assert_eq!(map.to_inside(100000), Some(1));
        assert_eq!(map.render_for_write(), "0 1000 1\n1 100000 65536\n");
        assert_eq!(
            map.render_kernel(),
            "         0       1000          1\n         1     100000      65536\n"
        );
    }

    #[test]
    fn one_line_joins_the_extents_and_names_an_empty_map() {
        let map = IdMap::new(vec![extent(0, 1000, 1), extent(1, 100000, 65536)]).unwrap();
        assert_eq!(map.one_line(), "0 1000 1, 1 100000 65536");
        assert_eq!(IdMap::default().one_line(), "(empty)");
    }

    #[test]
    fn the_initial_namespace_map_is_valid() {
        let map = IdMap::new(vec![extent(0, 0, u32::MAX)]).unwrap();
        assert_eq!(map.id_count(), u64::from(u32::MAX));
    }

    #[test]
    fn zero_count_is_refused() {
        let error = IdMap::new(vec![extent(0, 0, 1), extent(5, 5, 0)]).unwrap_err();
        assert_eq!(error, IdMapError::new(2, IdMapProblem::ZeroCount));
        assert_eq!(
            error.to_string(),
            "line 2: the count is 0; an extent maps at least one ID"
        );
    }

    #[test]
    fn ranges_reaching_the_invalid_id_are_refused_on_both_sides() {
        let map = IdMap::new(vec![extent(u32::MAX - 1, 0, 1)]).unwrap();
        assert_eq!(map.len(), 1);
        let error = IdMap::new(vec![extent(u32::MAX, 0, 1)]).unwrap_err();
        assert_eq!(
            error.problem,
            IdMapProblem::PastIdSpace {
                side: IdSide::Inside,
                first: u32::MAX,
                count: 1
            }
        );
        let error = IdMap::new(vec![extent(0, 4294967200, 200)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 1: outside range of 200 IDs from 4294967200 reaches ID 4294967399; it must end at \
             4294967294 at most, since the kernel never maps 4294967295"
        );
    }

    #[test]
    fn overlaps_are_refused_on_either_side() {
        let error = IdMap::new(vec![extent(0, 1000, 10), extent(5, 5000, 10)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: inside IDs 5-14 overlap inside IDs 0-9 of line 1; inside ranges must be disjoint"
        );
        let error = IdMap::new(vec![
            extent(0, 1000, 10),
            extent(100, 2000, 10),
            extent(200, 1009, 1),
        ])
        .unwrap_err();
        assert_eq!(error.line, 3);
        assert!(matches!(
            error.problem,
            IdMapProblem::Overlap {
                side: IdSide::Outside,
                other_line: 1,
                ..
            }
        ));
    }

    #[test]
    fn adjacent_ranges_do_not_overlap() {
        IdMap::new(vec![extent(0, 10, 10), extent(10, 0, 10)]).unwrap();
    }

    #[test]
    fn at_most_340_extents() {
        let extents: Vec<_> = (0..340).map(|i| extent(i, i, 1)).collect();
        IdMap::new(extents.clone()).unwrap();
        let mut too_many = extents;
        too_many.push(extent(340, 340, 1));
        let error = IdMap::new(too_many).unwrap_err();
        assert_eq!(error.line, 341);
        assert_eq!(error.problem, IdMapProblem::TooManyExtents { max: 340 });
    }

    #[test]
    fn same_extents_ignores_order() {
        let a = IdMap::new(vec![extent(5, 50, 1), extent(0, 0, 1)]).unwrap();
        let b = IdMap::new(vec![extent(0, 0, 1), extent(5, 50, 1)]).unwrap();
        assert_ne!(a, b);
        assert!(a.same_extents(&b));
    }

    #[test]
    fn serde_validates() {
        let map: IdMap =
            serde_json::from_str(r#"[{"inside":0,"outside":1000,"count":1}]"#).unwrap();
        assert_eq!(map.extents(), &[extent(0, 1000, 1)]);
        assert!(
            serde_json::from_str::<IdMap>(r#"[{"inside":0,"outside":1000,"count":0}]"#).is_err()
        );
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            r#"[{"inside":0,"outside":1000,"count":1}]"#
        );
    }
}
