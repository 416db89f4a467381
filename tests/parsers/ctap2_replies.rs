//! CTAP2 replies: authData, getInfo, makeCredential, clientPIN and credential
//! management, built from parts and decoded back, and decoded from anything.
use super::support::{cases, cbor_ish_bytes, cbor_value, check_error_text, damage, map_key, KEY_ERROR_MAX_CHARS};
use ciborium::Value;
use keystation::key::ctap2::auth_data::{AuthData, FLAG_AT, FLAG_ED, FLAG_UP};
use keystation::key::ctap2::cbor::to_canonical_vec;
use keystation::key::ctap2::info::decode_info;
use keystation::key::ctap2::{client_pin, cred_mgmt, make_credential};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The relying party of the makeCredential replies (Graph's provisioning RP).
pub const RP_ID: &str = "login.microsoft.com";

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}
fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// The parts of an authData, and its bytes.
#[derive(Debug, Clone)]
pub struct AuthDataParts {
    rp_id_hash: [u8; 32],
    flags: u8,
    sign_count: u32,
    attested: Option<([u8; 16], Vec<u8>, Vec<u8>)>,
    extensions: Option<Vec<u8>>,
}

impl AuthDataParts {
    fn bytes(&self) -> Vec<u8> {
        let mut b = self.rp_id_hash.to_vec();
        b.push(self.flags);
        b.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some((aaguid, id, cose)) = &self.attested {
            b.extend_from_slice(aaguid);
            b.extend_from_slice(&(id.len() as u16).to_be_bytes());
            b.extend_from_slice(id);
            b.extend_from_slice(cose);
        }
        if let Some(ext) = &self.extensions {
            b.extend_from_slice(ext);
        }
        b
    }
}

/// A CBOR map (a COSE key, extension outputs) as bytes.
fn cbor_map_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((map_key(), cbor_value()), 0..5).prop_map(|entries| to_canonical_vec(&Value::Map(entries)))
}

/// authData from parts whose flags agree with its content; with `for_rp`, its hash.
fn auth_data(for_rp: Option<&'static str>, attested: bool) -> impl Strategy<Value = AuthDataParts> {
    let cred = (any::<[u8; 16]>(), proptest::collection::vec(any::<u8>(), 0..300), cbor_map_bytes());
    let cred = if attested { cred.prop_map(Some).boxed() } else { proptest::option::of(cred).boxed() };
    (any::<[u8; 32]>(), any::<u8>(), any::<u32>(), cred, proptest::option::of(cbor_map_bytes())).prop_map(
        move |(hash, other_flags, sign_count, attested, extensions)| {
            let mut flags = other_flags & !(FLAG_AT | FLAG_ED);
            if attested.is_some() {
                flags |= FLAG_AT;
            }
            if extensions.is_some() {
                flags |= FLAG_ED;
            }
            let rp_id_hash = match for_rp {
                Some(rp) => Sha256::digest(rp.as_bytes()).into(),
                None => hash,
            };
            AuthDataParts { rp_id_hash, flags: flags | FLAG_UP, sign_count, attested, extensions }
        },
    )
}

/// getInfo's fields, and the reply body made of them.
fn get_info() -> impl Strategy<Value = (Value, [u8; 16], Vec<String>, BTreeMap<String, bool>, Option<u32>, Vec<i64>, u8)> {
    (
        any::<[u8; 16]>(),
        proptest::collection::vec("[A-Z0-9_]{1,12}", 0..4),
        proptest::collection::btree_map("[a-zA-Z]{1,10}", any::<bool>(), 0..6),
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(-300i64..10, 0..4),
        4u8..64,
        proptest::collection::vec((22i64..40, cbor_value()), 0..3),
    )
        .prop_map(|(aaguid, versions, options, max_msg, algs, min_pin, unknown)| {
            let mut entries = vec![
                (int(1), Value::Array(versions.iter().map(|v| text(v)).collect())),
                (int(3), Value::Bytes(aaguid.to_vec())),
                (int(4), Value::Map(options.iter().map(|(k, v)| (text(k), Value::Bool(*v))).collect())),
                (int(10), Value::Array(algs.iter().map(|a| Value::Map(vec![(text("alg"), int(*a)), (text("type"), text("public-key"))])).collect())),
                (int(13), int(i64::from(min_pin))),
            ];
            if let Some(n) = max_msg {
                entries.push((int(5), int(i64::from(n))));
            }
            // Fields of later CTAP versions are ignored, whatever they hold.
            entries.extend(unknown.into_iter().map(|(k, v)| (int(k), v)));
            (Value::Map(entries), aaguid, versions, options, max_msg, algs, min_pin)
        })
}

/// A makeCredential reply body for [`RP_ID`] and its parts.
pub fn make_credential_reply() -> impl Strategy<Value = (Vec<u8>, String, AuthDataParts, Value, Option<bool>)> {
    ("[a-z-]{1,12}", auth_data(Some(RP_ID), true), proptest::collection::vec(("[a-z]{1,8}", cbor_value()), 0..4), proptest::option::of(any::<bool>())).prop_map(
        |(fmt, ad, stmt, ep)| {
            let att_stmt = Value::Map(stmt.into_iter().map(|(k, v)| (text(&k), v)).collect());
            let mut entries = vec![(int(1), text(&fmt)), (int(2), Value::Bytes(ad.bytes())), (int(3), att_stmt.clone())];
            if let Some(ep) = ep {
                entries.push((int(4), Value::Bool(ep)));
            }
            (to_canonical_vec(&Value::Map(entries)), fmt, ad, att_stmt, ep)
        },
    )
}

proptest! {
    #![proptest_config(cases(256))]

    /// authData built from parts parses back into the same parts.
    #[test]
    fn auth_data_round_trips(parts in auth_data(None, false)) {
        let parsed = AuthData::parse(&parts.bytes()).unwrap();
        prop_assert_eq!(parsed.rp_id_hash, parts.rp_id_hash);
        prop_assert_eq!(parsed.flags, parts.flags);
        prop_assert_eq!(parsed.sign_count, parts.sign_count);
        prop_assert_eq!(parsed.attested.map(|a| (a.aaguid, a.credential_id, a.public_key_cose)), parts.attested);
        prop_assert_eq!(parsed.extensions_cbor, parts.extensions);
    }

    /// authData cut short, lengthened or with a changed byte, or noise: an answer, never a
    /// panic; whatever parses accounts for every byte.
    #[test]
    fn damaged_auth_data_never_panics(parts in auth_data(None, false), at in any::<prop::sample::Index>(), byte in any::<u8>(), how in 0u8..4, noise in proptest::collection::vec(any::<u8>(), 0..120)) {
        let b = if how == 3 { noise } else { damage(parts.bytes(), at, byte, how) };
        if let Ok(p) = AuthData::parse(&b) {
            let used = 37 + p.attested.map(|a| 18 + a.credential_id.len() + a.public_key_cose.len()).unwrap_or(0) + p.extensions_cbor.map(|e| e.len()).unwrap_or(0);
            prop_assert_eq!(used, b.len());
        }
    }

    /// A getInfo reply decodes to the fields it was made of; unknown fields are ignored.
    #[test]
    fn get_info_round_trips((value, aaguid, versions, options, max_msg, algs, min_pin) in get_info()) {
        let info = decode_info(&to_canonical_vec(&value)).unwrap();
        prop_assert_eq!(info.aaguid, aaguid);
        prop_assert_eq!(info.versions, versions);
        prop_assert_eq!(info.options, options);
        prop_assert_eq!(info.max_msg_size, max_msg);
        prop_assert_eq!(info.algorithms, algs);
        prop_assert_eq!(info.min_pin_length, min_pin);
    }

    /// A makeCredential reply decodes to its parts, attStmt byte for byte.
    #[test]
    fn make_credential_reply_round_trips((body, fmt, ad, att_stmt, ep) in make_credential_reply()) {
        let r = make_credential::decode_reply(&body, RP_ID).unwrap();
        prop_assert_eq!(r.fmt, fmt);
        prop_assert_eq!(r.auth_data, ad.bytes());
        prop_assert_eq!(r.att_stmt_cbor, to_canonical_vec(&att_stmt));
        prop_assert_eq!(r.enterprise_attestation, ep);
        let (aaguid, id, cose) = ad.attested.expect("attested");
        prop_assert_eq!((r.aaguid, r.credential_id, r.credential_public_key_cose), (aaguid, id, cose));
        // The same reply for another relying party is refused.
        prop_assert!(make_credential::decode_reply(&body, "evil.example").is_err());
    }

    /// A decoded reply becomes WebAuthn's attestationObject with authData and attStmt
    /// spliced in byte for byte (or erased to `none` on request), and the COSE key and
    /// extension outputs inside it are read without a panic.
    #[test]
    fn make_credential_reply_becomes_an_attestation_object((body, fmt, _ad, att_stmt, _ep) in make_credential_reply(), pref in 0u8..4) {
        use keystation::ceremony::webauthn::attestation::{apply_conveyance, attestation_object, check_response};
        use keystation::ceremony::webauthn::options::Attestation;
        let r = make_credential::decode_reply(&body, RP_ID).unwrap();
        let _ = check_response(RP_ID, &r);
        let pref = [Attestation::None, Attestation::Indirect, Attestation::Direct, Attestation::Enterprise][pref as usize];
        let parts = apply_conveyance(pref, &r);
        let object = keystation::key::ctap2::cbor::decode(&attestation_object(&parts)).unwrap();
        let map = object.as_map().expect("a map");
        let get = |k: &str| map.iter().find(|(key, _)| key.as_text() == Some(k)).map(|(_, v)| v.clone());
        prop_assert_eq!(get("authData"), Some(Value::Bytes(parts.auth_data.clone())));
        if !parts.erased {
            prop_assert_eq!(get("fmt"), Some(text(&fmt)));
            // As the key sent it (canonically ordered).
            prop_assert_eq!(get("attStmt"), Some(keystation::key::ctap2::cbor::decode(&to_canonical_vec(&att_stmt)).unwrap()));
            prop_assert_eq!(parts.auth_data, r.auth_data);
        }
        if let Ok(key) = keystation::ceremony::webauthn::cose::CoseKey::parse(&r.credential_public_key_cose) {
            let _ = key.spki_der();
        }
        let inputs = keystation::ceremony::webauthn::options::ExtensionInputs { cred_props: true, hmac_create_secret: true, prf: true, ..Default::default() };
        let _ = keystation::ceremony::webauthn::extensions::client_extension_results(&inputs, true, r.extensions_cbor.as_deref());
    }

    /// Key material the key hands over: a COSE public key (from authData, or the
    /// clientPIN keyAgreement) and an encrypted PIN token, of any shape.
    #[test]
    fn key_material_of_any_shape_is_refused_or_used(cose in prop_oneof![cbor_ish_bytes(), cbor_map_bytes()], entries in proptest::collection::vec((-4i64..4, cbor_value()), 0..6), token in proptest::collection::vec(any::<u8>(), 0..80)) {
        use keystation::key::pin_protocol::{encapsulate, PinToken, PinUvAuthProtocol};
        if let Ok(key) = keystation::ceremony::webauthn::cose::CoseKey::parse(&cose) {
            let _ = key.spki_der();
        }
        let inputs = keystation::ceremony::webauthn::options::ExtensionInputs { hmac_create_secret: true, ..Default::default() };
        let _ = keystation::ceremony::webauthn::extensions::client_extension_results(&inputs, false, Some(&cose));
        let peer = Value::Map(entries.into_iter().map(|(k, v)| (int(k), v)).collect());
        for protocol in [PinUvAuthProtocol::One, PinUvAuthProtocol::Two] {
            let _ = encapsulate(protocol, &peer);
        }
        // A real key agreement, then a token of any length and content.
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        let real = Value::Map(vec![
            (int(1), int(2)), (int(3), int(-25)), (int(-1), int(1)),
            (int(-2), Value::Bytes(point.x().expect("x").to_vec())), (int(-3), Value::Bytes(point.y().expect("y").to_vec())),
        ]);
        for protocol in [PinUvAuthProtocol::One, PinUvAuthProtocol::Two] {
            let agreement = encapsulate(protocol, &real).unwrap();
            let _ = PinToken::decrypt(&agreement.shared, &token);
        }
    }

    /// Every reply decoder, given anything (mostly CBOR-shaped): an answer or a short,
    /// printable error, never a panic.
    #[test]
    fn reply_decoders_never_panic(bytes in cbor_ish_bytes()) {
        let short = |e: &dyn std::fmt::Display| check_error_text(e, KEY_ERROR_MAX_CHARS);
        if let Err(e) = decode_info(&bytes) { short(&e)?; }
        if let Err(e) = make_credential::decode_reply(&bytes, RP_ID) { short(&e)?; }
        if let Err(e) = client_pin::decode_reply(&bytes) { short(&e)?; }
        if let Err(e) = cred_mgmt::decode_metadata(&bytes) { short(&e)?; }
        if let Err(e) = cred_mgmt::decode_rp(&bytes) { short(&e)?; }
        if let Err(e) = cred_mgmt::decode_credential(&bytes) { short(&e)?; }
        if let Err(e) = AuthData::parse(&bytes) { short(&e)?; }
    }

    /// getInfo and makeCredential maps whose fields hold values of the wrong kind.
    #[test]
    fn reply_maps_with_wrong_kinds_never_panic(entries in proptest::collection::vec((0i64..24, cbor_value()), 0..10)) {
        let bytes = to_canonical_vec(&Value::Map(entries.into_iter().map(|(k, v)| (int(k), v)).collect()));
        let short = |e: &dyn std::fmt::Display| check_error_text(e, KEY_ERROR_MAX_CHARS);
        if let Err(e) = decode_info(&bytes) { short(&e)?; }
        if let Err(e) = make_credential::decode_reply(&bytes, RP_ID) { short(&e)?; }
        if let Err(e) = client_pin::decode_reply(&bytes) { short(&e)?; }
        if let Err(e) = cred_mgmt::decode_credential(&bytes) { short(&e)?; }
    }
}
