//! setPIN, changePIN, retries, blocking, length checks, both PIN protocols.
use super::support::*;
use keystation::key::KeyError;
use keystation::key::pin_protocol::PinUvAuthProtocol;
use keystation::key::virtual_key::{VirtualKey, VirtualKeyConfig};
use keystation::key::worker::HandleOptions;

#[tokio::test]
async fn set_pin_turns_client_pin_on_with_full_retries() {
    let k = key();
    let h = open(&k).await;
    assert!(!h.info().pin_is_set());
    h.set_pin(&pin("1234")).await.unwrap();
    assert!(h.info().pin_is_set(), "cached info refreshed");
    assert!(h.get_info().await.unwrap().pin_is_set());
    assert_eq!(h.pin_retries().await.unwrap().retries, 8);
    assert_eq!(h.set_pin(&pin("5678")).await, Err(KeyError::PinAlreadySet));
}

#[tokio::test]
async fn wrong_pins_count_down_then_block_until_replug() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    // Through changePIN and through a PIN token request: both report retries.
    assert_eq!(h.change_pin(&pin("0000"), &pin("5678")).await, Err(KeyError::PinInvalid { retries_left: 7 }));
    assert_eq!(h.credentials_metadata(&pin("0000")).await, Err(KeyError::PinInvalid { retries_left: 6 }));
    let retries = h.pin_retries().await.unwrap();
    assert_eq!(retries.retries, 6);
    assert_eq!(retries.power_cycle_required, Some(false));
    // Third wrong PIN in a row: the key wants a power cycle.
    assert_eq!(h.credentials_metadata(&pin("0000")).await, Err(KeyError::PinAuthBlocked));
    assert_eq!(h.pin_retries().await.unwrap().power_cycle_required, Some(true));
    // Even the right PIN is refused until the key is re-plugged.
    assert_eq!(h.credentials_metadata(&pin("1234")).await, Err(KeyError::PinAuthBlocked));
    let msg = KeyError::PinAuthBlocked.to_string();
    assert!(msg.contains("unplug"), "{msg}");
    drop(h);
    let h = replug(&k, HandleOptions::default()).await;
    h.credentials_metadata(&pin("1234")).await.unwrap();
    assert_eq!(h.pin_retries().await.unwrap().retries, 8, "a correct PIN restores the counter");
}

#[tokio::test]
async fn the_pin_blocks_after_the_keys_limit() {
    let k = key();
    let mut h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    let mut seen = Vec::new();
    for attempt in 1..=8u8 {
        let e = h.credentials_metadata(&pin("9999")).await.unwrap_err();
        seen.push(e.clone());
        if e == KeyError::PinAuthBlocked {
            drop(h);
            h = replug(&k, HandleOptions::default()).await;
        }
        if attempt < 8 {
            assert_ne!(e, KeyError::PinBlocked, "blocked too early at attempt {attempt}");
        }
    }
    assert_eq!(seen[0], KeyError::PinInvalid { retries_left: 7 });
    assert_eq!(seen[7], KeyError::PinBlocked, "{seen:?}");
    assert_eq!(h.pin_retries().await.unwrap().retries, 0);
    assert_eq!(h.credentials_metadata(&pin("1234")).await, Err(KeyError::PinBlocked));
    assert!(KeyError::PinBlocked.to_string().contains("reset"));
}

#[tokio::test]
async fn short_and_long_pins_are_refused_before_sending() {
    let k = key();
    let h = open(&k).await;
    assert_eq!(h.set_pin(&pin("123")).await, Err(KeyError::PinTooShort { min_length: 4 }));
    // Three code points, six bytes: still too short.
    assert_eq!(h.set_pin(&pin("ééé")).await, Err(KeyError::PinTooShort { min_length: 4 }));
    assert_eq!(h.set_pin(&pin(&"7".repeat(64))).await, Err(KeyError::PinTooLong));
    assert!(!h.get_info().await.unwrap().pin_is_set());
    let text = KeyError::PinTooShort { min_length: 4 }.to_string();
    assert!(text.contains("at least 4"), "{text}");
    // Four code points (eight bytes) are fine.
    h.set_pin(&pin("éééé")).await.unwrap();
    h.credentials_metadata(&pin("éééé")).await.unwrap();
}

#[tokio::test]
async fn the_keys_own_minimum_is_used() {
    let k = VirtualKey::new(VirtualKeyConfig { min_pin_length: 6, ..Default::default() });
    let h = open(&k).await;
    assert_eq!(h.set_pin(&pin("12345")).await, Err(KeyError::PinTooShort { min_length: 6 }));
    h.set_pin(&pin("123456")).await.unwrap();
    assert_eq!(h.change_pin(&pin("123456"), &pin("1234")).await, Err(KeyError::PinTooShort { min_length: 6 }));
}

#[tokio::test]
async fn change_pin_replaces_the_pin() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    h.change_pin(&pin("1234"), &pin("87654321")).await.unwrap();
    h.credentials_metadata(&pin("87654321")).await.unwrap();
    assert_eq!(h.credentials_metadata(&pin("1234")).await, Err(KeyError::PinInvalid { retries_left: 7 }));
    assert_eq!(h.change_pin(&pin("1234"), &pin("5555")).await, Err(KeyError::PinInvalid { retries_left: 6 }));
}

#[tokio::test]
async fn change_pin_without_a_pin_is_pin_not_set() {
    let k = key();
    let h = open(&k).await;
    assert_eq!(h.change_pin(&pin("1234"), &pin("5678")).await, Err(KeyError::PinNotSet));
    assert_eq!(h.credentials_metadata(&pin("1234")).await, Err(KeyError::PinNotSet));
}

/// Everything PIN-related once with each protocol: the key decrypts what we encrypt and
/// checks what we authenticate, so a mistake in either protocol fails here.
#[tokio::test]
async fn both_pin_protocols_work_end_to_end() {
    for protocol in [PinUvAuthProtocol::One, PinUvAuthProtocol::Two] {
        let k = key();
        let h = open_with(&k, HandleOptions { pin_protocol: Some(protocol), ..Default::default() }).await;
        assert_eq!(h.pin_protocol().unwrap(), protocol);
        h.set_pin(&pin("1234")).await.unwrap();
        h.change_pin(&pin("1234"), &pin("2345")).await.unwrap();
        assert_eq!(h.change_pin(&pin("1234"), &pin("3456")).await, Err(KeyError::PinInvalid { retries_left: 7 }), "{protocol:?}");
        let r = h.make_credential(request("example.com", b"user"), Some(&pin("2345"))).await.unwrap();
        assert_eq!(r.flags & 0x04, 0x04, "UV with protocol {protocol:?}");
        assert_eq!(h.credentials_metadata(&pin("2345")).await.unwrap().existing, 1);
        let creds = h.list_credentials(&pin("2345")).await.unwrap();
        h.delete_credential(&pin("2345"), &creds[0].credential_id).await.unwrap();
        h.force_pin_change(&pin("2345")).await.unwrap();
        assert_eq!(h.credentials_metadata(&pin("2345")).await, Err(KeyError::PinChangeRequired), "{protocol:?}");
    }
}
