//! makeCredential: flags, extensions, raw attestation bytes, algorithms, excludeList,
//! touch outcomes.
use super::support::*;
use ciborium::Value;
use keystation::key::KeyError;
use keystation::key::ctap2::COSE_RS256;
use keystation::key::virtual_key::Touch;
use keystation::key::worker::KeyHandle;
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn map_get<'a>(v: &'a Value, key: &Value) -> Option<&'a Value> {
    v.as_map()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

#[tokio::test]
async fn es256_resident_with_pin_cred_protect_and_hmac_secret() {
    // A person who needs a moment: the key sends KEEPALIVE UPNEEDED meanwhile.
    let k = key_with_touch(Touch::After(std::time::Duration::from_millis(200)));
    let io = k.open().unwrap();
    let (tap, log) = Tap::new(io);
    let (options, prompts) = counting_options();
    let h = KeyHandle::open(k.descriptor(), Box::new(tap), options).await.unwrap();
    h.set_pin(&pin("1234")).await.unwrap();
    let mut req = request("login.microsoft.com", b"user-handle-1");
    req.cred_protect = Some(2);
    req.hmac_secret = true;
    let keepalives_before = k.counters().keepalives_sent;
    let r = h.make_credential(req.clone(), Some(&pin("1234"))).await.unwrap();
    // One prompt however many UPNEEDED keepalives came (a starved test machine may let the
    // scripted touch happen before the first one).
    let asked = k.counters().keepalives_sent > keepalives_before;
    assert_eq!(prompts.load(Ordering::SeqCst), usize::from(asked), "one touch prompt");

    // Flags: UP | UV | AT | ED.
    assert_eq!(r.flags, 0x01 | 0x04 | 0x40 | 0x80, "flags {:#04x}", r.flags);
    assert_eq!(r.fmt, "packed");
    assert_eq!(r.aaguid, h.info().aaguid);

    // authData layout, parsed independently here.
    let ad = &r.auth_data;
    assert_eq!(&ad[..32], Sha256::digest(b"login.microsoft.com").as_slice());
    assert_eq!(u32::from_be_bytes([ad[33], ad[34], ad[35], ad[36]]), r.sign_count);
    assert_eq!(&ad[37..53], &r.aaguid);
    let id_len = usize::from(u16::from_be_bytes([ad[53], ad[54]]));
    assert_eq!(&ad[55..55 + id_len], r.credential_id.as_slice());
    let after_id = 55 + id_len;
    assert_eq!(&ad[after_id..after_id + r.credential_public_key_cose.len()], r.credential_public_key_cose.as_slice());
    let ext_bytes = r.extensions_cbor.clone().expect("extension outputs");
    assert_eq!(&ad[after_id + r.credential_public_key_cose.len()..], ext_bytes.as_slice());

    // Extension outputs.
    let ext: Value = ciborium::de::from_reader(ext_bytes.as_slice()).unwrap();
    assert_eq!(map_get(&ext, &text("credProtect")), Some(&Value::Integer(2.into())));
    assert_eq!(map_get(&ext, &text("hmac-secret")), Some(&Value::Bool(true)));

    // attStmt and authData are exact sub-slices of what the key sent.
    let raw = last_cbor_reply(&log.lock().unwrap());
    assert_eq!(raw[0], 0x00, "status OK");
    let att_at = find(&raw, &r.att_stmt_cbor).expect("attStmt bytes appear verbatim in the reply");
    assert_eq!(att_at + r.att_stmt_cbor.len(), raw.len(), "attStmt is the last value of the reply map");
    assert!(find(&raw, &r.auth_data).is_some());

    // The self-attestation signature verifies over authData || clientDataHash with the
    // credential's public key: the bytes are intact.
    let cose: Value = ciborium::de::from_reader(r.credential_public_key_cose.as_slice()).unwrap();
    let coord = |k: i64| map_get(&cose, &Value::Integer(k.into())).and_then(Value::as_bytes).unwrap().clone();
    let mut sec1 = vec![0x04];
    sec1.extend(coord(-2));
    sec1.extend(coord(-3));
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
    let att: Value = ciborium::de::from_reader(r.att_stmt_cbor.as_slice()).unwrap();
    assert_eq!(map_get(&att, &text("alg")), Some(&Value::Integer((-7).into())));
    let sig = p256::ecdsa::Signature::from_der(map_get(&att, &text("sig")).and_then(Value::as_bytes).unwrap()).unwrap();
    let mut signed = r.auth_data.clone();
    signed.extend_from_slice(&req.client_data_hash);
    vk.verify(&signed, &sig).expect("attestation signature verifies");

    // The credential is discoverable and carries the requested protection.
    let creds = h.list_credentials(&pin("1234")).await.unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].credential_id, r.credential_id);
    assert_eq!(creds[0].user.id, b"user-handle-1");
    assert_eq!(creds[0].cred_protect, Some(2));
}

#[tokio::test]
async fn rs256_alone_is_an_unsupported_algorithm() {
    let k = key();
    let h = open(&k).await;
    let mut req = request("example.com", b"u");
    req.algorithms = vec![COSE_RS256];
    req.user_verification = false;
    assert_eq!(h.make_credential(req.clone(), None).await.unwrap_err(), KeyError::UnsupportedAlgorithm);
    // With ES256 as a fallback it works.
    req.algorithms = vec![COSE_RS256, -7];
    h.make_credential(req, None).await.unwrap();
}

#[tokio::test]
async fn excluded_credentials_are_refused_also_beyond_the_batch_size() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    let first = h.make_credential(request("example.com", b"u"), Some(&pin("1234"))).await.unwrap();

    // Short list: the key decides.
    let mut req = request("example.com", b"u");
    req.exclude_list = vec![first.credential_id.clone()];
    assert_eq!(h.make_credential(req.clone(), Some(&pin("1234"))).await.unwrap_err(), KeyError::CredentialExcluded);

    // Twenty entries against a key that takes 8 per request: the hit is in the third batch.
    let mut long: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 64]).collect();
    long[17] = first.credential_id.clone();
    req.exclude_list = long.clone();
    assert_eq!(h.make_credential(req.clone(), Some(&pin("1234"))).await.unwrap_err(), KeyError::CredentialExcluded);
    // Without a PIN the probe still finds it (credProtect level 1).
    let mut no_uv = req.clone();
    no_uv.user_verification = false;
    no_uv.resident_key = false; // a discoverable credential would need UV on a key with a PIN
    assert_eq!(h.make_credential(no_uv, None).await.unwrap_err(), KeyError::CredentialExcluded);

    // The same long list without the hit: a new credential is made.
    long.remove(17);
    req.exclude_list = long;
    let second = h.make_credential(req, Some(&pin("1234"))).await.unwrap();
    assert_ne!(second.credential_id, first.credential_id);
    assert!(KeyError::CredentialExcluded.to_string().contains("already registered"));
}

#[tokio::test]
async fn a_refused_touch_is_denied() {
    let k = key_with_touch(Touch::Deny);
    let h = open(&k).await;
    let mut req = request("example.com", b"u");
    req.user_verification = false;
    assert_eq!(h.make_credential(req, None).await.unwrap_err(), KeyError::Denied);
}

#[tokio::test]
async fn a_touch_that_never_comes_ends_at_our_deadline() {
    let k = key_with_touch(Touch::Never);
    let (mut options, prompts) = counting_options();
    options.touch_timeout = Duration::from_millis(800);
    let h = open_with(&k, options).await;
    let mut req = request("example.com", b"u");
    req.user_verification = false;
    let t = Instant::now();
    assert_eq!(h.make_credential(req.clone(), None).await.unwrap_err(), KeyError::UserActionTimeout);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(700) && took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(prompts.load(Ordering::SeqCst), 1);
    // The key is usable again at once (the wait was cancelled).
    k.set_touch(Touch::Instant);
    h.make_credential(req, None).await.unwrap();
}

#[tokio::test]
async fn the_keys_own_touch_timeout_is_user_action_timeout() {
    let k = key_with_touch(Touch::Never);
    let (options, mut waiting) = notifying_options(Duration::from_secs(30));
    let h = open_with(&k, options).await;
    let mut req = request("example.com", b"u");
    req.user_verification = false;
    let op = h.make_credential(req, None);
    let k2 = k.clone();
    let skip = async move {
        waiting.recv().await;
        // Move the key's clock past its 30 s user-presence timeout.
        k2.advance_uptime(Duration::from_secs(31));
    };
    let (result, ()) = tokio::join!(op, skip);
    assert_eq!(result.unwrap_err(), KeyError::UserActionTimeout);
}

#[tokio::test]
async fn user_verification_without_a_pin_is_explained() {
    let k = key();
    let h = open(&k).await;
    assert_eq!(h.make_credential(request("example.com", b"u"), None).await.unwrap_err(), KeyError::PinNotSet);
    h.set_pin(&pin("1234")).await.unwrap();
    assert_eq!(h.make_credential(request("example.com", b"u"), None).await.unwrap_err(), KeyError::PinRequired);
    let mut req = request("example.com", b"u");
    req.user_verification = false;
    req.resident_key = false; // CTAP 2.1 makeCredUvNotRqd covers non-discoverable ones only
    let r = h.make_credential(req, None).await.unwrap();
    assert_eq!(r.flags & 0x04, 0, "no UV without the PIN");
    assert_eq!(r.flags & 0x01, 0x01, "UP");
}
