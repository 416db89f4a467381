//! Refresh-token rotation, the token cache and the cached-sign-in provider.
use super::common::*;
use keystation::entra::oauth::{
    self, CacheFilter, CachedSignIn, DeviceCodeEvent, GrantKind, LoginMethod, LoginRequest, OAuthError, OAuthErrorKind, Scopes, TokenCache, TokenProvider,
};
use keystation::entra::cloud::CloudEndpoints;
use reqwest::Url;
use keystation::CancelToken;

fn login_request(sim: &keystation::entra::simulator::SimulatorHandle, method: LoginMethod, client_id: &str) -> LoginRequest {
    LoginRequest {
        endpoints: CloudEndpoints::resolve(Some(sim.authority_host().as_str()), None).unwrap(),
        tenant: sim.tenant_id().to_string(),
        client_id: client_id.to_string(),
        method,
        scopes: None,
        options: oauth_options(),
    }
}

async fn device_login(sim: &keystation::entra::simulator::SimulatorHandle, cache: &TokenCache) -> oauth::CachedToken {
    sim.set_auto_approve(true, Some(ADMIN)).unwrap();
    let mut ignore = |_: DeviceCodeEvent<'_>| {};
    oauth::login(&login_request(sim, LoginMethod::DeviceCode, OPERATOR_APP), cache, &mut ignore, &CancelToken::new()).await.unwrap()
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_the_old_one_dies() {
    let sim = sim().await;
    sim.set_auto_approve(true, Some(ADMIN)).unwrap();
    let client = oauth(&sim, OPERATOR_APP);
    let scopes = Scopes::parse("User.Read.All offline_access", &Url::parse("https://graph.microsoft.com").unwrap());
    let mut ignore = |_: DeviceCodeEvent<'_>| {};
    let first = client.sign_in_with_device_code(&scopes, &mut ignore, &CancelToken::new()).await.unwrap();
    let rt1 = first.refresh_token.clone().unwrap();
    let second = client.refresh(&rt1, Some(&scopes), None).await.unwrap();
    let rt2 = second.refresh_token.clone().unwrap();
    assert_ne!(rt1, rt2, "the refresh token rotates");
    assert_ne!(first.access_token, second.access_token);
    let err = client.refresh(&rt1, Some(&scopes), None).await.unwrap_err();
    assert_eq!(err.kind(), Some(OAuthErrorKind::InvalidGrant), "{err:?}");
    assert!(err.to_string().contains("keystation login"), "{err}");
    client.refresh(&rt2, Some(&scopes), None).await.expect("the new one works");
}

#[tokio::test]
async fn login_stores_a_0600_entry_keyed_by_authority_tenant_client_and_account() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(dir.path());
    let entry = device_login(&sim, &cache).await;
    assert_eq!(entry.key.account, ADMIN);
    assert_eq!(entry.key.client_id, OPERATOR_APP);
    assert_eq!(entry.key.tenant, sim.tenant_id());
    assert_eq!(entry.key.authority, sim.authority_host().as_str().trim_end_matches('/'));
    assert_eq!(entry.grant, GrantKind::DeviceCode);
    assert!(entry.refresh_token.is_some());
    // App-only sign-in of another client lands in its own entry.
    let app = oauth::login(
        &login_request(&sim, LoginMethod::AppOnly(keystation::entra::oauth::ClientCredential::Secret(SECRET.into())), SECRET_APP),
        &cache,
        &mut |_| {},
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(app.key.account, keystation::entra::oauth::APP_ONLY_ACCOUNT);
    assert_eq!(cache.entries().await.unwrap().len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(cache.path()), 0o600);
        assert_eq!(mode(cache.path().parent().unwrap()), 0o700);
    }
    // The file holds the tokens (that is its job) and nothing else secret-looking leaks
    // into a Debug of the entry.
    assert!(!format!("{entry:?}").contains(entry.access_token.expose()));
}

#[tokio::test]
async fn the_cached_sign_in_refreshes_an_expiring_token_and_rotates_it_in_the_file() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(dir.path());
    let mut entry = device_login(&sim, &cache).await;
    let (old_at, old_rt) = (entry.access_token.clone(), entry.refresh_token.clone().unwrap());
    // Pretend the access token is about to expire.
    entry.expires_at = chrono::Utc::now() + chrono::Duration::seconds(30);
    cache.put(entry).await.unwrap();
    let provider = CachedSignIn::open(cache.clone(), &CacheFilter::default(), &oauth_options()).unwrap();
    let token = provider.access_token().await.unwrap();
    assert_ne!(token, old_at, "a fresh access token");
    let stored = cache.entries().await.unwrap().remove(0);
    assert_eq!(stored.access_token, token);
    assert_ne!(stored.refresh_token.clone().unwrap(), old_rt, "the stored refresh token was rotated");
    // And it works against Graph.
    let graph = graph_with(&sim, std::sync::Arc::new(provider));
    graph.get_user("alice@contoso.test").await.unwrap();
}

#[tokio::test]
async fn an_expired_entry_whose_refresh_token_was_revoked_is_dropped() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(dir.path());
    let mut entry = device_login(&sim, &cache).await;
    entry.expires_at = chrono::Utc::now() - chrono::Duration::seconds(5);
    cache.put(entry).await.unwrap();
    let status = control(&sim, reqwest::Method::POST, "refresh-tokens/revoke", serde_json::json!({})).await;
    assert!(status.is_success(), "{status}");
    let found = oauth::whoami(&cache, &CacheFilter::default(), &oauth_options(), std::time::Duration::from_secs(60)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].status, "dropped");
    assert!(cache.entries().await.unwrap().is_empty());
    let err = CachedSignIn::open(cache, &CacheFilter::default(), &oauth_options()).err().unwrap();
    assert!(matches!(err, OAuthError::NotSignedIn(_)), "{err:?}");
}

/// Another process (here: another open file description, which `flock` treats the
/// same) holding the token cache's lock, until dropped.
struct LockHolder(#[allow(dead_code)] std::fs::File);

impl LockHolder {
    fn hold(cache: &TokenCache) -> LockHolder {
        let dir = cache.path().parent().unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let file = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(dir.join(".lock")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a descriptor this test owns.
            assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0, "the test holds the lock");
        }
        LockHolder(file)
    }
}

/// App-only tokens are mirrored into the cache (for `whoami`); a held cache lock must
/// not stall the Graph calls that need a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_cache_lock_does_not_stall_graph_calls() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    // A short deadline keeps the test quick; the default is DEFAULT_LOCK_TIMEOUT.
    let cache = TokenCache::in_state_dir(dir.path()).with_lock_timeout(std::time::Duration::from_secs(2));
    let holder = LockHolder::hold(&cache);
    let provider = keystation::entra::oauth::ClientCredentialsProvider::new(
        oauth(&sim, SECRET_APP),
        keystation::entra::oauth::ClientCredential::Secret(keystation::secret::SecretString::new(SECRET)),
        graph_default_scope(&sim),
    )
    .with_cache(cache.clone());
    let graph = graph_with(&sim, std::sync::Arc::new(provider));
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let g = graph.clone();
            tokio::spawn(async move { g.get_user("alice@contoso.test").await })
        })
        .collect();
    let started = std::time::Instant::now();
    let all = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut out = Vec::new();
        for c in calls {
            out.push(c.await.unwrap());
        }
        out
    })
    .await;
    let all = all.unwrap_or_else(|_| panic!("Graph calls still waiting after {:?} behind the token cache lock", started.elapsed()));
    for r in all {
        r.expect("the call succeeds although the cache could not be written");
    }
    drop(holder);
}

/// A cached sign-in that must be renewed needs the lock to store the rotated refresh
/// token: while another process holds it, the call fails within a deadline and the
/// error names the cause instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_cache_lock_is_a_clear_error_for_a_sign_in_that_must_be_renewed() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(dir.path());
    let mut entry = device_login(&sim, &cache).await;
    entry.expires_at = chrono::Utc::now() + chrono::Duration::seconds(30);
    cache.put(entry).await.unwrap();
    let cache = cache.with_lock_timeout(std::time::Duration::from_secs(2));
    let provider = CachedSignIn::open(cache.clone(), &CacheFilter::default(), &oauth_options()).unwrap();
    let holder = LockHolder::hold(&cache);
    let started = std::time::Instant::now();
    let call = tokio::spawn(async move { provider.access_token().await });
    let result = tokio::time::timeout(std::time::Duration::from_secs(60), call).await;
    let err = result.unwrap_or_else(|_| panic!("still waiting for the token cache lock after {:?}", started.elapsed())).unwrap().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("locked by another process") && text.contains(".lock"), "{text}");
    drop(holder);
}
