//! getInfo and what open() learns.
use super::support::*;
use keystation::key::pin_protocol::PinUvAuthProtocol;
use keystation::key::virtual_key::VIRTUAL_KEY_AAGUID;
use keystation::key::worker::HandleOptions;

#[tokio::test]
async fn get_info_reports_every_field_the_key_sends() {
    let k = key();
    let h = open(&k).await;
    let i = h.get_info().await.unwrap();
    assert_eq!(i, h.info(), "the cached info matches a fresh read");
    assert!(i.supports_version("FIDO_2_0") && i.supports_version("FIDO_2_1"), "{:?}", i.versions);
    for e in ["hmac-secret", "credProtect", "minPinLength"] {
        assert!(i.supports_extension(e), "{e} in {:?}", i.extensions);
    }
    assert_eq!(i.aaguid, VIRTUAL_KEY_AAGUID);
    assert_eq!(i.aaguid_string(), "d5a92987-df19-484f-890d-2d49daf54f29");
    assert_eq!(i.option("rk"), Some(true));
    assert_eq!(i.option("clientPin"), Some(false));
    assert_eq!(i.option("credMgmt"), Some(true));
    assert_eq!(i.option("authnrCfg"), Some(true));
    assert_eq!(i.option("pinUvAuthToken"), Some(true));
    assert_eq!(i.max_msg_size, Some(7609));
    assert_eq!(i.pin_uv_auth_protocols, vec![2, 1]);
    assert_eq!(i.max_credential_count_in_list, Some(8));
    assert!(i.max_credential_id_length.is_some());
    assert_eq!(i.transports, vec!["usb"]);
    assert_eq!(i.algorithms, vec![-7]);
    assert!(!i.force_pin_change);
    assert_eq!(i.min_pin_length, 4);
    assert!(i.firmware_version.is_some());
    assert_eq!(i.remaining_discoverable_credentials, Some(150));
    assert!(i.max_rp_ids_for_set_min_pin_length.is_some());
    let hid = h.hid_info().unwrap();
    assert_eq!(hid.protocol_version, 2);
    assert_ne!(hid.capabilities & 0x04, 0, "CBOR capability");
    assert_eq!(h.descriptor(), &k.descriptor());
}

#[tokio::test]
async fn protocol_two_is_preferred_and_one_can_be_forced() {
    let k = key();
    let h = open(&k).await;
    assert_eq!(h.pin_protocol().unwrap(), PinUvAuthProtocol::Two);
    drop(h);
    let h1 = open_with(&k, HandleOptions { pin_protocol: Some(PinUvAuthProtocol::One), ..Default::default() }).await;
    assert_eq!(h1.pin_protocol().unwrap(), PinUvAuthProtocol::One);
}

#[tokio::test]
async fn min_pin_length_of_the_key_is_reported() {
    let k = keystation::key::virtual_key::VirtualKey::new(keystation::key::virtual_key::VirtualKeyConfig { min_pin_length: 6, ..Default::default() });
    let h = open(&k).await;
    assert_eq!(h.info().min_pin_length, 6);
}

#[tokio::test]
async fn wink_works_and_uv_retries_are_unsupported_without_built_in_uv() {
    let k = key();
    let h = open(&k).await;
    h.wink().await.unwrap();
    assert!(matches!(h.uv_retries().await, Err(keystation::key::KeyError::Unsupported(_))));
}
