//! The cache file on disk: a 0700 directory, a 0600 file created with that mode from the
//! start, an exclusive lock around read-modify-write, and atomic replacement (write a
//! temporary file in the same directory, then rename it over the old one) so that a
//! reader in another process sees either the old or the new file, never half of one.
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use crate::lockfile::{FileLock, LockError};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Create `dir` (and parents) with mode 0700; tighten it if it exists more open.
pub(super) fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir).map_err(|e| format!("cannot inspect {}: {e}", dir.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("{} is open to other users and cannot be restricted: {e}", dir.display()))?;
        }
    }
    Ok(())
}

/// Read the cache file; `None` when it does not exist. Refuses a file that other users
/// could read, because then the tokens in it may already be compromised.
pub(super) fn read_file(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(|e| format!("cannot inspect {}: {e}", path.display()))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} can be read by other users (mode {:o}); its tokens may be exposed: delete it and sign in again",
                path.display(),
                mode & 0o777
            ));
        }
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.read_to_end(&mut bytes).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Some(bytes))
}

/// Atomically replace `path` with `contents`, through a temporary file created 0600.
pub(super) fn write_file(path: &Path, contents: &[u8]) -> Result<(), String> {
    let dir = path.parent().ok_or_else(|| format!("{} has no directory", path.display()))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".token-cache.").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
    tmp.write_all(contents).map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
    tmp.as_file().sync_all().map_err(|e| format!("cannot flush {}: {e}", tmp.path().display()))?;
    tmp.persist(path).map_err(|e| format!("cannot replace {}: {}", path.display(), e.error))?;
    Ok(())
}

/// An exclusive lock on `{dir}/.lock` ([`FileLock`]), held until dropped. Serialises
/// read-modify-write cycles of several keystation processes.
///
/// It is never waited for in a blocking call: [`CacheLock::acquire`] tries without
/// blocking (on the blocking pool) and sleeps between tries on the async runtime's timer
/// until a deadline, then gives up with an error that names the lock file and, when the
/// holder is a keystation, which process holds it (each holder writes its PID, program
/// and start time into the lock file while it holds it).
pub(super) struct CacheLock {
    path: PathBuf,
    // Dropped after `Drop::drop` has cleared the holder line.
    _lock: FileLock,
}

/// What a holder writes into the lock file: its PID, program and since when.
fn holder_line() -> String {
    let program = std::env::args_os()
        .next()
        .and_then(|a| Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown program".into());
    format!("pid {} ({}) since {}", std::process::id(), crate::text::cap_to(&program, 80), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl CacheLock {
    /// Take the lock, waiting at most `deadline` for another holder to let go.
    pub(super) async fn acquire(dir: &Path, deadline: Duration) -> Result<CacheLock, String> {
        let path: PathBuf = dir.join(".lock");
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let attempt = path.clone();
            let tried = tokio::task::spawn_blocking(move || FileLock::try_acquire(&attempt))
                .await
                .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
            match tried {
                Ok(lock) => return Ok(CacheLock { path, _lock: lock }),
                Err(LockError::Busy) => {}
                Err(LockError::Io(e)) => return Err(format!("cannot lock {}: {e}", path.display())),
            }
            if started.elapsed() >= deadline {
                let read = path.clone();
                let holder = tokio::task::spawn_blocking(move || std::fs::read_to_string(read).ok())
                    .await
                    .ok()
                    .flatten()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty());
                return Err(format!(
                    "the token cache is locked by another process ({}) and was not released within {} s (lock file {}); \
                     wait for that process to finish, or stop it, then try again",
                    holder.map(|h| crate::text::echo(&h)).unwrap_or_else(|| "it did not say which".into()),
                    deadline.as_secs_f32(),
                    path.display()
                ));
            }
            tokio::time::sleep(pause.min(deadline.saturating_sub(started.elapsed()))).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Write this process into the lock file (blocking file work: call it off the
    /// runtime, where the locked read-modify-write runs). Best effort: the lock works
    /// without it, only a waiter's message is poorer.
    pub(super) fn say_who_holds_it(&self) {
        let _ = std::fs::write(&self.path, holder_line());
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        // Leave no stale holder behind (the lock itself goes with `FileLock`).
        let _ = std::fs::OpenOptions::new().write(true).truncate(true).open(&self.path);
    }
}
