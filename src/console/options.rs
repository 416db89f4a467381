//! How a console is started: where it listens, its secrets (read from the files the
//! configuration names), and how the desk and the hub run.
use super::auth::{Secrets, SessionLimits};
use crate::ceremony::RegistrationPath;
use crate::key::virtual_key::VirtualHub;
use crate::secret::SecretString;
use crate::station::config::ConsoleConfig;
use crate::station::demo::KeyFactory;
use crate::station::kiosk::KioskOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// HTTPS files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key.
    pub private_key: PathBuf,
}

/// Simulated people for virtual keys (`--virtual N`, the demo): they plug a key in when
/// the desk asks for one and take finished keys off the hub. Without them, a person (or
/// a test) plugs keys in.
#[derive(Clone)]
pub struct VirtualPeople {
    /// The virtual keys.
    pub hub: VirtualHub,
    /// Makes new blank keys (the demo); `None`: only the keys on the hub, each once.
    pub factory: Option<KeyFactory>,
    /// New keys the hub's operator may still plug in.
    pub spare_keys: usize,
    /// How long the hub's operator takes to take a finished key out, and to plug the
    /// next one in.
    pub pace: Duration,
    /// How long a person at the desk keeps the finished key in (reading the slip).
    pub linger: Duration,
}

impl std::fmt::Debug for VirtualPeople {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualPeople").field("factory", &self.factory.is_some()).field("spare_keys", &self.spare_keys).finish()
    }
}

/// Batch settings used when a batch is started from the hub page.
#[derive(Debug, Clone)]
pub struct BatchDefaults {
    /// Keys at once unless the upload says otherwise.
    pub concurrency: usize,
    /// Extra attempts per user in a run.
    pub retries: u32,
    /// Time a person gets to touch a key.
    pub touch_timeout: Duration,
    /// Registration path.
    pub via: Option<RegistrationPath>,
}

impl Default for BatchDefaults {
    fn default() -> Self {
        BatchDefaults { concurrency: 4, retries: 2, touch_timeout: Duration::from_secs(30), via: None }
    }
}

/// A console's settings.
pub struct ConsoleOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Extra host names it answers to.
    pub hostnames: Vec<String>,
    /// HTTPS, when configured.
    pub tls: Option<TlsFiles>,
    /// The operator's secrets.
    pub secrets: Secrets,
    /// How long a signed-in browser's session lasts.
    pub sessions: SessionLimits,
    /// The desk's kiosk settings.
    pub kiosk: KioskOptions,
    /// How long the desk waits for a PIN before the job stops.
    pub pin_timeout: Duration,
    /// Batches started from the hub page.
    pub batch: BatchDefaults,
    /// Simulated people for virtual keys.
    pub people: Option<VirtualPeople>,
    /// Where uploaded user lists are kept (so a re-upload of the same file continues
    /// its batch).
    pub uploads_dir: PathBuf,
}

impl std::fmt::Debug for ConsoleOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleOptions").field("listen", &self.listen).field("tls", &self.tls).field("people", &self.people).finish_non_exhaustive()
    }
}

impl ConsoleOptions {
    /// Loopback on a free port, no secrets, the default desk and batch settings: the
    /// starting point for tests and the demo.
    pub fn loopback(state_dir: &Path) -> ConsoleOptions {
        ConsoleOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            hostnames: Vec::new(),
            tls: None,
            secrets: Secrets::default(),
            sessions: SessionLimits::default(),
            kiosk: KioskOptions::default(),
            pin_timeout: Duration::from_secs(180),
            batch: BatchDefaults::default(),
            people: None,
            uploads_dir: state_dir.join("console-uploads"),
        }
    }

    /// From the configuration's `[console]` table: the listening address and the
    /// secrets read from their files (an unreadable or empty file is an error naming it).
    pub fn from_config(config: &ConsoleConfig, state_dir: &Path) -> Result<ConsoleOptions, String> {
        config.check().map_err(|(key, message)| format!("{key} {message}"))?;
        let mut options = ConsoleOptions::loopback(state_dir);
        options.listen = config.listen_addr()?;
        options.hostnames = config.hostnames.clone();
        options.tls = match (&config.tls_certificate, &config.tls_private_key) {
            (Some(c), Some(k)) => Some(TlsFiles { certificate: c.clone(), private_key: k.clone() }),
            _ => None,
        };
        options.sessions = SessionLimits {
            idle: Duration::from_secs(config.session_idle_timeout_seconds.into()),
            lifetime: Duration::from_secs(config.session_lifetime_seconds.into()),
        };
        options.secrets = Secrets {
            password: config.password_file.as_deref().map(|p| read_secret("console.password_file", p)).transpose()?,
            operator_pin: config.operator_pin_file.as_deref().map(|p| read_secret("console.operator_pin_file", p)).transpose()?,
            exit_sequence: config.exit_sequence_file.as_deref().map(|p| read_secret("console.exit_sequence_file", p)).transpose()?,
        };
        Ok(options)
    }
}

/// A secret from a file: its first line, without the line ending. Errors name the key
/// and the file, never the contents. A file others may read is refused.
pub fn read_secret(key: &str, path: &Path) -> Result<SecretString, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            return Err(format!("{key}: {} can be read by other accounts; make it private (chmod 600 {})", path.display(), path.display()));
        }
    }
    let raw = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))?);
    let secret = SecretString::new(raw.lines().next().unwrap_or("").trim_end_matches('\r'));
    if secret.is_empty() {
        return Err(format!("{key}: {} is empty; write the secret on its first line", path.display()));
    }
    Ok(secret)
}
