//! Subordinate ID ranges: `/etc/subuid`, `/etc/subgid` and the output of
//! shadow-utils' `getsubids`.

use std::fmt;

use serde::Serialize;

use super::number::{NumberError, fields, numbered_lines, parse_u32, quote};

/// One past the last 32-bit ID: a subordinate range may not run past it.
const SUBID_SPACE_END: u64 = 1 << 32;

/// A range of subordinate IDs: `count` IDs from `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SubidRange {
    /// First subordinate ID.
    pub first: u32,
    /// Number of IDs (at least 1).
    pub count: u32,
}

impl SubidRange {
    /// One past the last ID, in u64 so that it cannot wrap.
    pub const fn end(&self) -> u64 {
        self.first as u64 + self.count as u64
    }
}

impl fmt::Display for SubidRange {
    /// `first-last (count IDs)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{} ({} IDs)", self.first, self.end() - 1, self.count)
    }
}

/// One line of a subordinate ID file or of `getsubids` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubidEntry {
    /// The owner as written: a user name or a numeric UID.
    pub owner: String,
    /// The range.
    pub range: SubidRange,
    /// 1-based line it was read from.
    pub line: usize,
}

impl SubidEntry {
    /// True when the entry belongs to `user`: its owner is the name `user`,
    /// or it is numeric and equals `uid` (shadow-utils accepts both forms).
    pub fn belongs_to(&self, user: &str, uid: Option<u32>) -> bool {
        self.owner == user || (uid.is_some() && parse_u32(self.owner.as_bytes()).ok() == uid)
    }
}

/// A numeric field of a subordinate ID line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SubidField {
    /// The first subordinate ID.
    First,
    /// The number of IDs.
    Count,
}

impl fmt::Display for SubidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubidField::First => "first ID",
            SubidField::Count => "count",
        })
    }
}

/// What is wrong with one line of subordinate ID text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubidProblem {
    /// A file line without exactly three `:`-separated fields.
    #[error("expected `owner:first:count` (3 fields separated by `:`), found {found} field(s)")]
    FileFieldCount {
        /// How many `:`-separated fields the line has.
        found: usize,
    },
    /// A `getsubids` line of the wrong shape.
    #[error(
        "expected `INDEX: USER FIRST COUNT` (4 fields separated by spaces), found {found} field(s)"
    )]
    GetsubidsFieldCount {
        /// How many whitespace-separated fields the line has.
        found: usize,
    },
    /// A `getsubids` line whose index is not `N:` with N its position.
    #[error("expected the index `{expected}:` first, found `{text}`")]
    BadIndex {
        /// The index this line must have (0-based position).
        expected: usize,
        /// What the line starts with (shortened, escaped).
        text: String,
    },
    /// A blank line in `getsubids` output, which never prints one.
    #[error("the line is blank; getsubids prints `INDEX: USER FIRST COUNT` on every line")]
    BlankLine,
    /// The owner is empty or contains whitespace.
    #[error("owner `{text}` is not a user name or UID (empty or contains whitespace)")]
    BadOwner {
        /// The owner as written (shortened, escaped).
        text: String,
    },
    /// A number field is not a decimal number.
    #[error("{field} `{text}` is not a decimal number (digits only, no sign)")]
    NotANumber {
        /// Which field.
        field: SubidField,
        /// The field as written (shortened, escaped).
        text: String,
    },
    /// A number field does not fit 32 bits.
    #[error("{field} `{text}` is larger than 4294967295")]
    TooLarge {
        /// Which field.
        field: SubidField,
        /// The field as written (shortened).
        text: String,
    },
    /// The count is zero.
    #[error("the count is 0; a subordinate range has at least one ID")]
    ZeroCount,
    /// The range runs past the 32-bit ID space.
    #[error("{count} IDs from {first} run past ID 4294967295")]
    PastIdSpace {
        /// First ID.
        first: u32,
        /// Number of IDs.
        count: u32,
    },
}

/// Why subordinate ID text could not be parsed: which source (file name or
/// command), which line, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {problem}")]
pub struct SubidError {
    /// The file name or command the text came from.
    pub source_name: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong with it.
    pub problem: SubidProblem,
}

/// The parsed subordinate ID ranges of one file or one `getsubids` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubidTable {
    source_name: String,
    entries: Vec<SubidEntry>,
}

impl SubidTable {
    /// Parses `/etc/subuid` or `/etc/subgid` text: `owner:first:count` per
    /// line, the owner a user name or a UID; blank lines and lines starting
    /// with `#` are ignored, whitespace around a line is ignored. Numbers are
    /// decimal digits only, the count at least 1, and a range may not run
    /// past ID 4294967295. `source_name` (the file name) prefixes errors.
    pub fn parse_file(source_name: &str, text: &str) -> Result<Self, SubidError> {
        Self::parse_file_bytes(source_name, text.as_bytes())
    }

    /// [`SubidTable::parse_file`] on raw bytes; never panics.
    pub fn parse_file_bytes(source_name: &str, bytes: &[u8]) -> Result<Self, SubidError> {
        let mut entries = Vec::new();
        for (line, text) in numbered_lines(bytes) {
            let text = text.trim_ascii();
            if text.is_empty() || text.starts_with(b"#") {
                continue;
            }
            let entry = parse_file_line(line, text).map_err(|problem| SubidError {
                source_name: source_name.to_owned(),
                line,
                problem,
            })?;
            entries.push(entry);
        }
        Ok(Self {
            source_name: source_name.to_owned(),
            entries,
        })
    }

    /// Parses the output of shadow-utils' `getsubids USER` (or `getsubids -g
    /// USER`): `INDEX: USER FIRST COUNT` per line, e.g. `0: kubelet 65536
    /// 2147483648`, indexes counting from 0. The same number rules as
    /// [`SubidTable::parse_file`]; there are no comments or blank lines.
    pub fn parse_getsubids(source_name: &str, text: &str) -> Result<Self, SubidError> {
        Self::parse_getsubids_bytes(source_name, text.as_bytes())
    }

    /// [`SubidTable::parse_getsubids`] on raw bytes; never panics.
    pub fn parse_getsubids_bytes(source_name: &str, bytes: &[u8]) -> Result<Self, SubidError> {
        let mut entries = Vec::new();
        for (line, text) in numbered_lines(bytes) {
            let entry =
                parse_getsubids_line(line, entries.len(), text).map_err(|problem| SubidError {
                    source_name: source_name.to_owned(),
                    line,
                    problem,
                })?;
            entries.push(entry);
        }
        Ok(Self {
            source_name: source_name.to_owned(),
            entries,
        })
    }

    /// The file name or command the table was read from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[SubidEntry] {
        &self.entries
    }

    /// The entries of `user` (by name, or by `uid` when given), in file
    /// order.
    pub fn entries_of(&self, user: &str, uid: Option<u32>) -> Vec<&SubidEntry> {
        self.entries
            .iter()
            .filter(|entry| entry.belongs_to(user, uid))
            .collect()
    }

    /// The ranges of `user` (by name, or by `uid` when given), in file
    /// order.
    pub fn ranges_of(&self, user: &str, uid: Option<u32>) -> Vec<SubidRange> {
        self.entries_of(user, uid)
            .into_iter()
            .map(|entry| entry.range)
            .collect()
    }
}

fn parse_file_line(line: usize, text: &[u8]) -> Result<SubidEntry, SubidProblem> {
    let parts: Vec<&[u8]> = text.split(|&byte| byte == b':').collect();
    let [owner, first, count] = parts[..] else {
        return Err(SubidProblem::FileFieldCount { found: parts.len() });
    };
    entry(line, owner, first, count)
}

fn parse_getsubids_line(
    line: usize,
    expected_index: usize,
    text: &[u8],
) -> Result<SubidEntry, SubidProblem> {
    let parts: Vec<&[u8]> = fields(text).take(5).collect();
    let [index, owner, first, count] = parts[..] else {
        return Err(match parts.len() {
            0 => SubidProblem::BlankLine,
            _ => SubidProblem::GetsubidsFieldCount {
                found: fields(text).count(),
            },
        });
    };
    let index_ok = index
        .strip_suffix(b":")
        .and_then(|digits| parse_u32(digits).ok())
        .is_some_and(|value| usize::try_from(value).ok() == Some(expected_index));
    if !index_ok {
        return Err(SubidProblem::BadIndex {
            expected: expected_index,
            text: quote(index),
        });
    }
    entry(line, owner, first, count)
}

fn entry(
    line: usize,
    owner: &[u8],
    first: &[u8],
    count: &[u8],
) -> Result<SubidEntry, SubidProblem> {
    let owner_text = std::str::from_utf8(owner)
        .ok()
        .filter(|owner| !owner.is_empty() && !owner.chars().any(char::is_whitespace));
    let Some(owner) = owner_text else {
        return Err(SubidProblem::BadOwner { text: quote(owner) });
    };
    let first = number(SubidField::First, first)?;
    let count = number(SubidField::Count, count)?;
    if count == 0 {
        return Err(SubidProblem::ZeroCount);
    }
    let range = SubidRange { first, count };
    if range.end() > SUBID_SPACE_END {
        return Err(SubidProblem::PastIdSpace { first, count });
    }
    Ok(SubidEntry {
        owner: owner.to_owned(),
        range,
        line,
    })
}

fn number(field: SubidField, text: &[u8]) -> Result<u32, SubidProblem> {
    parse_u32(text).map_err(|error| {
        let text = quote(text);
        match error {
            NumberError::NotDecimal => SubidProblem::NotANumber { field, text },
            NumberError::TooLarge => SubidProblem::TooLarge { field, text },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBUID: &str = "\
# subordinate UIDs
alice:100000:65536

1001:165536:65536
kubelet:65536:7208960
alice:300000:10
";

    fn file_error(text: &str) -> SubidError {
        SubidTable::parse_file("/etc/subuid", text).unwrap_err()
    }

    #[test]
    fn parses_names_uids_comments_and_blank_lines() {
        let table = SubidTable::parse_file("/etc/subuid", SUBUID).unwrap();
        assert_eq!(table.source_name(), "/etc/subuid");
        assert_eq!(table.entries().len(), 4);
        assert_eq!(
            table.entries()[1],
            SubidEntry {
                owner: "1001".into(),
                range: SubidRange {
                    first: 165536,
                    count: 65536
                },
                line: 4
            }
        );
    }

    #[test]
    fn looks_up_by_name_or_uid() {
        let table = SubidTable::parse_file("/etc/subuid", SUBUID).unwrap();
        assert_eq!(
            table.ranges_of("alice", None),
            vec![
                SubidRange {
                    first: 100000,
                    count: 65536
                },
                SubidRange {
                    first: 300000,
                    count: 10
                }
            ]
        );
        assert!(table.ranges_of("bob", None).is_empty());
        assert_eq!(table.ranges_of("bob", Some(1001)).len(), 1);
        assert_eq!(table.ranges_of("1001", None).len(), 1);
        assert_eq!(table.entries_of("kubelet", Some(7)).len(), 1);
    }

    #[test]
    fn file_errors_name_the_file_and_line() {
        assert_eq!(
            file_error("alice:1:1\nbob:100000\n").to_string(),
            "/etc/subuid:2: expected `owner:first:count` (3 fields separated by `:`), found 2 field(s)"
        );
        assert_eq!(
            file_error("bob:1:2:3").problem,
            SubidProblem::FileFieldCount { found: 4 }
        );
        assert_eq!(
            file_error("bob: 100000:65536").to_string(),
            "/etc/subuid:1: first ID ` 100000` is not a decimal number (digits only, no sign)"
        );
        assert_eq!(
            file_error("bob:100000:+1").problem,
            SubidProblem::NotANumber {
                field: SubidField::Count,
                text: "+1".into()
            }
        );
        assert_eq!(
            file_error("bob:4294967296:1").problem,
            SubidProblem::TooLarge {
                field: SubidField::First,
                text: "4294967296".into()
            }
        );
        assert_eq!(file_error("bob:1:0").problem, SubidProblem::ZeroCount);
        assert_eq!(
            file_error("bob:4294967295:2").to_string(),
            "/etc/subuid:1: 2 IDs from 4294967295 run past ID 4294967295"
        );
        assert_eq!(
            file_error(":1:1").problem,
            SubidProblem::BadOwner { text: "".into() }
        );
        assert_eq!(
            file_error("a b:1:1").problem,
            SubidProblem::BadOwner { text: "a b".into() }
        );
    }

    #[test]
    fn the_last_id_of_the_space_may_be_listed() {
        let table = SubidTable::parse_file("f", "k:65536:4294901760").unwrap();
        assert_eq!(table.entries()[0].range.end(), 1 << 32);
    }

    #[test]
    fn parses_getsubids_output() {
        let table = SubidTable::parse_getsubids(
            "getsubids kubelet",
            "0: kubelet 65536 2147483648\n1: kubelet 2147549184 65536\n",
        )
        .unwrap();
        assert_eq!(
            table.ranges_of("kubelet", None),
            vec![
                SubidRange {
                    first: 65536,
                    count: 2147483648
                },
                SubidRange {
                    first: 2147549184,
                    count: 65536
                }
            ]
        );
        assert!(
            SubidTable::parse_getsubids("g", "")
                .unwrap()
                .entries()
                .is_empty()
        );
    }

    #[test]
    fn getsubids_errors_name_the_source_and_line() {
        let error = |text| SubidTable::parse_getsubids("getsubids kubelet", text).unwrap_err();
        assert_eq!(
            error("0: kubelet 65536 65536\n2: kubelet 1 1\n").to_string(),
            "getsubids kubelet:2: expected the index `1:` first, found `2:`"
        );
        assert_eq!(
            error("0 kubelet 65536 65536").problem,
            SubidProblem::BadIndex {
                expected: 0,
                text: "0".into()
            }
        );
        assert_eq!(
            error("0: kubelet 65536").problem,
            SubidProblem::GetsubidsFieldCount { found: 3 }
        );
        assert_eq!(error("\n").problem, SubidProblem::BlankLine);
        assert_eq!(
            error("0: kubelet 65536 x").problem,
            SubidProblem::NotANumber {
                field: SubidField::Count,
                text: "x".into()
            }
        );
    }
}
