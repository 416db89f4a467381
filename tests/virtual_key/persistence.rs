//! File-backed storage: state survives the key object (and the process).
use crate::ctaphid::*;
use ciborium::Value;
use keystation::key::virtual_key::*;

fn remaining_discoverable(key: &VirtualKey) -> i128 {
    let mut ch = Channel::open(key.open().unwrap());
    let info = ch.ctap_ok(CTAP_GET_INFO, None);
    map_get(&info, 0x14).and_then(Value::as_integer).map(i128::from).expect("remainingDiscoverableCredentials")
}

#[test]
fn a_second_key_on_the_same_state_file_sees_the_first_ones_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key-0.store");

    let first = VirtualKey::with_state_file(VirtualKeyConfig::default(), &path).unwrap();
    let serial = first.descriptor().serial;
    let before = remaining_discoverable(&first);
    let mut ch = Channel::open(first.open().unwrap());
    ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&make_credential_params("example.com", true)));
    assert_eq!(remaining_discoverable(&first), before - 1);

    let busy = VirtualKey::with_state_file(VirtualKeyConfig::default(), &path).unwrap_err();
    assert!(matches!(busy, VirtualKeyError::StateInUse { .. }), "{busy}");
    drop(ch);
    drop(first);

    let second = VirtualKey::with_state_file(VirtualKeyConfig::default(), &path).unwrap();
    assert_eq!(remaining_discoverable(&second), before - 1, "the credential survived");
    assert_eq!(second.descriptor().serial, serial, "the serial number is kept with the state");
}

#[test]
fn replug_keeps_storage_of_a_ram_key() {
    let key = VirtualKey::new(VirtualKeyConfig::default());
    let before = remaining_discoverable(&key);
    let mut ch = Channel::open(key.open().unwrap());
    ch.ctap_ok(CTAP_MAKE_CREDENTIAL, Some(&make_credential_params("example.com", true)));
    key.replug();
    assert_eq!(remaining_discoverable(&key), before - 1);
}
