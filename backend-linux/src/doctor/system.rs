//! What the kernel and the file systems under a node's directories allow:
//! user namespaces, `pidfd`, `openat2`, `O_TMPFILE` and idmapped mounts.
//! Every check reads or probes without creating anything.

use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::process::PidfdFlags;

use super::{Finding, Severity};
use crate::fs_type::{file_system_name, supports_tmpfile_and_idmap};

/// Whether user namespaces can be made at all, and whether pod namespace
/// helpers can be reaped safely.
pub(super) fn kernel_findings() -> Vec<Finding> {
    const LIMIT: &str = "/proc/sys/user/max_user_namespaces";
    let limit = |severity, kind, message: String| {
        Finding::about(severity, "kernel", kind, Some(LIMIT.to_owned()), message)
    };
    let mut findings = match std::fs::read_to_string(LIMIT).map(|text| text.trim().parse::<u64>()) {
        Ok(Ok(0)) => vec![limit(
            Severity::Error,
            "userns-disabled",
            "user namespaces are disabled (user.max_user_namespaces = 0), so no pod can have \
             one; set the sysctl to a positive value (e.g. sysctl -w \
             user.max_user_namespaces=63000)"
                .to_owned(),
        )],
        Ok(Ok(_)) => Vec::new(),
        Ok(Err(error)) => vec![limit(
            Severity::Warning,
            "userns-limit-unknown",
            format!("cannot parse the user namespace limit ({error}); check the kernel"),
        )],
        Err(error) => vec![limit(
            Severity::Warning,
            "userns-limit-unknown",
            format!(
                "cannot read the user namespace limit ({error}); this kernel may lack user \
                 namespaces (CONFIG_USER_NS), or /proc is not mounted"
            ),
        )],
    };
    // A pidfd of this process itself: opened and closed, nothing else.
    if let Err(rustix::io::Errno::NOSYS) =
        rustix::process::pidfd_open(rustix::process::getpid(), PidfdFlags::empty())
    {
        findings.push(Finding::about(
            Severity::Error,
            "kernel",
            "no-pidfd",
            None,
            "this kernel has no pidfd_open (Linux 5.3), which podns ns create needs to reap \
             its helper without the risk of signalling a recycled PID; upgrade the kernel",
        ));
    }
    findings
}

/// The file system under `dir` (held open as `fd`) and whether paths below
/// it resolve with `openat2`.
pub(super) fn directory_findings(area: &'static str, what: &str, fd: impl AsFd) -> Vec<Finding> {
    let fd = fd.as_fd();
    let name = file_system_name(fd);
    let support = if supports_tmpfile_and_idmap(&name) {
        "O_TMPFILE and idmapped mounts are supported"
    } else {
        "not known to support O_TMPFILE or idmapped mounts (podns then uses named temp files, \
         and refuses idmapped subpath mounts of volumes there)"
    };
    let mut findings = vec![Finding::about(
        Severity::Info,
        area,
        "file-system",
        None,
        format!("the {what} is on {name}: {support}"),
    )];
    // Opening "." below the directory: an O_PATH fd, closed at once.
    let probe = rustix::fs::openat2(
        fd,
        ".",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    );
    if let Err(rustix::io::Errno::NOSYS) = probe {
        findings.push(Finding::about(
            Severity::Info,
            area,
            "no-openat2",
            None,
            format!(
                "this kernel has no openat2 (Linux 5.6): paths below the {what} are resolved \
                 by a component-by-component O_NOFOLLOW walk instead, as safe but slower"
            ),
        ));
    }
    findings
}
