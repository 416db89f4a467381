//! The seam between the station's pipeline and the two ways of registering a key.
//!
//! The pipeline prepares the key (PIN set), picks the display name and, for the browser
//! path, issues a TAP; then it hands over to a [`Registrar`]:
//!
//! * the **direct Graph** registrar: `fido2Methods/creationOptions` → makeCredential on
//!   the key → `POST fido2Methods`;
//! * the **browser** registrar: a private Chromium context signs in as the user with the
//!   TAP and walks the Security-info pages, while keystation answers the page's
//!   `navigator.credentials.create` with makeCredential on the key.
//!
//! Both report back through a [`RegistrationObserver`] *before* each side effect, so the
//! journal holds an intent on disk before a credential is made on the key or submitted to
//! Entra (see `docs/journal.md`). If the observer refuses (the journal could not write),
//! the registrar stops without doing the side effect.
use crate::ceremony::webauthn::{BoxFuture, CancelToken};
use crate::entra::graph::GraphError;
use crate::key::worker::KeyHandle;
use crate::key::KeyError;
use crate::secret::SecretString;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Which registration path (`graph` or `browser` in config files and on `--via`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationPath {
    /// `fido2Methods/creationOptions` + `POST fido2Methods` with an admin app's token.
    #[default]
    Graph,
    /// Microsoft's sign-in and Security-info pages in Chromium, signed in with a TAP.
    Browser,
}

impl RegistrationPath {
    /// `graph` or `browser`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationPath::Graph => "graph",
            RegistrationPath::Browser => "browser",
        }
    }
}

impl std::fmt::Display for RegistrationPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the pipeline asks a registrar to do for one user and one prepared key.
#[derive(Debug, Clone)]
pub struct RegistrationRequest {
    /// The user's Entra object id.
    pub user_id: String,
    /// The user's UPN (sign-in name on the browser path).
    pub upn: String,
    /// Name for the new method (≤ 30 characters, already distinct among the user's methods).
    pub display_name: String,
    /// The PIN the key now has; used for the PIN/UV auth token of makeCredential.
    pub pin: SecretString,
    /// Browser path: the Temporary Access Pass to sign in with. `None` on the Graph path.
    pub tap: Option<SecretString>,
    /// Where to keep evidence of this attempt (browser path: a screenshot per step, kept
    /// when the registration fails). The pipeline makes it per job under the state dir.
    pub evidence_dir: Option<std::path::PathBuf>,
}

/// A credential made on the key that is about to be submitted to Entra.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRegistration {
    pub credential_id: Vec<u8>,
    pub aaguid: [u8; 16],
    pub display_name: String,
    /// SHA-256 of the challenge the credential answers (never the challenge itself).
    pub challenge_sha256: [u8; 32],
    /// When Entra stops accepting that challenge, if known.
    pub challenge_expires_at: Option<DateTime<Utc>>,
}

/// A registration Entra accepted and keystation has confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The fido2AuthenticationMethod id.
    pub method_id: String,
    pub credential_id: Vec<u8>,
    pub aaguid: [u8; 16],
    pub display_name: String,
    pub created: Option<DateTime<Utc>>,
    pub path: RegistrationPath,
}

/// The pipeline's side of a registration: journal intents and progress for the operator.
pub trait RegistrationObserver: Send + Sync {
    /// Called just before makeCredential runs on the key. An `Err` (e.g. the journal
    /// could not write the intent) stops the registration before the key is touched.
    fn before_make_credential(&self) -> BoxFuture<'_, Result<(), String>>;
    /// Called after makeCredential and before the credential is submitted to Entra
    /// (Graph POST, or handing the credential to the page). An `Err` stops before submit.
    fn before_submit(&self, pending: &PendingRegistration) -> BoxFuture<'_, Result<(), String>>;
    /// A short progress note for the operator ("asking Graph for creation options",
    /// "touch the key", "signing in as the user", ...). Never contains secrets.
    fn progress(&self, step: &str);
}

/// Why a registration did not happen (or did not complete).
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// The key failed or refused (PIN, touch, removed, excluded...).
    #[error("{0}")]
    Key(#[from] KeyError),
    /// Microsoft Graph refused or failed.
    #[error("{0}")]
    Graph(#[from] GraphError),
    /// The browser could not be started or driven; `screenshots` were taken per step.
    #[error("browser: {message}")]
    Browser { message: String, missing_component: bool },
    /// The Microsoft (or simulator) pages showed a known error, e.g. key limit reached,
    /// MFA required, TAP invalid or expired, more information required.
    #[error("{message}")]
    Page { code: String, message: String },
    /// The tenant's policy forbids this registration (AAGUID blocked, user out of scope...).
    #[error("{0}")]
    Policy(String),
    /// The registration could not be confirmed in time (manual mode, slow replication).
    #[error("the registration was not confirmed within {0:?}; check the user's security info")]
    NotConfirmed(std::time::Duration),
    /// The journal refused to record an intent; nothing further was done.
    #[error("the journal could not record the next step: {0}")]
    Journal(String),
    #[error("the registration was cancelled")]
    Cancelled,
    /// Anything else, with an operator-facing message.
    #[error("{0}")]
    Other(String),
}

/// One registration path. Implementations: `ceremony::graph_direct` and `ceremony::browser`.
pub trait Registrar: Send + Sync {
    fn path(&self) -> RegistrationPath;
    /// Register a credential made on `key` for the user in `request`.
    fn register<'a>(
        &'a self,
        key: &'a Arc<KeyHandle>,
        request: &'a RegistrationRequest,
        observer: &'a dyn RegistrationObserver,
        cancel: CancelToken,
    ) -> BoxFuture<'a, Result<Registered, CeremonyError>>;
}
