//! What the kernel and the file systems under a node's directories allow:
//! user namespaces (and the distribution switches that restrict them),
//! `pidfd`, `openat2`, `O_TMPFILE` and idmapped mounts. Every check reads
//! or probes without creating anything; each probe's result is judged by a
//! function of its own, so that what this kernel does not show is tested
//! too.

use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::process::PidfdFlags;

use super::{Finding, Severity};
use crate::fs_type::{file_system_name, supports_tmpfile_and_idmap};

const LIMIT: &str = "/proc/sys/user/max_user_namespaces";
/// Debian's and older Ubuntu's switch for unprivileged user namespaces.
const CLONE_SWITCH: &str = "/proc/sys/kernel/unprivileged_userns_clone";
/// Ubuntu 23.10's AppArmor restriction of unprivileged user namespaces.
const APPARMOR_SWITCH: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

/// Whether user namespaces can be made at all, whether this process may
/// make them (`root`: root of the initial namespace, or of one whose root is
/// the parent's; root of a rootless namespace is not), and whether pod
/// namespace helpers can be reaped safely.
pub(super) fn kernel_findings(root: bool) -> Vec<Finding> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let mut findings: Vec<Finding> = userns_limit(std::fs::read_to_string(LIMIT))
        .into_iter()
        .collect();
    findings.extend(switches(read(CLONE_SWITCH), read(APPARMOR_SWITCH), root));
    // A pidfd of this process itself: opened and closed, nothing else.
    let pidfd = rustix::process::pidfd_open(rustix::process::getpid(), PidfdFlags::empty());
    findings.extend(pidfd_finding(pidfd.map(drop)));
    findings
}

fn kernel(severity: Severity, kind: &'static str, path: &str, message: String) -> Finding {
    Finding::about(severity, "kernel", kind, Some(path.to_owned()), message)
}

/// `user.max_user_namespaces`, as read.
fn userns_limit(read: std::io::Result<String>) -> Option<Finding> {
    match read.map(|text| text.trim().parse::<u64>()) {
        Ok(Ok(0)) => Some(kernel(
            Severity::Error,
            "userns-disabled",
            LIMIT,
            "user namespaces are disabled (user.max_user_namespaces = 0), so no pod can have \
             one; set the sysctl to a positive value (e.g. sysctl -w \
             user.max_user_namespaces=63000)"
                .to_owned(),
        )),
        Ok(Ok(_)) => None,
        Ok(Err(error)) => Some(kernel(
            Severity::Warning,
            "userns-limit-unknown",
            LIMIT,
            format!("cannot parse the user namespace limit ({error}); check the kernel"),
        )),
        Err(error) => Some(kernel(
            Severity::Warning,
            "userns-limit-unknown",
            LIMIT,
            format!(
                "cannot read the user namespace limit ({error}); this kernel may lack user \
                 namespaces (CONFIG_USER_NS), or /proc is not mounted"
            ),
        )),
    }
}

/// The distribution switches, where they exist: they stop a process that
/// is not root (rootless podns) from making user namespaces; root is not
/// affected.
fn switches(clone: Option<String>, apparmor: Option<String>, root: bool) -> Vec<Finding> {
    let severity = if root {
        Severity::Info
    } else {
        Severity::Warning
    };
    let who = if root {
        "podns runs as root, which this does not restrict, but a rootless podns"
    } else {
        "this process is not root, so it"
    };
    let mut findings = Vec::new();
    if clone.as_deref().map(str::trim) == Some("0") {
        findings.push(kernel(
            severity,
            "unprivileged-userns-off",
            CLONE_SWITCH,
            format!(
                "unprivileged user namespaces are switched off (kernel.unprivileged_userns_clone \
                 = 0): {who} cannot make a user namespace; sysctl -w \
                 kernel.unprivileged_userns_clone=1 allows it"
            ),
        ));
    }
    if apparmor.as_deref().map(str::trim) == Some("1") {
        findings.push(kernel(
            severity,
            "apparmor-restricts-userns",
            APPARMOR_SWITCH,
            format!(
                "AppArmor restricts unprivileged user namespaces \
                 (kernel.apparmor_restrict_unprivileged_userns = 1): {who} gets one without \
                 capabilities unless an AppArmor profile allows it (userns,)"
            ),
        ));
    }
    findings
}

/// `pidfd_open` of this process.
fn pidfd_finding(probe: rustix::io::Result<()>) -> Option<Finding> {
    match probe {
        Err(rustix::io::Errno::NOSYS) => Some(Finding::about(
            Severity::Error,
            "kernel",
            "no-pidfd",
            None,
            "this kernel has no pidfd_open (Linux 5.3), which podns ns create needs to reap its \
             helper without the risk of signalling a recycled PID; upgrade the kernel",
        )),
        _ => None,
    }
}

/// The file system under a node directory (held open as `fd`), and whether
/// paths below it resolve with `openat2`. `area` and `what` name the
/// directory: `pods` / "pods directory", `run` / "run directory".
pub(super) fn directory_findings(area: &'static str, what: &str, fd: impl AsFd) -> Vec<Finding> {
    let fd = fd.as_fd();
    let mut findings = vec![file_system_finding(area, what, &file_system_name(fd))];
    // Opening "." below the directory: an O_PATH fd, closed at once.
    let probe = rustix::fs::openat2(
        fd,
        ".",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    );
    findings.extend(openat2_finding(area, what, probe.map(drop)));
    findings
}

fn file_system_finding(area: &'static str, what: &str, name: &str) -> Finding {
    let support = if supports_tmpfile_and_idmap(name) {
        "it supports O_TMPFILE and idmapped mounts (tmpfs: since Linux 6.3)"
    } else {
        "it is not known to support O_TMPFILE or idmapped mounts"
    };
    Finding::about(
        Severity::Info,
        area,
        "file-system",
        None,
        format!("the {what} is on {name}: {support}"),
    )
}

fn openat2_finding(
    area: &'static str,
    what: &str,
    probe: rustix::io::Result<()>,
) -> Option<Finding> {
    match probe {
        Err(rustix::io::Errno::NOSYS) => Some(Finding::about(
            Severity::Info,
            area,
            "no-openat2",
            None,
            format!(
                "this kernel has no openat2 (Linux 5.6): paths below the {what} are resolved \
                 by a component-by-component O_NOFOLLOW walk instead, as safe but slower"
            ),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(finding: Option<Finding>) -> Option<(&'static str, Severity)> {
        finding.map(|finding| (finding.kind, finding.severity))
    }

    #[test]
    fn the_user_namespace_limit_is_judged_as_read() {
        assert_eq!(
            kind(userns_limit(Ok("0\n".into()))),
            Some(("userns-disabled", Severity::Error))
        );
        assert_eq!(kind(userns_limit(Ok("63000\n".into()))), None);
        assert_eq!(
            kind(userns_limit(Ok("many".into()))),
            Some(("userns-limit-unknown", Severity::Warning))
        );
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(
            kind(userns_limit(Err(missing))),
            Some(("userns-limit-unknown", Severity::Warning))
        );
    }

    #[test]
    fn distribution_switches_warn_only_a_process_that_is_not_root() {
        let on = |clone: &str, apparmor: &str, root| {
            switches(Some(clone.into()), Some(apparmor.into()), root)
                .into_iter()
                .map(|finding| (finding.kind, finding.severity))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            on("0\n", "1\n", false),
            [
                ("unprivileged-userns-off", Severity::Warning),
                ("apparmor-restricts-userns", Severity::Warning)
            ]
        );
        assert_eq!(
            on("0", "0", true),
            [("unprivileged-userns-off", Severity::Info)]
        );
        assert!(on("1", "0", false).is_empty());
        assert!(switches(None, None, false).is_empty());
    }

    #[test]
    fn missing_system_calls_are_named() {
        let nosys = Err(rustix::io::Errno::NOSYS);
        assert_eq!(
            kind(pidfd_finding(nosys)),
            Some(("no-pidfd", Severity::Error))
        );
        assert_eq!(kind(pidfd_finding(Ok(()))), None);
        assert_eq!(
            kind(openat2_finding("pods", "pods directory", nosys)),
            Some(("no-openat2", Severity::Info))
        );
        assert_eq!(
            kind(openat2_finding("pods", "pods directory", Ok(()))),
            None
        );
    }

    #[test]
    fn file_systems_podns_knows_are_said_to_support_what_they_do() {
        let message = |name| file_system_finding("pods", "pods directory", name).message;
        assert!(message("xfs").contains("it supports"));
        assert!(message("nfs").contains("not known to support"));
    }
}
