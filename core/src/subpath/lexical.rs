//! Lexical path checks: pure string logic, no file system.
//!
//! They come before any effect, so that a subpath written to escape with `..`
//! is refused as bad input, and so that the mount table (absolute path
//! strings) can be matched against the pod directory without ever acting on
//! a mount outside it. They are not what makes a mount safe, since a symlink
//! can still lead anywhere at run time: the backend's resolution below a
//! directory fd does that.

use std::fmt;

use crate::path::{ComponentError, RelPath, validate_component};

/// Why a subpath was refused before anything was looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubpathProblem {
    /// The text is empty.
    #[error("is empty; name a file or directory inside the volume")]
    Empty,
    /// The text starts with `/`.
    #[error("is absolute; give it relative to the volume's root")]
    Absolute,
    /// `..` climbs above the volume's root.
    #[error("climbs out of the volume with '..'")]
    Escapes,
    /// A component is not a valid file name.
    #[error("has a component that {0}")]
    Component(ComponentError),
}

/// A subpath that is not a path inside the volume.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid subpath {shown:?}: it {problem}")]
pub struct InvalidSubpath {
    /// The rejected input.
    pub shown: String,
    /// What is wrong with it.
    pub problem: SubpathProblem,
}

/// Cleans `text` lexically (`.` and empty components dropped, `..` removing
/// the component before it) and refuses it when it is absolute or climbs
/// above the volume's root. `a/../b` gives `b`; `a/..` gives the root.
pub fn parse_subpath(text: &str) -> Result<RelPath, InvalidSubpath> {
    let invalid = |problem| InvalidSubpath {
        shown: text.to_owned(),
        problem,
    };
    if text.is_empty() {
        return Err(invalid(SubpathProblem::Empty));
    }
    if text.starts_with('/') {
        return Err(invalid(SubpathProblem::Absolute));
    }
    let mut kept: Vec<&str> = Vec::new();
    for component in text.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if kept.pop().is_none() {
                    return Err(invalid(SubpathProblem::Escapes));
                }
            }
            name => {
                validate_component(name).map_err(|e| invalid(SubpathProblem::Component(e)))?;
                kept.push(name);
            }
        }
    }
    // Every kept component was validated above.
    Ok(kept
        .into_iter()
        .fold(RelPath::root(), |path, name| path.join(name)))
}

/// Why a directory cannot be matched against the mount table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid directory {shown:?}: it {problem}; pass the absolute path without '.', '..' or \
     repeated '/' (as realpath(1) prints it)"
)]
pub struct InvalidHostDir {
    /// The rejected input.
    pub shown: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// An absolute directory path, lexically clean, as `/proc/self/mountinfo`
/// spells mount points: how the core recognises the mounts below a root it
/// otherwise only knows as a directory fd.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostDir {
    components: Vec<String>,
}

impl HostDir {
    /// Checks that `text` is absolute and has no empty, `.` or `..`
    /// component (a trailing `/` is allowed). Symlinks cannot be checked
    /// here: the caller passes the real path.
    pub fn parse(text: &str) -> Result<Self, InvalidHostDir> {
        let invalid = |problem| InvalidHostDir {
            shown: text.to_owned(),
            problem,
        };
        let Some(rest) = text.strip_prefix('/') else {
            return Err(invalid("is not absolute"));
        };
        if text.contains('\0') {
            return Err(invalid("contains a NUL byte"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(Self {
                components: Vec::new(),
            });
        }
        let mut components = Vec::new();
        for component in rest.split('/') {
            match component {
                "" => return Err(invalid("has an empty component")),
                "." | ".." => return Err(invalid("has a '.' or '..' component")),
                name => components.push(name.to_owned()),
            }
        }
        Ok(Self { components })
    }

    /// The absolute path of `rel` below this directory.
    pub fn join(&self, rel: &RelPath) -> String {
        let mut text = String::new();
        for component in self
            .components
            .iter()
            .map(String::as_str)
            .chain(rel.components())
        {
            text.push('/');
            text.push_str(component);
        }
        if text.is_empty() {
            text.push('/');
        }
        text
    }

    /// `path` relative to this directory, when it is this directory or below
    /// it, compared component by component (so `/pod-1` is not below `/pod`).
    /// `None` for anything else, including a path whose remaining components
    /// are not valid file names.
    pub fn relative(&self, path: &str) -> Option<RelPath> {
        let rest = path.strip_prefix('/')?;
        let mut components = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        if components.len() < self.components.len()
            || components
                .iter()
                .zip(&self.components)
                .any(|(found, own)| found != own)
        {
            return None;
        }
        let below = components.split_off(self.components.len());
        RelPath::parse(&below.join("/")).ok()
    }
}

impl fmt::Display for HostDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join(&RelPath::root()))
    }
}

/// True when `path` is `base` or below it, component by component.
pub(crate) fn is_within(path: &RelPath, base: &RelPath) -> bool {
    path.starts_with(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(text: &str) -> String {
        parse_subpath(text).unwrap().to_string()
    }

    fn problem(text: &str) -> SubpathProblem {
        parse_subpath(text).unwrap_err().problem
    }

    #[test]
    fn subpaths_are_cleaned_lexically() {
        assert_eq!(clean("a/b"), "a/b");
        assert_eq!(clean("./a//b/"), "a/b");
        assert_eq!(clean("a/../b"), "b");
        assert_eq!(clean("a/b/../../c"), "c");
        assert_eq!(clean("a/.."), ".");
        assert_eq!(clean("..."), "...");
    }

    #[test]
    fn escapes_and_absolute_paths_are_refused() {
        assert_eq!(problem(".."), SubpathProblem::Escapes);
        assert_eq!(problem("../x"), SubpathProblem::Escapes);
        assert_eq!(problem("a/../../x"), SubpathProblem::Escapes);
        assert_eq!(problem("a/../.."), SubpathProblem::Escapes);
        assert_eq!(problem("/etc"), SubpathProblem::Absolute);
        assert_eq!(problem(""), SubpathProblem::Empty);
        assert_eq!(
            problem("a/b\0c"),
            SubpathProblem::Component(ComponentError::Nul)
        );
        let long = "x".repeat(256);
        assert_eq!(
            problem(&long),
            SubpathProblem::Component(ComponentError::TooLong(256))
        );
    }

    #[test]
    fn host_dirs_must_be_absolute_and_clean() {
        assert_eq!(HostDir::parse("/").unwrap().to_string(), "/");
        assert_eq!(HostDir::parse("/a/b/").unwrap().to_string(), "/a/b");
        for bad in ["a/b", "", "/a//b", "/a/./b", "/a/../b", "/a/\0"] {
            assert!(HostDir::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn relative_compares_whole_components() {
        let pod = HostDir::parse("/var/lib/kubelet/pods/p1").unwrap();
        let rel = |text: &str| pod.relative(text).map(|path| path.to_string());
        assert_eq!(rel("/var/lib/kubelet/pods/p1").as_deref(), Some("."));
        assert_eq!(
            rel("/var/lib/kubelet/pods/p1/volume-subpaths/v/c/0").as_deref(),
            Some("volume-subpaths/v/c/0")
        );
        assert_eq!(rel("/var/lib/kubelet/pods/p10/volume-subpaths"), None);
        assert_eq!(rel("/var/lib/kubelet/pods"), None);
        assert_eq!(rel("/"), None);
        assert_eq!(rel("relative/p1"), None);
        // The mount table never has these, but a hostile name must not
        // become a path that climbs out.
        assert_eq!(rel("/var/lib/kubelet/pods/p1/../x"), None);
        assert_eq!(rel("/var/lib/kubelet/pods/p1//x"), None);
        let root = HostDir::parse("/").unwrap();
        assert_eq!(
            root.relative("/a").map(|p| p.to_string()).as_deref(),
            Some("a")
        );
        assert_eq!(root.join(&RelPath::parse("a/b").unwrap()), "/a/b");
    }

    #[test]
    fn within_is_component_wise() {
        let base = RelPath::parse("volume-subpaths/v").unwrap();
        assert!(is_within(
            &RelPath::parse("volume-subpaths/v/c/0").unwrap(),
            &base
        ));
        assert!(is_within(&base, &base));
        assert!(!is_within(
            &RelPath::parse("volume-subpaths/v2/c").unwrap(),
            &base
        ));
        assert!(!is_within(
            &RelPath::parse("volume-subpaths").unwrap(),
            &base
        ));
    }
}
