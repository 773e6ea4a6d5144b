//! The namespace helper: a fresh, single-threaded child process that enters
//! new namespaces (or joins one) and holds them while the caller pins or
//! inspects them, then is killed and reaped through a pidfd.
//!
//! Why a child: `unshare(CLONE_NEWUSER)` and `setns` into a user namespace
//! fail with `EINVAL` in a multi-threaded process, and the caller (a runtime,
//! a test harness) may have threads. After `fork` the child has one thread,
//! so the work happens in `std::process::Command`'s `pre_exec` hook, before
//! an `exec` that never comes: the hook never returns `Ok`, and the program
//! is `/dev/null`, which cannot be executed anyway.
//!
//! The child keeps no fd of the caller's: its first act is to close every fd
//! but stdio (`/dev/null`) and its end of a socket pair (plus, to join a
//! namespace, that namespace's fd). O_CLOEXEC cannot do this, since the child
//! never execs. That also closes std's exec-status pipe, so `spawn` returns
//! at once; it runs on its own thread all the same, so a std that waited for
//! `exec` could not deadlock us.
//!
//! Protocol on the socket pair (child to caller: a tag byte and an i32):
//! `P <pid>` once the child is in its new user namespace (or has joined the
//! target one); then, to create, the caller writes the maps and sends `g`,
//! the child unshares `CLONE_NEWNET` and answers `N 0`. `E <errno>` reports
//! a failed step. The child then blocks on the socket until it is killed;
//! end of file (the caller died) makes it exit, so it never outlives its
//! caller and never holds the namespaces alone.

// The pre_exec hook and its raw-fd system calls are unsafe by nature.
#![allow(unsafe_code)]

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use podns_core::{EffectError, Errno};
use rustix::fs::{Mode, OFlags, RawDir};
use rustix::io::retry_on_intr;
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use crate::error::{errno, io_errno};

const TAG_PID: u8 = b'P';
const TAG_NET: u8 = b'N';
const TAG_ERROR: u8 = b'E';
const GO: u8 = b'g';

/// What the helper does once it runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HelperMode<'a> {
    /// Unshare a user namespace, wait for its maps, unshare a network
    /// namespace (owned by the new user namespace).
    CreatePodNamespaces,
    /// Join the user namespace of this fd (to read its maps from outside).
    JoinUserNamespace(BorrowedFd<'a>),
}

/// A running helper, killed and reaped when finished or dropped.
#[derive(Debug)]
pub(crate) struct Helper {
    pid: u32,
    pidfd: OwnedFd,
    socket: UnixStream,
    spawner: Option<JoinHandle<io::Result<Child>>>,
    reaped: bool,
}

fn helper_error(errno: Errno, step: &str) -> EffectError {
    EffectError::new(errno, format!("namespace helper: {step}"))
}

impl Helper {
    /// Starts a helper and returns once it is in its (new or joined) user
    /// namespace, with a pidfd for it.
    pub(crate) fn spawn(mode: HelperMode<'_>) -> Result<Self, EffectError> {
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| helper_error(io_errno(&e), "socketpair"))?;
        let theirs = OwnedFd::from(theirs);
        let socket_fd = theirs.as_raw_fd();
        let join_fd: RawFd = match mode {
            HelperMode::CreatePodNamespaces => -1,
            HelperMode::JoinUserNamespace(fd) => fd.as_raw_fd(),
        };
        let mut command = Command::new("/dev/null");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let hook = move || -> io::Result<()> {
            // The closure owns the child's end, so the caller's copy closes
            // when the command is dropped (after spawn): if the child dies,
            // the caller reads end of file instead of waiting forever.
            let _owned = &theirs;
            child_main(socket_fd, join_fd)
        };
        // SAFETY: the hook runs in the forked child, which has one thread;
        // it makes only raw system calls through rustix (openat, getdents64,
        // close, unshare, setns, getpid, read, write), allocates nothing,
        // takes no lock and touches no memory shared with other threads.
        unsafe {
            command.pre_exec(hook);
        }
        let spawner = std::thread::Builder::new()
            .name("podns-ns-helper".into())
            .spawn(move || command.spawn())
            .map_err(|e| helper_error(io_errno(&e), "start the spawning thread"))?;
        let mut socket = ours;
        let first = read_message(&mut socket);
        let pid = match first {
            Ok((TAG_PID, pid)) => pid,
            other => {
                let spawned = spawner.join();
                return Err(early_failure(other, spawned));
            }
        };
        let Some(child_pid) = u32::try_from(pid)
            .ok()
            .and_then(|p| Pid::from_raw(p as i32))
        else {
            return Err(helper_error(Errno::EIO, "the helper sent an invalid pid"));
        };
        // The child is blocked reading the socket and nobody else reaps our
        // children, so `pid` still names it here.
        let pidfd = match rustix::process::pidfd_open(child_pid, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(e) => {
                // Closing our end lets the child exit; reap it by its Child.
                drop(socket);
                if let Ok(Ok(mut child)) = spawner.join() {
                    let _ = child.wait();
                }
                return Err(helper_error(errno(e), "pidfd_open"));
            }
        };
        Ok(Self {
            pid: child_pid.as_raw_pid() as u32,
            pidfd,
            socket,
            spawner: Some(spawner),
            reaped: false,
        })
    }

    /// The helper's pid (valid while it is alive: see [`Helper::check_alive`]).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Lets a creating helper unshare its network namespace, and waits until
    /// it has.
    pub(crate) fn enter_network_namespace(&mut self) -> Result<(), EffectError> {
        self.socket
            .write_all(&[GO])
            .map_err(|e| helper_error(io_errno(&e), "release the helper"))?;
        match read_message(&mut self.socket) {
            Ok((TAG_NET, _)) => Ok(()),
            Ok((TAG_ERROR, raw)) => Err(helper_error(
                Errno(raw),
                "unshare(CLONE_NEWNET) in the new user namespace",
            )),
            Ok((tag, _)) => Err(helper_error(
                Errno::EIO,
                &format!("unexpected message {tag:#x} from the helper"),
            )),
            Err(e) => Err(helper_error(io_errno(&e), "the helper died")),
        }
    }

    /// Fails unless the helper is still running. Checked after reading
    /// anything under `/proc/<pid>`: if the helper had died and been reaped
    /// (by a SIGCHLD handler of the embedding process) and its PID recycled,
    /// what was read could belong to another process; the pidfd tells.
    pub(crate) fn check_alive(&self) -> Result<(), EffectError> {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        match rustix::process::waitid(WaitId::PidFd(self.pidfd.as_fd()), options) {
            Ok(None) => Ok(()),
            Ok(Some(_)) | Err(_) => Err(helper_error(
                Errno::EIO,
                &format!("helper process {} exited early", self.pid),
            )),
        }
    }

    /// Opens `/proc/<pid>/ns/<name>` of the helper (checked to still be the
    /// helper's).
    pub(crate) fn open_namespace(&self, name: &str) -> Result<OwnedFd, EffectError> {
        let path = format!("/proc/{}/ns/{name}", self.pid);
        let fd = rustix::fs::open(
            path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| EffectError::new(errno(e), format!("open {path}")))?;
        self.check_alive()?;
        Ok(fd)
    }

    /// Kills the helper through its pidfd and reaps it.
    pub(crate) fn finish(mut self) -> Result<(), EffectError> {
        self.kill_and_reap()
    }

    fn kill_and_reap(&mut self) -> Result<(), EffectError> {
        if self.reaped {
            return Ok(());
        }
        self.reaped = true;
        // ESRCH: it already exited (it is a zombie until reaped below).
        match rustix::process::pidfd_send_signal(&self.pidfd, Signal::KILL) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => return Err(helper_error(errno(e), "pidfd_send_signal(SIGKILL)")),
        }
        let reaped = match retry_on_intr(|| {
            rustix::process::waitid(WaitId::PidFd(self.pidfd.as_fd()), WaitIdOptions::EXITED)
        }) {
            // ECHILD: std reaped it after a failed pre_exec.
            Ok(_) | Err(rustix::io::Errno::CHILD) => Ok(()),
            Err(e) => Err(helper_error(errno(e), "waitid(P_PIDFD)")),
        };
        if let Some(spawner) = self.spawner.take() {
            // The Child is reaped already; dropping it does not wait.
            let _ = spawner.join();
        }
        reaped
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.kill_and_reap();
    }
}

/// The error for a helper that did not report its pid.
fn early_failure(
    message: io::Result<(u8, i32)>,
    spawned: std::thread::Result<io::Result<Child>>,
) -> EffectError {
    // Reap a child that exited after reporting (std reaps it only when the
    // hook's error reached it).
    if let Ok(Ok(mut child)) = spawned {
        let _ = child.wait();
    }
    match message {
        Ok((TAG_ERROR, raw)) => helper_error(Errno(raw), "enter a new user namespace"),
        Ok((tag, _)) => helper_error(Errno::EIO, &format!("unexpected message {tag:#x}")),
        Err(e) => helper_error(io_errno(&e), "the helper died before it was ready"),
    }
}

fn read_message(socket: &mut UnixStream) -> io::Result<(u8, i32)> {
    let mut message = [0u8; 5];
    socket.read_exact(&mut message)?;
    let value = i32::from_ne_bytes([message[1], message[2], message[3], message[4]]);
    Ok((message[0], value))
}

// ---- In the child, between fork and the exec that never happens: raw
// system calls only, no allocation.

/// The child's whole life: returns only to make std exit the child.
fn child_main(socket: RawFd, join: RawFd) -> io::Result<()> {
    close_other_fds(socket, join)?;
    // SAFETY: both fds were open in the caller at fork time and are kept
    // open by `close_other_fds`; nothing else in the child closes them.
    let socket = unsafe { BorrowedFd::borrow_raw(socket) };
    if join >= 0 {
        // SAFETY: as above.
        let user = unsafe { BorrowedFd::borrow_raw(join) };
        if let Err(e) =
            rustix::thread::move_into_link_name_space(user, Some(LinkNameSpaceType::User))
        {
            return report(socket, e);
        }
        send(socket, TAG_PID, rustix::process::getpid().as_raw_pid())?;
    } else {
        // SAFETY: CLONE_NEWUSER does not unshare the fd table (what makes
        // unshare unsafe), and the child has one thread, as it requires.
        if let Err(e) = unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER) } {
            return report(socket, e);
        }
        send(socket, TAG_PID, rustix::process::getpid().as_raw_pid())?;
        if wait_byte(socket)? != Some(GO) {
            return Err(rustix::io::Errno::CANCELED.into());
        }
        // SAFETY: as above, for CLONE_NEWNET.
        if let Err(e) = unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) } {
            return report(socket, e);
        }
        send(socket, TAG_NET, 0)?;
    }
    // Hold the namespaces until killed; end of file means the caller died.
    while wait_byte(socket)?.is_some() {}
    Err(rustix::io::Errno::CANCELED.into())
}

fn report(socket: BorrowedFd<'_>, error: rustix::io::Errno) -> io::Result<()> {
    send(socket, TAG_ERROR, error.raw_os_error())?;
    Err(error.into())
}

fn send(socket: BorrowedFd<'_>, tag: u8, value: i32) -> io::Result<()> {
    let mut message = [tag, 0, 0, 0, 0];
    message[1..].copy_from_slice(&value.to_ne_bytes());
    let mut sent = 0;
    while sent < message.len() {
        sent += retry_on_intr(|| rustix::io::write(socket, &message[sent..]))?;
    }
    Ok(())
}

/// One byte from the caller; `None` at end of file.
fn wait_byte(socket: BorrowedFd<'_>) -> io::Result<Option<u8>> {
    let mut byte = [0u8; 1];
    match retry_on_intr(|| rustix::io::read(socket, &mut byte))? {
        0 => Ok(None),
        _ => Ok(Some(byte[0])),
    }
}

/// Closes every fd above stderr except `keep` and `also` (-1 for none),
/// listing `/proc/self/fd` into a buffer on the stack. Closing while
/// listing is safe (procfs lists by fd number); passes repeat until one
/// closes nothing.
fn close_other_fds(keep: RawFd, also: RawFd) -> io::Result<()> {
    for _ in 0..8 {
        let dir = rustix::fs::openat(
            rustix::fs::CWD,
            c"/proc/self/fd",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let dir_fd = dir.as_raw_fd();
        let mut buffer = [MaybeUninit::<u8>::uninit(); 2048];
        let mut entries = RawDir::new(&dir, &mut buffer);
        let mut closed = 0;
        while let Some(entry) = entries.next() {
            let Some(fd) = parse_fd(entry?.file_name().to_bytes()) else {
                continue;
            };
            if fd <= 2 || fd == dir_fd || fd == keep || fd == also {
                continue;
            }
            // SAFETY: `fd` is open in this child and is not one it uses:
            // not stdio, not the listing, not the fds it keeps. Nothing in
            // the child refers to it afterwards.
            unsafe { rustix::io::close(fd) };
            closed += 1;
        }
        if closed == 0 {
            return Ok(());
        }
    }
    Ok(())
}

fn parse_fd(name: &[u8]) -> Option<RawFd> {
    if name.is_empty() || name.len() > 9 {
        return None;
    }
    let mut value: RawFd = 0;
    for &byte in name {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + RawFd::from(byte - b'0');
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_names_parse() {
        assert_eq!(parse_fd(b"0"), Some(0));
        assert_eq!(parse_fd(b"123"), Some(123));
        assert_eq!(parse_fd(b"."), None);
        assert_eq!(parse_fd(b".."), None);
        assert_eq!(parse_fd(b"1x"), None);
        assert_eq!(parse_fd(b""), None);
    }
}
