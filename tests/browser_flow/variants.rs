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
    assert!(observer.events().iter().any(|e| e.contains("step 3/") && e.contains("username")), "bob had to sign in: {:?}", observer.events());
    assert_eq!(env.methods("alice@contoso.test").await.len(), 1);
    let bobs = env.methods("bob@contoso.test").await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].id, reg.method_id);
    assert_eq!(bobs[0].display_name.as_deref(), Some("Bob key"));
    env.close().await;
}
