//! What the key does reaches the page as the right DOMException, and the page's abort
//! reaches the key.
use super::soft_key::Behaviour;
use super::support::{PAGE, fixture, outcome};
use super::verify::b64u_enc;
use keystation::ceremony::browser::BridgeEvent;
use keystation::ceremony::webauthn::WebAuthnError;
use keystation::key::KeyError;
use std::time::{Duration, Instant};

#[tokio::test]
async fn abort_from_the_page_cancels_the_key_operation() {
    let Some(mut f) = fixture("abort_from_the_page_cancels_the_key_operation").await else { return };
    f.key.set_behaviour(Behaviour::WaitForCancel);
    f.ctx.navigate(&f.site.other_site("/start?scenario=abort")).await.unwrap();
    tokio::time::timeout(PAGE, f.key.started(1)).await.expect("the key was never asked");
    let aborted_at = Instant::now();
    f.ctx.evaluate("ctl.abort()").await.unwrap();
    let post = f.site.next_post(PAGE).await;
    assert_eq!(post.get("errorName"), "AbortError");
    match outcome(&mut f.ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::Aborted, .. } => {}
        other => panic!("{other:?}"),
    }
    let cancelled = f.key.cancelled_at().expect("the key operation was not cancelled");
    let took = cancelled.duration_since(aborted_at);
    eprintln!("figure: page abort → key cancel took {took:?}");
    assert!(took < Duration::from_secs(2), "cancel took {took:?}");
    f.close().await;
}

#[tokio::test]
async fn excluded_credential_is_an_invalid_state_error() {
    let Some(mut f) = fixture("excluded_credential_is_an_invalid_state_error").await else { return };
    let existing = vec![0x5a; 32];
    f.key.store(existing.clone());
    f.ctx.navigate(&f.site.other_site(&format!("/start?scenario=exclude&exclude={}", b64u_enc(&existing)))).await.unwrap();
    let post = f.site.next_post(PAGE).await;
    assert_eq!(post.get("errorName"), "InvalidStateError");
    match outcome(&mut f.ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::CredentialExcluded, .. } => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(f.key.requests()[0].exclude_list, vec![existing]);
    f.close().await;
}

#[tokio::test]
async fn key_unplugged_mid_ceremony() {
    let Some(mut f) = fixture("key_unplugged_mid_ceremony").await else { return };
    f.key.set_behaviour(Behaviour::UnplugWhenTold);
    f.ctx.navigate(&f.site.other_site("/start?scenario=unplug")).await.unwrap();
    tokio::time::timeout(PAGE, f.key.started(1)).await.expect("the key was never asked");
    f.key.unplug();
    let post = f.site.next_post(PAGE).await;
    assert_eq!(post.get("errorName"), "NotAllowedError");
    match outcome(&mut f.ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::Key(KeyError::Removed), origin } => {
            assert_eq!(origin.as_deref(), Some(f.site.login_site("").as_str()));
        }
        other => panic!("{other:?}"),
    }
    f.close().await;
}

#[tokio::test]
async fn navigating_away_cancels_the_key_operation() {
    let Some(mut f) = fixture("navigating_away_cancels_the_key_operation").await else { return };
    f.key.set_behaviour(Behaviour::WaitForCancel);
    f.ctx.navigate(&f.site.other_site("/start")).await.unwrap();
    tokio::time::timeout(PAGE, f.key.started(1)).await.expect("the key was never asked");
    let left_at = Instant::now();
    f.ctx.navigate_and_wait(&f.site.login_site("/cookie/show")).await.unwrap();
    match outcome(&mut f.ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::Aborted, .. } => {}
        other => panic!("{other:?}"),
    }
    let cancelled = f.key.cancelled_at().expect("the key operation was not cancelled");
    assert!(cancelled.duration_since(left_at) < Duration::from_secs(5));
    f.close().await;
}

#[tokio::test]
async fn closing_the_context_cancels_the_key_operation() {
    let Some(f) = fixture("closing_the_context_cancels_the_key_operation").await else { return };
    f.key.set_behaviour(Behaviour::WaitForCancel);
    f.ctx.navigate(&f.site.other_site("/start")).await.unwrap();
    tokio::time::timeout(PAGE, f.key.started(1)).await.expect("the key was never asked");
    let key = f.key.clone();
    let closed_at = Instant::now();
    f.close().await;
    let cancelled = key.cancelled_at().expect("the key operation was not cancelled");
    assert!(cancelled.duration_since(closed_at) < Duration::from_secs(5));
}
