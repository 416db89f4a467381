//! An exclusive, advisory, cross-process lock held for as long as a value lives.
//!
//! Unix: `flock(LOCK_EX)` on a side file (the lock dies with the process, so a crash
//! never leaves a stale lock). Windows: the side file opened with no sharing, which the
//! OS also releases when the process ends.
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Holds the lock until dropped.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
    path: PathBuf,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another process (or another object in this process) holds it.
    Busy,
    Io(std::io::Error),
}

impl FileLock {
    /// Take the lock, retrying for up to `wait` while somebody else holds it.
    pub fn acquire(path: &Path, wait: Duration) -> Result<FileLock, LockError> {
        let deadline = Instant::now() + wait;
        loop {
            match try_lock(path) {
                Ok(file) => return Ok(FileLock { _file: file, path: path.to_path_buf() }),
                Err(LockError::Busy) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
fn try_lock(path: &Path) -> Result<File, LockError> {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(LockError::Io)?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(file);
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::WouldBlock {
        Err(LockError::Busy)
    } else {
        Err(LockError::Io(err))
    }
}

#[cfg(windows)]
fn try_lock(path: &Path) -> Result<File, LockError> {
    use std::os::windows::fs::OpenOptionsExt;
    const ERROR_SHARING_VIOLATION: i32 = 32;
    match std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).share_mode(0).open(path) {
        Ok(file) => Ok(file),
        Err(e) if e.raw_os_error() == Some(ERROR_SHARING_VIOLATION) => Err(LockError::Busy),
        Err(e) => Err(LockError::Io(e)),
    }
}

#[cfg(not(any(unix, windows)))]
fn try_lock(path: &Path) -> Result<File, LockError> {
    // No portable advisory lock here; atomic replacement of the state file still keeps
    // it from being torn.
    std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(LockError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = FileLock::acquire(&path, Duration::ZERO).unwrap();
        assert!(matches!(FileLock::acquire(&path, Duration::from_millis(50)), Err(LockError::Busy)));
        drop(first);
        FileLock::acquire(&path, Duration::ZERO).unwrap();
    }
}
