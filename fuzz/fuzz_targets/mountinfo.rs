//! `/proc/self/mountinfo`: the core decides what to unmount from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podns_core::{escape_mountinfo_path, parse_mountinfo, parse_mountinfo_bytes};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(mounts) = parse_mountinfo_bytes(bytes) {
        for mount in mounts {
            // Every parsed mount point escapes back to a parseable line.
            let line = format!(
                "1 2 3:4 / {} rw - t s o",
                escape_mountinfo_path(&mount.mount_point)
            );
            let again = parse_mountinfo(&line).expect("an escaped path always parses");
            assert_eq!(again[0].mount_point, mount.mount_point);
        }
    }
});
