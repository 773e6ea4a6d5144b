//! Processes in new user namespaces with a rootless layout, built without
//! a helper binary, util-linux or sleeps: this test process (T, real root)
//! re-executes its own test binary as P, with [`ROLE_ENV`] naming what P
//! does and `--exact <helper test>`. P's `pre_exec` hook (between fork and
//! exec, single-threaded) unshares a user namespace, sends its pid over a
//! socket pair and blocks until T answers. T writes P's maps from outside
//! with [`IdMapWriter`], answers, and P becomes UID/GID 0 of its namespace
//! and execs. P may start its own children the same way.
//!
//! The binaries must be executable by "others", because host root (its
//! owner) is not mapped in the new namespaces: if it is not, it is copied to
//! a world-readable temporary directory first. Sockets rather than pipes:
//! the rustix `pipe` feature is not enabled here and `std::io::pipe` is
//! newer than the workspace's minimum Rust.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};

use podns_backend_linux::IdMapWriter;
use podns_core::IdMap;
use rustix::process::{Gid, Uid};
use rustix::thread::UnshareFlags;

use super::{PODNS, shown_success, world_executable};

/// Selects what a re-executed test binary does in its helper test.
pub const ROLE_ENV: &str = "PODNS_TEST_ROLE";
/// The `podns` binary P runs (a world-executable path to it).
pub const PODNS_ENV: &str = "PODNS_TEST_PODNS";

/// The role this process was started for, if any.
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// The test binary `exe` running only `helper_test`, as `role`.
pub fn role_command(exe: &Path, helper_test: &str, role: &str) -> Command {
    let mut command = Command::new(exe);
    command
        .args(["--exact", helper_test, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role);
    command
}

/// Starts `role` of the test binary's `helper_test` in P, root of a new
/// user namespace whose maps T (this process, real root) writes as `map`, with `env` added; checks that P
/// succeeded and said `<role> role: done`. Without root, or with user
/// namespaces disabled, prints why and returns.
pub fn run_role_in_userns(
    helper_test: &str,
    role: &str,
    map: &str,
    env: &[(&str, &std::ffi::OsStr)],
) {
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "skipping: building user namespaces with a rootless layout needs root (writing \
             another process's uid_map with other host IDs); run the tests as root"
        );
        return;
    }
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim() == "0" {
        eprintln!(
            "skipping: user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)"
        );
        return;
    }
    let (exe, _exe_copy) = world_executable(&std::env::current_exe().unwrap());
    let (podns, _podns_copy) = world_executable(Path::new(PODNS));
    let mut command = role_command(&exe, helper_test, role);
    command
        .env(PODNS_ENV, &podns)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let process = BlockedInUserns::spawn(command, true);
    // T is real root, so it may write any map; Auto leaves setgroups alone,
    // which P needs to drop its supplementary groups.
    let map = IdMap::parse(map).unwrap();
    IdMapWriter::new(process.pid)
        .write(&map, &map)
        .unwrap_or_else(|error| panic!("writing P's maps: {error}"));
    let output = process
        .release()
        .wait_with_output()
        .expect("wait for the process in the namespace");
    let stdout = shown_success(&format!("the {role} process"), &output);
    // The helper ran, and did not just return for lack of a role.
    assert!(
        stdout.contains(&format!("{role} role: done")),
        "the {role} role did not run"
    );
}

/// A child process that has unshared a user namespace in its `pre_exec` hook
/// and waits, before exec, until [`BlockedInUserns::release`].
pub struct BlockedInUserns {
    pub pid: u32,
    socket: UnixStream,
    spawner: JoinHandle<io::Result<Child>>,
}

impl BlockedInUserns {
    /// Starts `command` in a new user namespace and returns once the child
    /// is in it (its maps still unwritten). With `become_root`, the child
    /// switches to UID and GID 0 of the namespace once released (its maps
    /// must map them by then), so that it keeps its capabilities across exec.
    pub fn spawn(mut command: Command, become_root: bool) -> Self {
        let (mut socket, theirs) = UnixStream::pair().expect("socketpair");
        let ours_in_child: RawFd = socket.as_raw_fd();
        let theirs = OwnedFd::from(theirs);
        let hook = move || -> io::Result<()> {
            // Between fork and exec in a copy of a multi-threaded process:
            // only raw system calls, no allocation, no locks.
            // SAFETY: `ours_in_child` is this child's inherited copy of the
            // parent's end of the socket pair; nothing else in the child uses
            // it, and closing it lets the child see end of file if the
            // parent dies.
            unsafe { rustix::io::close(ours_in_child) };
            // SAFETY: NEWUSER does not unshare the fd table (that is what
            // makes unshare unsafe), and the child has a single thread, as
            // CLONE_NEWUSER requires.
            unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER) }?;
            let pid = rustix::process::getpid().as_raw_pid();
            send_all(&theirs, &pid.to_ne_bytes())?;
            let mut go = [0u8; 1];
            let received = loop {
                match rustix::io::read(&theirs, &mut go) {
                    Err(rustix::io::Errno::INTR) => {}
                    other => break other?,
                }
            };
            if received != 1 {
                // The test process went away: do not exec.
                return Err(io::Error::from(rustix::io::Errno::CANCELED));
            }
            if become_root {
                rustix::thread::set_thread_res_gid(Gid::ROOT, Gid::ROOT, Gid::ROOT)?;
                rustix::thread::set_thread_groups(&[])?;
                rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT)?;
            }
            Ok(())
        };
        // SAFETY: the hook only makes async-signal-safe system calls (close,
        // unshare, getpid, read, write, setresgid, setgroups, setresuid)
        // through rustix's raw syscall backend, allocates nothing, and
        // touches no state shared with other threads.
        unsafe {
            command.pre_exec(hook);
        }
        // `spawn` waits until the child execs, which it does only after we
        // answer: spawn on another thread and learn the pid over the socket.
        // The thread drops `command` (and the hook's copy of the child's end)
        // when spawn returns, so a child that dies early shows up as EOF.
        let spawner = thread::spawn(move || command.spawn());
        let mut pid = [0u8; 4];
        if let Err(error) = socket.read_exact(&mut pid) {
            let spawned = spawner.join().expect("spawner thread");
            panic!(
                "the child did not enter a new user namespace ({error}); spawn said: {:?}",
                spawned.map(|child| child.id())
            );
        }
        let pid = u32::try_from(i32::from_ne_bytes(pid)).expect("positive pid");
        Self {
            pid,
            socket,
            spawner,
        }
    }

    /// Lets the child go on to exec, and returns it.
    pub fn release(mut self) -> Child {
        self.socket.write_all(b"g").expect("release the child");
        self.spawner
            .join()
            .expect("spawner thread")
            .unwrap_or_else(|error| panic!("starting process {}: {error}", self.pid))
    }
}

/// `write(2)` until all of `bytes` is sent, without allocating.
fn send_all(fd: &OwnedFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(count) => bytes = &bytes[count..],
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}
