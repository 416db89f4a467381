//! The cache file on disk: a 0700 directory, a 0600 file created with that mode from the
//! start, an exclusive lock around read-modify-write, and atomic replacement (write a
//! temporary file in the same directory, then rename it over the old one) so that a
//! reader in another process sees either the old or the new file, never half of one.
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
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

/// An exclusive advisory lock on `{dir}/.lock`, held until dropped. Serialises
/// read-modify-write cycles of several keystation processes.
pub(super) struct CacheLock {
    _file: File,
}

impl CacheLock {
    pub(super) fn acquire(dir: &Path) -> Result<CacheLock, String> {
        let path: PathBuf = dir.join(".lock");
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).read(true).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            loop {
                // SAFETY: flock on a file descriptor we own; no memory is involved.
                let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
                if rc == 0 {
                    break;
                }
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(format!("cannot lock {}: {err}", path.display()));
                }
            }
        }
        // Elsewhere the atomic rename alone protects readers; concurrent writers may then
        // lose an update, which only costs a sign-in.
        Ok(CacheLock { _file: file })
    }
}
