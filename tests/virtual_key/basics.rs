//! INIT, getInfo, framing, handles, descriptors, randomness.
use crate::ctaphid::*;
use ciborium::Value;
use keystation::key::virtual_key::*;
use keystation::key::Backend;
use std::time::Duration;

#[test]
fn init_then_get_info_describes_a_ctap21_key_with_our_aaguid() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut ch = Channel::open(key.open().unwrap());
    assert_ne!(ch.cid, BROADCAST);
    assert_eq!(ch.init[12], 2, "CTAPHID protocol version");
    assert_ne!(ch.init[16] & 0x04, 0, "CBOR capability");

    let info = ch.ctap_ok(CTAP_GET_INFO, None);
    let versions: Vec<String> =
        map_get(&info, 1).unwrap().as_array().unwrap().iter().map(|v| v.as_text().unwrap().to_string()).collect();
    assert!(versions.contains(&"FIDO_2_1".to_string()), "{versions:?}");
    assert_eq!(map_get(&info, 3).unwrap().as_bytes().unwrap().as_slice(), &VIRTUAL_KEY_AAGUID);
    let options = map_get(&info, 4).unwrap();
    assert_eq!(map_text(options, "clientPin"), Some(Value::Bool(false)), "a new key has no PIN");
    assert_eq!(map_get(&info, 7).unwrap().as_integer().map(i128::from), Some(8), "maxCredentialCountInList");
    assert_eq!(map_get(&info, 0x0E).unwrap().as_integer().map(i128::from), Some(VIRTUAL_KEY_FIRMWARE_VERSION as i128));
}

#[test]
fn descriptor_names_a_virtual_keystation_key() {
    let key = VirtualKey::new(VirtualKeyConfig { index: Some(4242), serial: Some("S-1".into()), ..Default::default() });
    let d = key.descriptor();
    assert_eq!(d.backend, Backend::Virtual);
    assert_eq!(d.path, "virtual:4242");
    assert_eq!((d.vendor_id, d.product_id), (VIRTUAL_KEY_VENDOR_ID, VIRTUAL_KEY_PRODUCT_ID));
    assert_eq!(d.manufacturer.as_deref(), Some("keystation"));
    assert_eq!(d.product.as_deref(), Some("Virtual FIDO2 Key"));
    assert_eq!(d.serial.as_deref(), Some("S-1"));

    let a = VirtualKey::new(VirtualKeyConfig::default());
    let b = VirtualKey::new(VirtualKeyConfig::default());
    assert_ne!(a.path(), b.path());
    assert_ne!(a.descriptor().serial, b.descriptor().serial, "each key has its own serial");
}

#[test]
fn long_messages_are_framed_both_ways() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut ch = Channel::open(key.open().unwrap());
    let payload: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
    ch.send(CMD_PING, &payload);
    let echo = ch.recv(Duration::from_secs(5)).unwrap();
    assert_eq!(echo.cmd, CMD_PING);
    assert_eq!(echo.payload, payload);
}

#[test]
fn every_open_handle_receives_every_report() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut second = key.open().unwrap();
    let ch = Channel::open(key.open().unwrap());
    // The INIT answer went to both handles; the second one sees it without asking.
    let seen = recv(second.as_mut(), BROADCAST, Duration::from_secs(2)).unwrap().expect("second handle got the INIT answer");
    assert_eq!(seen.cmd, CMD_INIT);
    assert_eq!(seen.payload, ch.init);
}

fn key_agreement(key: &VirtualKey) -> Value {
    let mut ch = Channel::open(key.open().unwrap());
    let params = Value::Map(vec![(Value::Integer(1.into()), Value::Integer(2.into())), (Value::Integer(2.into()), Value::Integer(2.into()))]);
    let body = ch.ctap_ok(CTAP_CLIENT_PIN, Some(&params));
    map_get(&body, 1).expect("keyAgreement").clone()
}

#[test]
fn two_keys_draw_independent_randomness() {
    let a = VirtualKey::new(VirtualKeyConfig::default());
    let b = VirtualKey::new(VirtualKeyConfig::default());
    let (ka, kb) = (key_agreement(&a), key_agreement(&b));
    assert_ne!(ka, kb, "two keys must not share a key-agreement key");

    let mut ca = Channel::open(a.open().unwrap());
    let mut cb = Channel::open(b.open().unwrap());
    let params = make_credential_params("example.com", false);
    let ida = credential_id(&ca.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&params)));
    let idb = credential_id(&cb.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&params)));
    assert_ne!(ida, idb);
}

/// The credential id inside a makeCredential answer's authData.
pub fn credential_id(answer: &Value) -> Vec<u8> {
    let auth_data = map_get(answer, 2).unwrap().as_bytes().unwrap();
    let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    auth_data[55..55 + len].to_vec()
}

fn with_exclude_list(n: usize) -> Value {
    let Value::Map(mut params) = make_credential_params("example.com", false) else { unreachable!() };
    let descriptor = |i: usize| {
        Value::Map(vec![(Value::Text("id".into()), Value::Bytes(vec![i as u8; 32])), (Value::Text("type".into()), Value::Text("public-key".into()))])
    };
    // Key 5 goes between 4 (pubKeyCredParams) and 7 (options): canonical order.
    params.insert(4, (Value::Integer(5.into()), Value::Array((0..n).map(descriptor).collect())));
    Value::Map(params)
}

#[test]
fn credential_lists_longer_than_advertised_are_refused() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let mut ch = Channel::open(key.open().unwrap());
    ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&with_exclude_list(8)));
    let answer = ch.ctap(CTAP_MAKE_CREDENTIAL, Some(&with_exclude_list(9)), Duration::from_secs(5));
    assert_eq!(answer.payload, vec![ERR_LIMIT_EXCEEDED]);

    let unlimited = VirtualKey::new(VirtualKeyConfig { max_credential_count_in_list: None, ..Default::default() });
    let mut ch = Channel::open(unlimited.open().unwrap());
    ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&with_exclude_list(20)));
}

/// The simulator's demo tenant names keystation's virtual key by AAGUID; the two layers
/// do not depend on each other, so this test keeps their constants equal.
#[test]
fn simulator_knows_the_virtual_key_aaguid() {
    let key = keystation::key::ctap2::format_aaguid(&keystation::key::virtual_key::VIRTUAL_KEY_AAGUID);
    assert_eq!(key, keystation::entra::simulator::seed::KEYSTATION_VIRTUAL_KEY_AAGUID);
    let seed = keystation::entra::simulator::seed::TenantSeed::builtin();
    let listed = seed.aaguid_models.iter().any(|m| m.aaguid.eq_ignore_ascii_case(&key));
    assert!(listed, "the default tenant's model table lacks the virtual key");
}
