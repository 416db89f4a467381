//! The token cache: one file per station (`{state_dir}/tokens/token-cache.json`, mode
//! 0600 in a 0700 directory) holding one entry per (authority, tenant, client, account).
//!
//! Writers lock the directory and replace the file atomically, so several keystation
//! processes can share it. Entries whose access token has expired and that have no
//! refresh token are dropped whenever the file is written.
//!
//! The API is async and safe to call from the runtime: file work runs on tokio's
//! blocking pool, and the lock is never waited for in a blocking call. Another process
//! holding the lock delays a writer at most [`DEFAULT_LOCK_TIMEOUT`] (or
//! [`TokenCache::with_lock_timeout`]); then the write fails with an error naming the lock
//! file and its holder. Readers never take the lock (the file is replaced atomically).
//! [`TokenCache::entries_blocking`] is for synchronous set-up code outside the runtime.
mod store;

use super::claims::TokenClaims;
use super::token::TokenSet;
use super::{Authority, OAuthError};
use crate::secret::SecretString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroize;

const FILE_NAME: &str = "token-cache.json";

/// How long a writer waits for another process to release the cache lock.
pub const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const FORMAT_VERSION: u32 = 1;

/// The account name of app-only entries (there is no user).
pub const APP_ONLY_ACCOUNT: &str = "(app-only)";

/// What identifies a cache entry. All parts are compared case-insensitively (they are
/// stored lower-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CacheKey {
    /// Authority host URL, e.g. `https://login.microsoftonline.com`.
    pub authority: String,
    /// The tenant as given at sign-in (GUID or domain).
    pub tenant: String,
    /// Application (client) id.
    pub client_id: String,
    /// The user's sign-in name, or [`APP_ONLY_ACCOUNT`].
    pub account: String,
}

impl CacheKey {
    /// The key for `account` signed in through `client_id` at `authority`.
    pub fn new(authority: &Authority, client_id: &str, account: &str) -> CacheKey {
        CacheKey {
            authority: authority.host_key(),
            tenant: authority.tenant().to_ascii_lowercase(),
            client_id: client_id.trim().to_ascii_lowercase(),
            account: account.trim().to_ascii_lowercase(),
        }
    }
}

/// How the cached token was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// Delegated: device-code sign-in of an admin.
    DeviceCode,
    /// App-only with a client secret.
    ClientSecret,
    /// App-only with a certificate.
    ClientCertificate,
}

impl GrantKind {
    /// True for client-credential grants.
    pub fn is_app_only(self) -> bool {
        !matches!(self, GrantKind::DeviceCode)
    }

    /// `device_code`, `client_secret`, `client_certificate`.
    pub fn name(self) -> &'static str {
        match self {
            GrantKind::DeviceCode => "device_code",
            GrantKind::ClientSecret => "client_secret",
            GrantKind::ClientCertificate => "client_certificate",
        }
    }
}

/// One cached sign-in.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// Where it belongs.
    pub key: CacheKey,
    /// How it was obtained.
    pub grant: GrantKind,
    /// The tenant id the token was issued in (`tid`), when readable.
    pub tenant_id: Option<String>,
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token (delegated sign-ins with `offline_access`).
    pub refresh_token: Option<SecretString>,
    /// Expiry of the access token.
    pub expires_at: DateTime<Utc>,
    /// The scopes asked for at sign-in (used again when refreshing).
    pub scopes: Vec<String>,
    /// Last time this entry was written.
    pub updated_at: DateTime<Utc>,
}

impl CachedToken {
    /// Build an entry from a fresh token answer. The account is the user's sign-in name
    /// read from the ID token or the access token (for display and keying only), or
    /// [`APP_ONLY_ACCOUNT`] for client-credential grants.
    pub fn from_tokens(authority: &Authority, client_id: &str, grant: GrantKind, requested_scopes: &[String], tokens: &TokenSet) -> CachedToken {
        let id_claims = tokens.id_claims();
        let access_claims = tokens.claims();
        let account = if grant.is_app_only() {
            APP_ONLY_ACCOUNT.to_string()
        } else {
            id_claims
                .as_ref()
                .and_then(|c| c.account().map(str::to_string))
                .or_else(|| access_claims.as_ref().and_then(|c| c.account().map(str::to_string)))
                .or_else(|| id_claims.as_ref().and_then(|c| c.oid.clone()))
                .or_else(|| access_claims.as_ref().and_then(|c| c.oid.clone()))
                .unwrap_or_else(|| "unknown-user".into())
        };
        let tenant_id = access_claims.as_ref().and_then(|c| c.tid.clone()).or_else(|| id_claims.as_ref().and_then(|c| c.tid.clone()));
        CachedToken {
            key: CacheKey::new(authority, client_id, &account),
            grant,
            tenant_id,
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
            expires_at: tokens.expires_at,
            scopes: requested_scopes.to_vec(),
            updated_at: Utc::now(),
        }
    }

    /// The access token's claims (unverified; for display).
    pub fn claims(&self) -> Option<TokenClaims> {
        TokenClaims::peek(self.access_token.expose())
    }

    /// True when the access token expires within `margin` (or already has).
    pub fn expires_within(&self, margin: std::time::Duration) -> bool {
        let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::zero());
        self.expires_at - margin <= Utc::now()
    }

    /// Neither usable now nor renewable: safe to forget.
    pub fn is_dead(&self) -> bool {
        self.refresh_token.is_none() && self.expires_within(std::time::Duration::ZERO)
    }
}

/// Selects cache entries; `None` fields match anything, given ones compare
/// case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct CacheFilter {
    /// Authority host URL.
    pub authority: Option<String>,
    /// Tenant as given at sign-in, or the tenant id.
    pub tenant: Option<String>,
    /// Client id.
    pub client_id: Option<String>,
    /// Account (user sign-in name, or `(app-only)`).
    pub account: Option<String>,
}

impl CacheFilter {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.authority.is_none() && self.tenant.is_none() && self.client_id.is_none() && self.account.is_none()
    }

    /// Does `entry` match?
    pub fn matches(&self, entry: &CachedToken) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_ref().is_none_or(|w| w.trim().eq_ignore_ascii_case(have));
        let authority_ok = self.authority.as_ref().is_none_or(|a| a.trim().trim_end_matches('/').eq_ignore_ascii_case(&entry.key.authority));
        let tenant_ok = eq(&self.tenant, &entry.key.tenant) || self.tenant.as_ref().zip(entry.tenant_id.as_ref()).is_some_and(|(w, t)| w.eq_ignore_ascii_case(t));
        authority_ok && tenant_ok && eq(&self.client_id, &entry.key.client_id) && eq(&self.account, &entry.key.account)
    }
}

/// The cache file.
#[derive(Debug, Clone)]
pub struct TokenCache {
    path: PathBuf,
    lock_timeout: std::time::Duration,
}

#[derive(Serialize, Deserialize)]
struct FileWire {
    version: u32,
    entries: Vec<EntryWire>,
}

#[derive(Serialize, Deserialize)]
struct EntryWire {
    authority: String,
    tenant: String,
    client_id: String,
    account: String,
    grant: GrantKind,
    #[serde(default)]
    tenant_id: Option<String>,
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    expires_at: DateTime<Utc>,
    #[serde(default)]
    scopes: Vec<String>,
    updated_at: DateTime<Utc>,
}

impl Drop for EntryWire {
    fn drop(&mut self) {
        self.access_token.zeroize();
        if let Some(r) = self.refresh_token.as_mut() {
            r.zeroize();
        }
    }
}

impl EntryWire {
    fn from_entry(e: &CachedToken) -> EntryWire {
        EntryWire {
            authority: e.key.authority.clone(),
            tenant: e.key.tenant.clone(),
            client_id: e.key.client_id.clone(),
            account: e.key.account.clone(),
            grant: e.grant,
            tenant_id: e.tenant_id.clone(),
            access_token: e.access_token.expose().to_string(),
            refresh_token: e.refresh_token.as_ref().map(|r| r.expose().to_string()),
            expires_at: e.expires_at,
            scopes: e.scopes.clone(),
            updated_at: e.updated_at,
        }
    }

    fn to_entry(&self) -> CachedToken {
        CachedToken {
            key: CacheKey {
                authority: self.authority.to_ascii_lowercase(),
                tenant: self.tenant.to_ascii_lowercase(),
                client_id: self.client_id.to_ascii_lowercase(),
                account: self.account.to_ascii_lowercase(),
            },
            grant: self.grant,
            tenant_id: self.tenant_id.clone(),
            access_token: SecretString::new(self.access_token.clone()),
            refresh_token: self.refresh_token.clone().map(SecretString::new),
            expires_at: self.expires_at,
            scopes: self.scopes.clone(),
            updated_at: self.updated_at,
        }
    }
}

impl TokenCache {
    /// The station's cache: `{state_dir}/tokens/token-cache.json`.
    pub fn in_state_dir(state_dir: &Path) -> TokenCache {
        TokenCache::at(state_dir.join("tokens").join(FILE_NAME))
    }

    /// A cache at an explicit path (its directory is created 0700 when first written).
    pub fn at(path: PathBuf) -> TokenCache {
        TokenCache { path, lock_timeout: DEFAULT_LOCK_TIMEOUT }
    }

    /// Wait at most `timeout` for another process's lock before a write fails.
    pub fn with_lock_timeout(mut self, timeout: std::time::Duration) -> TokenCache {
        self.lock_timeout = timeout;
        self
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> PathBuf {
        self.path.parent().unwrap_or_else(|| Path::new(".")).to_path_buf()
    }

    /// Every entry (including expired ones that can still be refreshed), read in the
    /// calling thread: for synchronous set-up code, not for the async runtime.
    pub fn entries_blocking(&self) -> Result<Vec<CachedToken>, OAuthError> {
        read_entries(&self.path)
    }

    /// [`TokenCache::find`], read in the calling thread (see [`TokenCache::entries_blocking`]).
    pub fn find_blocking(&self, filter: &CacheFilter) -> Result<Vec<CachedToken>, OAuthError> {
        Ok(select(self.entries_blocking()?, filter))
    }

    /// Every entry (including expired ones that can still be refreshed).
    pub async fn entries(&self) -> Result<Vec<CachedToken>, OAuthError> {
        let path = self.path.clone();
        off_runtime(move || read_entries(&path)).await
    }

    /// Entries matching `filter`, most recently updated first.
    pub async fn find(&self, filter: &CacheFilter) -> Result<Vec<CachedToken>, OAuthError> {
        Ok(select(self.entries().await?, filter))
    }

    /// The entry with exactly this key.
    pub async fn get(&self, key: &CacheKey) -> Result<Option<CachedToken>, OAuthError> {
        Ok(self.entries().await?.into_iter().find(|e| &e.key == key))
    }

    /// Insert or replace the entry with `entry.key`.
    pub async fn put(&self, entry: CachedToken) -> Result<(), OAuthError> {
        self.update(move |entries| {
            entries.retain(|e| e.key != entry.key);
            entries.push(entry);
        })
        .await
    }

    /// Remove the entries matching `filter`; returns their keys.
    pub async fn remove(&self, filter: &CacheFilter) -> Result<Vec<CacheKey>, OAuthError> {
        let filter = filter.clone();
        self.update(move |entries| {
            let mut removed = Vec::new();
            entries.retain(|e| {
                let hit = filter.matches(e);
                if hit {
                    removed.push(e.key.clone());
                }
                !hit
            });
            removed
        })
        .await
    }

    /// Locked read-modify-write. Dead entries (expired, no refresh token) are dropped.
    /// The lock is awaited without blocking (at most the lock timeout); the file work
    /// runs on the blocking pool with the lock held.
    async fn update<R: Send + 'static>(&self, change: impl FnOnce(&mut Vec<CachedToken>) -> R + Send + 'static) -> Result<R, OAuthError> {
        let dir = self.dir();
        let made = dir.clone();
        off_runtime(move || store::ensure_private_dir(&made).map_err(OAuthError::Cache)).await?;
        let lock = store::CacheLock::acquire(&dir, self.lock_timeout).await.map_err(OAuthError::Cache)?;
        let path = self.path.clone();
        off_runtime(move || {
            lock.say_who_holds_it();
            let mut entries = read_entries(&path)?;
            let result = change(&mut entries);
            entries.retain(|e| !e.is_dead());
            let wire = FileWire { version: FORMAT_VERSION, entries: entries.iter().map(EntryWire::from_entry).collect() };
            let text = zeroize::Zeroizing::new(
                serde_json::to_vec_pretty(&wire).map_err(|e| OAuthError::Cache(format!("cannot encode the cache: {e}")))?,
            );
            store::write_file(&path, &text).map_err(OAuthError::Cache)?;
            drop(lock);
            Ok(result)
        })
        .await
    }
}

/// Run file work on tokio's blocking pool.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> Result<T, OAuthError> + Send + 'static) -> Result<T, OAuthError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| OAuthError::Cache(format!("the token cache task failed: {e}")))?
}

fn read_entries(path: &Path) -> Result<Vec<CachedToken>, OAuthError> {
    let Some(bytes) = store::read_file(path).map_err(OAuthError::Cache)? else {
        return Ok(Vec::new());
    };
    let wire: FileWire = serde_json::from_slice(&bytes)
        .map_err(|e| OAuthError::Cache(format!("{} is damaged ({e}); delete it (keystation logout --all) and sign in again", path.display())))?;
    if wire.version != FORMAT_VERSION {
        return Err(OAuthError::Cache(format!(
            "{} has format version {} but this keystation reads version {FORMAT_VERSION}; sign in again after keystation logout --all",
            path.display(),
            wire.version
        )));
    }
    Ok(wire.entries.iter().map(EntryWire::to_entry).collect())
}

fn select(entries: Vec<CachedToken>, filter: &CacheFilter) -> Vec<CachedToken> {
    let mut found: Vec<CachedToken> = entries.into_iter().filter(|e| filter.matches(e)).collect();
    found.sort_by_key(|e| std::cmp::Reverse(e.updated_at));
    found
}

#[cfg(test)]
mod tests;
