//! Splitting a requested map so that the kernel accepts it under a parent
//! namespace whose own map has several extents (a rootless parent).
//!
//! The kernel accepts a child extent only when its outside range lies inside
//! ONE extent of the parent's map (as the parent's inside IDs); otherwise the
//! write fails with `EPERM`, even when every ID is mapped. podman splits the
//! request piece by piece for that reason, but returns the request unchanged
//! when an ID is missing; podns refuses and names the first missing ID.

use super::extent::{IdExtent, IdSide};
use super::map::{IdMap, MAX_ID_MAP_EXTENTS};

/// Why a requested map cannot be written under a parent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A requested host ID is not an inside ID of any parent extent.
    #[error(
        "host ID {host_id} (requested by extent {line}: container ID {container_id} -> host ID \
         {host_id}, from `{extent}`) is not available in the parent user namespace: no extent \
         of the parent's map covers it; request only IDs the parent maps",
        container_id = u64::from(extent.inside) + u64::from(*host_id) - u64::from(extent.outside)
    )]
    NotInParent {
        /// The first requested host ID (in request order) the parent lacks.
        host_id: u32,
        /// 1-based position of the requested extent that asks for it.
        line: usize,
        /// That requested extent.
        extent: IdExtent,
    },
    /// The split needs more extents than the kernel accepts.
    #[error(
        "the split map needs more than {max} extents (the kernel's limit) by requested extent \
         {line} (`{extent}`); the parent's map is too fragmented for this request: request \
         fewer or larger ranges"
    )]
    TooManyExtents {
        /// [`MAX_ID_MAP_EXTENTS`].
        max: usize,
        /// 1-based position of the requested extent being split when the
        /// limit was passed.
        line: usize,
        /// That requested extent.
        extent: IdExtent,
    },
}

/// Splits `request` (container ID -> host ID, where host IDs are the
/// parent's inside IDs) so that each extent's host range lies inside one
/// extent of `parent`'s map, mapping exactly the same IDs.
///
/// Each requested extent is cut where the parent's extents change, in
/// order; nothing is merged, so a request that already fits is returned
/// unchanged. Errors: the first requested host ID the parent does not map
/// ([`SplitError::NotInParent`]), or a result of more than
/// [`MAX_ID_MAP_EXTENTS`] extents ([`SplitError::TooManyExtents`]).
///
/// ```
/// use podns_core::{IdExtent, IdMap, split_for_parent};
///
/// let parent = IdMap::parse("1 1000000 65536\n0 1000 1\n")?;
/// let request = IdMap::new(vec![IdExtent::new(0, 0, 2)])?;
/// let split = split_for_parent(&request, &parent)?;
/// assert_eq!(split.render_for_write(), "0 0 1\n1 1 1\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn split_for_parent(request: &IdMap, parent: &IdMap) -> Result<IdMap, SplitError> {
    let parents = parent.sorted_by_inside();
    let mut pieces = Vec::new();
    for (index, requested) in request.extents().iter().enumerate() {
        let line = index + 1;
        let mut host = u64::from(requested.outside);
        let end = requested.outside_end();
        while host < end {
            let missing = || SplitError::NotInParent {
                host_id: host as u32,
                line,
                extent: *requested,
            };
            let cover = covering(&parents, host).ok_or_else(missing)?;
            let piece_end = end.min(cover.inside_end());
            if pieces.len() == MAX_ID_MAP_EXTENTS {
                return Err(SplitError::TooManyExtents {
                    max: MAX_ID_MAP_EXTENTS,
                    line,
                    extent: *requested,
                });
            }
            let offset = host - u64::from(requested.outside);
            // Sub-ranges of a valid extent: all three fit u32.
            pieces.push(IdExtent::new(
                (u64::from(requested.inside) + offset) as u32,
                host as u32,
                (piece_end - host) as u32,
            ));
            host = piece_end;
        }
    }
    Ok(IdMap::new(pieces).expect("pieces of a valid map form a valid map"))
}

/// The extent of `sorted` (sorted by inside ID, disjoint) whose inside range
/// contains `id`.
fn covering(sorted: &[IdExtent], id: u64) -> Option<&IdExtent> {
    let after = sorted.partition_point(|extent| u64::from(extent.inside) <= id);
    let candidate = sorted.get(after.checked_sub(1)?)?;
    (id < candidate.inside_end()).then_some(candidate)
}

impl IdMap {
    /// The first extent (1-based position and extent) whose outside range is
    /// not inside ONE of `parent`'s inside ranges: the extent the kernel
    /// refuses with `EPERM` when this map is written under that parent.
    /// `None` when every extent fits.
    pub fn first_extent_outside(&self, parent: &IdMap) -> Option<(usize, IdExtent)> {
        self.extents()
            .iter()
            .enumerate()
            .find(|(_, extent)| {
                !parent
                    .extents()
                    .iter()
                    .any(|cover| cover.contains_range(IdSide::Inside, extent.outside, extent.count))
            })
            .map(|(index, extent)| (index + 1, *extent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(extents: &[(u32, u32, u32)]) -> IdMap {
        IdMap::new(
            extents
                .iter()
                .map(|&(inside, outside, count)| IdExtent::new(inside, outside, count))
                .collect(),
        )
        .unwrap()
    }

    fn split(request: &[(u32, u32, u32)], parent: &[(u32, u32, u32)]) -> Result<IdMap, SplitError> {
        split_for_parent(&map(request), &map(parent))
    }

    /// Reference vector 1: a rootless parent (`0 1000 1`, `1 1000000 65536`,
    /// listed in the other order) needs the request cut at ID 1.
    #[test]
    fn vector_1_rootless_parent_cuts_at_the_extent_boundary() {
        let result = split(&[(0, 0, 2)], &[(1, 1000000, 65536), (0, 1000, 1)]).unwrap();
        assert_eq!(result, map(&[(0, 0, 1), (1, 1, 1)]));
    }

    /// Reference vector 2: a parent with one large extent takes the request
    /// unchanged.
    #[test]
    fn vector_2_a_fitting_request_is_unchanged() {
        let result = split(&[(0, 0, 2)], &[(0, 1000000, 65536)]).unwrap();
        assert_eq!(result, map(&[(0, 0, 2)]));
    }

    /// Reference vector 3: podman returns the request unchanged; podns names
    /// the missing host ID.
    #[test]
    fn vector_3_an_id_the_parent_lacks_is_an_error() {
        let error = split(&[(0, 0, 1)], &[(10000, 10000, 65536)]).unwrap_err();
        assert_eq!(
            error,
            SplitError::NotInParent {
                host_id: 0,
                line: 1,
                extent: IdExtent::new(0, 0, 1)
            }
        );
        assert!(
            error
                .to_string()
                .starts_with("host ID 0 (requested by extent 1: container ID 0 -> host ID 0, from `0 0 1`) is not available in the parent user namespace"),
            "{error}"
        );
    }

    /// Reference vector 4: one extent per parent extent.
    #[test]
    fn vector_4_one_piece_per_parent_extent() {
        let parent: Vec<_> = (0..4).map(|i| (i, i, 1)).collect();
        let result = split(&[(0, 0, 4)], &parent).unwrap();
        assert_eq!(result, map(&[(0, 0, 1), (1, 1, 1), (2, 2, 1), (3, 3, 1)]));
    }

    #[test]
    fn the_first_missing_id_is_named_even_in_the_middle() {
        let error = split(&[(100, 0, 10)], &[(0, 0, 5), (6, 1000, 10)]).unwrap_err();
        assert_eq!(
            error,
            SplitError::NotInParent {
                host_id: 5,
                line: 1,
                extent: IdExtent::new(100, 0, 10)
            }
        );
        assert!(error.to_string().contains("container ID 105 -> host ID 5"));
    }

    #[test]
    fn container_ids_follow_the_cut() {
        let result = split(&[(500, 10, 20)], &[(0, 0, 15), (15, 100, 100)]).unwrap();
        assert_eq!(result, map(&[(500, 10, 5), (505, 15, 15)]));
    }

    #[test]
    fn more_than_340_pieces_is_an_error() {
        // 171 parent extents of 2 IDs; requested extents of 2 IDs starting at
        // odd IDs each straddle two of them.
        let parent: Vec<_> = (0..171).map(|i| (2 * i, 4 * i, 2)).collect();
        let straddling = |last: u32| {
            let mut request = vec![(0, 0, 1)];
            request.extend((1..=last).map(|j| (2 * j - 1, 2 * j - 1, 2)));
            request.push((2 * last + 1, 2 * last + 1, 1));
            request
        };
        // 1 + 2 * 169 + 1 = 340 pieces: at the limit.
        assert_eq!(split(&straddling(169), &parent).unwrap().len(), 340);
        // 1 + 2 * 170 + 1 = 342 pieces: refused at the 341st, while
        // splitting requested extent 171.
        let error = split(&straddling(170), &parent).unwrap_err();
        assert_eq!(
            error,
            SplitError::TooManyExtents {
                max: 340,
                line: 171,
                extent: IdExtent::new(339, 339, 2)
            }
        );
    }

    #[test]
    fn first_extent_outside_names_the_extent_the_kernel_refuses() {
        let parent = map(&[(0, 1000, 1), (1, 100000, 65536)]);
        assert_eq!(
            map(&[(0, 0, 100)]).first_extent_outside(&parent),
            Some((1, IdExtent::new(0, 0, 100)))
        );
        assert_eq!(
            map(&[(0, 0, 1), (1, 1, 99)]).first_extent_outside(&parent),
            None
        );
        assert_eq!(
            map(&[(0, 0, 1), (1, 1, 65537)]).first_extent_outside(&parent),
            Some((2, IdExtent::new(1, 1, 65537)))
        );
    }
}
