//! The names in a subpath mount point:
//! `<pod-dir>/volume-subpaths/<volume>/<container>/<index>`.

use std::fmt;

use crate::path::{ComponentError, PodUid, RelPath, Root, RootPath};

/// The directory below a pod directory that holds every subpath mount point
/// (kubelet's name, so that kubelet and podns clean up each other's mounts).
pub const VOLUME_SUBPATHS_DIR: &str = "volume-subpaths";

/// Which name of a mount point was invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubpathNameField {
    /// The volume's name.
    Volume,
    /// The container's name.
    Container,
    /// The volume mount's index in the container.
    Index,
}

impl fmt::Display for SubpathNameField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubpathNameField::Volume => "volume name",
            SubpathNameField::Container => "container name",
            SubpathNameField::Index => "index",
        })
    }
}

/// A volume, container or index name that cannot be a directory name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {field} {shown:?}: it {reason}; it must be one path component (no '/', not '.' \
     or '..', no NUL, 1 to 255 bytes, not starting with \".podns\"), like a pod UID"
)]
pub struct InvalidSubpathName {
    /// Which name.
    pub field: SubpathNameField,
    /// The rejected input, shortened for display.
    pub shown: String,
    /// What is wrong with it.
    pub reason: ComponentError,
}

/// One validated component of a mount point's path, checked exactly like a
/// pod UID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubpathName(String);

impl SubpathName {
    /// Validates `text` as the `field` of a mount point.
    pub fn new(field: SubpathNameField, text: &str) -> Result<Self, InvalidSubpathName> {
        PodUid::new(text)
            .map(|valid| Self(valid.as_str().to_owned()))
            .map_err(|invalid| InvalidSubpathName {
                field,
                shown: invalid.shown,
                reason: invalid.reason,
            })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubpathName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `volume-subpaths/<volume>` below [`Root::PodDir`]: everything a clean of
/// that volume may touch.
pub fn volume_subpaths_dir(volume: &SubpathName) -> RootPath {
    RootPath::root(Root::PodDir)
        .join(VOLUME_SUBPATHS_DIR)
        .join(volume.as_str())
}

/// Where one subpath of one container is mounted:
/// `volume-subpaths/<volume>/<container>/<index>` below [`Root::PodDir`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubpathTarget {
    volume: SubpathName,
    container: SubpathName,
    index: SubpathName,
}

impl SubpathTarget {
    /// Validates the three names.
    pub fn new(volume: &str, container: &str, index: &str) -> Result<Self, InvalidSubpathName> {
        Ok(Self {
            volume: SubpathName::new(SubpathNameField::Volume, volume)?,
            container: SubpathName::new(SubpathNameField::Container, container)?,
            index: SubpathName::new(SubpathNameField::Index, index)?,
        })
    }

    /// The volume's name.
    pub fn volume(&self) -> &SubpathName {
        &self.volume
    }

    /// `volume-subpaths/<volume>/<container>`.
    pub fn container_dir(&self) -> RootPath {
        volume_subpaths_dir(&self.volume).join(self.container.as_str())
    }

    /// The mount point.
    pub fn path(&self) -> RootPath {
        self.container_dir().join(self.index.as_str())
    }

    /// The mount point relative to the pod directory.
    pub fn rel_path(&self) -> RelPath {
        self.path().path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_kubelets_layout() {
        let target = SubpathTarget::new("data", "app", "0").unwrap();
        assert_eq!(
            target.path().to_string(),
            "<pod-dir>/volume-subpaths/data/app/0"
        );
        assert_eq!(
            target.container_dir().to_string(),
            "<pod-dir>/volume-subpaths/data/app"
        );
    }

    #[test]
    fn every_name_is_checked_like_a_pod_uid() {
        for (volume, container, index, field) in [
            ("..", "app", "0", SubpathNameField::Volume),
            ("data", "a/b", "0", SubpathNameField::Container),
            ("data", "app", "", SubpathNameField::Index),
            ("data", "app", ".podns-x", SubpathNameField::Index),
        ] {
            let error = SubpathTarget::new(volume, container, index).unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.to_string().contains(&field.to_string()), "{error}");
        }
    }
}
