//! The mounts below a pod directory, from `/proc/self/mountinfo`.

use super::SubpathError;
use super::lexical::{HostDir, is_within};
use crate::effect::{Observation, Outcome};
use crate::mountinfo::{MountInfoError, parse_mountinfo_bytes};
use crate::op_error::{io_error, unexpected};
use crate::path::{RelPath, RootLabels, RootPath};

/// Every mount point of the table that lies below one host directory,
/// relative to it, once per mount (stacked mounts repeat their mount point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountsBelow {
    /// In table order, so the last of a stacked mount point is its top.
    points: Vec<RelPath>,
    /// For each of `points`: whether that mount is idmapped (its options
    /// show `idmapped`).
    idmapped: Vec<bool>,
}

impl MountsBelow {
    /// Parses the table strictly and keeps the mounts below `dir`; anything
    /// else in the table is never acted on.
    pub fn parse(table: &[u8], dir: &HostDir) -> Result<Self, MountInfoError> {
        let (points, idmapped) = parse_mountinfo_bytes(table)?
            .iter()
            .filter_map(|entry| Some((dir.relative(&entry.mount_point)?, entry.is_idmapped())))
            .unzip();
        Ok(Self { points, idmapped })
    }

    /// The mounts below `dir` from the outcome of reading the mount table;
    /// a failed read names `reading_for`, the path the table was wanted for.
    pub fn from_outcome(
        outcome: Outcome,
        dir: &HostDir,
        labels: &RootLabels,
        reading_for: &RootPath,
    ) -> Result<Self, SubpathError> {
        let table = match outcome {
            Ok(Observation::Contents(table)) => table,
            Ok(other) => return Err(unexpected("read-mount-info", &other)),
            Err(error) => {
                return Err(io_error(
                    labels,
                    "read the mount table for",
                    reading_for,
                    error,
                ));
            }
        };
        Self::parse(&table, dir).map_err(|source| SubpathError::MountInfo { source })
    }

    /// How many mounts are stacked exactly on `path`.
    pub fn count_at(&self, path: &RelPath) -> usize {
        self.points.iter().filter(|point| *point == path).count()
    }

    /// Whether the topmost mount on `path` is idmapped; false when nothing
    /// is mounted there.
    pub fn top_is_idmapped(&self, path: &RelPath) -> bool {
        self.points
            .iter()
            .zip(&self.idmapped)
            .rev()
            .find(|(point, _)| *point == path)
            .is_some_and(|(_, idmapped)| *idmapped)
    }

    /// The mounts strictly below `base`, deepest first (a mount inside
    /// another must go before it), one entry per mount.
    pub fn strictly_below(&self, base: &RelPath) -> Vec<RelPath> {
        let mut below: Vec<RelPath> = self
            .points
            .iter()
            .filter(|point| is_within(point, base) && *point != base)
            .cloned()
            .collect();
        below.sort_by(|a, b| b.depth().cmp(&a.depth()).then_with(|| a.cmp(b)));
        below
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
30 27 0:40 /vol/a /pods/p1/volume-subpaths/v/c/0 rw - tmpfs tmpfs rw
31 30 0:40 /vol/b /pods/p1/volume-subpaths/v/c/0 rw - tmpfs tmpfs rw
32 27 0:40 /vol/b /pods/p1/volume-subpaths/v/c/1/deep rw - tmpfs tmpfs rw
33 27 0:40 /vol/b /pods/p1/volume-subpaths/v2/c/0 rw - tmpfs tmpfs rw
34 27 0:40 /vol/b /pods/p10/volume-subpaths/v/c/0 rw - tmpfs tmpfs rw
35 27 0:40 /vol/b /pods/p1/volume-subpaths/v/my\\040dir rw - tmpfs tmpfs rw
36 27 0:40 /vol/c /pods/p1/volume-subpaths/v/c/2 rw,relatime,idmapped - ext4 /dev/vda rw
";

    fn rel(text: &str) -> RelPath {
        RelPath::parse(text).unwrap()
    }

    #[test]
    fn only_mounts_below_the_directory_count() {
        let pod = HostDir::parse("/pods/p1").unwrap();
        let mounts = MountsBelow::parse(TABLE.as_bytes(), &pod).unwrap();
        assert_eq!(mounts.count_at(&rel("volume-subpaths/v/c/0")), 2);
        assert_eq!(mounts.count_at(&rel("volume-subpaths/v/c/1")), 0);
        let below: Vec<String> = mounts
            .strictly_below(&rel("volume-subpaths/v"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            below,
            [
                "volume-subpaths/v/c/1/deep",
                "volume-subpaths/v/c/0",
                "volume-subpaths/v/c/0",
                "volume-subpaths/v/c/2",
                "volume-subpaths/v/my dir",
            ]
        );
    }

    #[test]
    fn only_a_mount_whose_options_say_so_is_idmapped() {
        let pod = HostDir::parse("/pods/p1").unwrap();
        let mounts = MountsBelow::parse(TABLE.as_bytes(), &pod).unwrap();
        assert!(mounts.top_is_idmapped(&rel("volume-subpaths/v/c/2")));
        assert!(!mounts.top_is_idmapped(&rel("volume-subpaths/v/c/0")));
        assert!(!mounts.top_is_idmapped(&rel("volume-subpaths/v/c/9")));
    }

    #[test]
    fn a_bad_table_is_an_error_not_a_guess() {
        let pod = HostDir::parse("/pods/p1").unwrap();
        let error = MountsBelow::parse(b"22 27 0:21 / /proc rw\n", &pod).unwrap_err();
        assert_eq!(error.line, 1);
    }
}
