//! A `userns` file the process may not read (permission denied) is reported
//! as unreadable, blocks new allocations, and is left as it was. Needs root
//! to set up files another user cannot read; runs podns as `nobody`.

mod common;

use common::{NOBODY, Nobody, kubelet_userns_file, run};
use std::os::unix::fs::{PermissionsExt, chown};

#[test]
fn an_unreadable_userns_file_is_reported_not_fatal() {
    let nobody = match Nobody::new() {
        Ok(nobody) => nobody,
        Err(why) => {
            println!("skipping: making a file unreadable to podns needs root: {why}");
            return;
        }
    };
    let temp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let pods = temp.path().join("pods");
    for pod in ["good", "secret"] {
        std::fs::create_dir_all(pods.join(pod)).unwrap();
    }
    std::fs::write(pods.join("good/userns"), kubelet_userns_file(65536, 65536)).unwrap();
    std::fs::write(
        pods.join("secret/userns"),
        kubelet_userns_file(131072, 65536),
    )
    .unwrap();
    // Everything belongs to nobody except the secret file, which stays
    // root's and mode 0600.
    for path in [
        pods.clone(),
        pods.join("good"),
        pods.join("good/userns"),
        pods.join("secret"),
    ] {
        chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    std::fs::set_permissions(
        pods.join("secret/userns"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let as_nobody = |args: &[&str]| {
        let mut command = nobody.command(&["--pods-dir"]);
        command.arg(&pods).args(args);
        run(command)
    };
    let value = as_nobody(&["--json", "list"]).ok_json();
    assert_eq!(value["allocations"][0]["pod"], "good", "{value}");
    assert_eq!(value["problems"][0]["pod"], "secret", "{value}");
    assert_eq!(value["problems"][0]["kind"], "unreadable", "{value}");
    let message = value["problems"][0]["message"].as_str().unwrap();
    assert!(message.contains("EACCES"), "{message}");
    let refused = as_nobody(&["--json", "alloc", "new"]);
    refused.assert_failure(1, "allocations-frozen");
    assert_eq!(
        std::fs::read_to_string(pods.join("secret/userns")).unwrap(),
        kubelet_userns_file(131072, 65536)
    );
}
