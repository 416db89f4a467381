//! authenticatorGetInfo reply decoding.
use super::cbor::{MapView, as_i64, as_u64, decode};
use super::types::AuthenticatorInfo;
use crate::key::KeyError;
use std::collections::BTreeMap;

/// Decode the CBOR body of a getInfo reply (after the status byte).
pub fn decode_info(body: &[u8]) -> Result<AuthenticatorInfo, KeyError> {
    let value = decode(body)?;
    let m = MapView::new(&value, "getInfo")?;
    let aaguid_bytes = m.opt_bytes(0x03)?.ok_or_else(|| KeyError::Protocol("getInfo: the AAGUID (0x03) is missing".into()))?;
    let aaguid: [u8; 16] = aaguid_bytes.try_into().map_err(|_| KeyError::Protocol(format!("getInfo: AAGUID has {} bytes, not 16", aaguid_bytes.len())))?;

    let mut options = BTreeMap::new();
    if let Some(v) = m.get(0x04) {
        for (k, v) in MapView::new(v, "getInfo options")?.entries() {
            if let (Some(k), Some(v)) = (k.as_text(), v.as_bool()) {
                options.insert(k.to_string(), v);
            }
        }
    }

    let small = |key: i64| -> Result<Vec<u8>, KeyError> {
        m.opt_array(key)?
            .unwrap_or_default()
            .iter()
            .map(|v| as_u64(v).and_then(|n| u8::try_from(n).ok()).ok_or_else(|| KeyError::Protocol(format!("getInfo: field 0x{key:02x} holds a non-byte value"))))
            .collect()
    };

    // 0x0A: [{"alg": -7, "type": "public-key"}, ...]; other credential types are skipped.
    let mut algorithms = Vec::new();
    for entry in m.opt_array(0x0A)?.unwrap_or_default() {
        let e = MapView::new(entry, "getInfo algorithms")?;
        if e.get_text("type").and_then(|t| t.as_text()) == Some("public-key")
            && let Some(alg) = e.get_text("alg").and_then(as_i64)
        {
            algorithms.push(alg);
        }
    }

    let mut certifications = BTreeMap::new();
    if let Some(v) = m.get(0x13) {
        for (k, v) in MapView::new(v, "getInfo certifications")?.entries() {
            if let (Some(k), Some(v)) = (k.as_text(), as_i64(v)) {
                certifications.insert(k.to_string(), v);
            }
        }
    }

    let vendor_prototype_config_commands = m
        .opt_array(0x15)?
        .unwrap_or_default()
        .iter()
        .map(|v| as_u64(v).ok_or_else(|| KeyError::Protocol("getInfo: vendorPrototypeConfigCommands holds a non-integer".into())))
        .collect::<Result<_, _>>()?;

    Ok(AuthenticatorInfo {
        versions: m.opt_text_array(0x01)?,
        extensions: m.opt_text_array(0x02)?,
        aaguid,
        options,
        max_msg_size: m.opt_u32(0x05)?,
        pin_uv_auth_protocols: small(0x06)?,
        max_credential_count_in_list: m.opt_u32(0x07)?,
        max_credential_id_length: m.opt_u32(0x08)?,
        transports: m.opt_text_array(0x09)?,
        algorithms,
        max_serialized_large_blob_array: m.opt_u32(0x0B)?,
        force_pin_change: m.opt_bool(0x0C)?.unwrap_or(false),
        min_pin_length: m.opt_u64(0x0D)?.map(|n| u8::try_from(n).unwrap_or(u8::MAX)).unwrap_or(4),
        firmware_version: m.opt_u64(0x0E)?,
        max_cred_blob_length: m.opt_u32(0x0F)?,
        max_rp_ids_for_set_min_pin_length: m.opt_u32(0x10)?,
        preferred_platform_uv_attempts: m.opt_u32(0x11)?,
        uv_modality: m.opt_u32(0x12)?,
        certifications,
        remaining_discoverable_credentials: m.opt_u32(0x14)?,
        vendor_prototype_config_commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ctap2::cbor::{bytes, int, text, to_canonical_vec};
    use ciborium::Value;

    fn full_info() -> Vec<u8> {
        let opt = |k: &str, v: bool| (text(k), Value::Bool(v));
        let alg = |a: i64| Value::Map(vec![(text("alg"), int(a)), (text("type"), text("public-key"))]);
        to_canonical_vec(&Value::Map(vec![
            (int(1), Value::Array(vec![text("U2F_V2"), text("FIDO_2_0"), text("FIDO_2_1")])),
            (int(2), Value::Array(vec![text("credProtect"), text("hmac-secret")])),
            (int(3), bytes(&[0xab; 16])),
            (int(4), Value::Map(vec![opt("rk", true), opt("clientPin", false), opt("credMgmt", true)])),
            (int(5), int(1200)),
            (int(6), Value::Array(vec![int(2), int(1)])),
            (int(7), int(8)),
            (int(8), int(128)),
            (int(9), Value::Array(vec![text("usb")])),
            (int(10), Value::Array(vec![alg(-7), alg(-8), Value::Map(vec![(text("alg"), int(-7)), (text("type"), text("other"))])])),
            (int(11), int(1024)),
            (int(12), Value::Bool(true)),
            (int(13), int(6)),
            (int(14), int(0x0102_0304)),
            (int(15), int(32)),
            (int(16), int(2)),
            (int(17), int(3)),
            (int(18), int(2)),
            (int(19), Value::Map(vec![(text("FIDO"), int(2))])),
            (int(20), int(25)),
            (int(21), Value::Array(vec![int(0xff)])),
            (int(22), Value::Array(vec![text("packed")])), // CTAP 2.2 field: ignored
        ]))
    }

    #[test]
    fn every_field_is_decoded() {
        let i = decode_info(&full_info()).unwrap();
        assert_eq!(i.versions, vec!["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
        assert_eq!(i.extensions, vec!["credProtect", "hmac-secret"]);
        assert_eq!(i.aaguid, [0xab; 16]);
        assert_eq!(i.option("rk"), Some(true));
        assert_eq!(i.option("clientPin"), Some(false));
        assert!(!i.pin_is_set());
        assert_eq!(i.max_msg_size, Some(1200));
        assert_eq!(i.pin_uv_auth_protocols, vec![2, 1]);
        assert_eq!(i.max_credential_count_in_list, Some(8));
        assert_eq!(i.max_credential_id_length, Some(128));
        assert_eq!(i.transports, vec!["usb"]);
        assert_eq!(i.algorithms, vec![-7, -8]);
        assert_eq!(i.max_serialized_large_blob_array, Some(1024));
        assert!(i.force_pin_change);
        assert_eq!(i.min_pin_length, 6);
        assert_eq!(i.firmware_version, Some(0x0102_0304));
        assert_eq!(i.max_cred_blob_length, Some(32));
        assert_eq!(i.max_rp_ids_for_set_min_pin_length, Some(2));
        assert_eq!(i.preferred_platform_uv_attempts, Some(3));
        assert_eq!(i.uv_modality, Some(2));
        assert_eq!(i.certifications.get("FIDO"), Some(&2));
        assert_eq!(i.remaining_discoverable_credentials, Some(25));
        assert_eq!(i.vendor_prototype_config_commands, vec![0xff]);
    }

    #[test]
    fn a_minimal_ctap20_reply_gets_defaults() {
        let body = to_canonical_vec(&Value::Map(vec![(int(1), Value::Array(vec![text("FIDO_2_0")])), (int(3), bytes(&[0; 16]))]));
        let i = decode_info(&body).unwrap();
        assert_eq!(i.min_pin_length, 4);
        assert!(!i.force_pin_change);
        assert!(i.pin_uv_auth_protocols.is_empty());
        assert_eq!(i.max_msg_size, None);
    }

    #[test]
    fn a_bad_aaguid_is_a_protocol_error() {
        let body = to_canonical_vec(&Value::Map(vec![(int(3), bytes(&[0; 15]))]));
        assert!(matches!(decode_info(&body), Err(KeyError::Protocol(_))));
    }
}
