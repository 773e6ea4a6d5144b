//! Turning flags and the environment into validated settings. This is the
//! only place podns reads the environment or the OS random number generator;
//! the core gets the results as arguments.

use std::path::{Path, PathBuf};

use podns_core::{
    AllocationPolicy, ID_SPACE_END, Pool, PoolConfig, SubidPoolRange, SubidSource, passwd_name_of,
    passwd_uid_of,
};

use crate::args::{GlobalOptions, Policy};
use crate::failure::Failure;

pub struct Settings {
    pub pods_dir: PathBuf,
    pub pool: Pool,
    pub seed: u64,
    pub policy: AllocationPolicy,
}

impl Settings {
    pub fn from_options(options: &GlobalOptions) -> Result<Self, Failure> {
        let pool = pool_config(options)?.validate().map_err(|error| {
            let source = match &options.subuid_user {
                Some(user) => format!(" (the subordinate range of {user})"),
                None => String::new(),
            };
            Failure::bad_input("invalid-pool", format!("invalid pool{source}: {error}"))
        })?;
        let pods_dir = match &options.pods_dir {
            Some(dir) => dir.clone(),
            None => default_pods_dir()?,
        };
        let seed = match options.seed {
            Some(seed) => seed,
            None => os_seed()?,
        };
        let policy = match options.policy {
            Policy::Random => AllocationPolicy::RandomStartThenNextFree,
            Policy::LowestFree => AllocationPolicy::LowestFree,
        };
        Ok(Self {
            pods_dir,
            pool,
            seed,
            policy,
        })
    }
}

fn pool_config(options: &GlobalOptions) -> Result<PoolConfig, Failure> {
    let ids_per_pod = options.ids_per_pod;
    if let Some(user) = &options.subuid_user {
        if options.first_id.is_some() || options.id_count.is_some() {
            return Err(Failure::bad_input(
                "usage",
                "--subuid-user takes the pool's first ID and ID count from the subordinate \
                 ranges; do not also pass --first-id or --id-count",
            ));
        }
        return Ok(subid_range(user)?.pool_config(ids_per_pod, options.max_pods));
    }
    let first_id = options.first_id.unwrap_or(ids_per_pod);
    Ok(PoolConfig {
        first_id,
        id_count: options
            .id_count
            .unwrap_or_else(|| ID_SPACE_END.saturating_sub(first_id)),
        ids_per_pod,
        max_pods: options.max_pods,
    })
}

/// Names the subordinate UID file instead of /etc/subuid (for tests).
const SUBUID_FILE_ENV: &str = "PODNS_SUBUID_FILE";
/// Names the subordinate GID file instead of /etc/subgid (for tests).
const SUBGID_FILE_ENV: &str = "PODNS_SUBGID_FILE";
/// Names the user database instead of /etc/passwd (for tests).
const PASSWD_FILE_ENV: &str = "PODNS_PASSWD_FILE";

fn path_from(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// `user` (a name or a UID) as the name and UID subordinate-ID lines may be
/// keyed by, as shadow-utils matches them: a name's UID and a UID's name
/// come from the passwd file. A user the file does not list (one known only
/// to LDAP, say) is matched by the form given; a missing file lists nobody.
fn owner_keys(user: &str) -> (String, Option<u32>) {
    let passwd = std::fs::read(path_from(PASSWD_FILE_ENV, "/etc/passwd")).unwrap_or_default();
    let numeric = !user.is_empty() && user.bytes().all(|byte| byte.is_ascii_digit());
    match numeric.then(|| user.parse::<u32>().ok()).flatten() {
        Some(uid) => {
            let name = passwd_name_of(&passwd, uid).unwrap_or(user);
            (name.to_owned(), Some(uid))
        }
        None => (user.to_owned(), passwd_uid_of(&passwd, user)),
    }
}

/// `user`'s single range, identical in the subuid and subgid files, from
/// lines keyed by the user's name or UID.
fn subid_range(user: &str) -> Result<SubidPoolRange, Failure> {
    let subuid_path = path_from(SUBUID_FILE_ENV, "/etc/subuid");
    let subgid_path = path_from(SUBGID_FILE_ENV, "/etc/subgid");
    let read = |path: &Path, variable: &str| {
        std::fs::read(path).map_err(|error| {
            Failure::bad_input(
                "invalid-subid",
                format!(
                    "--subuid-user {user}: cannot read {}: {error}; create it or set {variable} \
                     to another file",
                    path.display()
                ),
            )
        })
    };
    let subuid = read(&subuid_path, SUBUID_FILE_ENV)?;
    let subgid = read(&subgid_path, SUBGID_FILE_ENV)?;
    let (name, uid) = owner_keys(user);
    let subuid_name = subuid_path.display().to_string();
    let subgid_name = subgid_path.display().to_string();
    SubidPoolRange::from_files(
        SubidSource {
            name: &subuid_name,
            contents: &subuid,
        },
        SubidSource {
            name: &subgid_name,
            contents: &subgid,
        },
        &name,
        uid,
    )
    .map_err(|error| Failure::bad_input("invalid-subid", format!("--subuid-user {user}: {error}")))
}

fn default_pods_dir() -> Result<PathBuf, Failure> {
    if rustix::process::geteuid().is_root() {
        return Ok(PathBuf::from("/var/lib/podns/pods"));
    }
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(state) = non_empty("XDG_STATE_HOME") {
        return Ok(PathBuf::from(state).join("podns/pods"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(PathBuf::from(home).join(".local/state/podns/pods"));
    }
    Err(Failure::bad_input(
        "usage",
        "cannot choose a pods directory: not root and neither XDG_STATE_HOME nor HOME is set; pass --pods-dir DIR",
    ))
}

/// Where pod namespaces are pinned unless `--run-dir` says otherwise:
/// `/run/podns` as root, else `$XDG_RUNTIME_DIR/podns` (as rootless Kata
/// pins under `$XDG_RUNTIME_DIR`).
pub fn default_run_dir() -> Result<PathBuf, Failure> {
    if rustix::process::geteuid().is_root() {
        return Ok(PathBuf::from("/run/podns"));
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|value| !value.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir).join("podns")),
        None => Err(Failure::bad_input(
            "usage",
            "cannot choose a run directory: not root and XDG_RUNTIME_DIR is not set; pass \
             --run-dir DIR",
        )),
    }
}

fn os_seed() -> Result<u64, Failure> {
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        let read = rustix::io::retry_on_intr(|| {
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())
        });
        match read {
            Ok(count) => filled += count,
            Err(error) => {
                return Err(Failure::failed(
                    "io",
                    format!("cannot read a seed from getrandom(2): {error}; pass --seed N"),
                ));
            }
        }
    }
    Ok(u64::from_le_bytes(bytes))
}
