//! `/proc/<pid>/uid_map` and `gid_map` text, and splitting against a parent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podns_core::{IdMap, split_for_parent};

fuzz_target!(|bytes: &[u8]| {
    let (request, parent) = bytes.split_at(bytes.len() / 2);
    let request = IdMap::parse_bytes(request);
    let parent = IdMap::parse_bytes(parent);
    if let Ok(map) = &request {
        // A parsed map renders to text that parses to the same map.
        assert_eq!(IdMap::parse(&map.render_for_write()).as_ref(), Ok(map));
    }
    if let (Ok(request), Ok(parent)) = (request, parent) {
        let _ = split_for_parent(&request, &parent);
    }
});
