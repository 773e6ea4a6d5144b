//! `/etc/subuid`, `/etc/subgid` and `getsubids` output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podns_core::SubidTable;

fuzz_target!(|bytes: &[u8]| {
    let _ = SubidTable::parse_file_bytes("/etc/subuid", bytes);
    let _ = SubidTable::parse_getsubids_bytes("getsubids", bytes);
});
