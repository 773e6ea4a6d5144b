//! The pool against the one kubelet would use: the kubelet user's single
//! subordinate range in `/etc/subuid` and `/etc/subgid` (identical, aligned,
//! large enough for max pods), `getsubids` where the files have none, and
//! the block holding the invalid ID 4294967295.

use podns_core::{Pool, SubidPoolError};

use super::{Finding, Severity};
use crate::config::{SubidFiles, find_program, owner_keys, range_in_files};

/// The user kubelet takes its range from.
const KUBELET_USER: &str = "kubelet";

/// Findings about `pool` (which came from `origin`), reading the subid
/// files `files` names.
pub(super) fn findings(pool: &Pool, origin: &str, files: &SubidFiles) -> Vec<Finding> {
    let mut findings = kubelet_range(pool, origin, files);
    let last = pool.slot_count().saturating_sub(1);
    if pool.slot_count() > 0 && pool.is_excluded(last) {
        findings.push(Finding::about(
            Severity::Info,
            "pool",
            "terminal-block",
            None,
            "the pool's last block holds host ID 4294967295, the kernel's invalid ID: podns \
             never hands it out (kubelet does, and that pod fails to start), and its capacity \
             does not count it",
        ));
    }
    findings
}

fn kubelet_range(pool: &Pool, origin: &str, files: &SubidFiles) -> Vec<Finding> {
    let finding = |severity, kind, message: String| {
        Finding::about(
            severity,
            "pool",
            kind,
            Some(files.subuid.display().to_string()),
            message,
        )
    };
    let (name, uid) = owner_keys(KUBELET_USER, &files.passwd);
    let read = |path: &std::path::Path| std::fs::read(path).unwrap_or_default();
    let range = range_in_files(
        files,
        &read(&files.subuid),
        &read(&files.subgid),
        &name,
        uid,
    );
    let (subuid_name, subgid_name) = (
        files.subuid.display().to_string(),
        files.subgid.display().to_string(),
    );
    let config = pool.config();
    match range {
        Ok(range) => {
            let kubelet = range.pool_config(config.ids_per_pod, config.max_pods);
            match kubelet.validate() {
                Err(error) => vec![finding(
                    Severity::Error,
                    "kubelet-range-unusable",
                    format!(
                        "the kubelet user's subordinate range ({} IDs from {}) cannot be a \
                         pool: {error}; kubelet refuses to start with it: give it a range of \
                         at least max pods x ids per pod, aligned to ids per pod",
                        range.id_count, range.first_id
                    ),
                )],
                Ok(kubelet) if kubelet.config() != config => vec![finding(
                    Severity::Warning,
                    "pool-differs-from-kubelet",
                    format!(
                        "kubelet takes its pool from the kubelet user's range ({} IDs from {}), \
                         but this check used {origin} ({} IDs from {}): pods kubelet allocated \
                         look out of pool here; check with --subuid-user kubelet",
                        range.id_count, range.first_id, config.id_count, config.first_id
                    ),
                )],
                Ok(_) => Vec::new(),
            }
        }
        Err(SubidPoolError::NoRange { .. }) => {
            let has_getsubids = files.getsubids.as_deref().and_then(find_program).is_some();
            match (uid, has_getsubids) {
                // A kubelet user without a range in the files: if a name
                // service has one, only getsubids can see it.
                (Some(_), false) => vec![finding(
                    Severity::Warning,
                    "no-getsubids",
                    format!(
                        "{subuid_name} has no range for the kubelet user and getsubids is not \
                         installed: if its range comes from a name service (sssd, LDAP), \
                         kubelet cannot see it and silently uses its default pool; install \
                         shadow-utils' getsubids (Debian: uidmap) or add the range to \
                         {subuid_name} and {subgid_name}"
                    ),
                )],
                _ => Vec::new(),
            }
        }
        Err(error) => vec![finding(
            Severity::Error,
            "kubelet-subids-invalid",
            format!(
                "{error}; kubelet refuses to start with these subordinate IDs until they are \
                 fixed"
            ),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podns_core::PoolConfig;

    fn files(dir: &std::path::Path, subuid: &str, subgid: &str, passwd: &str) -> SubidFiles {
        std::fs::write(dir.join("subuid"), subuid).unwrap();
        std::fs::write(dir.join("subgid"), subgid).unwrap();
        std::fs::write(dir.join("passwd"), passwd).unwrap();
        SubidFiles {
            getsubids: None,
            subuid: dir.join("subuid"),
            subgid: dir.join("subgid"),
            passwd: dir.join("passwd"),
        }
    }

    fn kinds(pool: &Pool, files: &SubidFiles) -> Vec<&'static str> {
        findings(pool, "an explicit range", files)
            .iter()
            .map(|finding| finding.kind)
            .collect()
    }

    const KUBELET: &str = "kubelet:x:999:999::/var/lib/kubelet:/usr/sbin/nologin\n";

    #[test]
    fn the_kubelet_users_range_is_checked_against_the_pool() {
        let dir = tempfile::TempDir::new().unwrap();
        let pool = PoolConfig {
            first_id: 65536,
            id_count: 65536 * 10,
            ids_per_pod: 65536,
            max_pods: 10,
        }
        .validate()
        .unwrap();
        let same = "kubelet:65536:655360\n";
        assert!(kinds(&pool, &files(dir.path(), same, same, KUBELET)).is_empty());
        let other = "kubelet:1310720:655360\n";
        assert_eq!(
            kinds(&pool, &files(dir.path(), other, other, KUBELET)),
            ["pool-differs-from-kubelet"]
        );
        assert_eq!(
            kinds(&pool, &files(dir.path(), same, other, KUBELET)),
            ["kubelet-subids-invalid"]
        );
        let small = "kubelet:65536:65536\n";
        assert_eq!(
            kinds(&pool, &files(dir.path(), small, small, KUBELET)),
            ["kubelet-range-unusable"]
        );
        // No range in the files: without getsubids, a name service's range
        // would be silently ignored, but only for an existing kubelet user.
        assert_eq!(
            kinds(&pool, &files(dir.path(), "", "", KUBELET)),
            ["no-getsubids"]
        );
        assert!(kinds(&pool, &files(dir.path(), "", "", "")).is_empty());
    }

    #[test]
    fn the_block_of_the_invalid_id_is_noted() {
        let dir = tempfile::TempDir::new().unwrap();
        let pool = PoolConfig::default().validate().unwrap();
        assert_eq!(
            kinds(&pool, &files(dir.path(), "", "", "")),
            ["terminal-block"]
        );
    }
}
