//! The userns pool taken from a user's subordinate ID range, as kubelet
//! takes it from the ranges of its "kubelet" user.

use serde::Serialize;

use super::subid::{SubidEntry, SubidError, SubidRange, SubidTable};
use crate::PoolConfig;

/// A subordinate ID file as read by a backend: its name (for errors) and its
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubidSource<'a> {
    /// The file name, such as `/etc/subuid`.
    pub name: &'a str,
    /// The file's contents.
    pub contents: &'a [u8],
}

/// A user's single subordinate range as a pool's `first_id` and `id_count`
/// (see [`PoolConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubidPoolRange {
    /// First host ID of the pool: the range's first ID.
    pub first_id: u64,
    /// Number of host IDs in the pool: the range's count.
    pub id_count: u64,
}

/// Why a user's subordinate ranges cannot be the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubidPoolError {
    /// A file could not be parsed.
    #[error(transparent)]
    Parse(#[from] SubidError),
    /// The user has no range in a file.
    #[error(
        "{source_name}: {user} has no subordinate range; add exactly one line `NAME:FIRST:COUNT` \
         for it (the same in /etc/subuid and /etc/subgid)"
    )]
    NoRange {
        /// The file.
        source_name: String,
        /// The user, as named in messages.
        user: String,
    },
    /// The user has more than one range in a file.
    #[error(
        "{source_name}: {user} has {} subordinate ranges (lines {}); podns takes its pool from \
         exactly one range: merge or remove the others",
        lines.len(),
        lines.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
    )]
    SeveralRanges {
        /// The file.
        source_name: String,
        /// The user, as named in messages.
        user: String,
        /// The 1-based lines of its ranges.
        lines: Vec<usize>,
    },
    /// The UID and GID ranges differ.
    #[error(
        "{user} has subordinate UIDs {uid_range} ({uid_source}:{uid_line}) but subordinate GIDs \
         {gid_range} ({gid_source}:{gid_line}); they must be identical, since every pod gets \
         identical UID and GID mappings"
    )]
    Mismatch {
        /// The user, as named in messages.
        user: String,
        /// Its UID range.
        uid_range: SubidRange,
        /// The subuid file.
        uid_source: String,
        /// The line of the UID range.
        uid_line: usize,
        /// Its GID range.
        gid_range: SubidRange,
        /// The subgid file.
        gid_source: String,
        /// The line of the GID range.
        gid_line: usize,
    },
}

impl SubidPoolRange {
    /// The single range of `user` (or of `uid`, when given, for lines that
    /// name the owner by UID) in the subuid and subgid files; both files must
    /// give it exactly one range, and the two ranges must be identical.
    pub fn from_files(
        subuid: SubidSource<'_>,
        subgid: SubidSource<'_>,
        user: &str,
        uid: Option<u32>,
    ) -> Result<Self, SubidPoolError> {
        let subuid = SubidTable::parse_file_bytes(subuid.name, subuid.contents)?;
        let subgid = SubidTable::parse_file_bytes(subgid.name, subgid.contents)?;
        Self::from_tables(&subuid, &subgid, user, uid)
    }

    /// [`SubidPoolRange::from_files`] on parsed tables (from files or from
    /// `getsubids` output).
    pub fn from_tables(
        subuid: &SubidTable,
        subgid: &SubidTable,
        user: &str,
        uid: Option<u32>,
    ) -> Result<Self, SubidPoolError> {
        let label = match uid {
            Some(uid) => format!("user `{user}` (UID {uid})"),
            None => format!("user `{user}`"),
        };
        let uid_entry = single(subuid, user, uid, &label)?;
        let gid_entry = single(subgid, user, uid, &label)?;
        if uid_entry.range != gid_entry.range {
            return Err(SubidPoolError::Mismatch {
                user: label,
                uid_range: uid_entry.range,
                uid_source: subuid.source_name().to_owned(),
                uid_line: uid_entry.line,
                gid_range: gid_entry.range,
                gid_source: subgid.source_name().to_owned(),
                gid_line: gid_entry.line,
            });
        }
        Ok(Self {
            first_id: u64::from(uid_entry.range.first),
            id_count: u64::from(uid_entry.range.count),
        })
    }

    /// A pool configuration over this range; validate it with
    /// [`PoolConfig::validate`].
    pub fn pool_config(self, ids_per_pod: u64, max_pods: u64) -> PoolConfig {
        PoolConfig {
            first_id: self.first_id,
            id_count: self.id_count,
            ids_per_pod,
            max_pods,
        }
    }
}

fn single<'t>(
    table: &'t SubidTable,
    user: &str,
    uid: Option<u32>,
    label: &str,
) -> Result<&'t SubidEntry, SubidPoolError> {
    match table.entries_of(user, uid)[..] {
        [entry] => Ok(entry),
        [] => Err(SubidPoolError::NoRange {
            source_name: table.source_name().to_owned(),
            user: label.to_owned(),
        }),
        ref several => Err(SubidPoolError::SeveralRanges {
            source_name: table.source_name().to_owned(),
            user: label.to_owned(),
            lines: several.iter().map(|entry| entry.line).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source<'a>(name: &'a str, text: &'a str) -> SubidSource<'a> {
        SubidSource {
            name,
            contents: text.as_bytes(),
        }
    }

    fn pool(subuid: &str, subgid: &str, user: &str) -> Result<SubidPoolRange, SubidPoolError> {
        SubidPoolRange::from_files(
            source("/etc/subuid", subuid),
            source("/etc/subgid", subgid),
            user,
            None,
        )
    }

    #[test]
    fn kubelets_single_range_is_the_pool() {
        let text = "alice:100000:65536\nkubelet:65536:7208960\n";
        let range = pool(text, text, "kubelet").unwrap();
        assert_eq!(
            range,
            SubidPoolRange {
                first_id: 65536,
                id_count: 7208960
            }
        );
        let config = range.pool_config(65536, 110);
        assert_eq!(config.first_id, 65536);
        config.validate().unwrap();
    }

    #[test]
    fn lines_by_uid_count_when_the_uid_is_given() {
        let text = "900:65536:7208960\n";
        assert!(matches!(
            pool(text, text, "kubelet"),
            Err(SubidPoolError::NoRange { .. })
        ));
        let range = SubidPoolRange::from_files(
            source("/etc/subuid", text),
            source("/etc/subgid", text),
            "kubelet",
            Some(900),
        )
        .unwrap();
        assert_eq!(range.first_id, 65536);
    }

    #[test]
    fn a_missing_range_is_an_error_naming_the_file() {
        let error = pool("kubelet:65536:65536\n", "alice:1:1\n", "kubelet").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/etc/subgid: user `kubelet` has no subordinate range; add exactly one line \
             `NAME:FIRST:COUNT` for it (the same in /etc/subuid and /etc/subgid)"
        );
    }

    #[test]
    fn several_ranges_are_an_error_naming_the_lines() {
        let error = pool(
            "kubelet:65536:65536\n# x\nkubelet:1000000:65536\n",
            "kubelet:65536:65536\n",
            "kubelet",
        )
        .unwrap_err();
        assert_eq!(
            error,
            SubidPoolError::SeveralRanges {
                source_name: "/etc/subuid".into(),
                user: "user `kubelet`".into(),
                lines: vec![1, 3]
            }
        );
        assert!(error.to_string().contains("(lines 1, 3)"), "{error}");
    }

    #[test]
    fn uid_and_gid_ranges_must_be_identical() {
        let error = pool("kubelet:65536:65536\n", "kubelet:131072:65536\n", "kubelet").unwrap_err();
        assert_eq!(
            error.to_string(),
            "user `kubelet` has subordinate UIDs 65536-131071 (65536 IDs) (/etc/subuid:1) but \
             subordinate GIDs 131072-196607 (65536 IDs) (/etc/subgid:1); they must be identical, \
             since every pod gets identical UID and GID mappings"
        );
    }

    #[test]
    fn parse_errors_pass_through() {
        let error = pool("kubelet:x:1\n", "", "kubelet").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/etc/subuid:1: first ID `x` is not a decimal number (digits only, no sign)"
        );
    }
}
