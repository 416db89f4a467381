use super::*;
use crate::entra::cloud::parse_service_url;
use std::time::Duration;

fn authority(tenant: &str) -> Authority {
    Authority::new(parse_service_url("https://login.microsoftonline.com", "a").unwrap(), tenant).unwrap()
}

fn entry(tenant: &str, client: &str, account: &str, expires_in: i64, refresh: bool) -> CachedToken {
    CachedToken {
        key: CacheKey::new(&authority(tenant), client, account),
        grant: if refresh { GrantKind::DeviceCode } else { GrantKind::ClientSecret },
        tenant_id: Some(format!("tid-{tenant}")),
        access_token: SecretString::new(format!("AT-{tenant}-{client}-{account}")),
        refresh_token: refresh.then(|| SecretString::new(format!("RT-{account}"))),
        expires_at: Utc::now() + chrono::Duration::seconds(expires_in),
        scopes: vec!["s".into()],
        updated_at: Utc::now(),
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn file_is_0600_in_a_0700_directory_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(&dir.path().join("state"));
    assert!(cache.entries().await.unwrap().is_empty(), "no file yet means no entries");
    cache.put(entry("contoso.com", "C1", "Admin@Contoso.com", 3600, true)).await.unwrap();
    #[cfg(unix)]
    {
        assert_eq!(mode(cache.path()), 0o600);
        assert_eq!(mode(cache.path().parent().unwrap()), 0o700);
        assert_eq!(mode(&cache.path().parent().unwrap().join(".lock")), 0o600);
    }
    let all = cache.entries().await.unwrap();
    assert_eq!(all.len(), 1);
    let e = &all[0];
    assert_eq!(e.key.account, "admin@contoso.com");
    assert_eq!(e.key.client_id, "c1");
    assert_eq!(e.key.authority, "https://login.microsoftonline.com");
    assert_eq!(e.access_token.expose(), "AT-contoso.com-C1-Admin@Contoso.com");
    assert_eq!(e.refresh_token.as_ref().unwrap().expose(), "RT-Admin@Contoso.com");
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(cache.path().parent().unwrap()).unwrap().map(|d| d.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[tokio::test]
async fn entries_are_keyed_by_authority_tenant_client_and_account() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(dir.path());
    cache.put(entry("t1", "c1", "a@x", 3600, true)).await.unwrap();
    cache.put(entry("t1", "c1", "b@x", 3600, true)).await.unwrap();
    cache.put(entry("t2", "c1", "a@x", 3600, true)).await.unwrap();
    cache.put(entry("t1", "c2", "a@x", 3600, true)).await.unwrap();
    cache.put(entry("t1", "c1", APP_ONLY_ACCOUNT, 3600, false)).await.unwrap();
    assert_eq!(cache.entries().await.unwrap().len(), 5);
    // Same key (case-insensitively) replaces.
    let mut again = entry("T1", "C1", "A@X", 7200, true);
    again.access_token = SecretString::new("AT-new");
    cache.put(again).await.unwrap();
    assert_eq!(cache.entries().await.unwrap().len(), 5);
    let hit = cache.find(&CacheFilter { tenant: Some("t1".into()), client_id: Some("c1".into()), account: Some("a@x".into()), ..Default::default() }).await.unwrap();
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0].access_token.expose(), "AT-new");
    // The tenant id (tid) selects too.
    assert_eq!(cache.find(&CacheFilter { tenant: Some("tid-t2".into()), ..Default::default() }).await.unwrap().len(), 1);
    let removed = cache.remove(&CacheFilter { account: Some("a@x".into()), ..Default::default() }).await.unwrap();
    assert_eq!(removed.len(), 3);
    assert_eq!(cache.entries().await.unwrap().len(), 2);
    cache.remove(&CacheFilter::default()).await.unwrap();
    assert!(cache.entries().await.unwrap().is_empty());
}

#[tokio::test]
async fn expired_entries_without_refresh_tokens_are_dropped_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(dir.path());
    cache.put(entry("t", "c", APP_ONLY_ACCOUNT, -10, false)).await.unwrap();
    assert!(cache.entries().await.unwrap().is_empty(), "an expired app-only token is useless");
    cache.put(entry("t", "c", "u@x", -10, true)).await.unwrap();
    let kept = cache.entries().await.unwrap();
    assert_eq!(kept.len(), 1, "an expired token with a refresh token can still be renewed");
    assert!(kept[0].expires_within(Duration::ZERO));
}

#[cfg(unix)]
#[tokio::test]
async fn a_cache_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(dir.path());
    cache.put(entry("t", "c", "u@x", 3600, true)).await.unwrap();
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = cache.entries().await.unwrap_err().to_string();
    assert!(err.contains("other users") && err.contains("644"), "{err}");
}

#[tokio::test]
async fn a_damaged_file_gives_an_actionable_error() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(dir.path());
    cache.put(entry("t", "c", "u@x", 3600, true)).await.unwrap();
    super::store::write_file(cache.path(), b"{not json").unwrap();
    let err = cache.entries().await.unwrap_err().to_string();
    assert!(err.contains("logout --all"), "{err}");
}

#[tokio::test]
async fn concurrent_writers_do_not_lose_updates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Each writer opens its own handle and runtime (as separate processes would).
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let cache = TokenCache::in_state_dir(&path);
                rt.block_on(async {
                    for j in 0..5 {
                        cache.put(entry("t", "c", &format!("user{i}-{j}@x"), 3600, true)).await.unwrap();
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(TokenCache::in_state_dir(&path).entries().await.unwrap().len(), 40);
}

#[tokio::test]
async fn a_writer_gives_up_on_a_held_lock_and_names_the_holder_while_readers_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::in_state_dir(dir.path()).with_lock_timeout(Duration::from_millis(300));
    cache.put(entry("t", "c", "u@x", 3600, true)).await.unwrap();
    // Another holder (its own open file, as another process would have).
    let held = store::CacheLock::acquire(&cache.dir(), Duration::from_secs(1)).await.unwrap();
    held.say_who_holds_it();
    let started = std::time::Instant::now();
    let err = cache.put(entry("t", "c", "v@x", 3600, true)).await.unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(10), "gave up after {:?}", started.elapsed());
    assert!(err.contains("locked by another process") && err.contains(&format!("pid {}", std::process::id())), "{err}");
    assert!(err.contains(".lock"), "names the lock file: {err}");
    // Readers do not take the lock.
    assert_eq!(cache.entries().await.unwrap().len(), 1);
    drop(held);
    cache.put(entry("t", "c", "v@x", 3600, true)).await.unwrap();
    assert_eq!(cache.entries().await.unwrap().len(), 2);
    let lock_file = std::fs::read_to_string(cache.dir().join(".lock")).unwrap();
    assert_eq!(lock_file, "", "no stale holder is left in the lock file");
}

#[test]
fn the_cache_file_never_holds_secrets_in_debug_output() {
    let e = entry("t", "c", "u@x", 3600, true);
    let shown = format!("{e:?}");
    assert!(!shown.contains("AT-") && !shown.contains("RT-"), "{shown}");
}
