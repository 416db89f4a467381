//! Where the simulator runs the ceremony (same tab, iframe, popup) and a warm browser
//! serving enrolments one after the other.
use super::support::{Recorder, env, test_key};
use keystation::key::virtual_key::Touch;

#[tokio::test]
async fn ceremony_in_an_iframe_and_in_a_popup() {
    let Some(env) = env("ceremony_in_an_iframe_and_in_a_popup").await else { return };
    for (upn, name) in [("iris.iframe@contoso.test", "Iris key"), ("pete.popup@contoso.test", "Pete key")] {
        let key = test_key(Touch::Instant).await;
        let request = env.request(upn, name, true).await;
        let reg = env.register(&key, &request, &Recorder::default()).await.unwrap_or_else(|e| panic!("{upn}: {e}"));
        let m = env.methods(upn).await;
        assert!(m.iter().any(|m| m.id == reg.method_id && m.display_name.as_deref() == Some(name)), "{upn}: {m:?}");
    }
    env.close().await;
}

#[tokio::test]
async fn warm_browser_enrolments_do_not_share_cookies() {
    let Some(env) = env("warm_browser_enrolments_do_not_share_cookies").await else { return };
    // Alice with a multi-use pass: her session would still be valid for a second visit.
    let key = test_key(Touch::Instant).await;
    let alice = env.request("alice@contoso.test", "Alice key", false).await;
    env.register(&key, &alice, &Recorder::default()).await.expect("alice");
    // Bob next, in the same (warm) browser. Had Alice's cookies survived, Security info
    // would open signed in as Alice and the flow would never see the sign-in page.
    let key = test_key(Touch::Instant).await;
    let bob = env.request("bob@contoso.test", "Bob key", false).await;
    let observer = Recorder::default();
    let reg = env.register(&key, &bob, &observer).await.expect("bob");
    let stats = env.registrar.stats();
    assert_eq!((stats.cold, stats.warm), (1, 1), "{stats:?}");
    assert!(observer.events().iter().any(|e| e == "progress: browser: page username"), "bob had to sign in: {:?}", observer.events());
    assert_eq!(env.methods("alice@contoso.test").await.len(), 1);
    let bobs = env.methods("bob@contoso.test").await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].id, reg.method_id);
    assert_eq!(bobs[0].display_name.as_deref(), Some("Bob key"));
    env.close().await;
}

#[tokio::test]
async fn concurrent_enrolments_share_one_browser() {
    // Batch mode runs several keys at once: one browser, one private context each.
    let Some(env) = env("concurrent_enrolments_share_one_browser").await else { return };
    let users = [("alice@contoso.test", "Alice key"), ("bob@contoso.test", "Bob key"), ("dave@contoso.test", "Dave key")];
    let mut jobs = Vec::new();
    for (upn, name) in users {
        let key = test_key(Touch::Instant).await;
        let request = env.request(upn, name, true).await;
        let registrar = env.registrar.clone();
        jobs.push(tokio::spawn(async move {
            // The whole key (not only its handle) lives as long as the job.
            let key = key;
            let observer = Recorder::default();
            let r = keystation::ceremony::Registrar::register(&*registrar, &key.handle, &request, &observer, keystation::ceremony::webauthn::CancelToken::new()).await;
            (request.upn.clone(), r)
        }));
    }
    let mut results = Vec::new();
    for j in jobs {
        results.push(j.await.unwrap());
    }
    let summary: Vec<String> = results.iter().map(|(u, r)| format!("{u}: {:?}", r.as_ref().map(|x| &x.method_id))).collect();
    for (upn, r) in results {
        let reg = r.unwrap_or_else(|e| panic!("{upn}: {e}; all: {summary:?}"));
        let m = env.methods(&upn).await;
        assert_eq!(m.len(), 1, "{upn}: {m:?}");
        assert_eq!(m[0].id, reg.method_id);
    }
    assert_eq!(env.registrar.stats().cold, 1, "{:?}", env.registrar.stats());
    env.close().await;
}
