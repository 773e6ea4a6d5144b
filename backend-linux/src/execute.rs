//! Each effect as the few system calls its documentation asks for.
//!
//! Nothing here retries a call that may have taken effect (only `EINTR` on
//! reads and writes of data, which did not): the core owns every retry, since
//! each step may be a durability point.

use async_trait::async_trait;
use podns_core::{Backend, DirEntry, Effect, EffectError, Errno, Observation, Root, RootPath};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::retry_on_intr;

use crate::error::{fail, kind_of, refuse};
use crate::read::read_at_most;
use crate::roots::LinuxBackend;

type Outcome = Result<Observation, EffectError>;

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// `O_NONBLOCK` so a FIFO put in place of a file cannot block the open, and
/// `O_NOCTTY` so a terminal cannot become our controlling one.
const READ_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

const NEW_FILE_FLAGS: OFlags = OFlags::CREATE
    .union(OFlags::EXCL)
    .union(OFlags::WRONLY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The first read of a file: a `userns` file fits many times over.
const FIRST_READ: usize = 4096;

/// Only permission bits: the file type and anything else come from the call.
fn permissions(mode: u32) -> Mode {
    Mode::from_bits_truncate(mode & 0o7777)
}

#[async_trait]
impl Backend for LinuxBackend {
    async fn execute(&mut self, effect: &Effect) -> Result<Observation, EffectError> {
        // The calls are short and local: they run on the caller's thread
        // (a `Node` calls from its own). One arm per effect and no other, so
        // that a new effect does not compile until it is executed here.
        match effect {
            Effect::ListDir { dir } => self.list_dir(dir),
            Effect::ReadFile { file, max_len } => self.read_file(file, *max_len),
            Effect::CreateDir { dir, mode } => self.create_dir(dir, *mode),
            Effect::WriteNewFile {
                file,
                mode,
                contents,
            } => self.write_new_file(file, *mode, contents),
            Effect::SyncFile { file } => self.sync_file(file),
            Effect::Rename { from, to } => self.rename(from, to),
            Effect::SyncDir { dir } => self.sync_dir(dir),
            Effect::RemoveFile { file } => self.remove_file(file),
            Effect::RemoveDir { dir } => self.remove_dir(dir),
            Effect::SyncFs { root } => self.sync_fs(*root),
            // Subpath mounts: see the subpath module.
            Effect::StatBeneath { path } => self.stat_beneath(path),
            Effect::StatNoFollow { path } => self.stat_no_follow(path),
            Effect::MakeDirBeneath { dir, mode } => self.make_dir_beneath(dir, *mode),
            Effect::CreateEmptyFile { file, mode } => self.create_empty_file(file, *mode),
            Effect::BindMount {
                source,
                target,
                expect,
                idmap,
            } => self.bind_mount(source, target, *expect, idmap.as_ref()),
            Effect::Unmount { target } => self.unmount(target),
            Effect::ReadMountInfo => crate::subpath::read_mountinfo(),
            // Pod namespaces: see the ns module.
            Effect::SetUpRunDir => self.set_up_run_dir(),
            Effect::CreatePinFile { file } => self.create_pin_file(file),
            Effect::CreatePodNamespaces {
                pod,
                uid_map,
                gid_map,
                net_pin,
                user_pin,
            } => self.create_pod_namespaces(pod, uid_map, gid_map, net_pin, user_pin),
            Effect::InspectPodNamespaces { net_pin, user_pin } => {
                self.inspect_pod_namespaces(net_pin, user_pin)
            }
            Effect::DetachMount { target } => self.detach_mount(target),
        }
    }
}

impl LinuxBackend {
    /// `path` named with the real directory of its root.
    fn show(&self, path: &RootPath) -> String {
        self.labels.show(path)
    }

    fn list_dir(&self, dir: &RootPath) -> Outcome {
        // A fresh open (also for a root) gives the listing its own offset.
        let fd = self.open_path(dir, DIR_FLAGS)?;
        let mut stream = Dir::new(fd).map_err(|e| fail("opendir", self.show(dir), e))?;
        let mut entries = Vec::new();
        while let Some(entry) = stream.read() {
            let entry = entry.map_err(|e| fail("getdents64", self.show(dir), e))?;
            let raw = entry.file_name();
            if matches!(raw.to_bytes(), b"." | b"..") {
                continue;
            }
            let Ok(name) = raw.to_str() else {
                continue;
            };
            let file_type = match entry.file_type() {
                FileType::Unknown => {
                    let at = stream.fd().map_err(|e| fail("dirfd", self.show(dir), e))?;
                    match rustix::fs::statat(at, raw, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(stat) => FileType::from_raw_mode(stat.st_mode),
                        // Removed since getdents: it is no longer an entry.
                        Err(rustix::io::Errno::NOENT) => continue,
                        Err(e) => {
                            return Err(fail("fstatat", format!("{}/{name}", self.show(dir)), e));
                        }
                    }
                }
                known => known,
            };
            entries.push(DirEntry {
                name: name.to_owned(),
                kind: kind_of(file_type),
            });
        }
        // Sorted so that logs and recordings do not depend on the file system.
        entries.sort();
        Ok(Observation::Listing(entries))
    }

    fn read_file(&self, file: &RootPath, max_len: u64) -> Outcome {
        let fd = self.open_path(file, READ_FLAGS)?;
        let too_long = || {
            refuse(
                Errno::EFBIG,
                "read",
                self.show(file),
                &format!("is longer than {max_len} bytes"),
            )
        };
        // Recovery reads one small file per pod, so the common case must
        // cost open, read, close: one read asks for more than a `userns` file
        // holds, and a shorter answer is taken as the whole file without
        // checking what was opened. The core reads only entries its listing
        // showed as regular files; only an empty first answer gets an fstat,
        // which refuses a FIFO or a device put there since (a directory fails
        // the read itself with EISDIR). One that returns data is read like a
        // file, never past max_len + 1 bytes.
        let first = usize::try_from(max_len.saturating_add(1))
            .unwrap_or(usize::MAX)
            .min(FIRST_READ);
        let mut contents = vec![0u8; first];
        let read = match retry_on_intr(|| rustix::io::read(&fd, &mut contents)) {
            Ok(read) => read,
            Err(rustix::io::Errno::ISDIR) => {
                return Err(refuse(
                    Errno::EISDIR,
                    "read",
                    self.show(file),
                    "is a directory",
                ));
            }
            Err(e) => return Err(fail("read", self.show(file), e)),
        };
        contents.truncate(read);
        if read == 0 {
            let stat = rustix::fs::fstat(&fd).map_err(|e| fail("fstat", self.show(file), e))?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Err(refuse(
                    Errno::EINVAL,
                    "read",
                    self.show(file),
                    "is not a regular file (a FIFO, socket or device)",
                ));
            }
            return Ok(Observation::Contents(contents));
        }
        if read < first {
            return Ok(Observation::Contents(contents));
        }
        if read as u64 > max_len {
            return Err(too_long());
        }
        // A larger file: read on, never past max_len + 1 bytes.
        let rest = read_at_most(&fd, max_len - read as u64, 0)
            .map_err(|e| fail("read", self.show(file), e))?;
        match rest {
            Some(rest) => {
                contents.extend_from_slice(&rest);
                Ok(Observation::Contents(contents))
            }
            None => Err(too_long()),
        }
    }

    fn create_dir(&self, dir: &RootPath, mode: u32) -> Outcome {
        if dir.path.is_root() {
            // A root is an open directory, so it exists.
            return Ok(Observation::DirCreated { created: false });
        }
        let (parent, name) = self.open_parent(dir)?;
        match rustix::fs::mkdirat(&parent, name, permissions(mode)) {
            Ok(()) => Ok(Observation::DirCreated { created: true }),
            Err(rustix::io::Errno::EXIST) => {
                let stat = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| fail("fstatat", self.show(dir), e))?;
                if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
                    Ok(Observation::DirCreated { created: false })
                } else {
                    Err(refuse(
                        Errno::ENOTDIR,
                        "mkdirat",
                        self.show(dir),
                        "exists and is not a directory",
                    ))
                }
            }
            Err(e) => Err(fail("mkdirat", self.show(dir), e)),
        }
    }

    fn write_new_file(&mut self, file: &RootPath, mode: u32, contents: &[u8]) -> Outcome {
        let (parent, name) = self.open_parent(file)?;
        let fd = rustix::fs::openat(&parent, name, NEW_FILE_FLAGS, permissions(mode))
            .map_err(|e| fail("openat", self.show(file), e))?;
        drop(parent);
        // On failure the partial file stays: the core removes it.
        write_all(&fd, contents).map_err(|e| fail("write", self.show(file), e))?;
        self.kept.insert(file.clone(), fd);
        Ok(Observation::Done)
    }

    fn sync_file(&mut self, file: &RootPath) -> Outcome {
        let fd = match self.kept.take(file) {
            Some(fd) => fd,
            // O_NONBLOCK: whatever is there now must not block the open.
            None => self.open_path(file, READ_FLAGS)?,
        };
        self.fsync(&fd)
            .map_err(|e| fail("fsync", self.show(file), e))?;
        Ok(Observation::Done)
    }

    fn rename(&mut self, from: &RootPath, to: &RootPath) -> Outcome {
        let shown = format!("{} -> {}", self.show(from), self.show(to));
        let Some(to_name) = to.file_name().filter(|_| !from.path.is_root()) else {
            return Err(refuse(
                Errno::EINVAL,
                "renameat",
                &shown,
                "a root cannot be renamed",
            ));
        };
        if from.root != to.root || from.parent() != to.parent() {
            return Err(refuse(
                Errno::EXDEV,
                "renameat",
                &shown,
                "not in the same directory",
            ));
        }
        let (parent, from_name) = self.open_parent(from)?;
        rustix::fs::renameat(&parent, from_name, &parent, to_name)
            .map_err(|e| fail("renameat", &shown, e))?;
        drop(parent);
        self.kept.rename(from, to);
        Ok(Observation::Done)
    }

    fn sync_dir(&mut self, dir: &RootPath) -> Outcome {
        let fd = self.open_path(dir, DIR_FLAGS)?;
        self.fsync(&fd)
            .map_err(|e| fail("fsync", self.show(dir), e))?;
        Ok(Observation::Done)
    }

    fn remove_file(&mut self, file: &RootPath) -> Outcome {
        // A missing parent fails here, with ENOENT, as it must.
        let (parent, name) = self.open_parent(file)?;
        let existed = match rustix::fs::unlinkat(&parent, name, AtFlags::empty()) {
            Ok(()) => true,
            Err(rustix::io::Errno::NOENT) => false,
            Err(e) => return Err(fail("unlinkat", self.show(file), e)),
        };
        drop(parent);
        self.kept.remove(file);
        Ok(Observation::FileRemoved { existed })
    }

    fn remove_dir(&self, dir: &RootPath) -> Outcome {
        let (parent, name) = self.open_parent(dir)?;
        rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR)
            .map_err(|e| fail("unlinkat", self.show(dir), e))?;
        Ok(Observation::Done)
    }

    fn sync_fs(&mut self, root: Root) -> Outcome {
        let path = RootPath::root(root);
        // The root fd itself: syncfs reports writeback errors recorded since
        // that file description was opened, which is what the effect promises.
        let fd = self.root_fd(&path)?;
        let result = rustix::fs::syncfs(fd);
        self.syncfs_calls += 1;
        result.map_err(|e| fail("syncfs", self.show(&path), e))?;
        Ok(Observation::Done)
    }

    fn fsync(&mut self, fd: &OwnedFd) -> rustix::io::Result<()> {
        self.fsync_calls += 1;
        rustix::fs::fsync(fd)
    }
}

/// Writes every byte, continuing after short writes.
fn write_all(fd: impl AsFd, mut bytes: &[u8]) -> rustix::io::Result<()> {
    while !bytes.is_empty() {
        let written = retry_on_intr(|| rustix::io::write(fd.as_fd(), bytes))?;
        if written == 0 {
            // A regular file never accepts nothing without an error; stop
            // rather than spin, with the errno a failed device write gives.
            return Err(rustix::io::Errno::IO);
        }
        bytes = &bytes[written..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use podns_core::RelPath;
    use pollster::block_on;
    use tempfile::TempDir;

    use super::*;

    fn path(text: &str) -> RootPath {
        RootPath {
            root: Root::Pods,
            path: RelPath::parse(text).unwrap(),
        }
    }

    #[test]
    fn written_files_keep_their_fd_until_synced_renamed_or_removed() {
        let temp = TempDir::new().unwrap();
        let mut backend = LinuxBackend::open(temp.path()).unwrap();
        let write = |file: &str| Effect::WriteNewFile {
            file: path(file),
            mode: 0o600,
            contents: b"x".to_vec(),
        };
        block_on(backend.execute(&write("a"))).unwrap();
        block_on(backend.execute(&write("b"))).unwrap();
        block_on(backend.execute(&write("c"))).unwrap();
        assert_eq!(backend.kept.paths(), ["<pods>/a", "<pods>/b", "<pods>/c"]);

        block_on(backend.execute(&Effect::SyncFile { file: path("a") })).unwrap();
        assert_eq!(backend.kept.paths(), ["<pods>/b", "<pods>/c"]);

        let rename = Effect::Rename {
            from: path("b"),
            to: path("c"),
        };
        block_on(backend.execute(&rename)).unwrap();
        assert_eq!(backend.kept.paths(), ["<pods>/c"]);

        block_on(backend.execute(&Effect::RemoveFile { file: path("c") })).unwrap();
        assert!(backend.kept.paths().is_empty());

        // Without a kept fd, SyncFile opens the file and still syncs it.
        block_on(backend.execute(&Effect::SyncFile { file: path("a") })).unwrap();
        assert_eq!(backend.fsync_count(), 2);
    }

    #[test]
    fn a_failed_write_keeps_no_fd() {
        let temp = TempDir::new().unwrap();
        std::fs::write(temp.path().join("a"), b"old").unwrap();
        let mut backend = LinuxBackend::open(temp.path()).unwrap();
        let error = block_on(backend.execute(&Effect::WriteNewFile {
            file: path("a"),
            mode: 0o600,
            contents: b"new".to_vec(),
        }))
        .unwrap_err();
        assert_eq!(error.errno, Errno::EEXIST);
        assert!(backend.kept.paths().is_empty());
        assert_eq!(std::fs::read(temp.path().join("a")).unwrap(), b"old");
    }
}
