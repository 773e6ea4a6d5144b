//! `/proc/<pid>/mountinfo`, parsed strictly.
//!
//! The core decides what to unmount from this text (the backend only reads
//! it), so the parser refuses anything it does not fully understand instead
//! of guessing: a wrong guess here could unmount the wrong thing.
//!
//! Line format (proc(5)):
//! `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
//! mount ID, parent ID, major:minor, root, mount point, mount options, zero
//! or more optional fields, a `-` separator, file system type, source, super
//! options. Paths escape space, tab, newline and backslash as `\040`, `\011`,
//! `\012` and `\134`.

use serde::{Deserialize, Serialize};

use crate::idmap::parse_decimal;

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MountEntry {
    /// Unique ID of the mount.
    pub mount_id: u64,
    /// ID of the parent mount.
    pub parent_id: u64,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Path of the mount's root within its file system (unescaped).
    pub root: String,
    /// Mount point relative to the process's root (unescaped).
    pub mount_point: String,
    /// Per-mount options.
    pub options: String,
    /// Optional fields such as `shared:1` or `master:2`.
    pub optional_fields: Vec<String>,
    /// File system type, e.g. `nsfs`, `tmpfs`.
    pub fs_type: String,
    /// Mount source (unescaped), e.g. `nsfs`, `/dev/vda`.
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

impl MountEntry {
    /// True when the mount is shared (has a `shared:N` optional field).
    pub fn is_shared(&self) -> bool {
        self.optional_fields
            .iter()
            .any(|field| field.starts_with("shared:"))
    }

    /// True for an idmapped mount: the kernel adds `idmapped` to the
    /// per-mount options.
    pub fn is_idmapped(&self) -> bool {
        self.options.split(',').any(|option| option == "idmapped")
    }

    /// True for a namespace pin: a bind mount of an nsfs file.
    pub fn is_nsfs(&self) -> bool {
        self.fs_type == "nsfs"
    }
}

/// A line that is not a mountinfo line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mountinfo line {line}: {problem}")]
pub struct MountInfoError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// Parses the whole text; an error names the first bad line.
pub fn parse_mountinfo(text: &str) -> Result<Vec<MountEntry>, MountInfoError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, line)| {
            parse_line(line).map_err(|problem| MountInfoError {
                line: index + 1,
                problem,
            })
        })
        .collect()
}

/// [`parse_mountinfo`] on bytes; invalid UTF-8 is an error, never a panic.
pub fn parse_mountinfo_bytes(bytes: &[u8]) -> Result<Vec<MountEntry>, MountInfoError> {
    let text = std::str::from_utf8(bytes).map_err(|error| MountInfoError {
        line: bytes[..error.valid_up_to()]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count()
            + 1,
        problem: "not UTF-8".into(),
    })?;
    parse_mountinfo(text)
}

fn parse_line(line: &str) -> Result<MountEntry, String> {
    let fields: Vec<&str> = line.split(' ').collect();
    let separator = fields
        .iter()
        .position(|field| *field == "-")
        .ok_or("no ' - ' separator before the file system type")?;
    if separator < 6 {
        return Err(format!(
            "{separator} fields before the separator; at least 6 expected"
        ));
    }
    if fields.len() != separator + 4 {
        return Err(format!(
            "{} fields after the separator; exactly 3 expected",
            fields.len().saturating_sub(separator + 1)
        ));
    }
    let number = |text: &str, what: &str| {
        parse_decimal::<u64>(text.as_bytes())
            .map_err(|_| format!("{what} {text:?} is not a decimal number"))
    };
    let (major, minor) = fields[2]
        .split_once(':')
        .ok_or_else(|| format!("device {:?} is not MAJOR:MINOR", fields[2]))?;
    let device = |text: &str| {
        parse_decimal::<u32>(text.as_bytes())
            .map_err(|_| format!("device {:?} is not MAJOR:MINOR", fields[2]))
    };
    Ok(MountEntry {
        mount_id: number(fields[0], "mount ID")?,
        parent_id: number(fields[1], "parent ID")?,
        major: device(major)?,
        minor: device(minor)?,
        root: unescape(fields[3])?,
        mount_point: unescape(fields[4])?,
        options: fields[5].to_owned(),
        optional_fields: fields[6..separator]
            .iter()
            .map(|field| (*field).to_owned())
            .collect(),
        fs_type: unescape(fields[separator + 1])?,
        source: unescape(fields[separator + 2])?,
        super_options: fields[separator + 3].to_owned(),
    })
}

/// Undoes the kernel's `\ooo` octal escapes.
fn unescape(field: &str) -> Result<String, String> {
    if field.is_empty() {
        return Err("an empty field".into());
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] != b'\\' {
            out.push(bytes[index]);
            index += 1;
            continue;
        }
        let digits = bytes
            .get(index + 1..index + 4)
            .filter(|digits| digits.iter().all(|digit| (b'0'..=b'7').contains(digit)))
            .ok_or_else(|| {
                format!("bad escape in {field:?}: a backslash needs three octal digits")
            })?;
        let value = digits
            .iter()
            .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'));
        let byte = u8::try_from(value)
            .map_err(|_| format!("bad escape in {field:?}: \\{value:o} is not a byte"))?;
        out.push(byte);
        index += 4;
    }
    String::from_utf8(out).map_err(|_| format!("{field:?} unescapes to bytes that are not UTF-8"))
}

/// Escapes a path the way the kernel writes it in mountinfo.
pub fn escape_mountinfo_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for character in path.chars() {
        match character {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_proc5_example_and_real_lines() {
        let text = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    641 29 0:4 net:[4026532281] /run/podns/p/net rw shared:300 - nsfs nsfs rw\n";
        let mounts = parse_mountinfo(text).unwrap();
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].mount_point, "/mnt2");
        assert_eq!(mounts[0].optional_fields, ["master:1"]);
        assert_eq!((mounts[0].major, mounts[0].minor), (98, 0));
        assert!(mounts[1].optional_fields.is_empty());
        assert!(mounts[2].is_nsfs() && mounts[2].is_shared());
        assert_eq!(mounts[2].root, "net:[4026532281]");
    }

    #[test]
    fn octal_escapes_round_trip() {
        let line = "50 29 0:40 / /tmp/a\\040b\\011c\\012d\\134e rw - tmpfs my\\040src rw";
        let mount = &parse_mountinfo(line).unwrap()[0];
        assert_eq!(mount.mount_point, "/tmp/a b\tc\nd\\e");
        assert_eq!(mount.source, "my src");
        assert_eq!(
            escape_mountinfo_path(&mount.mount_point),
            "/tmp/a\\040b\\011c\\012d\\134e"
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (line, expected) in [
            (
                "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw",
                "separator",
            ),
            (
                "36 35 98:0 /mnt1 /mnt2 - ext3 /dev/root rw",
                "fields before",
            ),
            (
                "36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root",
                "after the separator",
            ),
            ("x 35 98:0 / / rw - ext3 /dev/root rw", "mount ID"),
            ("+5 35 98:0 / / rw - ext3 /dev/root rw", "mount ID"),
            ("36 +5 98:0 / / rw - ext3 /dev/root rw", "parent ID"),
            ("36 35 +98:0 / / rw - ext3 /dev/root rw", "MAJOR:MINOR"),
            ("36 35 98:+0 / / rw - ext3 /dev/root rw", "MAJOR:MINOR"),
            ("36 35 98 / / rw - ext3 /dev/root rw", "MAJOR:MINOR"),
            ("36 35 98:0 / /a\\04 rw - ext3 /dev/root rw", "escape"),
            ("36 35 98:0 / /a\\777 rw - ext3 /dev/root rw", "not a byte"),
        ] {
            let error = parse_mountinfo(&format!("22 27 0:21 / /proc rw - proc proc rw\n{line}"))
                .unwrap_err();
            assert_eq!(error.line, 2, "{line}");
            assert!(error.problem.contains(expected), "{line}: {error}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        #[test]
        fn no_bytes_make_the_parser_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_mountinfo_bytes(&bytes);
        }

        #[test]
        fn escaped_paths_round_trip(path in "/[ -~\t\n]{0,40}") {
            let line = format!("1 2 3:4 / {} rw - tmpfs tmpfs rw", escape_mountinfo_path(&path));
            let parsed = parse_mountinfo(&line).map(|mounts| mounts[0].mount_point.clone());
            proptest::prop_assert_eq!(parsed, Ok(path));
        }
    }

    #[test]
    fn never_panics_on_bytes() {
        for bytes in [
            &b"\xff\xfe"[..],
            b"\\",
            b"- - - -",
            b"1 2 3:4 \\ / x - a b c",
            b"1 2 :4 / / x - a b c\n",
        ] {
            let _ = parse_mountinfo_bytes(bytes);
        }
    }
}
