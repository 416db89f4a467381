//! Why a virtual key (or its attestation CA) could not be set up.
use std::path::{Path, PathBuf};

/// Setup errors; every message says what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VirtualKeyError {
    /// Another process (or another key object in this one) drives this state file.
    #[error("the virtual key state {} is in use by another keystation process; stop that process or use another --virtual-state directory", path.display())]
    StateInUse {
        /// The state file.
        path: PathBuf,
    },
    /// The state file exists but cannot be used.
    #[error("cannot use the virtual key state {}: {reason}; delete it (the key then starts blank) or use another --virtual-state directory", path.display())]
    StateCorrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("cannot access {}: {reason}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error text.
        reason: String,
    },
    /// The attestation CA or certificate could not be made or loaded.
    #[error("virtual key attestation: {0}")]
    Attestation(String),
    /// The firmware thread could not be started.
    #[error("cannot start the virtual key's firmware thread: {0}")]
    Spawn(String),
}

impl VirtualKeyError {
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> VirtualKeyError {
        VirtualKeyError::Io { path: path.to_path_buf(), reason: e.to_string() }
    }
}

impl From<VirtualKeyError> for crate::key::KeyError {
    fn from(e: VirtualKeyError) -> Self {
        // Transport keeps the whole actionable text (which file, what to do).
        crate::key::KeyError::Transport(e.to_string())
    }
}
