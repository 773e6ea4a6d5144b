//! What tests plant on a node, written once for every test tree (the mock's
//! and the real kernel's).

/// A `userns` file exactly as kubelet writes it: container ID 0 mapped to
/// `host_id` for `length` IDs, for both UIDs and GIDs, on one line.
pub fn kubelet_userns_file(host_id: u64, length: u64) -> String {
    format!(
        r#"{{"uidMappings":[{{"hostId":{host_id},"containerId":0,"length":{length}}}],"gidMappings":[{{"hostId":{host_id},"containerId":0,"length":{length}}}]}}"#
    )
}
