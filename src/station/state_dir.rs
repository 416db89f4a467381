//! One station per state directory.
//!
//! Every command that writes to a state directory (the journal, the keys' evidence)
//! holds [`StationLock`]: an exclusive operating-system lock on `<state dir>/station.lock`
//! ([`crate::lockfile`]: `flock` on Linux and macOS, `LockFileEx` on Windows). The kernel
//! releases it when the process ends, however it ends, so a crash or `kill -9` never
//! leaves a stale lock behind. A second process is refused at once with
//! [`StateDirError::Busy`], naming the holder (PID, command line, since when) from the
//! owner file `station.lock.owner` the holder writes next to the lock. Readers (`report`)
//! take no lock: they open the journal read-only and WAL lets them read alongside.
//!
//! Acquiring also checks the directory itself, so that a state path that is a file, or a
//! directory this user cannot write, is reported as such ([`StateDirError::NotADirectory`],
//! [`StateDirError::NotWritable`]) before anything else is tried.
//!
//! Inside one process the lock is shared: acquiring it again for the same directory
//! returns the lock already held (the command and the station it opens both ask for it).
use crate::lockfile::{FileLock, LockError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The lock file inside the state directory.
pub const LOCK_FILE: &str = "station.lock";
/// Who holds the lock (JSON), written by the holder after taking it.
pub const OWNER_FILE: &str = "station.lock.owner";

/// The process holding a state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// Process id.
    pub pid: u32,
    /// Its command line (keystation never takes secrets on the command line).
    pub command: String,
    /// Since when it holds the lock.
    pub since: DateTime<Utc>,
    /// The machine (a state directory on a network share can be used from two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} (`{}`)", self.pid, self.command)?;
        if let Some(h) = &self.host {
            write!(f, " on {h}")?;
        }
        write!(f, ", since {}", self.since.to_rfc3339_opts(SecondsFormat::Secs, true))?;
        let secs = (Utc::now() - self.since).num_seconds().max(0);
        match secs {
            0..=119 => write!(f, " ({secs} s ago)"),
            120..=7199 => write!(f, " ({} min ago)", secs / 60),
            _ => write!(f, " ({} h ago)", secs / 3600),
        }
    }
}

/// Why a state directory cannot be used for writing.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// Another process holds the directory.
    #[error(
        "another keystation is using the state directory {}: {}; wait until it has finished (or stop it), or use another --state-dir",
        .dir.display(),
        .holder.as_ref().map(|h| h.to_string()).unwrap_or_else(|| "its owner is not known yet (it has just started)".into())
    )]
    Busy {
        /// The state directory.
        dir: PathBuf,
        /// The holder, when its owner file could be read.
        holder: Option<LockHolder>,
    },
    /// The path exists and is not a directory.
    #[error("the state directory {} is not a directory (it is a file): pass --state-dir with a directory (keystation creates it if it does not exist), or move the file away", .0.display())]
    NotADirectory(PathBuf),
    /// The directory cannot be created or written by this user.
    #[error("keystation cannot write in the state directory {} ({reason}): make it writable for this user (e.g. chown or chmod it), or pass --state-dir with a writable directory; `keystation report` can still read it", .dir.display())]
    NotWritable {
        /// The state directory.
        dir: PathBuf,
        /// What the system said.
        reason: String,
    },
}

/// An exclusive claim on a state directory for this process. Dropping the last handle
/// releases it (so does the process ending).
#[derive(Debug)]
pub struct StationLock {
    dir: PathBuf,
    holder: LockHolder,
    // Field order matters: the owner file is removed (in `Drop`) before the lock goes.
    lock: Option<FileLock>,
}

fn held() -> &'static Mutex<HashMap<PathBuf, Weak<StationLock>>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, Weak<StationLock>>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

fn not_writable(dir: &Path, e: &std::io::Error) -> StateDirError {
    StateDirError::NotWritable { dir: dir.to_path_buf(), reason: e.to_string() }
}

/// Create the state directory if needed (0700 on Unix) and check that it is one.
pub fn ensure_dir(dir: &Path) -> Result<(), StateDirError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(StateDirError::NotADirectory(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(|e| match e.kind() {
                // A parent on the way is a file.
                std::io::ErrorKind::NotADirectory | std::io::ErrorKind::AlreadyExists => StateDirError::NotADirectory(dir.to_path_buf()),
                _ => not_writable(dir, &e),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(StateDirError::NotADirectory(dir.to_path_buf())),
        Err(e) => Err(not_writable(dir, &e)),
    }
}

/// What this process calls itself in the owner file: its command line.
fn this_command() -> String {
    let mut words: Vec<String> = std::env::args().collect();
    if let Some(first) = words.first_mut() {
        *first = Path::new(first.as_str()).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| first.clone());
    }
    let mut text = words.join(" ");
    if text.chars().count() > 200 {
        text = text.chars().take(200).collect::<String>() + "…";
    }
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The owner file of a state directory, if it can be read.
pub fn read_holder(dir: &Path) -> Option<LockHolder> {
    let text = std::fs::read_to_string(dir.join(OWNER_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The holder writes its owner file right after taking the lock; a process refused in
/// between, or one that finds the owner file of an earlier holder that died, waits a
/// moment for the current one.
fn wait_for_holder(dir: &Path) -> Option<LockHolder> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let holder = read_holder(dir);
        if holder.as_ref().is_some_and(|h| process_alive(h.pid)) || std::time::Instant::now() >= deadline {
            return holder;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

impl StationLock {
    /// Claim `dir` for this process (creating it if needed), or say who has it.
    pub fn acquire(dir: &Path) -> Result<Arc<StationLock>, StateDirError> {
        ensure_dir(dir)?;
        let key = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut registry = held().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = registry.get(&key).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        let lock = match FileLock::try_acquire(&dir.join(LOCK_FILE)) {
            Ok(l) => l,
            Err(LockError::Busy) => return Err(StateDirError::Busy { dir: dir.to_path_buf(), holder: wait_for_holder(dir) }),
            Err(LockError::Io(e)) if e.kind() == std::io::ErrorKind::NotADirectory => return Err(StateDirError::NotADirectory(dir.to_path_buf())),
            Err(LockError::Io(e)) => return Err(not_writable(dir, &e)),
        };
        let holder = LockHolder { pid: std::process::id(), command: this_command(), since: Utc::now(), host: host_name() };
        // Writing the owner file also proves the directory itself is writable (the
        // journal needs that for its -wal and -shm files).
        write_owner(dir, &holder).map_err(|e| not_writable(dir, &e))?;
        let lock = Arc::new(StationLock { dir: dir.to_path_buf(), holder, lock: Some(lock) });
        registry.retain(|_, w| w.strong_count() > 0);
        registry.insert(key, Arc::downgrade(&lock));
        Ok(lock)
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This process, as recorded in the owner file.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }
}

fn write_owner(dir: &Path, holder: &LockHolder) -> std::io::Result<()> {
    let tmp = dir.join(format!("{OWNER_FILE}.{}", std::process::id()));
    let text = serde_json::to_string_pretty(holder).map_err(std::io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = options.open(&tmp).and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes())).and_then(|_| std::fs::rename(&tmp, dir.join(OWNER_FILE)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Drop for StationLock {
    fn drop(&mut self) {
        // Only the holder writes the owner file, so it is ours to remove; then the lock.
        if read_holder(&self.dir).is_some_and(|h| h.pid == self.holder.pid && h.since == self.holder.since) {
            let _ = std::fs::remove_file(self.dir.join(OWNER_FILE));
        }
        self.lock.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_per_directory_and_shared_within_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let a = StationLock::acquire(&state).unwrap();
        let b = StationLock::acquire(&state).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the same process gets the lock it holds");
        let owner = read_holder(&state).unwrap();
        assert_eq!(owner.pid, std::process::id());
        // Another open of the lock file (what a second process does) is refused.
        assert!(matches!(FileLock::try_acquire(&state.join(LOCK_FILE)), Err(LockError::Busy)));
        drop(a);
        drop(b);
        assert!(read_holder(&state).is_none(), "the owner file goes with the lock");
        FileLock::try_acquire(&state.join(LOCK_FILE)).unwrap();
    }

    #[test]
    fn a_file_is_not_a_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = StationLock::acquire(&file).unwrap_err();
        assert!(matches!(e, StateDirError::NotADirectory(_)), "{e}");
        assert!(e.to_string().contains("is not a directory"), "{e}");
        let e = StationLock::acquire(&file.join("below")).unwrap_err();
        assert!(matches!(e, StateDirError::NotADirectory(_)), "{e}");
    }

    #[test]
    fn the_holder_reads_like_a_sentence() {
        let h = LockHolder { pid: 42, command: "keystation batch users.csv".into(), since: Utc::now() - chrono::Duration::seconds(5), host: None };
        let e = StateDirError::Busy { dir: "/srv/ks".into(), holder: Some(h) };
        let text = e.to_string();
        assert!(text.contains("process 42 (`keystation batch users.csv`)"), "{text}");
        assert!(text.contains("s ago"), "{text}");
    }
}
