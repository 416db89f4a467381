//! Requests keystation refuses without touching the key.
use super::support::{PAGE, fixture, outcome};
use keystation::ceremony::browser::BridgeEvent;
use keystation::ceremony::webauthn::WebAuthnError;

#[tokio::test]
async fn rp_id_off_the_allow_list_is_a_security_error() {
    let Some(mut f) = fixture("rp_id_off_the_allow_list_is_a_security_error").await else { return };
    f.ctx.navigate(&f.site.other_site("/start?scenario=wrongrp")).await.unwrap();
    let post = f.site.next_post(PAGE).await;
    assert_eq!(post.get("errorName"), "SecurityError");
    assert_eq!(post.get("errorIsDomException"), "true");
    match outcome(&mut f.ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::RpIdNotAllowed { rp_id, .. }, .. } => assert_eq!(rp_id, "example.com"),
        other => panic!("{other:?}"),
    }
    assert!(f.key.requests().is_empty(), "the key was used");
    f.close().await;
}

#[tokio::test]
async fn rp_id_of_another_origin_is_a_security_error() {
    let Some(mut f) = fixture("rp_id_of_another_origin_is_a_security_error").await else { return };
    // login.microsoft.com is allow-listed, but the page runs on localhost.
    f.ctx.navigate(&f.site.other_site("/start?scenario=foreignrp")).await.unwrap();
    let post = f.site.next_post(PAGE).await;
    assert_eq!(post.get("errorName"), "SecurityError");
    assert!(post.get("errorMessage").contains("relying party ID"), "{}", post.get("errorMessage"));
    match outcome(&mut f.ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::RpIdMismatch { rp_id, origin }, .. } => {
            assert_eq!(rp_id, "login.microsoft.com");
            assert_eq!(origin, f.site.login_site(""));
        }
        other => panic!("{other:?}"),
    }
    assert!(f.key.requests().is_empty(), "the key was used");
    f.close().await;
}

#[tokio::test]
async fn cross_origin_iframe_is_not_allowed() {
    let Some(mut f) = fixture("cross_origin_iframe_is_not_allowed").await else { return };
    // The host page is on 127.0.0.1, the ceremony frame on localhost.
    f.ctx.navigate(&f.site.other_site("/iframe-host?scenario=xframe")).await.unwrap();
    let post = f.site.next_post(PAGE).await;
    assert_eq!(post.get("errorName"), "NotAllowedError");
    match outcome(&mut f.ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::CrossOriginFrame { origin, top_origin }, .. } => {
            assert_eq!(origin, f.site.login_site(""));
            assert_eq!(top_origin, f.site.other_site(""));
        }
        other => panic!("{other:?}"),
    }
    assert!(f.key.requests().is_empty(), "the key was used");
    f.close().await;
}

#[tokio::test]
async fn get_is_refused_and_conditional_get_stays_pending() {
    let Some(mut f) = fixture("get_is_refused_and_conditional_get_stays_pending").await else { return };
    f.ctx.navigate(&f.site.login_site("/get?mode=modal")).await.unwrap();
    match f.ctx.next_event(PAGE).await {
        Some(BridgeEvent::GetRefused { conditional: false, .. }) => {}
        other => panic!("{other:?}"),
    }
    let state = f.ctx.evaluate("(async () => { await null; await null; return getState(); })()").await.unwrap();
    assert_eq!(state, "NotAllowedError");

    f.ctx.navigate(&f.site.login_site("/get?mode=conditional")).await.unwrap();
    match f.ctx.next_event(PAGE).await {
        Some(BridgeEvent::GetRefused { conditional: true, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(f.ctx.evaluate("getState()").await.unwrap(), "pending");
    let state = f.ctx.evaluate("(async () => { ctl.abort(); await null; await null; return getState(); })()").await.unwrap();
    assert_eq!(state, "AbortError");
    assert!(f.key.requests().is_empty(), "the key was used");
    f.close().await;
}
