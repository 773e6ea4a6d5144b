//! The `userns` file kubelet keeps in each pod directory, byte for byte:
//! `{"uidMappings":[{"hostId":H,"containerId":0,"length":L}],"gidMappings":[...]}`.

use serde::{Deserialize, Serialize};

use super::mapping::IdMapping;
use super::pool::ID_SPACE_END;
use super::range::HostIdRange;

/// Name of the file in the pod directory.
pub const USERNS_FILE_NAME: &str = "userns";
/// Prefix of the temporary files a write goes through. Recovery removes any
/// file with this prefix: a temp file is never trusted.
pub const TEMP_FILE_PREFIX: &str = ".userns.podns-tmp.";
/// Larger files are refused unread. kubelet's file is about 150 bytes.
pub const MAX_USERNS_FILE_LEN: u64 = 64 * 1024;

/// Recovery reads one file per pod: the exact bytes kubelet and podns write
/// are recognised without a JSON parser (a third of recovery's time). Any
/// other spelling, valid JSON or not, goes through serde_json. Returns the
/// UID and the GID mapping, in that order, without allocating.
fn parse_kubelet_bytes(bytes: &[u8]) -> Option<[IdMapping; 2]> {
    let mut rest = bytes;
    let mut mappings = [IdMapping {
        host_id: 0,
        container_id: 0,
        length: 0,
    }; 2];
    for (index, opening) in [
        &b"{\"uidMappings\":[{\"hostId\":"[..],
        b"}],\"gidMappings\":[{\"hostId\":",
    ]
    .into_iter()
    .enumerate()
    {
        rest = rest.strip_prefix(opening)?;
        let host_id = take_u32(&mut rest)?;
        rest = rest.strip_prefix(b",\"containerId\":")?;
        let container_id = take_u32(&mut rest)?;
        rest = rest.strip_prefix(b",\"length\":")?;
        let length = take_u32(&mut rest)?;
        mappings[index] = IdMapping {
            host_id,
            container_id,
            length,
        };
    }
    (rest == b"}]}").then_some(mappings)
}

/// A decimal u32 as JSON writes it (no sign, no leading zero but "0").
fn take_u32(rest: &mut &[u8]) -> Option<u32> {
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    let (number, tail) = rest.split_at(digits);
    if digits == 0 || digits > 10 || (digits > 1 && number[0] == b'0') {
        return None;
    }
    let value = number.iter().try_fold(0u64, |value, digit| {
        Some(value * 10 + u64::from(digit - b'0'))
    })?;
    *rest = tail;
    u32::try_from(value).ok()
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsernsFile {
    uid_mappings: Vec<IdMapping>,
    gid_mappings: Vec<IdMapping>,
}

/// Why a `userns` file does not describe a usable range. The texts follow
/// kubelet's, so operators can search for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileFormatError {
    /// Not JSON of the expected shape.
    #[error("invalid user namespace mappings file: {0}")]
    Json(String),
    /// Not exactly one UID mapping.
    #[error(
        "invalid user namespace configuration: no more than one mapping allowed (found {0} UID mappings)"
    )]
    MappingCount(usize),
    /// The GID mappings differ from the UID mappings.
    #[error("invalid user namespace configuration: GID and UID mappings should be identical")]
    UidGidDiffer,
    /// Container ID 0 is not the start of the mapping.
    #[error("invalid user namespace configuration: UID 0 must be mapped (containerId is {0})")]
    RootNotMapped(u32),
    /// A zero-length mapping.
    #[error("wrong user namespace length 0")]
    ZeroLength,
    /// The range runs past the 32-bit ID space.
    #[error("out of range: {length} IDs from host ID {host_id} run past host ID 4294967295")]
    PastIdSpace {
        /// First host ID.
        host_id: u32,
        /// Length.
        length: u32,
    },
}

/// The file contents for `range`, exactly as kubelet's `json.Marshal` writes
/// them.
pub fn render_userns_file(mapping: IdMapping) -> Vec<u8> {
    let file = UsernsFile {
        uid_mappings: vec![mapping],
        gid_mappings: vec![mapping],
    };
    serde_json::to_vec(&file).expect("plain integers always serialize")
}

/// Parses a `userns` file and returns the host range it claims.
pub fn parse_userns_file(bytes: &[u8]) -> Result<HostIdRange, FileFormatError> {
    if let Some([uid, gid]) = parse_kubelet_bytes(bytes) {
        return check_mappings(std::slice::from_ref(&uid), std::slice::from_ref(&gid));
    }
    let file: UsernsFile =
        serde_json::from_slice(bytes).map_err(|error| FileFormatError::Json(error.to_string()))?;
    check_mappings(&file.uid_mappings, &file.gid_mappings)
}

/// The checks both parsers share, so a file gives the same answer whichever
/// of them read it.
fn check_mappings(
    uid_mappings: &[IdMapping],
    gid_mappings: &[IdMapping],
) -> Result<HostIdRange, FileFormatError> {
    if uid_mappings.len() != 1 {
        return Err(FileFormatError::MappingCount(uid_mappings.len()));
    }
    if gid_mappings != uid_mappings {
        return Err(FileFormatError::UidGidDiffer);
    }
    let mapping = uid_mappings[0];
    if mapping.container_id != 0 {
        return Err(FileFormatError::RootNotMapped(mapping.container_id));
    }
    if mapping.length == 0 {
        return Err(FileFormatError::ZeroLength);
    }
    let range = mapping.host_range();
    if range.end() > ID_SPACE_END {
        return Err(FileFormatError::PastIdSpace {
            host_id: mapping.host_id,
            length: mapping.length,
        });
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBELET_FILE: &str = r#"{"uidMappings":[{"hostId":131072,"containerId":0,"length":65536}],"gidMappings":[{"hostId":131072,"containerId":0,"length":65536}]}"#;

    #[test]
    fn round_trips_kubelet_bytes_exactly() {
        let range = parse_userns_file(KUBELET_FILE.as_bytes()).unwrap();
        assert_eq!(range, HostIdRange::new(131072, 65536));
        let rendered = render_userns_file(IdMapping::root_to(range).unwrap());
        assert_eq!(String::from_utf8(rendered).unwrap(), KUBELET_FILE);
    }

    // kubelet's TestParseUserNsFile cases.
    #[test]
    fn kubelet_parse_errors() {
        let cases: &[(&str, FileFormatError)] = &[
            ("", FileFormatError::Json(String::new())),
            ("garbage", FileFormatError::Json(String::new())),
            (
                r#"{"uidMappings":[],"gidMappings":[]}"#,
                FileFormatError::MappingCount(0),
            ),
            (
                r#"{"uidMappings":[{"hostId":131072,"containerId":0,"length":65536},{"hostId":196608,"containerId":0,"length":65536}],"gidMappings":[]}"#,
                FileFormatError::MappingCount(2),
            ),
            (
                r#"{"uidMappings":[{"hostId":131072,"containerId":0,"length":65536}],"gidMappings":[]}"#,
                FileFormatError::UidGidDiffer,
            ),
            (
                r#"{"uidMappings":[{"hostId":131072,"containerId":0,"length":65536}],"gidMappings":[{"hostId":196608,"containerId":0,"length":65536}]}"#,
                FileFormatError::UidGidDiffer,
            ),
            (
                r#"{"uidMappings":[{"hostId":131072,"containerId":1,"length":65536}],"gidMappings":[{"hostId":131072,"containerId":1,"length":65536}]}"#,
                FileFormatError::RootNotMapped(1),
            ),
            (
                r#"{"uidMappings":[{"hostId":131072,"containerId":0,"length":0}],"gidMappings":[{"hostId":131072,"containerId":0,"length":0}]}"#,
                FileFormatError::ZeroLength,
            ),
            (
                r#"{"uidMappings":[{"hostId":4294901760,"containerId":0,"length":131072}],"gidMappings":[{"hostId":4294901760,"containerId":0,"length":131072}]}"#,
                FileFormatError::PastIdSpace {
                    host_id: 4294901760,
                    length: 131072,
                },
            ),
        ];
        for (input, expected) in cases {
            let got = parse_userns_file(input.as_bytes()).unwrap_err();
            match (expected, &got) {
                (FileFormatError::Json(_), FileFormatError::Json(_)) => {}
                _ => assert_eq!(&got, expected, "input {input}"),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn no_bytes_make_the_parser_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_userns_file(&bytes);
        }

        #[test]
        fn near_miss_files_never_panic(host in proptest::num::u32::ANY, length in proptest::num::u32::ANY, container in 0u32..3, cut in 0usize..200) {
            let text = format!(
                r#"{{"uidMappings":[{{"hostId":{host},"containerId":{container},"length":{length}}}],"gidMappings":[{{"hostId":{host},"containerId":0,"length":{length}}}]}}"#
            );
            let _ = parse_userns_file(text.as_bytes());
            let _ = parse_userns_file(&text.as_bytes()[..cut.min(text.len())]);
        }

        #[test]
        fn the_fast_path_agrees_with_serde(host in proptest::num::u32::ANY, length in proptest::num::u32::ANY, container in 0u32..3, other in proptest::num::u32::ANY) {
            for gid_host in [host, other] {
                let text = format!(
                    r#"{{"uidMappings":[{{"hostId":{host},"containerId":{container},"length":{length}}}],"gidMappings":[{{"hostId":{gid_host},"containerId":{container},"length":{length}}}]}}"#
                );
                let fast = parse_kubelet_bytes(text.as_bytes()).map(|[uid, gid]| (vec![uid], vec![gid]));
                let slow: UsernsFile = serde_json::from_str(&text).unwrap();
                proptest::prop_assert_eq!(fast, Some((slow.uid_mappings, slow.gid_mappings)));
            }
        }

        #[test]
        fn every_valid_range_round_trips(slot in 1u32..65535) {
            let mapping = IdMapping { host_id: slot * 65536, container_id: 0, length: 65536 };
            let parsed = parse_userns_file(&render_userns_file(mapping));
            proptest::prop_assert_eq!(parsed, Ok(mapping.host_range()));
        }
    }

    #[test]
    fn negative_and_oversized_numbers_are_json_errors() {
        for input in [
            r#"{"uidMappings":[{"hostId":-1,"containerId":0,"length":65536}],"gidMappings":[{"hostId":-1,"containerId":0,"length":65536}]}"#,
            r#"{"uidMappings":[{"hostId":4294967296,"containerId":0,"length":65536}],"gidMappings":[{"hostId":4294967296,"containerId":0,"length":65536}]}"#,
        ] {
            assert!(matches!(
                parse_userns_file(input.as_bytes()),
                Err(FileFormatError::Json(_))
            ));
        }
    }
}
