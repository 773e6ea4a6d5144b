//! `podns idmap`: parse, split and inspect user-namespace ID maps. These
//! commands read only the files they are given (and `/proc/self/uid_map`);
//! they never touch the pods directory or take its lock.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use podns_backend_linux::{
    IdMapKind, IdMapReadError, MAX_ID_MAP_FILE_LEN, proc_id_map_path, read_id_map, read_own_id_map,
};
use podns_core::{
    IdExtent, IdMap, IdMapError, IdMapProblem, IdSide, RootlessStatus, SplitError, split_for_parent,
};
use serde::Serialize;

use crate::failure::Failure;
use crate::output::to_json;

#[derive(Debug, Subcommand)]
pub enum IdmapCommand {
    /// Parse a uid_map/gid_map strictly and print its extents as
    /// {"mappings":[{"containerId","hostId","size"}]}
    Parse {
        /// The map (e.g. /proc/self/uid_map), in the kernel's padded format or
        /// as written; - for standard input
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
    },
    /// Split requested mappings so that each extent lies inside one extent of
    /// the parent's map, as the kernel requires; fails if the parent lacks an ID
    Split {
        /// A requested mapping CONTAINER:HOST:SIZE, HOST being an ID of the
        /// parent namespace (an inside ID of its map); repeatable
        #[arg(long = "request", value_name = "C:H:S", required = true)]
        requests: Vec<String>,
        /// The parent's map; - for standard input [default: /proc/self/uid_map]
        #[arg(long, value_name = "FILE|-")]
        parent: Option<PathBuf>,
    },
    /// Whether this process is rootless (its UID 0 is not the parent's), and
    /// how many IDs it can map, from /proc/self/uid_map
    Rootless,
}

/// One extent, with the OCI/CRI names: containerId = inside, hostId =
/// outside.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MappingOutput {
    container_id: u32,
    host_id: u32,
    size: u32,
}

fn mappings(map: &IdMap) -> Vec<MappingOutput> {
    map.extents()
        .iter()
        .map(|extent| MappingOutput {
            container_id: extent.inside,
            host_id: extent.outside,
            size: extent.count,
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct MappingsOutput {
    mappings: Vec<MappingOutput>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RootlessOutput {
    rootless: bool,
    available_ids: u64,
    mappings: Vec<MappingOutput>,
}

pub fn run(command: &IdmapCommand) -> Result<(), Failure> {
    let output = match command {
        IdmapCommand::Parse { file } => {
            let map = read_map(file)?;
            to_json(&MappingsOutput {
                mappings: mappings(&map),
            })
        }
        IdmapCommand::Split { requests, parent } => {
            let request = request_map(requests)?;
            let parent = match parent {
                Some(file) => read_map(file)?,
                None => read_own_map()?,
            };
            let split = split_for_parent(&request, &parent).map_err(split_failure)?;
            to_json(&MappingsOutput {
                mappings: mappings(&split),
            })
        }
        IdmapCommand::Rootless => {
            let map = read_own_map()?;
            let status = RootlessStatus::of(&map);
            to_json(&RootlessOutput {
                rootless: status.rootless,
                available_ids: status.available_ids,
                mappings: mappings(&map),
            })
        }
    };
    println!("{output}");
    Ok(())
}

/// A map the user named: a file, or standard input for `-`. Unreadable files
/// and bad contents are bad input (exit 2).
fn read_map(file: &Path) -> Result<IdMap, Failure> {
    if file == Path::new("-") {
        let mut bytes = Vec::new();
        let limit = MAX_ID_MAP_FILE_LEN as u64 + 1;
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|error| {
                Failure::bad_input("usage", format!("cannot read standard input: {error}"))
            })?;
        if bytes.len() > MAX_ID_MAP_FILE_LEN {
            return Err(Failure::bad_input(
                "invalid-idmap",
                format!(
                    "standard input is larger than {MAX_ID_MAP_FILE_LEN} bytes; it is not an ID map"
                ),
            ));
        }
        return IdMap::parse_bytes(&bytes).map_err(|error| {
            Failure::bad_input("invalid-idmap", format!("standard input: {error}"))
        });
    }
    read_id_map(file).map_err(|error| match error {
        IdMapReadError::Open { .. } | IdMapReadError::Read { .. } => {
            Failure::bad_input("usage", error.to_string())
        }
        _ => Failure::bad_input("invalid-idmap", error.to_string()),
    })
}

/// This process's `uid_map`. It is not user input: failing to read it is an
/// operation failure (exit 1).
fn read_own_map() -> Result<IdMap, Failure> {
    read_own_id_map(IdMapKind::Uid).map_err(|error| {
        if error.is_parse_error() {
            Failure::failed("invalid-idmap", error.to_string())
        } else {
            Failure::failed(
                "io",
                format!(
                    "{error}; pass the parent's map with --parent FILE (e.g. a copy of {})",
                    proc_id_map_path(None, IdMapKind::Uid).display()
                ),
            )
        }
    })
}

/// The `--request C:H:S` values as one validated map.
fn request_map(requests: &[String]) -> Result<IdMap, Failure> {
    let extents = requests
        .iter()
        .map(|text| parse_request(text))
        .collect::<Result<Vec<_>, _>>()?;
    IdMap::new(extents).map_err(|error: IdMapError| {
        let text = |line: usize| requests.get(line - 1).map_or("?", String::as_str);
        let problem = request_problem(&error.problem, text);
        Failure::bad_input(
            "invalid-request",
            format!("--request {}: {problem}", text(error.line)),
        )
    })
}

/// A map problem in the words of `--request`: container and host IDs, and
/// other requests named by their text.
fn request_problem<'a>(problem: &IdMapProblem, text: impl Fn(usize) -> &'a str) -> String {
    let ids = |side: IdSide| match side {
        IdSide::Inside => "container",
        IdSide::Outside => "host",
    };
    match problem {
        IdMapProblem::Overlap {
            side,
            other_line,
            extent,
            other,
        } => format!(
            "its {ids} IDs {}-{} overlap those of --request {} ({}-{}); requested {ids} ranges \
             must be disjoint",
            extent.first(*side),
            extent.end(*side) - 1,
            text(*other_line),
            other.first(*side),
            other.end(*side) - 1,
            ids = ids(*side),
        ),
        IdMapProblem::PastIdSpace { side, first, count } => format!(
            "{count} {} IDs from {first} reach ID {}; a range must end at 4294967294 at most, \
             since the kernel never maps 4294967295",
            ids(*side),
            u64::from(*first) + u64::from(*count) - 1
        ),
        IdMapProblem::ZeroCount => "SIZE is 0; a mapping has at least one ID".to_owned(),
        IdMapProblem::TooManyExtents { max } => {
            format!("more than {max} requests; the kernel accepts at most {max} extents")
        }
        other => other.to_string(),
    }
}

/// `CONTAINER:HOST:SIZE`, three decimal numbers (digits only).
fn parse_request(text: &str) -> Result<IdExtent, Failure> {
    let bad = |why: String| {
        Failure::bad_input(
            "invalid-request",
            format!("--request {text}: {why}; expected CONTAINER:HOST:SIZE, e.g. 0:100000:65536"),
        )
    };
    let parts: Vec<&str> = text.split(':').collect();
    let [container, host, size] = parts[..] else {
        return Err(bad(format!(
            "found {} field(s) separated by `:`, not 3",
            parts.len()
        )));
    };
    let mut values = [0u32; 3];
    for ((value, part), name) in
        values
            .iter_mut()
            .zip([container, host, size])
            .zip(["CONTAINER", "HOST", "SIZE"])
    {
        if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(bad(format!(
                "{name} `{part}` is not a decimal number (digits only)"
            )));
        }
        *value = part
            .parse()
            .map_err(|_| bad(format!("{name} `{part}` is larger than 4294967295")))?;
    }
    let [container, host, size] = values;
    Ok(IdExtent::new(container, host, size))
}

fn split_failure(error: SplitError) -> Failure {
    let kind = match error {
        SplitError::NotInParent { .. } => "not-in-parent",
        SplitError::TooManyExtents { .. } => "too-many-extents",
    };
    Failure::failed(kind, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|text| text.to_string()).collect()
    }

    #[test]
    fn requests_are_strict() {
        assert_eq!(
            parse_request("0:100000:65536").unwrap(),
            IdExtent::new(0, 100000, 65536)
        );
        for (text, why) in [
            ("0:1", "found 2 field(s)"),
            ("0:1:2:3", "found 4 field(s)"),
            ("0:+1:2", "HOST `+1` is not a decimal number"),
            ("0: 1:2", "HOST ` 1` is not a decimal number"),
            ("0::2", "HOST `` is not a decimal number"),
            (
                "0:1:4294967296",
                "SIZE `4294967296` is larger than 4294967295",
            ),
        ] {
            let failure = parse_request(text).unwrap_err();
            assert_eq!(failure.exit, crate::failure::EXIT_BAD_INPUT);
            assert_eq!(failure.kind, "invalid-request");
            assert!(failure.message.contains(why), "{text}: {}", failure.message);
        }
    }

    #[test]
    fn request_lists_are_validated_as_a_map() {
        let failure = request_map(&requests(&["0:0:10", "5:100:1"])).unwrap_err();
        assert_eq!(failure.exit, crate::failure::EXIT_BAD_INPUT);
        assert_eq!(
            failure.message,
            "--request 5:100:1: its container IDs 5-5 overlap those of --request 0:0:10 (0-9); \
             requested container ranges must be disjoint"
        );
        let failure = request_map(&requests(&["0:0:1", "1:0:1"])).unwrap_err();
        assert!(
            failure
                .message
                .starts_with("--request 1:0:1: its host IDs 0-0 overlap"),
            "{}",
            failure.message
        );
        let failure = request_map(&requests(&["0:0:0"])).unwrap_err();
        assert_eq!(
            failure.message,
            "--request 0:0:0: SIZE is 0; a mapping has at least one ID"
        );
        let failure = request_map(&requests(&["0:4294967295:1"])).unwrap_err();
        assert!(
            failure
                .message
                .contains("1 host IDs from 4294967295 reach ID 4294967295"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn split_failures_exit_1_with_a_kind() {
        let parent = IdMap::parse("10000 10000 65536").unwrap();
        let error =
            split_for_parent(&request_map(&requests(&["0:0:1"])).unwrap(), &parent).unwrap_err();
        let failure = split_failure(error);
        assert_eq!(failure.exit, crate::failure::EXIT_FAILED);
        assert_eq!(failure.kind, "not-in-parent");
        assert!(
            failure.message.starts_with("host ID 0 "),
            "{}",
            failure.message
        );
    }

    #[test]
    fn output_uses_the_oci_names() {
        let map = IdMap::parse("0 1000 1\n1 100000 65536\n").unwrap();
        assert_eq!(
            to_json(&MappingsOutput {
                mappings: mappings(&map)
            }),
            r#"{"mappings":[{"containerId":0,"hostId":1000,"size":1},{"containerId":1,"hostId":100000,"size":65536}]}"#
        );
        let status = RootlessStatus::of(&map);
        assert_eq!(
            to_json(&RootlessOutput {
                rootless: status.rootless,
                available_ids: status.available_ids,
                mappings: mappings(&IdMap::parse("0 1000 1").unwrap()),
            }),
            r#"{"rootless":true,"availableIds":65537,"mappings":[{"containerId":0,"hostId":1000,"size":1}]}"#
        );
    }

    #[test]
    fn unreadable_and_bad_files_are_bad_input_naming_the_file_and_line() {
        let failure = read_map(Path::new("/nonexistent/uid_map")).unwrap_err();
        assert_eq!(failure.exit, crate::failure::EXIT_BAD_INPUT);
        assert!(
            failure
                .message
                .starts_with("cannot open /nonexistent/uid_map: ENOENT"),
            "{}",
            failure.message
        );
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"0 0 1\n1 1 x\n").unwrap();
        let failure = read_map(file.path()).unwrap_err();
        assert_eq!(failure.exit, crate::failure::EXIT_BAD_INPUT);
        assert_eq!(failure.kind, "invalid-idmap");
        assert_eq!(
            failure.message,
            format!(
                "{}: line 2: count (field 3) `x` is not a decimal number (digits only, no sign)",
                file.path().display()
            )
        );
    }
}
