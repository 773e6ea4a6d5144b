//! Names that may become paths: pod UIDs, single path components, and paths
//! relative to a named root.
//!
//! Every path an effect carries is a [`RootPath`]: a [`Root`] the backend holds
//! as a directory fd plus a [`RelPath`] made only of validated components. There
//! is no way to build one that names `..`, an absolute path or an empty
//! component, so no effect can point outside its root.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest file name Linux accepts (`NAME_MAX`).
pub const MAX_COMPONENT_LEN: usize = 255;

/// Why a string cannot be used as one path component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComponentError {
    /// The string is empty.
    #[error("is empty")]
    Empty,
    /// The string is `.` or `..`.
    #[error("is {0:?}, which names a directory other than itself")]
    DotName(&'static str),
    /// The string contains `/`.
    #[error("contains '/'")]
    Slash,
    /// The string contains a NUL byte.
    #[error("contains a NUL byte")]
    Nul,
    /// The string is longer than [`MAX_COMPONENT_LEN`] bytes.
    #[error("is {0} bytes long; at most 255 are allowed")]
    TooLong(usize),
    /// The name is reserved for podns's own files.
    #[error("starts with \".podns\", which is reserved for podns's own files")]
    Reserved,
}

/// Names starting with this are podns's own (its lock file, for one).
pub const RESERVED_PREFIX: &str = ".podns";

/// Checks that `name` is exactly one safe path component.
pub fn validate_component(name: &str) -> Result<(), ComponentError> {
    if name.is_empty() {
        return Err(ComponentError::Empty);
    }
    if name == "." {
        return Err(ComponentError::DotName("."));
    }
    if name == ".." {
        return Err(ComponentError::DotName(".."));
    }
    if name.contains('/') {
        return Err(ComponentError::Slash);
    }
    if name.contains('\0') {
        return Err(ComponentError::Nul);
    }
    if name.len() > MAX_COMPONENT_LEN {
        return Err(ComponentError::TooLong(name.len()));
    }
    Ok(())
}

/// A pod UID that is safe to use as a directory name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PodUid(String);

/// A string that is not a valid pod UID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid pod UID {shown:?}: it {reason}; a pod UID must be one path component (no '/', not '.' or '..', no NUL, 1 to 255 bytes)"
)]
pub struct InvalidPodUid {
    /// The rejected input, shortened for display.
    pub shown: String,
    /// What is wrong with it.
    pub reason: ComponentError,
}

impl PodUid {
    /// Validates `uid` as one safe path component.
    pub fn new(uid: impl Into<String>) -> Result<Self, InvalidPodUid> {
        let uid = uid.into();
        let checked = validate_component(&uid).and_then(|()| {
            if uid.starts_with(RESERVED_PREFIX) {
                Err(ComponentError::Reserved)
            } else {
                Ok(())
            }
        });
        match checked {
            Ok(()) => Ok(Self(uid)),
            Err(reason) => Err(InvalidPodUid {
                shown: shorten(&uid),
                reason,
            }),
        }
    }

    /// The UID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn shorten(text: &str) -> String {
    const SHOWN: usize = 64;
    if text.len() <= SHOWN {
        return text.to_owned();
    }
    let mut end = SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

impl fmt::Display for PodUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PodUid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PodUid::new(text).map_err(serde::de::Error::custom)
    }
}

/// The directories a backend holds open; every effect path starts at one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Root {
    /// The pods directory: one subdirectory per pod, holding its `userns` file.
    Pods,
    /// The run directory, for state that must not survive a reboot.
    Run,
    /// A volume whose subpaths are bind-mounted into containers. Its contents
    /// belong to the containers that use it and may be hostile.
    Volume,
    /// One pod's directory (kubelet's `<pods>/<pod-uid>`), which holds the
    /// subpath mount points under `volume-subpaths/`.
    PodDir,
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Root::Pods => "pods",
            Root::Run => "run",
            Root::Volume => "volume",
            Root::PodDir => "pod-dir",
        })
    }
}

/// A relative path made of validated components; empty means the root itself.
///
/// Held as one string, the components joined by `/`: recovery builds one path
/// per pod, so a path costs one allocation, not one per component. Paths
/// compare component by component (`a/b` sorts before `a-c`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RelPath(String);

impl RelPath {
    /// The root directory itself.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parses `a/b/c`; every component must pass [`validate_component`].
    pub fn parse(text: &str) -> Result<Self, ComponentError> {
        if text.is_empty() {
            return Ok(Self::root());
        }
        for component in text.split('/') {
            validate_component(component)?;
        }
        Ok(Self(text.to_owned()))
    }

    /// This path with one more component. `name` must already be valid: callers
    /// pass constants or values of validated types.
    pub(crate) fn join(&self, name: &str) -> Self {
        debug_assert_eq!(validate_component(name), Ok(()));
        if self.0.is_empty() {
            return Self(name.to_owned());
        }
        let mut text = String::with_capacity(self.0.len() + 1 + name.len());
        text.push_str(&self.0);
        text.push('/');
        text.push_str(name);
        Self(text)
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> + Clone + '_ {
        // The root is the empty string, which has no component.
        self.0.split_terminator('/')
    }

    /// The first component, or `None` for the root.
    pub fn first_component(&self) -> Option<&str> {
        self.components().next()
    }

    /// How many components the path has; 0 for the root.
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// True when `base` is this path or one of its ancestors, compared
    /// component by component (so `pod-1` is not below `pod`).
    pub fn starts_with(&self, base: &RelPath) -> bool {
        match self.0.strip_prefix(base.0.as_str()) {
            Some(rest) => base.0.is_empty() || rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// The path as `a/b/c`; the empty string for the root.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.components().next_back()
    }

    /// The path without its last component, or `None` for the root.
    pub fn parent(&self) -> Option<RelPath> {
        if self.0.is_empty() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(slash) => Self(self.0[..slash].to_owned()),
            None => Self::root(),
        })
    }

    /// True for the root itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl Ord for RelPath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.components().cmp(other.components())
    }
}

impl PartialOrd for RelPath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        f.write_str(&self.0)
    }
}

impl Serialize for RelPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RelPath::parse(&text).map_err(|reason| {
            serde::de::Error::custom(format!(
                "invalid relative path {text:?}: a component {reason}"
            ))
        })
    }
}

/// How each root is named in messages. The core never knows where a root
/// is; a caller that does (the CLI, a runtime) supplies the real directories so
/// that every message names real paths. Without a label a root shows as its
/// name in angle brackets: `<pods>`, `<run>`, `<volume>` or `<pod-dir>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootLabels(std::collections::BTreeMap<Root, String>);

impl RootLabels {
    /// No labels: every root shows as its name in angle brackets (`<pods>`,
    /// `<run>`, `<volume>`, `<pod-dir>`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Names `root` as `label` (typically its absolute path).
    pub fn with(mut self, root: Root, label: impl Into<String>) -> Self {
        self.0.insert(root, label.into());
        self
    }

    /// `path` as text, starting with its root's label.
    pub fn show(&self, path: &RootPath) -> String {
        let base = match self.0.get(&path.root) {
            Some(label) => label.trim_end_matches('/').to_owned(),
            None => format!("<{}>", path.root),
        };
        if path.path.is_root() {
            return if base.is_empty() {
                "/".to_owned()
            } else {
                base
            };
        }
        format!("{base}/{}", path.path)
    }
}

/// A path below one of the backend's roots.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RootPath {
    /// Which directory fd the path starts at.
    pub root: Root,
    /// The path below it.
    pub path: RelPath,
}

impl RootPath {
    /// The root directory itself.
    pub fn root(root: Root) -> Self {
        Self {
            root,
            path: RelPath::root(),
        }
    }

    /// `<root>/<pod>`.
    pub fn pod_dir(root: Root, pod: &PodUid) -> Self {
        Self {
            root,
            path: RelPath::root().join(pod.as_str()),
        }
    }

    /// `<root>/<pod>/<name>`, built in one allocation; `name` must be a
    /// valid component.
    pub(crate) fn pod_file(root: Root, pod: &PodUid, name: &str) -> Self {
        debug_assert_eq!(validate_component(name), Ok(()));
        let mut text = String::with_capacity(pod.as_str().len() + 1 + name.len());
        text.push_str(pod.as_str());
        text.push('/');
        text.push_str(name);
        Self {
            root,
            path: RelPath(text),
        }
    }

    /// This path with one more component (which must be valid).
    pub(crate) fn join(&self, name: &str) -> Self {
        Self {
            root: self.root,
            path: self.path.join(name),
        }
    }

    /// The directory holding this path, or `None` for a root.
    pub fn parent(&self) -> Option<RootPath> {
        self.path.parent().map(|path| RootPath {
            root: self.root,
            path,
        })
    }

    /// The last component, or `None` for a root.
    pub fn file_name(&self) -> Option<&str> {
        self.path.file_name()
    }
}

impl fmt::Display for RootPath {
    /// The path with its root unlabelled (`<pods>/a/b`); see [`RootLabels`]
    /// for real directory names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&RootLabels::new().show(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_uid_rejects_every_unsafe_shape() {
        assert_eq!(PodUid::new("").unwrap_err().reason, ComponentError::Empty);
        assert_eq!(
            PodUid::new(".").unwrap_err().reason,
            ComponentError::DotName(".")
        );
        assert_eq!(
            PodUid::new("..").unwrap_err().reason,
            ComponentError::DotName("..")
        );
        assert_eq!(
            PodUid::new("a/b").unwrap_err().reason,
            ComponentError::Slash
        );
        assert_eq!(PodUid::new("a\0b").unwrap_err().reason, ComponentError::Nul);
        assert_eq!(
            PodUid::new("x".repeat(256)).unwrap_err().reason,
            ComponentError::TooLong(256)
        );
        assert!(PodUid::new("x".repeat(255)).is_ok());
        assert!(PodUid::new("6f1c1b9e-6a0e-4c1a-9d1e-0d6e8f1f2a3b").is_ok());
        assert!(PodUid::new("...").is_ok());
        assert_eq!(
            PodUid::new(".podns.lock").unwrap_err().reason,
            ComponentError::Reserved
        );
    }

    #[test]
    fn long_invalid_uids_are_shortened_in_messages() {
        let error = PodUid::new(format!("{}/", "é".repeat(5000))).unwrap_err();
        assert!(error.to_string().len() < 400, "{error}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn an_accepted_pod_uid_is_always_one_safe_component(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Ok(pod) = PodUid::new(text.clone()) {
                let name = pod.as_str();
                proptest::prop_assert!(!name.is_empty() && name.len() <= MAX_COMPONENT_LEN);
                proptest::prop_assert!(!name.contains('/') && !name.contains('\0'));
                proptest::prop_assert!(name != "." && name != "..");
            }
            if let Ok(path) = RelPath::parse(&text) {
                for component in path.components() {
                    proptest::prop_assert!(validate_component(component).is_ok());
                }
            }
        }

        #[test]
        fn hostile_shapes_are_refused(prefix in "[a-z]{0,5}", suffix in "[a-z]{0,5}") {
            for hostile in [format!("{prefix}/{suffix}"), format!("{prefix}\0{suffix}")] {
                proptest::prop_assert!(PodUid::new(hostile).is_err());
            }
        }
    }

    #[test]
    fn rel_paths_compare_and_split_by_component() {
        let path = |text: &str| RelPath::parse(text).unwrap();
        // '/' sorts after '-' as a byte, but a/b is inside a: it comes first.
        assert!(path("a/b") < path("a-c"));
        assert!(path("") < path("a"));
        assert!(path("a") < path("a/b"));
        assert_eq!(path("a/b/c").depth(), 3);
        assert_eq!(RelPath::root().depth(), 0);
        assert_eq!(RelPath::root().components().count(), 0);
        assert_eq!(path("a/b/c").parent(), Some(path("a/b")));
        assert_eq!(path("a").parent(), Some(RelPath::root()));
        assert_eq!(RelPath::root().parent(), None);
        assert_eq!(path("a/b/c").file_name(), Some("c"));
        assert_eq!(path("a/b/c").first_component(), Some("a"));
        assert_eq!(RelPath::root().join("x").join("y"), path("x/y"));
        assert!(path("pod/x").starts_with(&path("pod")));
        assert!(path("pod").starts_with(&path("pod")));
        assert!(path("pod").starts_with(&RelPath::root()));
        assert!(!path("pod-1").starts_with(&path("pod")));
        assert!(!path("pod").starts_with(&path("pod/x")));
    }

    #[test]
    fn rel_path_deserialization_refuses_escapes() {
        for bad in ["\"../x\"", "\"/etc\"", "\"a//b\"", "\"a/./b\""] {
            assert!(serde_json::from_str::<RelPath>(bad).is_err(), "{bad}");
        }
        let good: RelPath = serde_json::from_str("\"pod/userns\"").unwrap();
        assert_eq!(good.components().collect::<Vec<_>>(), ["pod", "userns"]);
    }
}
