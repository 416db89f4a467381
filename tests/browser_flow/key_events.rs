//! The key during the browser ceremony: unplugged while the page waits for it, and
//! the operator aborting.
use super::support::{Env, Recorder, env, test_key};
use keystation::ceremony::webauthn::CancelToken;
use keystation::ceremony::{CeremonyError, Registrar};
use keystation::key::KeyError;
use keystation::key::virtual_key::Touch;
use std::time::{Duration, Instant};

#[tokio::test]
async fn key_unplugged_mid_ceremony_is_a_key_error_with_screenshots() {
    let Some(env) = env("key_unplugged_mid_ceremony_is_a_key_error_with_screenshots").await else { return };
    let key = test_key(Touch::Never).await;
    let request = env.request("alice@contoso.test", "Alice key", true).await;
    let mut asked = key.touch_asked.clone();
    let vk = key.key.clone();
    // Unplug as soon as the key asks for a touch: makeCredential is running.
    let unplug = tokio::spawn(async move {
        asked.wait_for(|n| *n >= 1).await.unwrap();
        vk.unplug();
        Instant::now()
    });
    let observer = Recorder::default();
    let err = env.register(&key, &request, &observer).await.expect_err("the key is gone");
    let unplugged_at = unplug.await.unwrap();
    assert!(matches!(err, CeremonyError::Key(KeyError::Removed)), "{err:?}");
    assert!(unplugged_at.elapsed() < Duration::from_secs(20), "the failure took {:?} after the unplug", unplugged_at.elapsed());
    assert!(observer.events().contains(&"before_make_credential".to_string()));
    assert!(!observer.events().contains(&"before_submit".to_string()));
    // Evidence: a screenshot of every page recognised up to the ceremony, the failure,
    // and the log of pages and handler actions.
    let files = Env::evidence_files(&request);
    for f in ["browser-steps.json", "failure.png"] {
        assert!(files.contains(&f.to_string()), "{f} missing from {files:?}");
    }
    for page in ["username", "access-pass", "stay-signed-in", "security-info", "method-picker", "ceremony"] {
        assert!(files.iter().any(|f| f.ends_with(&format!("-{page}.png"))), "no screenshot of {page}: {files:?}");
    }
    let log: serde_json::Value = serde_json::from_slice(&std::fs::read(request.evidence_dir.as_ref().unwrap().join("browser-steps.json")).unwrap()).unwrap();
    assert_eq!(log["error_code"], "KeyFailed");
    let steps = log["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["page"] == "ceremony" && s["action"] == "recognised"), "{steps:?}");
    assert!(steps.iter().any(|s| s["page"] == "method-picker" && s["action"] == "click" && s["status"] == "ok"), "{steps:?}");
    assert_eq!(steps.last().unwrap()["action"], "stopped");
    assert_eq!(steps.last().unwrap()["status"], "failed");
    assert!(env.methods("alice@contoso.test").await.is_empty());
    env.close().await;
}

#[tokio::test]
async fn operator_abort_cancels_quickly_and_frees_the_key() {
    let Some(env) = env("operator_abort_cancels_quickly_and_frees_the_key").await else { return };
    let key = test_key(Touch::Never).await;
    let request = env.request("bob@contoso.test", "Bob key", false).await;
    let cancel = CancelToken::new();
    let mut asked = key.touch_asked.clone();
    let c = cancel.clone();
    let aborter = tokio::spawn(async move {
        asked.wait_for(|n| *n >= 1).await.unwrap();
        c.cancel();
        Instant::now()
    });
    let observer = Recorder::default();
    let err = env.registrar.register(&key.handle, &request, &observer, cancel).await.expect_err("cancelled");
    let cancelled_at = aborter.await.unwrap();
    let took = cancelled_at.elapsed();
    assert!(matches!(err, CeremonyError::Cancelled), "{err:?}");
    eprintln!("figure: operator cancel → register returned in {took:?}");
    assert!(took < Duration::from_secs(3), "cancel took {took:?}");
    // The key operation was cancelled: the key answers at once.
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(2), key.handle.get_info()).await.expect("the key is still busy").unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(env.methods("bob@contoso.test").await.is_empty());
    env.close().await;
}
