//! Reading a file to its end without trusting its size: `/proc` files report
//! none, and a file may grow while it is read.

use rustix::fd::AsFd;
use rustix::io::retry_on_intr;

/// Reads go through a bounded buffer; `userns` files are a few bytes.
const READ_CHUNK: usize = 16 * 1024;

/// Reads to the end, but never more than `max_len + 1` bytes: `None` means
/// the file is longer than `max_len`. `size_hint` only sizes the buffer.
pub(crate) fn read_at_most(
    fd: impl AsFd,
    max_len: u64,
    size_hint: u64,
) -> rustix::io::Result<Option<Vec<u8>>> {
    let limit = max_len.saturating_add(1);
    let mut contents = Vec::with_capacity(
        usize::try_from(size_hint.min(limit))
            .unwrap_or(0)
            .min(READ_CHUNK)
            + 1,
    );
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let room = limit - contents.len() as u64;
        if room == 0 {
            break;
        }
        let want = usize::try_from(room).unwrap_or(usize::MAX).min(chunk.len());
        let read = retry_on_intr(|| rustix::io::read(fd.as_fd(), &mut chunk[..want]))?;
        if read == 0 {
            break;
        }
        contents.extend_from_slice(&chunk[..read]);
    }
    if contents.len() as u64 > max_len {
        return Ok(None);
    }
    Ok(Some(contents))
}

#[cfg(test)]
mod tests {
    use rustix::fd::OwnedFd;
    use rustix::fs::{Mode, OFlags};
    use tempfile::TempDir;

    use super::*;

    fn file_with(bytes: &[u8]) -> (TempDir, OwnedFd) {
        let temp = TempDir::new().unwrap();
        std::fs::write(temp.path().join("f"), bytes).unwrap();
        let fd = rustix::fs::open(
            temp.path().join("f"),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (temp, fd)
    }

    #[test]
    fn read_at_most_refuses_more_than_max_len_whatever_the_size_hint() {
        let (_temp, fd) = file_with(b"0123456789");
        // A size hint of 0, as /proc and some FUSE files report.
        assert_eq!(read_at_most(&fd, 9, 0).unwrap(), None);
        let (_temp, fd) = file_with(b"0123456789");
        assert_eq!(read_at_most(&fd, 10, 0).unwrap().unwrap(), b"0123456789");
        let (_temp, fd) = file_with(b"");
        assert_eq!(read_at_most(&fd, 0, 0).unwrap().unwrap(), b"");
        let (_temp, fd) = file_with(b"x");
        assert_eq!(read_at_most(&fd, 0, 1).unwrap(), None);
    }

    #[test]
    fn read_at_most_reads_across_chunks() {
        let big = vec![7u8; READ_CHUNK * 2 + 5];
        let (_temp, fd) = file_with(&big);
        assert_eq!(
            read_at_most(&fd, u64::MAX, big.len() as u64)
                .unwrap()
                .unwrap(),
            big
        );
        let (_temp, fd) = file_with(&big);
        assert_eq!(read_at_most(&fd, big.len() as u64 - 1, 0).unwrap(), None);
    }
}
