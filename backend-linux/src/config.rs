//! How a node is configured, and how the configuration becomes validated
//! settings: the default directories, the pool (explicit, kubelet's default
//! or a user's subordinate IDs) and the seed. This is the one place the
//! library reads the environment (`HOME`, `XDG_*`), the user databases,
//! its own user namespace's maps, `getsubids` and the OS random number
//! generator; the core gets the results as arguments.

use std::path::{Path, PathBuf};

use podns_core::{
    AllocationPolicy, Errno, ErrorDetails, ID_BLOCK, ID_SPACE_END, IdMap, MappedPool, ParentMaps,
    Pool, PoolConfig, SubidPoolRange, SubidSource, SubidTable, passwd_name_of, passwd_uid_of,
};

use crate::idmap_read::{IdMapKind, read_own_id_map};

/// What [`crate::Node::open`] opens. `NodeConfig::default()` is kubelet's
/// layout: the default pods and run directories, kubelet's default pool (65,536
/// IDs per pod above host ID 65535, room for 110 pods), a random start
/// seeded from the OS. In a rootless user namespace the defaults are a
/// user's directories and the IDs that namespace maps ([`PoolSource::Default`]).
#[derive(Debug, Clone, Default)]
pub struct NodeConfig {
    /// The directory with one subdirectory per pod.
    pub pods_dir: PodsDir,
    /// Where pod namespaces are pinned.
    pub run_dir: RunDir,
    /// The host IDs handed out.
    pub pool: PoolSource,
    /// How a free range is chosen.
    pub policy: AllocationPolicy,
    /// The allocation seed; `None` draws one from the OS (`getrandom`).
    pub seed: Option<u64>,
}

impl NodeConfig {
    /// Uses `dir` as the pods directory.
    pub fn with_pods_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.pods_dir = PodsDir::At(dir.into());
        self
    }

    /// Opens neither a pods nor a run directory: a node for subpath mounts
    /// only, which touches nothing else.
    pub fn subpaths_only(mut self) -> Self {
        self.pods_dir = PodsDir::Disabled;
        self.run_dir = RunDir::Disabled;
        self
    }

    /// Pins pod namespaces under `dir`.
    pub fn with_run_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.run_dir = RunDir::At(dir.into());
        self
    }

    /// Opens no run directory: the node manages ranges (and subpaths) only,
    /// and every namespace call fails with `no-run-dir`.
    pub fn without_namespaces(mut self) -> Self {
        self.run_dir = RunDir::Disabled;
        self
    }

    /// Hands out IDs from `pool`.
    pub fn with_pool(mut self, pool: PoolConfig) -> Self {
        self.pool = PoolSource::Range(pool);
        self
    }

    /// Uses `seed` for every random choice, for reproducible runs.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The run directory this configuration names, the default one for
    /// this process, or `None` when namespaces are disabled.
    pub fn resolved_run_dir(&self) -> Result<Option<PathBuf>, ConfigError> {
        run_dir(self, &OwnUserns::read())
    }

    /// Chooses free ranges by `policy`.
    pub fn with_policy(mut self, policy: AllocationPolicy) -> Self {
        self.policy = policy;
        self
    }
}

/// Where a node keeps its pods' ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PodsDir {
    /// `/var/lib/podns/pods` as root, else `$XDG_STATE_HOME/podns/pods`,
    /// else `~/.local/state/podns/pods` (root in a rootless user namespace
    /// counts as a user).
    #[default]
    Default,
    /// This directory (created, mode 0750, when missing).
    At(PathBuf),
    /// No ranges on this node (subpath mounts only); every range and
    /// namespace call fails with `no-pods-dir`.
    Disabled,
}

/// Where a node pins pod namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RunDir {
    /// `/run/podns` as root, else `$XDG_RUNTIME_DIR/podns` (root in a
    /// rootless user namespace counts as a user).
    #[default]
    Default,
    /// This directory (created, mode 0755, when missing).
    At(PathBuf),
    /// No pod namespaces on this node.
    Disabled,
}

/// Where the pool of host IDs comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolSource {
    /// kubelet's default layout for `ids_per_pod` (every ID above the first
    /// `ids_per_pod`); in a rootless user namespace, the IDs that namespace
    /// maps instead ([`podns_core::MappedPool`]), since a child namespace
    /// can map no other.
    Default {
        /// Host IDs per pod, a multiple of 65536.
        ids_per_pod: u64,
        /// Pods the node must be able to run; `None` is kubelet's 110, or
        /// in a rootless namespace as many as its IDs hold.
        max_pods: Option<u64>,
    },
    /// An explicit pool; `PoolConfig::default()` is kubelet's.
    Range(PoolConfig),
    /// A user's single subordinate range, identical in the subuid and subgid
    /// files, as kubelet takes its pool from its `kubelet` user.
    SubordinateIds {
        /// A user name or a UID: as in shadow-utils, lines keyed by either
        /// match, the other half coming from the passwd file.
        user: String,
        /// Host IDs per pod, a multiple of 65536.
        ids_per_pod: u64,
        /// Pods the node must be able to run.
        max_pods: u64,
        /// The files read.
        files: SubidFiles,
    },
}

impl Default for PoolSource {
    fn default() -> Self {
        PoolSource::Default {
            ids_per_pod: ID_BLOCK,
            max_pods: None,
        }
    }
}

/// kubelet's number of pods per node, the default `max_pods`.
const KUBELET_MAX_PODS: u64 = 110;

/// Where a subordinate-ID pool is read from: shadow-utils' `getsubids`
/// first when it is installed (ranges served by sssd or LDAP exist only
/// there), as kubelet does, else the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubidFiles {
    /// `getsubids`, looked up on `PATH` when it is a bare name; `None`
    /// reads the files only.
    pub getsubids: Option<PathBuf>,
    /// `/etc/subuid`.
    pub subuid: PathBuf,
    /// `/etc/subgid`.
    pub subgid: PathBuf,
    /// `/etc/passwd`, to match lines keyed by the other half of the user.
    pub passwd: PathBuf,
}

impl Default for SubidFiles {
    fn default() -> Self {
        Self {
            getsubids: Some(PathBuf::from("getsubids")),
            subuid: PathBuf::from("/etc/subuid"),
            subgid: PathBuf::from("/etc/subgid"),
            passwd: PathBuf::from("/etc/passwd"),
        }
    }
}

/// A configuration podns cannot use; nothing was touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// `"invalid-pool"`, `"invalid-subid"`, `"too-few-ids"` (a rootless
    /// namespace maps too few IDs for one pod) or `"usage"`.
    pub kind: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl ErrorDetails for ConfigError {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn errno(&self) -> Option<Errno> {
        None
    }

    fn path(&self) -> Option<&str> {
        None
    }
}

impl PoolSource {
    /// The validated pool.
    pub fn resolve(&self) -> Result<Pool, ConfigError> {
        self.resolve_with_origin().map(|(pool, _)| pool)
    }

    /// The validated pool, and where it came from in words (what `podns
    /// list` shows as `poolSource`).
    pub fn resolve_with_origin(&self) -> Result<(Pool, String), ConfigError> {
        self.resolve_in(&OwnUserns::read())
    }

    /// [`PoolSource::resolve_with_origin`] in the user namespace `own`.
    pub(crate) fn resolve_in(&self, own: &OwnUserns) -> Result<(Pool, String), ConfigError> {
        let (config, origin) = match self {
            PoolSource::Default {
                ids_per_pod,
                max_pods,
            } => default_pool(*ids_per_pod, *max_pods, own)?,
            PoolSource::Range(config) => (*config, "an explicit range".to_owned()),
            PoolSource::SubordinateIds {
                user,
                ids_per_pod,
                max_pods,
                files,
            } => {
                let (range, from) = subid_range(user, files)?;
                (
                    range.pool_config(*ids_per_pod, *max_pods),
                    format!("the subordinate range of {user}, from {from}"),
                )
            }
        };
        let pool = config.validate().map_err(|error| {
            ConfigError::new("invalid-pool", format!("invalid pool ({origin}): {error}"))
        })?;
        Ok((pool, origin))
    }
}

/// `user` (a name or a UID) as the name and UID subordinate-ID lines may be
/// keyed by, as shadow-utils matches them: a name's UID and a UID's name
/// come from the passwd file. A user the file does not list (one known only
/// to LDAP, say) is matched by the form given; a missing file lists nobody.
pub(crate) fn owner_keys(user: &str, passwd_file: &Path) -> (String, Option<u32>) {
    let passwd = std::fs::read(passwd_file).unwrap_or_default();
    let numeric = !user.is_empty() && user.bytes().all(|byte| byte.is_ascii_digit());
    match numeric.then(|| user.parse::<u32>().ok()).flatten() {
        Some(uid) => {
            let name = passwd_name_of(&passwd, uid).unwrap_or(user);
            (name.to_owned(), Some(uid))
        }
        None => (user.to_owned(), passwd_uid_of(&passwd, user)),
    }
}

/// `user`'s single range, identical for UIDs and GIDs, and where it came
/// from: `getsubids` when it is installed and answers, else the subuid and
/// subgid files, from lines keyed by the user's name or UID.
fn subid_range(user: &str, files: &SubidFiles) -> Result<(SubidPoolRange, String), ConfigError> {
    let (name, uid) = owner_keys(user, &files.passwd);
    let invalid = |error: podns_core::SubidPoolError| {
        ConfigError::new(
            "invalid-subid",
            format!("subordinate IDs of {user}: {error}"),
        )
    };
    if let Some(program) = files.getsubids.as_deref().and_then(find_program) {
        // A user getsubids knows nothing of makes it fail: the files may
        // still have the range.
        if let Some((subuid, subgid)) = run_getsubids(&program, &name)? {
            let range =
                SubidPoolRange::from_tables(&subuid, &subgid, &name, uid).map_err(invalid)?;
            return Ok((range, format!("{} {name}", program.display())));
        }
    }
    let read = |path: &Path| {
        std::fs::read(path).map_err(|error| {
            ConfigError::new(
                "invalid-subid",
                format!(
                    "subordinate IDs of {user}: cannot read {}: {error}; create it or name \
                     another file",
                    path.display()
                ),
            )
        })
    };
    let (subuid, subgid) = (read(&files.subuid)?, read(&files.subgid)?);
    let range = range_in_files(files, &subuid, &subgid, &name, uid).map_err(invalid)?;
    Ok((
        range,
        format!("{} and {}", files.subuid.display(), files.subgid.display()),
    ))
}

/// The single range of `name` (or `uid`) in the subuid and subgid files
/// `files` names, whose contents are `subuid` and `subgid`.
pub(crate) fn range_in_files(
    files: &SubidFiles,
    subuid: &[u8],
    subgid: &[u8],
    name: &str,
    uid: Option<u32>,
) -> Result<SubidPoolRange, podns_core::SubidPoolError> {
    let (subuid_name, subgid_name) = (
        files.subuid.display().to_string(),
        files.subgid.display().to_string(),
    );
    SubidPoolRange::from_files(
        SubidSource {
            name: &subuid_name,
            contents: subuid,
        },
        SubidSource {
            name: &subgid_name,
            contents: subgid,
        },
        name,
        uid,
    )
}

/// `program` when it names an executable file, directly or on `PATH`.
/// (kubelet's own check for `getsubids` never matched a missing program:
/// kubernetes#141345.)
pub(crate) fn find_program(program: &Path) -> Option<PathBuf> {
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|meta| {
            meta.is_file()
                && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0
        })
    };
    if program.components().count() > 1 {
        return executable(program).then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

/// How long `getsubids` may take; it answers from files or a local cache
/// in milliseconds, so only a hung name service comes near this.
const GETSUBIDS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// `program args...`'s stdout when it exits successfully within
/// `deadline`; otherwise (it cannot start, fails, or is killed at the
/// deadline) `None`.
fn run_with_deadline(
    program: &Path,
    args: &[&str],
    deadline: std::time::Duration,
) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let (done, finished) = std::sync::mpsc::channel();
    // stdout ends when the program exits (or hands it on, which getsubids
    // does not do).
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let read = stdout.read_to_end(&mut bytes);
        let _ = done.send(());
        read.map(|_| bytes)
    });
    if finished.recv_timeout(deadline).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let status = child.wait().ok()?;
    let bytes = reader.join().ok()?.ok()?;
    status.success().then_some(bytes)
}

/// `getsubids NAME` and `getsubids -g NAME`, parsed; `None` when either
/// fails (the user has no ranges there).
fn run_getsubids(
    program: &Path,
    name: &str,
) -> Result<Option<(SubidTable, SubidTable)>, ConfigError> {
    let query = |args: &[&str]| -> Result<Option<SubidTable>, ConfigError> {
        // One that cannot run (not an executable after all), fails, or
        // hangs (a dead sssd behind it) is as good as missing: the files
        // remain.
        let Some(stdout) = run_with_deadline(program, args, GETSUBIDS_DEADLINE) else {
            return Ok(None);
        };
        let shown = format!("{} {}", program.display(), args.join(" "));
        SubidTable::parse_getsubids_bytes(&shown, &stdout)
            .map(Some)
            .map_err(|error| {
                ConfigError::new(
                    "invalid-subid",
                    format!(
                        "subordinate IDs of {name}: {error}; fix the ranges getsubids serves, or \
                         read the files only (PODNS_GETSUBIDS= for podns, \
                         SubidFiles::getsubids = None for a Node)"
                    ),
                )
            })
    };
    let Some(subuid) = query(&[name])? else {
        return Ok(None);
    };
    let Some(subgid) = query(&["-g", name])? else {
        return Ok(None);
    };
    Ok(Some((subuid, subgid)))
}

/// The pool [`PoolSource::Default`] stands for in the user namespace `own`,
/// and where it came from in words.
fn default_pool(
    ids_per_pod: u64,
    max_pods: Option<u64>,
    own: &OwnUserns,
) -> Result<(PoolConfig, String), ConfigError> {
    let Some((uid_map, gid_map)) = own.nested_maps() else {
        let max_pods = max_pods.unwrap_or(KUBELET_MAX_PODS);
        let config = PoolConfig::kubelet_default(ids_per_pod, max_pods);
        return Ok((config, "kubelet's default".to_owned()));
    };
    // The slot size is checked as for any pool before the maps are cut.
    PoolConfig {
        first_id: ids_per_pod,
        id_count: ids_per_pod,
        ids_per_pod,
        max_pods: 0,
    }
    .validate()
    .map_err(|error| ConfigError::new("invalid-pool", format!("invalid pool: {error}")))?;
    let mapped = MappedPool::of(uid_map, gid_map, ids_per_pod)
        .map_err(|error| ConfigError::new("too-few-ids", error.to_string()))?;
    let mut config = mapped.pool_config();
    if let Some(max_pods) = max_pods {
        config.max_pods = max_pods;
    }
    let origin = format!(
        "the IDs this rootless user namespace maps: {} of them, uid_map `{}`",
        mapped.mapped_ids,
        uid_map.one_line()
    );
    Ok((config, origin))
}

/// The user namespace this process runs in, as its own `uid_map` and
/// `gid_map` show it: read once per node opened, and asked everything that
/// depends on it (the default directories, the default pool, the maps a
/// pod's maps are split against).
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnUserns {
    /// `None` when the maps cannot be read: then the process is taken to be
    /// in the initial namespace.
    maps: Option<(IdMap, IdMap)>,
}

impl OwnUserns {
    /// This process's namespace.
    pub(crate) fn read() -> Self {
        let read = |kind| read_own_id_map(kind).ok();
        Self {
            maps: read(IdMapKind::Uid).zip(read(IdMapKind::Gid)),
        }
    }

    /// The maps, unless this is the initial namespace (`0 0 4294967295`),
    /// where every ID is mapped, the kubelet pool fits and nothing needs
    /// splitting. Any other namespace, rootless or root-made, hands out only
    /// what it maps.
    fn nested_maps(&self) -> Option<(&IdMap, &IdMap)> {
        let full = |map: &IdMap| {
            matches!(map.extents(), [extent] if extent.inside == 0 && extent.outside == 0
                && u64::from(extent.count) == ID_SPACE_END - 1)
        };
        let (uid_map, gid_map) = self.maps.as_ref()?;
        (!(full(uid_map) && full(gid_map))).then_some((uid_map, gid_map))
    }

    /// What a pod's maps must be split against: the maps of a nested
    /// namespace.
    pub(crate) fn parent_maps(&self) -> Option<ParentMaps> {
        self.nested_maps().map(|(uid_map, gid_map)| ParentMaps {
            uid_map: uid_map.clone(),
            gid_map: gid_map.clone(),
        })
    }

    /// True for root of the initial namespace or of one where UID 0 is the
    /// parent's root: only then are the system-wide directories the
    /// defaults. Root in a rootless user namespace (rootlesskit, a rootless
    /// pause process) gets a user's directories, as it cannot write the
    /// system's.
    pub(crate) fn is_root(&self) -> bool {
        let rootless = self
            .maps
            .as_ref()
            .is_some_and(|(uid_map, _)| uid_map.is_rootless());
        rustix::process::geteuid().is_root() && !rootless
    }
}

fn non_empty_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// The pods directory `config` names, the default one, or none.
pub(crate) fn pods_dir(
    config: &NodeConfig,
    own: &OwnUserns,
) -> Result<Option<PathBuf>, ConfigError> {
    match &config.pods_dir {
        PodsDir::Disabled => return Ok(None),
        PodsDir::At(dir) => return Ok(Some(dir.clone())),
        PodsDir::Default => {}
    }
    if own.is_root() {
        return Ok(Some(PathBuf::from("/var/lib/podns/pods")));
    }
    if let Some(state) = non_empty_env("XDG_STATE_HOME") {
        return Ok(Some(state.join("podns/pods")));
    }
    if let Some(home) = non_empty_env("HOME") {
        return Ok(Some(home.join(".local/state/podns/pods")));
    }
    Err(ConfigError::new(
        "usage",
        "cannot choose a pods directory: not root and neither XDG_STATE_HOME nor HOME is set; \
         pass --pods-dir DIR (NodeConfig::pods_dir)",
    ))
}

/// The run directory `config` names, the default one, or none.
pub(crate) fn run_dir(
    config: &NodeConfig,
    own: &OwnUserns,
) -> Result<Option<PathBuf>, ConfigError> {
    match &config.run_dir {
        RunDir::Disabled => Ok(None),
        RunDir::At(dir) => Ok(Some(dir.clone())),
        RunDir::Default if own.is_root() => Ok(Some(PathBuf::from("/run/podns"))),
        RunDir::Default => match non_empty_env("XDG_RUNTIME_DIR") {
            Some(dir) => Ok(Some(dir.join("podns"))),
            None => Err(ConfigError::new(
                "usage",
                "cannot choose a run directory: not root and XDG_RUNTIME_DIR is not set; pass \
                 --run-dir DIR (NodeConfig::run_dir)",
            )),
        },
    }
}

/// The configured seed, or one from `getrandom(2)`.
pub(crate) fn seed(config: &NodeConfig) -> Result<u64, ConfigError> {
    if let Some(seed) = config.seed {
        return Ok(seed);
    }
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        let read = rustix::io::retry_on_intr(|| {
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())
        });
        match read {
            Ok(count) => filled += count,
            Err(error) => {
                return Err(ConfigError::new(
                    "io",
                    format!("cannot read a seed from getrandom(2): {error}; pass --seed N"),
                ));
            }
        }
    }
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(text: &str) -> OwnUserns {
        let map = IdMap::parse(text).unwrap();
        OwnUserns {
            maps: Some((map.clone(), map)),
        }
    }

    #[test]
    fn the_initial_namespace_gets_kubelets_default_pool() {
        let host = maps("0 0 4294967295");
        for own in [&host, &OwnUserns::default()] {
            let (config, source) = default_pool(ID_BLOCK, None, own).unwrap();
            assert_eq!(config, PoolConfig::default());
            assert_eq!(source, "kubelet's default");
        }
        let (config, _) = default_pool(2 * ID_BLOCK, Some(7), &host).unwrap();
        assert_eq!(config, PoolConfig::kubelet_default(2 * ID_BLOCK, 7));
    }

    #[test]
    fn a_rootless_namespace_gets_the_ids_it_maps_with_room_for_every_slot() {
        let rootless = maps("0 1001 1\n1 1000000 100000\n100001 3000000 1000000");
        let (config, source) = default_pool(ID_BLOCK, None, &rootless).unwrap();
        assert_eq!(
            config,
            PoolConfig {
                first_id: 65536,
                id_count: 15 * 65536,
                ids_per_pod: 65536,
                max_pods: 15,
            }
        );
        assert!(source.contains("1100001 of them"), "{source}");
        config.validate().unwrap();
        // An explicit --max-pods still has to fit.
        let (config, source) = default_pool(ID_BLOCK, Some(110), &rootless).unwrap();
        let error = config.validate().unwrap_err();
        assert!(error.to_string().contains("110"), "{error}{source}");
    }

    #[test]
    fn a_rootless_namespace_with_too_few_ids_is_a_clear_error() {
        let small = maps("0 1001 1\n1 100000 65536");
        let error = default_pool(ID_BLOCK, None, &small).unwrap_err();
        assert_eq!(error.kind, "too-few-ids");
        assert!(
            error.message.contains("maps 65537 IDs"),
            "{}",
            error.message
        );
    }
}
