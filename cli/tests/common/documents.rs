//! Reading podns's JSON documents and writing kubelet's.

use std::collections::BTreeMap;

use serde_json::Value;

pub use podns_backend_mock::kubelet_userns_file;

/// A host ID range `[first, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub first: u64,
    pub len: u64,
}

impl Range {
    pub fn end(self) -> u64 {
        self.first + self.len
    }

    pub fn overlaps(self, other: Range) -> bool {
        self.first < other.end() && other.first < self.end()
    }
}

/// The range of a document with CRI-style `uidMappings` and `gidMappings`:
/// checks there is exactly one mapping, from container ID 0, identical for
/// UIDs and GIDs.
pub fn range_of(document: &Value) -> Range {
    let uid = document["uidMappings"]
        .as_array()
        .unwrap_or_else(|| panic!("no uidMappings: {document}"));
    assert_eq!(uid.len(), 1, "{document}");
    assert_eq!(
        document["gidMappings"], document["uidMappings"],
        "{document}"
    );
    let mapping = &uid[0];
    assert_eq!(
        keys_of(mapping),
        ["containerId", "hostId", "length"],
        "{document}"
    );
    assert_eq!(mapping["containerId"], 0, "{document}");
    Range {
        first: mapping["hostId"].as_u64().unwrap(),
        len: mapping["length"].as_u64().unwrap(),
    }
}

/// Checks the keys of a `list` document.
pub fn check_list_shape(list: &Value) {
    assert_eq!(
        keys_of(list),
        ["allocations", "capacity", "free", "poolSource", "problems"],
        "{list}"
    );
    for allocation in list["allocations"].as_array().unwrap() {
        assert_eq!(
            keys_of(allocation),
            ["gidMappings", "pod", "uidMappings"],
            "{list}"
        );
        range_of(allocation);
    }
    for problem in list["problems"].as_array().unwrap() {
        assert_eq!(
            keys_of(problem),
            ["kind", "message", "path", "pod"],
            "{list}"
        );
        assert!(!problem["message"].as_str().unwrap().is_empty(), "{list}");
    }
}

/// The allocations of a `list` document, by pod.
pub fn allocations(list: &Value) -> BTreeMap<String, Value> {
    list["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["pod"].as_str().unwrap().to_owned(), entry.clone()))
        .collect()
}

/// The problems of a `list` document, as (pod, kind) pairs in list order.
pub fn problem_kinds(list: &Value) -> Vec<(String, String)> {
    list["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|problem| {
            (
                problem["pod"].as_str().unwrap().to_owned(),
                problem["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Asserts that no two ranges overlap.
pub fn assert_disjoint(ranges: &[Range]) {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    for pair in sorted.windows(2) {
        assert!(
            pair[0].end() <= pair[1].first,
            "ranges overlap: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// The keys of a JSON object, sorted.
fn keys_of(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}
