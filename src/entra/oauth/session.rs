//! Signing in and out as the CLI does it (`keystation login`, `whoami`, `logout`), as
//! library functions: run a grant, store the result in the token cache, and describe
//! cached sign-ins for display.
use super::cache::{CacheFilter, CacheKey, CachedToken, GrantKind, TokenCache};
use super::provider::{client_for_key, ensure_fresh, Freshness};
use super::{Authority, ClientCredential, DeviceCodeEvent, OAuthClient, OAuthError, OAuthOptions, Scopes};
use crate::entra::cloud::CloudEndpoints;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;
use crate::CancelToken;

/// How to sign in.
#[derive(Debug, Clone)]
pub enum LoginMethod {
    /// Delegated admin, device authorization grant.
    DeviceCode,
    /// App-only, client credentials grant.
    AppOnly(ClientCredential),
}

/// Everything `login` needs.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// Authority and Graph hosts.
    pub endpoints: CloudEndpoints,
    /// Tenant id or domain.
    pub tenant: String,
    /// Application (client) id.
    pub client_id: String,
    /// Grant.
    pub method: LoginMethod,
    /// Scopes; default: `{graph}/.default` (+ `offline_access openid profile` for
    /// device code), i.e. whatever permissions the app registration was granted.
    pub scopes: Option<Scopes>,
    /// HTTP and retry settings.
    pub options: OAuthOptions,
}

impl LoginRequest {
    /// The scopes that will be asked for.
    pub fn effective_scopes(&self) -> Scopes {
        match (&self.scopes, &self.method) {
            (Some(s), LoginMethod::DeviceCode) => s.clone().with_offline_access(),
            (Some(s), LoginMethod::AppOnly(_)) => s.clone(),
            (None, LoginMethod::DeviceCode) => {
                let graph = self.endpoints.graph_host.as_str().trim_end_matches('/');
                Scopes::parse(&format!("{graph}/.default offline_access openid profile"), &self.endpoints.graph_host)
            }
            (None, LoginMethod::AppOnly(_)) => Scopes::graph_default(&self.endpoints.graph_host),
        }
    }
}

/// Sign in and store the result in `cache`. Device-code prompts and progress go to
/// `on_event`; `cancel` aborts the wait.
pub async fn login(
    request: &LoginRequest,
    cache: &TokenCache,
    on_event: &mut (dyn FnMut(DeviceCodeEvent<'_>) + Send),
    cancel: &CancelToken,
) -> Result<CachedToken, OAuthError> {
    let authority = Authority::new(request.endpoints.authority_host.clone(), &request.tenant)?;
    let oauth = OAuthClient::new(authority.clone(), &request.client_id, &request.options)?;
    let scopes = request.effective_scopes();
    let (tokens, grant) = match &request.method {
        LoginMethod::DeviceCode => (oauth.sign_in_with_device_code(&scopes, on_event, cancel).await?, GrantKind::DeviceCode),
        LoginMethod::AppOnly(credential) => {
            let grant = match credential {
                ClientCredential::Secret(_) => GrantKind::ClientSecret,
                ClientCredential::Certificate { .. } => GrantKind::ClientCertificate,
            };
            let tokens = tokio::select! {
                _ = cancel.cancelled() => return Err(OAuthError::Cancelled),
                r = oauth.client_credentials(credential, &scopes) => r?,
            };
            (tokens, grant)
        }
    };
    let entry = CachedToken::from_tokens(&authority, oauth.client_id(), grant, scopes.as_slice(), &tokens);
    cache.put(entry.clone()).await?;
    tracing::info!(account = %entry.key.account, grant = grant.name(), "signed in; token cached");
    Ok(entry)
}

/// A cached sign-in, described for humans and `--json` (no secrets).
#[derive(Debug, Clone, Serialize)]
pub struct SignInSummary {
    /// User sign-in name, or `(app-only)`.
    pub account: String,
    /// Display name of the user or the app, from the token.
    pub display_name: Option<String>,
    /// `device_code`, `client_secret`, `client_certificate`.
    pub grant: &'static str,
    /// True for app-only sign-ins.
    pub app_only: bool,
    /// Tenant as given at sign-in.
    pub tenant: String,
    /// Tenant id from the token.
    pub tenant_id: Option<String>,
    /// Application (client) id.
    pub client_id: String,
    /// Authority host.
    pub authority: String,
    /// Delegated permissions (`scp`).
    pub scopes: Vec<String>,
    /// Application permissions (`roles`).
    pub roles: Vec<String>,
    /// Directory roles of the signed-in admin (`wids`), by name where known.
    pub directory_roles: Vec<String>,
    /// Access token expiry.
    pub expires_at: DateTime<Utc>,
    /// Seconds left (negative when expired).
    pub expires_in_seconds: i64,
    /// A refresh token is cached.
    pub refreshable: bool,
    /// False when the access token is not a JWT (permissions then unknown).
    pub token_readable: bool,
}

impl SignInSummary {
    /// Describe a cache entry (reads the token's claims without verifying them).
    pub fn of(entry: &CachedToken) -> SignInSummary {
        let claims = entry.claims();
        let display_name = claims.as_ref().and_then(|c| if entry.grant.is_app_only() { c.app_displayname.clone() } else { c.name.clone() });
        SignInSummary {
            account: entry.key.account.clone(),
            display_name,
            grant: entry.grant.name(),
            app_only: entry.grant.is_app_only(),
            tenant: entry.key.tenant.clone(),
            tenant_id: entry.tenant_id.clone(),
            client_id: entry.key.client_id.clone(),
            authority: entry.key.authority.clone(),
            scopes: claims.as_ref().map(|c| c.scopes()).unwrap_or_default(),
            roles: claims.as_ref().map(|c| c.roles.clone()).unwrap_or_default(),
            directory_roles: claims
                .as_ref()
                .map(|c| c.wids.iter().map(|w| super::directory_role_name(w).map(str::to_string).unwrap_or_else(|| w.clone())).collect())
                .unwrap_or_default(),
            expires_at: entry.expires_at,
            expires_in_seconds: (entry.expires_at - Utc::now()).num_seconds(),
            refreshable: entry.refresh_token.is_some(),
            token_readable: claims.is_some(),
        }
    }
}

/// What `whoami` found for one cache entry.
#[derive(Debug, Clone, Serialize)]
pub struct WhoamiEntry {
    /// `valid`, `renewed`, or `dropped` (expired and not renewable: removed).
    pub status: &'static str,
    /// The sign-in (for dropped entries: as it was).
    #[serde(flatten)]
    pub sign_in: SignInSummary,
}

/// Describe the cached sign-ins matching `filter`, renewing those that expire within
/// `margin` and dropping those that cannot be renewed.
pub async fn whoami(cache: &TokenCache, filter: &CacheFilter, options: &OAuthOptions, margin: Duration) -> Result<Vec<WhoamiEntry>, OAuthError> {
    let mut out = Vec::new();
    for entry in cache.find(filter).await? {
        let before = SignInSummary::of(&entry);
        let oauth = client_for_key(&entry.key, options)?;
        let found = match ensure_fresh(&oauth, cache, entry, None, margin).await? {
            Freshness::Valid(e) => WhoamiEntry { status: "valid", sign_in: SignInSummary::of(&e) },
            Freshness::Renewed(e) => WhoamiEntry { status: "renewed", sign_in: SignInSummary::of(&e) },
            Freshness::Dropped(_) => WhoamiEntry { status: "dropped", sign_in: before },
        };
        out.push(found);
    }
    Ok(out)
}

/// Remove cached sign-ins. With an empty filter and `all == false`, only a single
/// cached sign-in is removed; several are an error that lists them.
pub async fn logout(cache: &TokenCache, filter: &CacheFilter, all: bool) -> Result<Vec<CacheKey>, OAuthError> {
    if filter.is_empty() && !all {
        let entries = cache.entries().await?;
        if entries.len() > 1 {
            let names: Vec<String> = entries.iter().map(|e| format!("{} ({}, client {})", e.key.account, e.key.tenant, e.key.client_id)).collect();
            return Err(OAuthError::Config(format!(
                "{} cached sign-ins: {}; pass --all, or choose with --tenant/--client-id/--account",
                entries.len(),
                names.join("; ")
            )));
        }
    }
    cache.remove(filter).await
}
