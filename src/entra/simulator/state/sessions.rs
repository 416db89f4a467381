//! Browser-side state: sign-in flows, login sessions (login host cookie), authorization
//! codes, Security-info sessions (mysignins host cookie) and key provisioning requests.
use crate::entra::simulator::seed::CeremonyVariant;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Where a sign-in flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStage {
    Username,
    AccessPass,
    /// The pass was accepted; `interrupts` are shown one by one.
    Interrupts,
}

/// A page between the accepted pass and the redirect back to Security info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// "More information required"; `skippable` shows "Skip for now".
    ProofUp { skippable: bool },
    /// "Stay signed in?".
    Kmsi,
    /// "Pick an account" (a second sign-in prompt).
    PickAccount,
    /// An interstitial no flow knows ("Review the updated terms", Continue).
    Interstitial,
}

/// An authorize request being worked through (keyed by its flow token).
#[derive(Debug, Clone)]
pub struct LoginFlow {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub user_id: Option<String>,
    pub created: DateTime<Utc>,
    pub stage: FlowStage,
    /// The session the flow will create once the interrupts are through.
    pub pending: Option<LoginSession>,
    /// Interrupts still to show, first one on screen.
    pub interrupts: Vec<Interrupt>,
    /// The login session (`ESTSAUTH`) created when the pass was accepted, before the
    /// interrupts: a window that loses its way on one can sign in again by SSO.
    pub session_id: Option<String>,
}

/// A signed-in browser on the login host.
#[derive(Debug, Clone)]
pub struct LoginSession {
    pub user_id: String,
    pub signed_in: DateTime<Utc>,
    /// The sign-in satisfied multi-factor authentication.
    pub mfa: bool,
    pub via_one_time_tap: bool,
    /// The session (and any key registration) ends here: 10 minutes after a one-time TAP
    /// sign-in, or when a multi-use TAP expires.
    pub deadline: DateTime<Utc>,
    pub persistent: bool,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub session: LoginSession,
    pub expires: DateTime<Utc>,
}

/// What kind of method the Security-info page is adding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddKind {
    /// "Security key" (Type 12).
    SecurityKey,
    /// "Passkey" (Type 18).
    Passkey,
}

/// Where a provisioning request stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ProvisionStatus {
    Issued,
    Completed { method_id: String },
    Failed { code: String, message: String },
}

/// One "add a security key" attempt started from Security info.
#[derive(Debug, Clone)]
pub struct Provision {
    pub canary: String,
    pub portal_session: String,
    pub user_id: String,
    pub server_challenge: String,
    pub kind: AddKind,
    pub variant: CeremonyVariant,
    pub created: DateTime<Utc>,
    pub status: ProvisionStatus,
}

/// All browser-side state.
#[derive(Debug, Default)]
pub struct PagesState {
    pub flows: HashMap<String, LoginFlow>,
    pub login_sessions: HashMap<String, LoginSession>,
    pub codes: HashMap<String, AuthCode>,
    /// Security-info sessions (cookie value → session).
    pub portal_sessions: HashMap<String, LoginSession>,
    pub provisions: HashMap<String, Provision>,
    /// Test-control override of the ceremony variant for everyone.
    pub ceremony_override: Option<CeremonyVariant>,
}
