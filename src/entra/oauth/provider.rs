//! Token providers: what the Graph client asks for a bearer token before each call.
//!
//! * [`StaticToken`]: a token you already have (tests, short scripts).
//! * [`ClientCredentialsProvider`]: app-only; acquires with a secret or certificate and
//!   acquires again shortly before expiry.
//! * [`CachedSignIn`]: a sign-in from the token cache (`keystation login`); refreshes
//!   with the refresh token, rotates it in the cache, and drops entries that cannot be
//!   renewed any more.
use super::cache::{CacheFilter, CacheKey, CachedToken, GrantKind, TokenCache};
use super::error::OAuthErrorKind;
use super::token::TokenSet;
use super::{Authority, ClientCredential, OAuthClient, OAuthError, OAuthOptions, Scopes};
use crate::entra::cloud::parse_service_url;
use crate::secret::SecretString;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future (keeps [`TokenProvider`] object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Renew tokens this long before they expire, so a call never starts with a token that
/// dies in flight.
pub const DEFAULT_RENEW_MARGIN: Duration = Duration::from_secs(300);

/// Source of bearer tokens for Graph.
pub trait TokenProvider: Send + Sync {
    /// A token that is valid for a while yet.
    fn access_token(&self) -> BoxFuture<'_, Result<SecretString, OAuthError>>;

    /// Graph rejected the last token (401): get a new one if this provider can, or
    /// `None` when it cannot (the 401 then goes to the caller).
    fn renew(&self) -> BoxFuture<'_, Result<Option<SecretString>, OAuthError>> {
        Box::pin(async { Ok(None) })
    }
}

/// A fixed token.
#[derive(Debug, Clone)]
pub struct StaticToken(SecretString);

impl StaticToken {
    /// Wrap a token.
    pub fn new(token: SecretString) -> StaticToken {
        StaticToken(token)
    }
}

impl TokenProvider for StaticToken {
    fn access_token(&self) -> BoxFuture<'_, Result<SecretString, OAuthError>> {
        let t = self.0.clone();
        Box::pin(async move { Ok(t) })
    }
}

/// App-only tokens from the client credentials grant, kept in memory (and optionally
/// in the token cache so that `keystation whoami` sees them).
pub struct ClientCredentialsProvider {
    oauth: OAuthClient,
    credential: ClientCredential,
    scopes: Scopes,
    margin: Duration,
    cache: Option<TokenCache>,
    current: tokio::sync::Mutex<Option<TokenSet>>,
}

impl ClientCredentialsProvider {
    /// A provider for `scopes` (normally [`Scopes::graph_default`]).
    pub fn new(oauth: OAuthClient, credential: ClientCredential, scopes: Scopes) -> ClientCredentialsProvider {
        ClientCredentialsProvider { oauth, credential, scopes, margin: DEFAULT_RENEW_MARGIN, cache: None, current: tokio::sync::Mutex::new(None) }
    }

    /// Also write every acquired token to `cache`.
    pub fn with_cache(mut self, cache: TokenCache) -> ClientCredentialsProvider {
        self.cache = Some(cache);
        self
    }

    /// Renew this long before expiry (default 5 minutes).
    pub fn with_renew_margin(mut self, margin: Duration) -> ClientCredentialsProvider {
        self.margin = margin;
        self
    }

    /// Acquire a token into `slot`; returns it and, when there is a cache, the entry to
    /// mirror into it (after the slot's lock is released).
    async fn acquire(&self, slot: &mut Option<TokenSet>) -> Result<(SecretString, Option<CachedToken>), OAuthError> {
        let tokens = self.oauth.client_credentials(&self.credential, &self.scopes).await?;
        let entry = self.cache.as_ref().map(|_| {
            let grant = match self.credential {
                ClientCredential::Secret(_) => GrantKind::ClientSecret,
                ClientCredential::Certificate { .. } => GrantKind::ClientCertificate,
            };
            CachedToken::from_tokens(self.oauth.authority(), self.oauth.client_id(), grant, self.scopes.as_slice(), &tokens)
        });
        let token = tokens.access_token.clone();
        *slot = Some(tokens);
        Ok((token, entry))
    }

    /// Copy a fresh token into the cache, for `keystation whoami`. The token is already
    /// in hand, so a cache that cannot be written (another process holding its lock past
    /// the deadline, a full disk) is a warning, not a failed Graph call.
    async fn mirror(&self, entry: Option<CachedToken>) {
        if let (Some(cache), Some(entry)) = (&self.cache, entry)
            && let Err(e) = cache.put(entry).await
        {
            tracing::warn!("the new app-only token was not copied to the token cache (keystation whoami will not show it): {e}");
        }
    }

    async fn token(&self, force: bool) -> Result<SecretString, OAuthError> {
        // Held across the request so that concurrent callers share one acquisition, but
        // not across the cache write: callers waiting here get the token at once.
        let mut slot = self.current.lock().await;
        if !force && let Some(t) = slot.as_ref().filter(|t| !t.expires_within(self.margin)) {
            return Ok(t.access_token.clone());
        }
        let (token, entry) = self.acquire(&mut slot).await?;
        drop(slot);
        self.mirror(entry).await;
        Ok(token)
    }
}

impl TokenProvider for ClientCredentialsProvider {
    fn access_token(&self) -> BoxFuture<'_, Result<SecretString, OAuthError>> {
        Box::pin(self.token(false))
    }

    fn renew(&self) -> BoxFuture<'_, Result<Option<SecretString>, OAuthError>> {
        Box::pin(async move { self.token(true).await.map(Some) })
    }
}

/// A sign-in stored in the token cache.
pub struct CachedSignIn {
    oauth: OAuthClient,
    cache: TokenCache,
    key: CacheKey,
    credential: Option<ClientCredential>,
    margin: Duration,
    current: tokio::sync::Mutex<Option<CachedToken>>,
}

/// What [`ensure_fresh`] did with a cache entry.
#[derive(Debug)]
pub enum Freshness {
    /// Still valid; nothing done.
    Valid(CachedToken),
    /// Renewed (refresh token rotated, or app-only token acquired again) and saved.
    Renewed(CachedToken),
    /// Could not be renewed (no refresh token, or the refresh token was refused) and
    /// was removed from the cache.
    Dropped(CacheKey),
}

/// The OAuth client that belongs to a cache key.
pub fn client_for_key(key: &CacheKey, options: &OAuthOptions) -> Result<OAuthClient, OAuthError> {
    let host = parse_service_url(&key.authority, "authority").map_err(|e| OAuthError::Cache(e.0))?;
    OAuthClient::new(Authority::new(host, &key.tenant)?, &key.client_id, options)
}

/// Make sure `entry` is valid for at least `margin`: keep it, renew it (refresh token,
/// or `credential` for app-only entries) and save it, or drop it from the cache when it
/// cannot be renewed. Network failures are returned as errors and drop nothing.
pub async fn ensure_fresh(
    oauth: &OAuthClient,
    cache: &TokenCache,
    entry: CachedToken,
    credential: Option<&ClientCredential>,
    margin: Duration,
) -> Result<Freshness, OAuthError> {
    if !entry.expires_within(margin) {
        return Ok(Freshness::Valid(entry));
    }
    let scopes = Scopes::from_list(&entry.scopes);
    let renewed = if let Some(refresh) = entry.refresh_token.clone() {
        match oauth.refresh(&refresh, Some(&scopes), credential).await {
            Ok(tokens) => Some(tokens),
            Err(e) if matches!(e.kind(), Some(OAuthErrorKind::InvalidGrant | OAuthErrorKind::InteractionRequired)) => {
                tracing::info!(account = %entry.key.account, "refresh token refused; dropping the cached sign-in");
                None
            }
            Err(e) => return Err(e),
        }
    } else if let (true, Some(c)) = (entry.grant.is_app_only(), credential) {
        Some(oauth.client_credentials(c, &scopes).await?)
    } else {
        None
    };
    match renewed {
        Some(tokens) => {
            let mut fresh = CachedToken::from_tokens(oauth.authority(), oauth.client_id(), entry.grant, &entry.scopes, &tokens);
            // Keep the key the entry was found under, even if the token now names the
            // account differently.
            fresh.key = entry.key.clone();
            cache.put(fresh.clone()).await?;
            Ok(Freshness::Renewed(fresh))
        }
        None => {
            let key = entry.key.clone();
            cache.remove(&CacheFilter {
                authority: Some(key.authority.clone()),
                tenant: Some(key.tenant.clone()),
                client_id: Some(key.client_id.clone()),
                account: Some(key.account.clone()),
            })
            .await?;
            Ok(Freshness::Dropped(key))
        }
    }
}

impl CachedSignIn {
    /// Use the one cached sign-in that matches `filter`. Several matches are an error
    /// unless they are for the same key; none is [`OAuthError::NotSignedIn`]. Reads the
    /// cache in the calling thread: for set-up code (the station opens it once).
    pub fn open(cache: TokenCache, filter: &CacheFilter, options: &OAuthOptions) -> Result<CachedSignIn, OAuthError> {
        let found = cache.find_blocking(filter)?;
        let entry = match found.as_slice() {
            [] => {
                return Err(OAuthError::NotSignedIn(format!(
                    "no cached sign-in{} in {}; run keystation login first",
                    if filter.is_empty() { String::new() } else { " matches the given tenant/client/account".into() },
                    cache.path().display()
                )))
            }
            [one] => one.clone(),
            many => {
                let list: Vec<String> = many.iter().map(|e| format!("{} ({}, client {})", e.key.account, e.key.tenant, e.key.client_id)).collect();
                return Err(OAuthError::NotSignedIn(format!(
                    "{} cached sign-ins match: {}; choose one with --tenant, --client-id or --account",
                    many.len(),
                    list.join("; ")
                )));
            }
        };
        let oauth = client_for_key(&entry.key, options)?;
        Ok(CachedSignIn {
            oauth,
            cache,
            key: entry.key.clone(),
            credential: None,
            margin: DEFAULT_RENEW_MARGIN,
            current: tokio::sync::Mutex::new(Some(entry)),
        })
    }

    /// Let app-only entries be acquired again with this credential when they expire.
    pub fn with_credential(mut self, credential: ClientCredential) -> CachedSignIn {
        self.credential = Some(credential);
        self
    }

    /// Renew this long before expiry (default 5 minutes).
    pub fn with_renew_margin(mut self, margin: Duration) -> CachedSignIn {
        self.margin = margin;
        self
    }

    /// The cache key in use.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    async fn fresh(&self, force: bool) -> Result<SecretString, OAuthError> {
        // Waits here are all async and bounded (the network's timeouts, the cache lock's
        // deadline); nothing blocks a runtime thread while this is held.
        let mut slot = self.current.lock().await;
        if !force && let Some(e) = slot.as_ref().filter(|e| !e.expires_within(self.margin)) {
            return Ok(e.access_token.clone());
        }
        // Another process may have refreshed (and rotated) meanwhile: start from the file.
        let entry = match self.cache.get(&self.key).await? {
            Some(e) => e,
            None => slot.take().ok_or_else(|| OAuthError::NotSignedIn("the cached sign-in was removed (keystation logout?); run keystation login".into()))?,
        };
        let margin = if force { Duration::from_secs(u32::MAX as u64) } else { self.margin };
        match ensure_fresh(&self.oauth, &self.cache, entry, self.credential.as_ref(), margin).await? {
            Freshness::Valid(e) | Freshness::Renewed(e) => {
                let token = e.access_token.clone();
                *slot = Some(e);
                Ok(token)
            }
            Freshness::Dropped(key) => {
                *slot = None;
                Err(OAuthError::NotSignedIn(format!(
                    "the cached sign-in of {} expired and cannot be renewed; run keystation login again",
                    key.account
                )))
            }
        }
    }
}

impl TokenProvider for CachedSignIn {
    fn access_token(&self) -> BoxFuture<'_, Result<SecretString, OAuthError>> {
        Box::pin(self.fresh(false))
    }

    fn renew(&self) -> BoxFuture<'_, Result<Option<SecretString>, OAuthError>> {
        Box::pin(async move {
            let can_renew = self.cache.get(&self.key).await?.is_some_and(|e| e.refresh_token.is_some() || (e.grant.is_app_only() && self.credential.is_some()));
            if !can_renew {
                return Ok(None);
            }
            self.fresh(true).await.map(Some)
        })
    }
}
