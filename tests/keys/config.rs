//! authenticatorConfig: minimum PIN length, forced PIN change, alwaysUv, enterprise
//! attestation.
use super::support::*;
use keystation::key::KeyError;
use keystation::key::ctap2::MinPinLength;
use keystation::key::virtual_key::{AttestationCa, VirtualAttestation, VirtualKey, VirtualKeyConfig};
use std::sync::Arc;

#[tokio::test]
async fn min_pin_length_with_forced_change_blocks_tokens_until_the_pin_changes() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    h.set_min_pin_length(Some(&pin("1234")), MinPinLength { new_min_pin_length: Some(6), rp_ids: vec![], force_change_pin: true }).await.unwrap();
    let info = h.info();
    assert_eq!(info.min_pin_length, 6);
    assert!(info.force_pin_change);
    assert_eq!(h.credentials_metadata(&pin("1234")).await, Err(KeyError::PinChangeRequired));
    assert_eq!(h.make_credential(request("example.com", b"u"), Some(&pin("1234"))).await.unwrap_err(), KeyError::PinChangeRequired);
    // A wrong PIN on such a key is still a wrong PIN.
    assert!(matches!(h.credentials_metadata(&pin("9999")).await, Err(KeyError::PinInvalid { .. })));
    // The new PIN must meet the new minimum; refused before sending.
    assert_eq!(h.change_pin(&pin("1234"), &pin("12345")).await, Err(KeyError::PinTooShort { min_length: 6 }));
    h.change_pin(&pin("1234"), &pin("123456")).await.unwrap();
    assert!(!h.info().force_pin_change);
    h.credentials_metadata(&pin("123456")).await.unwrap();
}

#[tokio::test]
async fn force_pin_change_alone() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    h.force_pin_change(&pin("1234")).await.unwrap();
    assert!(h.info().force_pin_change);
    assert_eq!(h.credentials_metadata(&pin("1234")).await, Err(KeyError::PinChangeRequired));
    assert!(KeyError::PinChangeRequired.to_string().contains("change the PIN"));
    h.change_pin(&pin("1234"), &pin("4321")).await.unwrap();
    h.credentials_metadata(&pin("4321")).await.unwrap();
}

#[tokio::test]
async fn the_minimum_only_grows_and_needs_the_pin() {
    let k = key();
    let h = open(&k).await;
    // Without a PIN on the key, no PIN is needed.
    h.set_min_pin_length(None, MinPinLength { new_min_pin_length: Some(5), ..Default::default() }).await.unwrap();
    assert_eq!(h.info().min_pin_length, 5);
    assert!(matches!(
        h.set_min_pin_length(None, MinPinLength { new_min_pin_length: Some(4), ..Default::default() }).await,
        Err(KeyError::PinPolicyViolation(t)) if t.contains("only be raised")
    ));
    h.set_pin(&pin("12345")).await.unwrap();
    assert_eq!(h.set_min_pin_length(None, MinPinLength { new_min_pin_length: Some(6), ..Default::default() }).await, Err(KeyError::PinRequired));
    assert!(matches!(
        h.set_min_pin_length(Some(&pin("00000")), MinPinLength { new_min_pin_length: Some(6), ..Default::default() }).await,
        Err(KeyError::PinInvalid { .. })
    ));
    h.set_min_pin_length(Some(&pin("12345")), MinPinLength { new_min_pin_length: Some(6), rp_ids: vec!["example.com".into()], force_change_pin: false })
        .await
        .unwrap();
    let info = h.info();
    assert_eq!(info.min_pin_length, 6);
    // Raising the minimum above the current PIN's length forces a change (CTAP 2.1).
    assert!(info.force_pin_change);
}

#[tokio::test]
async fn toggle_always_uv_requires_verification_afterwards() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    assert_eq!(h.info().option("alwaysUv"), Some(false));
    h.toggle_always_uv(Some(&pin("1234"))).await.unwrap();
    assert_eq!(h.info().option("alwaysUv"), Some(true));
    let mut req = request("example.com", b"u");
    req.user_verification = false;
    req.resident_key = false;
    assert_eq!(h.make_credential(req.clone(), None).await.unwrap_err(), KeyError::PinRequired);
    h.make_credential(req.clone(), Some(&pin("1234"))).await.unwrap();
    h.toggle_always_uv(Some(&pin("1234"))).await.unwrap();
    assert_eq!(h.info().option("alwaysUv"), Some(false));
    h.make_credential(req, None).await.unwrap();
}

#[tokio::test]
async fn enterprise_attestation_is_unsupported_on_a_key_without_it() {
    let k = key();
    let h = open(&k).await;
    let e = h.enable_enterprise_attestation(None).await.unwrap_err();
    assert_eq!(e, KeyError::Unsupported("enterprise attestation".into()));
    assert!(e.to_string().contains("does not support enterprise attestation"));
    let mut req = request("example.com", b"u");
    req.enterprise_attestation = Some(2);
    assert!(matches!(h.make_credential(req, None).await, Err(KeyError::Unsupported(_))));
}

#[tokio::test]
async fn enterprise_attestation_can_be_enabled_and_used() {
    let ca = Arc::new(AttestationCa::generate().unwrap());
    let k = VirtualKey::new(VirtualKeyConfig {
        attestation: VirtualAttestation::Enterprise { ca, platform_managed: true, rp_ids: vec![] },
        ..Default::default()
    });
    let h = open(&k).await;
    assert_eq!(h.info().option("ep"), Some(false));
    h.set_pin(&pin("1234")).await.unwrap();
    assert_eq!(h.enable_enterprise_attestation(None).await, Err(KeyError::PinRequired));
    h.enable_enterprise_attestation(Some(&pin("1234"))).await.unwrap();
    assert_eq!(h.info().option("ep"), Some(true));
    let mut req = request("example.com", b"u");
    req.enterprise_attestation = Some(2);
    let r = h.make_credential(req, Some(&pin("1234"))).await.unwrap();
    assert_eq!(r.enterprise_attestation, Some(true));
    assert!(find(&r.att_stmt_cbor, b"x5c").is_some(), "an individual certificate comes with it");
}
