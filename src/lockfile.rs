//! An exclusive, cross-process file lock held for as long as a value lives, shared by
//! every layer that needs one (the virtual keys' files, the station's state directory).
//!
//! The operating system's own lock on an open file: `flock` on Linux and macOS,
//! `LockFileEx` on Windows (both through the standard library). The kernel releases it
//! when the process dies, however it dies, so a crash never leaves a stale lock.
//! Locks are per open file: two `FileLock`s on one path exclude each other even inside
//! one process.
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process (or another `FileLock` in this process) holds it.
    Busy,
    /// The lock file could not be opened or locked.
    Io(std::io::Error),
}

impl FileLock {
    /// Take the lock now, or say it is busy.
    pub fn try_acquire(path: &Path) -> Result<FileLock, LockError> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => Ok(FileLock { file, path: path.to_path_buf() }),
            Err(TryLockError::WouldBlock) => Err(LockError::Busy),
            Err(TryLockError::Error(e)) => Err(LockError::Io(e)),
        }
    }

    /// Take the lock, retrying for up to `wait` while somebody else holds it.
    pub fn acquire(path: &Path, wait: Duration) -> Result<FileLock, LockError> {
        let deadline = Instant::now() + wait;
        loop {
            match FileLock::try_acquire(path) {
                Err(LockError::Busy) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                other => return other,
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first makes the release
        // immediate even if another handle to the same open file is still around.
        let _ = self.file.unlock();
    }
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
        assert!(matches!(FileLock::try_acquire(&path), Err(LockError::Busy)));
        drop(first);
        FileLock::acquire(&path, Duration::ZERO).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(FileLock::try_acquire(&dir.path().join("no/such/dir/x.lock")), Err(LockError::Io(_))));
    }
}
