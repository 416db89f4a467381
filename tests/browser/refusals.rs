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
    f.ctx.navigate_and_wait(&f.site.login_site("/get?mode=modal")).await.unwrap();
    match f.ctx.next_event(PAGE).await {
        Some(BridgeEvent::GetRefused { conditional: false, .. }) => {}
        other => panic!("{other:?}"),
    }
    let state = f.ctx.evaluate("(async () => { await null; await null; return getState(); })()").await.unwrap();
    assert_eq!(state, "NotAllowedError");

    f.ctx.navigate_and_wait(&f.site.login_site("/get?mode=conditional")).await.unwrap();
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

/// Errors the page sees for malformed options and forbidden origins, checked by name
/// and message against what Chromium says.
#[tokio::test]
async fn option_and_origin_errors_match_chromium() {
    let Some(mut f) = fixture("option_and_origin_errors_match_chromium").await else { return };
    let create = |opts: &str| {
        format!("navigator.credentials.create({{publicKey: {opts}}}).then(() => 'resolved', e => e.constructor.name + '|' + e.name + '|' + e.message)")
    };
    let good_user = "user: {id: new Uint8Array([1]), name: 'a', displayName: 'A'}";
    f.ctx.navigate_and_wait(&f.site.login_site("/cookie/show")).await.unwrap();
    // A string where WebIDL wants a BufferSource: the bridge script's TypeError.
    let r = f.ctx.evaluate(&create(&format!("{{rp: {{name: 'x'}}, {good_user}, challenge: 'abc', pubKeyCredParams: []}}"))).await.unwrap();
    assert!(r.as_str().unwrap().starts_with("TypeError|TypeError|Failed to read the 'challenge' property"), "{r}");
    // A missing required member: keystation's TypeError, worded like Blink's.
    let r = f.ctx.evaluate(&create("{rp: {name: 'x'}, challenge: new Uint8Array(8), pubKeyCredParams: []}")).await.unwrap();
    assert_eq!(r, "TypeError|TypeError|Failed to execute 'create' on 'CredentialsContainer': Failed to read the 'user' property from 'PublicKeyCredentialCreationOptions': Required member is undefined.");
    // The Graph sample's credProtect combination that real Chrome rejects.
    let r = f.ctx.evaluate(&create(&format!("{{rp: {{name: 'x'}}, {good_user}, challenge: new Uint8Array(8), pubKeyCredParams: [], authenticatorSelection: {{requireResidentKey: true, userVerification: 'required'}}, extensions: {{credentialProtectionPolicy: 'userVerificationOptional', enforceCredentialProtectionPolicy: true}}}}"))).await.unwrap();
    assert_eq!(r, "DOMException|NotSupportedError|Requested protection policy is inconsistent or incongruent with other requested parameters.");
    // An IP-address origin may not use WebAuthn at all.
    f.ctx.navigate_and_wait(&f.site.other_site("/cookie/show")).await.unwrap();
    let r = f.ctx.evaluate(&create(&format!("{{rp: {{name: 'x'}}, {good_user}, challenge: new Uint8Array(8), pubKeyCredParams: []}}"))).await.unwrap();
    assert_eq!(r, "DOMException|SecurityError|This is an invalid domain.");
    assert!(f.key.requests().is_empty(), "the key was used");
    // Each refusal was reported on the Rust side too.
    // (the bridge script's own TypeError never reaches keystation).
    for expected in ["MalformedOptions", "ProtectionPolicyInconsistent", "InvalidDomain"] {
        match outcome(&mut f.ctx).await {
            BridgeEvent::Failed { error, .. } => assert!(format!("{error:?}").starts_with(expected), "{error:?}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(f.ctx.try_next_event().is_none());
    f.close().await;
}

#[tokio::test]
async fn a_second_concurrent_create_is_an_operation_error() {
    let Some(f) = fixture("a_second_concurrent_create_is_an_operation_error").await else { return };
    f.key.set_behaviour(super::soft_key::Behaviour::WaitForCancel);
    f.ctx.navigate_and_wait(&f.site.login_site("/cookie/show")).await.unwrap();
    let opts = "{rp: {name: 'x'}, user: {id: new Uint8Array([1]), name: 'a', displayName: 'A'}, challenge: new Uint8Array(8), pubKeyCredParams: []}";
    f.ctx
        .evaluate(&format!("window.first = navigator.credentials.create({{publicKey: {opts}, signal: (window.c = new AbortController()).signal}}).catch(e => e.name); 1"))
        .await
        .unwrap();
    tokio::time::timeout(PAGE, f.key.started(1)).await.expect("the key was never asked");
    let second = f.ctx.evaluate(&format!("navigator.credentials.create({{publicKey: {opts}}}).catch(e => e.name)")).await.unwrap();
    assert_eq!(second, "OperationError");
    let first = f.ctx.evaluate("c.abort(); first").await.unwrap();
    assert_eq!(first, "AbortError");
    assert_eq!(f.key.requests().len(), 1);
    f.close().await;
}
