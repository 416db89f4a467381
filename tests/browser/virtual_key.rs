//! The bridge in front of the key layer's virtual key (OpenSK), through `KeyHandle`:
//! real CTAP2 with the station's PIN, batch attestation with x5c, CTAPHID_CANCEL on
//! abort, removal mid-ceremony.
use super::site::SERVER_CHALLENGE;
use super::support::{PAGE, outcome, setup};
use super::verify::{attestation_entries, b64u, b64u_enc, bstr_content, parse_auth_data, verify_packed};
use keystation::ceremony::browser::BridgeEvent;
use keystation::ceremony::webauthn::{KeyCredentialMaker, WebAuthnError};
use keystation::key::KeyError;
use keystation::key::virtual_key::{AttestationCa, Touch, VIRTUAL_KEY_AAGUID, VirtualAttestation, VirtualKey, VirtualKeyConfig};
use keystation::key::worker::{HandleOptions, KeyHandle};
use keystation::secret::SecretString;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

struct Key {
    key: VirtualKey,
    maker: Arc<KeyCredentialMaker>,
    touch_asked: watch::Receiver<u32>,
}

/// A virtual key with a batch attestation certificate and the station's PIN set.
async fn prepared_key(touch: Touch) -> Key {
    let ca = Arc::new(AttestationCa::generate().unwrap());
    let key = VirtualKey::new(VirtualKeyConfig { touch, attestation: VirtualAttestation::Batch(ca), ..Default::default() });
    let (tx, rx) = watch::channel(0u32);
    let options = HandleOptions {
        on_touch: Some(Arc::new(move |_| {
            tx.send_modify(|n| *n += 1);
        })),
        ..Default::default()
    };
    let handle = KeyHandle::open(key.descriptor(), key.open().unwrap(), options).await.unwrap();
    let pin = SecretString::new("482915");
    handle.set_pin(&pin).await.unwrap();
    Key { key, maker: Arc::new(KeyCredentialMaker::new(Arc::new(handle), Some(pin))), touch_asked: rx }
}

#[tokio::test]
async fn virtual_key_registers_with_batch_attestation() {
    let k = prepared_key(Touch::Instant).await;
    let Some((browser, site, mut ctx, _serial)) = setup("virtual_key_registers_with_batch_attestation", k.maker.clone()).await else { return };
    ctx.navigate(&site.other_site("/start")).await.unwrap();
    let post = site.next_post(PAGE).await;
    assert_eq!(post.get("errorName"), "", "{}", post.get("errorMessage"));
    let cred = match outcome(&mut ctx).await {
        BridgeEvent::Registered(c) => c,
        other => panic!("{other:?}"),
    };
    let cdj = b64u(post.get("clientDataJson"));
    assert_eq!(
        String::from_utf8(cdj.clone()).unwrap(),
        format!(r#"{{"type":"webauthn.create","challenge":"{}","origin":"{}","crossOrigin":false}}"#, b64u_enc(SERVER_CHALLENGE.as_bytes()), site.login_site(""))
    );
    let obj = b64u(post.get("attestationObject"));
    let entries = attestation_entries(&obj);
    assert_eq!(entries[1].1, cred.key_response.att_stmt_cbor, "attStmt differs from the key's bytes");
    let auth_data = bstr_content(&entries[2].1);
    assert_eq!(auth_data, cred.key_response.auth_data, "authData differs from the key's bytes");
    // packed with x5c: the signature is the batch certificate's.
    let stmt: ciborium::value::Value = ciborium::de::from_reader(&entries[1].1[..]).unwrap();
    assert!(stmt.as_map().unwrap().iter().any(|(k, _)| k.as_text() == Some("x5c")));
    verify_packed(&entries[1].1, &auth_data, &cdj);
    let ad = parse_auth_data(&auth_data);
    assert_eq!(ad.aaguid, VIRTUAL_KEY_AAGUID);
    assert_eq!(ad.flags & 0x05, 0x05, "UP and UV (PIN) set");
    let ext = post.checks()["ext"].clone();
    assert_eq!(ext["credProps"]["rk"], true);
    assert_eq!(ext["hmacCreateSecret"], true, "OpenSK supports hmac-secret");
    ctx.close().await.unwrap();
    browser.close().await.unwrap();
    drop(k.key);
}

#[tokio::test]
async fn abort_sends_ctaphid_cancel_to_the_virtual_key() {
    let mut k = prepared_key(Touch::Never).await;
    let Some((browser, site, mut ctx, _serial)) = setup("abort_sends_ctaphid_cancel_to_the_virtual_key", k.maker.clone()).await else { return };
    ctx.navigate(&site.other_site("/start?scenario=abort")).await.unwrap();
    tokio::time::timeout(PAGE, k.touch_asked.wait_for(|n| *n >= 1)).await.expect("the key never asked for a touch").unwrap();
    let aborted_at = Instant::now();
    ctx.evaluate("ctl.abort()").await.unwrap();
    match outcome(&mut ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::Aborted, .. } => {}
        other => panic!("{other:?}"),
    }
    // The bridge reports the abort only after the key operation has ended.
    let took = aborted_at.elapsed();
    eprintln!("figure: page abort → virtual key operation cancelled in {took:?}");
    assert!(took < Duration::from_secs(2), "cancel took {took:?}");
    assert_eq!(site.next_post(PAGE).await.get("errorName"), "AbortError");
    // The key is idle and usable at once.
    tokio::time::timeout(Duration::from_secs(2), k.maker.handle().get_info()).await.expect("key still busy").unwrap();
    ctx.close().await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn unplugging_the_virtual_key_mid_ceremony() {
    let mut k = prepared_key(Touch::Never).await;
    let Some((browser, site, mut ctx, _serial)) = setup("unplugging_the_virtual_key_mid_ceremony", k.maker.clone()).await else { return };
    ctx.navigate(&site.other_site("/start?scenario=unplug")).await.unwrap();
    tokio::time::timeout(PAGE, k.touch_asked.wait_for(|n| *n >= 1)).await.expect("the key never asked for a touch").unwrap();
    let unplugged_at = Instant::now();
    k.key.unplug();
    match outcome(&mut ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::Key(KeyError::Removed), .. } => {}
        other => panic!("{other:?}"),
    }
    assert!(unplugged_at.elapsed() < Duration::from_secs(2), "removal took {:?}", unplugged_at.elapsed());
    assert_eq!(site.next_post(PAGE).await.get("errorName"), "NotAllowedError");
    ctx.close().await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn registering_the_same_key_twice_is_an_invalid_state_error() {
    let k = prepared_key(Touch::Instant).await;
    let Some((browser, site, mut ctx, _serial)) = setup("registering_the_same_key_twice_is_an_invalid_state_error", k.maker.clone()).await else { return };
    ctx.navigate(&site.other_site("/start")).await.unwrap();
    let first = site.next_post(PAGE).await;
    assert_eq!(first.get("errorName"), "", "{}", first.get("errorMessage"));
    assert!(matches!(outcome(&mut ctx).await, BridgeEvent::Registered(_)));
    ctx.navigate(&site.other_site(&format!("/start?scenario=exclude&exclude={}", first.get("credentialId")))).await.unwrap();
    let second = site.next_post(PAGE).await;
    assert_eq!(second.get("errorName"), "InvalidStateError");
    match outcome(&mut ctx).await {
        BridgeEvent::Failed { error: WebAuthnError::CredentialExcluded, .. } => {}
        other => panic!("{other:?}"),
    }
    ctx.close().await.unwrap();
    browser.close().await.unwrap();
}
