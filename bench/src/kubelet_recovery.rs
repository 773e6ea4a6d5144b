//! kubelet's recovery path of user-namespace ranges, rebuilt for a
//! side-by-side comparison in the same run: list the pods directory and keep
//! its directories, then for each pod stat its directory (the file store
//! checks it exists), read the whole `userns` file (open, fstat, read until
//! end of file, close), parse it as JSON into owned mappings, check it, and
//! record the range in a bitmap and a map from pod UID to its first ID.
//!
//! It does less than podns's recovery (no temp-file cleanup, no sync, no
//! conflict report), so the comparison flatters it.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use serde::Deserialize;

/// IDs per pod in kubelet's manager.
const IDS_PER_POD: u32 = 65536;

#[derive(Debug, Deserialize)]
struct IdMappingEntry {
    #[serde(rename = "hostId")]
    host_id: u32,
    #[serde(rename = "containerId")]
    container_id: u32,
    length: u32,
}

#[derive(Debug, Deserialize)]
struct UserNamespaceFile {
    #[serde(rename = "uidMappings")]
    uid_mappings: Vec<IdMappingEntry>,
    #[serde(rename = "gidMappings")]
    gid_mappings: Vec<IdMappingEntry>,
}

/// What the reconstruction recovered.
#[derive(Debug)]
pub struct KubeletRecovery {
    slots: u32,
    used: Vec<u64>,
    used_by: HashMap<String, u32>,
}

/// Recovers `pods_dir` as kubelet does, over a pool of `slots` ranges of
/// 65,536 IDs starting at host ID 65,536 (kubelet's default).
pub fn recover(pods_dir: &Path, slots: u32) -> io::Result<KubeletRecovery> {
    let mut recovery = KubeletRecovery {
        slots,
        used: vec![0; (slots as usize).div_ceil(64)],
        used_by: HashMap::new(),
    };
    // ListPodsFromDisk: the directories of the pods directory.
    let mut pods = Vec::new();
    for entry in std::fs::read_dir(pods_dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            pods.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    for pod in pods {
        let dir = pods_dir.join(&pod);
        // NewFileStore: the directory must exist.
        std::fs::metadata(&dir)?;
        let content = match std::fs::read(dir.join("userns")) {
            Ok(content) => content,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        if content.is_empty() {
            continue;
        }
        let file: UserNamespaceFile = serde_json::from_slice(&content)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        recovery.record(pod, &file)?;
    }
    Ok(recovery)
}

impl KubeletRecovery {
    /// Pods whose range was recorded.
    pub fn recorded(&self) -> usize {
        self.used_by.len()
    }

    fn record(&mut self, pod: String, file: &UserNamespaceFile) -> io::Result<()> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let (uid, gid) = match (&file.uid_mappings[..], &file.gid_mappings[..]) {
            ([uid], [gid]) => (uid, gid),
            _ => return Err(invalid("exactly one mapping each")),
        };
        if (uid.host_id, uid.container_id, uid.length)
            != (gid.host_id, gid.container_id, gid.length)
            || uid.container_id != 0
        {
            return Err(invalid("identical mappings from ID 0"));
        }
        if uid.length != IDS_PER_POD || uid.host_id % IDS_PER_POD != 0 {
            return Err(invalid("a whole aligned range"));
        }
        let index = uid.host_id / IDS_PER_POD - 1;
        if index >= self.slots {
            return Err(invalid("a range in the pool"));
        }
        let (word, bit) = ((index / 64) as usize, index % 64);
        if self.used[word] & (1 << bit) != 0 {
            return Err(invalid("a range nobody else holds"));
        }
        self.used[word] |= 1 << bit;
        self.used_by.insert(pod, uid.host_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::populate_pods_dir;

    #[test]
    fn it_recovers_every_pod_of_a_populated_directory() {
        let dir = tempfile::tempdir().unwrap();
        populate_pods_dir(dir.path(), 100).unwrap();
        std::fs::create_dir(dir.path().join("no-userns")).unwrap();
        let recovery = recover(dir.path(), 65535).unwrap();
        assert_eq!(recovery.recorded(), 100);
        assert_eq!(
            recovery.used.iter().map(|w| w.count_ones()).sum::<u32>(),
            100
        );
    }

    #[test]
    fn it_refuses_two_pods_with_one_range() {
        let dir = tempfile::tempdir().unwrap();
        populate_pods_dir(dir.path(), 2).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        std::fs::copy(names[0].join("userns"), names[1].join("userns")).unwrap();
        assert!(recover(dir.path(), 65535).is_err());
    }
}
