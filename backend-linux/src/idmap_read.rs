//! Reading ID maps: `/proc/<pid>/uid_map` and `gid_map` (this process's or
//! another's), or any file holding one, parsed strictly by the core.

use std::fmt;
use std::path::{Path, PathBuf};

use podns_core::{Errno, IdMap, IdMapError};
use rustix::fs::{Mode, OFlags};

use crate::error::errno;
use crate::read::read_at_most;

/// Larger files are refused: an ID map of 340 extents, as the kernel prints
/// it, is 340 × 33 = 11220 bytes.
pub const MAX_ID_MAP_FILE_LEN: usize = 64 * 1024;

/// Which of a user namespace's two ID maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IdMapKind {
    /// `uid_map`.
    Uid,
    /// `gid_map`.
    Gid,
}

impl IdMapKind {
    /// The file name under `/proc/<pid>/`.
    pub fn file_name(self) -> &'static str {
        match self {
            IdMapKind::Uid => "uid_map",
            IdMapKind::Gid => "gid_map",
        }
    }

    /// `"UID"` or `"GID"`, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            IdMapKind::Uid => "UID",
            IdMapKind::Gid => "GID",
        }
    }
}

impl fmt::Display for IdMapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an ID map could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdMapReadError {
    /// `open(2)` failed.
    #[error("cannot open {}: {errno}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What `open(2)` returned.
        errno: Errno,
    },
    /// `read(2)` failed.
    #[error("cannot read {}: {errno}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What `read(2)` returned.
        errno: Errno,
    },
    /// The file is larger than any ID map.
    #[error(
        "{} is larger than {limit} bytes, far more than an ID map of 340 extents; it is not an ID map",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// [`MAX_ID_MAP_FILE_LEN`].
        limit: usize,
    },
    /// The contents are not a valid ID map.
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The first bad line and what is wrong with it.
        source: IdMapError,
    },
}

impl IdMapReadError {
    /// True when the file was read but its contents are not a valid map (bad
    /// input), as opposed to an I/O failure.
    pub fn is_parse_error(&self) -> bool {
        matches!(self, IdMapReadError::Parse { .. })
    }
}

/// `/proc/self/<uid_map|gid_map>`, or `/proc/<pid>/...` for `Some(pid)`.
pub fn proc_id_map_path(pid: Option<u32>, kind: IdMapKind) -> PathBuf {
    match pid {
        Some(pid) => PathBuf::from(format!("/proc/{pid}/{}", kind.file_name())),
        None => PathBuf::from(format!("/proc/self/{}", kind.file_name())),
    }
}

/// This process's own map, from `/proc/self/uid_map` or `gid_map`: the IDs
/// of its user namespace (inside) and of the parent namespace (outside).
pub fn read_own_id_map(kind: IdMapKind) -> Result<IdMap, IdMapReadError> {
    read_id_map(&proc_id_map_path(None, kind))
}

/// The map of process `pid`, from `/proc/<pid>/uid_map` or `gid_map`. The
/// outside IDs are relative to the reader's user namespace (or to the parent
/// namespace, when the reader is in the target's namespace).
pub fn read_process_id_map(pid: u32, kind: IdMapKind) -> Result<IdMap, IdMapReadError> {
    read_id_map(&proc_id_map_path(Some(pid), kind))
}

/// Reads the ID map in `path` (at most [`MAX_ID_MAP_FILE_LEN`] bytes) and
/// parses it strictly, in the kernel's padded format or the written one.
pub fn read_id_map(path: &Path) -> Result<IdMap, IdMapReadError> {
    let bytes = read_bounded(path)?;
    IdMap::parse_bytes(&bytes).map_err(|source| IdMapReadError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// The contents of `path`, refused when longer than [`MAX_ID_MAP_FILE_LEN`].
/// Reads until end of file, as `/proc` files report no size.
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, IdMapReadError> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(
        |error| IdMapReadError::Open {
            path: path.to_owned(),
            errno: errno(error),
        },
    )?;
    let read =
        read_at_most(&fd, MAX_ID_MAP_FILE_LEN as u64, 0).map_err(|error| IdMapReadError::Read {
            path: path.to_owned(),
            errno: errno(error),
        })?;
    read.ok_or_else(|| IdMapReadError::TooLarge {
        path: path.to_owned(),
        limit: MAX_ID_MAP_FILE_LEN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_processs_own_maps() {
        for kind in [IdMapKind::Uid, IdMapKind::Gid] {
            let map = read_own_id_map(kind).unwrap();
            assert!(!map.is_empty(), "a running process has a {kind} map");
        }
    }

    #[test]
    fn errors_name_the_file() {
        let missing = Path::new("/proc/self/no_such_map");
        let error = read_id_map(missing).unwrap_err();
        assert!(matches!(error, IdMapReadError::Open { .. }));
        assert!(
            error
                .to_string()
                .starts_with("cannot open /proc/self/no_such_map: ENOENT"),
            "{error}"
        );
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"0 0 1\n0 1 1\n").unwrap();
        let error = read_id_map(file.path()).unwrap_err();
        assert!(error.is_parse_error());
        assert_eq!(
            error.to_string(),
            format!(
                "{}: line 2: inside IDs 0-0 overlap inside IDs 0-0 of line 1; inside ranges must be disjoint",
                file.path().display()
            )
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            proc_id_map_path(Some(42), IdMapKind::Gid),
            Path::new("/proc/42/gid_map")
        );
        assert_eq!(
            proc_id_map_path(None, IdMapKind::Uid),
            Path::new("/proc/self/uid_map")
        );
    }
}
