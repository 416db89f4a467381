//! Authority-side records: device codes, refresh tokens, used assertion ids.
use chrono::{DateTime, Utc};

/// Where a device code stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceCodeStatus {
    Pending,
    Approved { user_id: String },
    Declined,
    Redeemed,
}

/// One device authorization.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub user_code: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    /// The interval the client must keep (the advertised one).
    pub interval_secs: u64,
    pub last_poll: Option<DateTime<Utc>>,
    pub status: DeviceCodeStatus,
}

/// Refresh-token state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStatus {
    Active,
    /// Exchanged for a newer one.
    Rotated,
    /// Revoked (test control).
    Revoked,
}

/// What a refresh token stands for.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub client_id: String,
    pub user_id: String,
    /// Requested scopes, as given (OIDC scopes included).
    pub scopes: Vec<String>,
    pub issued: DateTime<Utc>,
    pub status: RefreshStatus,
}
