//! The kubelet `userns` file: recovery reads it from every pod directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podns_core::{IdMapping, parse_userns_file, render_userns_file};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(range) = parse_userns_file(bytes) {
        // Whatever parses must describe a range that renders and parses back.
        if let Some(mapping) = IdMapping::root_to(range) {
            assert_eq!(parse_userns_file(&render_userns_file(mapping)), Ok(range));
        }
    }
});
