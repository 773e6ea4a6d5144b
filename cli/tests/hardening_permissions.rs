//! A `userns` file the process may not read (permission denied) is reported
//! as unreadable, blocks new allocations, and is left as it was. Needs root
//! to set up files another user cannot read; runs podns as `nobody`.

mod common;

use std::os::unix::fs::{PermissionsExt, chown};
use std::process::Command;

use common::{PODNS, kubelet_file};

#[test]
fn an_unreadable_userns_file_is_reported_not_fatal() {
    if !rustix::process::geteuid().is_root() {
        println!(
            "skipping: making a file unreadable to podns needs root (podns then runs as nobody)"
        );
        return;
    }
    let Ok(setpriv) = which("setpriv") else {
        println!("skipping: setpriv(1) from util-linux is not installed");
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let pods = temp.path().join("pods");
    for pod in ["good", "secret"] {
        std::fs::create_dir_all(pods.join(pod)).unwrap();
    }
    std::fs::write(pods.join("good/userns"), kubelet_file(65536, 65536)).unwrap();
    std::fs::write(pods.join("secret/userns"), kubelet_file(131072, 65536)).unwrap();
    // Everything belongs to nobody except the secret file, which stays
    // root's and mode 0600.
    for path in [
        pods.clone(),
        pods.join("good"),
        pods.join("good/userns"),
        pods.join("secret"),
    ] {
        chown(&path, Some(65534), Some(65534)).unwrap();
    }
    std::fs::set_permissions(
        pods.join("secret/userns"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(PODNS)
            .arg("--pods-dir")
            .arg(&pods)
            .args(args)
            .output()
            .unwrap()
    };
    let list = as_nobody(&["list"]);
    assert!(list.status.success(), "{list:?}");
    let value: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(value["allocations"][0]["pod"], "good", "{value}");
    assert_eq!(value["problems"][0]["pod"], "secret", "{value}");
    assert_eq!(value["problems"][0]["kind"], "unreadable", "{value}");
    let message = value["problems"][0]["message"].as_str().unwrap();
    assert!(message.contains("EACCES"), "{message}");
    let refused = as_nobody(&["--json", "alloc", "new"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("allocations-frozen"));
    assert_eq!(
        std::fs::read_to_string(pods.join("secret/userns")).unwrap(),
        kubelet_file(131072, 65536)
    );
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
