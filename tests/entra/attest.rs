//! A tiny test-only authenticator: makes a WebAuthn registration (clientDataJSON and a
//! packed self-attestation signed with a fresh P-256 key) for Graph creation options, so
//! the registration POST can be exercised end to end. The real key-based registration is
//! the ceremony layer's job; this only has to be valid.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ciborium::value::Value;
use keystation::entra::graph::{Fido2Registration, PublicKeyOptions};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};

/// AAGUID of the "OpenSK authenticator" model in the simulator's model table.
pub const TEST_AAGUID: &str = "664d9f67-84a2-412a-9ff7-b4f7d8ee6d05";

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).expect("CBOR encoding to a Vec cannot fail");
    out
}

/// Answer `options` like a security key would (UP + UV, discoverable, self attestation).
pub fn register(options: &PublicKeyOptions, display_name: &str) -> Fido2Registration {
    let key = SigningKey::random(&mut rand::thread_rng());
    let point = key.verifying_key().to_encoded_point(false);
    let (x, y) = (point.x().expect("uncompressed").to_vec(), point.y().expect("uncompressed").to_vec());
    let credential_id: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    let aaguid = uuid::Uuid::parse_str(TEST_AAGUID).expect("valid AAGUID").into_bytes();

    let challenge = URL_SAFE_NO_PAD.encode(options.challenge_bytes().expect("challenge is base64url"));
    let client_data_json = serde_json::to_vec(&serde_json::json!({
        "type": "webauthn.create",
        "challenge": challenge,
        "origin": format!("https://{}", options.rp.id),
        "crossOrigin": false,
    }))
    .expect("JSON");

    let cose_key = cbor(&Value::Map(vec![
        (Value::Integer(1.into()), Value::Integer(2.into())),
        (Value::Integer(3.into()), Value::Integer((-7).into())),
        (Value::Integer((-1).into()), Value::Integer(1.into())),
        (Value::Integer((-2).into()), Value::Bytes(x)),
        (Value::Integer((-3).into()), Value::Bytes(y)),
    ]));
    let mut auth_data = Sha256::digest(options.rp.id.as_bytes()).to_vec();
    auth_data.push(0x01 | 0x04 | 0x40); // UP, UV, AT
    auth_data.extend_from_slice(&0u32.to_be_bytes());
    auth_data.extend_from_slice(&aaguid);
    auth_data.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
    auth_data.extend_from_slice(&credential_id);
    auth_data.extend_from_slice(&cose_key);

    let mut signed = auth_data.clone();
    signed.extend_from_slice(&Sha256::digest(&client_data_json));
    let sig: Signature = key.sign(&signed);
    let attestation_object = cbor(&Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text("packed".into())),
        (
            Value::Text("attStmt".into()),
            Value::Map(vec![
                (Value::Text("alg".into()), Value::Integer((-7).into())),
                (Value::Text("sig".into()), Value::Bytes(sig.to_der().as_bytes().to_vec())),
            ]),
        ),
        (Value::Text("authData".into()), Value::Bytes(auth_data)),
    ]));
    Fido2Registration {
        display_name: display_name.to_string(),
        credential_id,
        client_data_json,
        attestation_object,
        client_extension_results: serde_json::Map::new(),
    }
}
