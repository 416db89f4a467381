//! The relying party's side, written independently of keystation's encoder: split the
//! attestationObject into raw CBOR spans, parse authenticatorData, check the packed
//! signature over authData ‖ SHA-256(clientDataJSON).
use ciborium::value::Value;
use p256::ecdsa::{DerSignature, VerifyingKey, signature::Verifier};
use sha2::{Digest, Sha256};

/// Length of the CBOR data item at the start of `b` (definite lengths only).
pub fn cbor_item_len(b: &[u8]) -> usize {
    let (major, arg, head) = head(b);
    match major {
        0 | 1 | 7 => head,
        2 | 3 => head + arg as usize,
        4 => {
            let mut at = head;
            for _ in 0..arg {
                at += cbor_item_len(&b[at..]);
            }
            at
        }
        5 => {
            let mut at = head;
            for _ in 0..arg * 2 {
                at += cbor_item_len(&b[at..]);
            }
            at
        }
        6 => head + cbor_item_len(&b[head..]),
        _ => unreachable!(),
    }
}

fn head(b: &[u8]) -> (u8, u64, usize) {
    let major = b[0] >> 5;
    let info = b[0] & 0x1f;
    match info {
        0..=23 => (major, info as u64, 1),
        24 => (major, b[1] as u64, 2),
        25 => (major, u16::from_be_bytes([b[1], b[2]]) as u64, 3),
        26 => (major, u32::from_be_bytes(b[1..5].try_into().unwrap()) as u64, 5),
        27 => (major, u64::from_be_bytes(b[1..9].try_into().unwrap()), 9),
        _ => panic!("indefinite or reserved CBOR length"),
    }
}

/// The attestationObject's top-level entries in wire order: (key, raw value bytes).
pub fn attestation_entries(obj: &[u8]) -> Vec<(String, Vec<u8>)> {
    let (major, n, mut at) = head(obj);
    assert_eq!(major, 5, "attestationObject is not a map");
    let mut out = Vec::new();
    for _ in 0..n {
        let klen = cbor_item_len(&obj[at..]);
        let key: Value = ciborium::de::from_reader(&obj[at..at + klen]).unwrap();
        at += klen;
        let vlen = cbor_item_len(&obj[at..]);
        out.push((key.as_text().expect("text key").to_string(), obj[at..at + vlen].to_vec()));
        at += vlen;
    }
    assert_eq!(at, obj.len(), "bytes after the attestationObject map");
    out
}

/// Byte string content of a raw CBOR byte-string item.
pub fn bstr_content(item: &[u8]) -> Vec<u8> {
    let (major, len, h) = head(item);
    assert_eq!(major, 2);
    item[h..h + len as usize].to_vec()
}

pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    pub public_key: VerifyingKey,
    pub extensions: Option<Value>,
}

pub fn parse_auth_data(ad: &[u8]) -> AuthData {
    let rp_id_hash: [u8; 32] = ad[..32].try_into().unwrap();
    let flags = ad[32];
    let aaguid: [u8; 16] = ad[37..53].try_into().unwrap();
    let n = u16::from_be_bytes([ad[53], ad[54]]) as usize;
    let credential_id = ad[55..55 + n].to_vec();
    let key_at = 55 + n;
    let key_len = cbor_item_len(&ad[key_at..]);
    let cose: Value = ciborium::de::from_reader(&ad[key_at..key_at + key_len]).unwrap();
    let get = |label: i64| {
        cose.as_map().unwrap().iter().find(|(k, _)| k.as_integer() == Some(label.into())).map(|(_, v)| v.clone()).unwrap()
    };
    let x = get(-2).into_bytes().unwrap();
    let y = get(-3).into_bytes().unwrap();
    let mut sec1 = vec![4u8];
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    let public_key = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
    let rest = &ad[key_at + key_len..];
    let extensions = (flags & 0x80 != 0).then(|| {
        assert_eq!(cbor_item_len(rest), rest.len(), "trailing bytes after extensions");
        ciborium::de::from_reader(rest).unwrap()
    });
    if flags & 0x80 == 0 {
        assert!(rest.is_empty(), "trailing bytes in authData");
    }
    AuthData { rp_id_hash, flags, aaguid, credential_id, public_key, extensions }
}

/// Verify a `packed` attestation: with x5c, against the leaf certificate's key;
/// without, against the credential key (self attestation).
pub fn verify_packed(att_stmt: &[u8], auth_data: &[u8], client_data_json: &[u8]) {
    let stmt: Value = ciborium::de::from_reader(att_stmt).unwrap();
    let field = |name: &str| stmt.as_map().unwrap().iter().find(|(k, _)| k.as_text() == Some(name)).map(|(_, v)| v.clone());
    assert_eq!(field("alg").and_then(|a| a.as_integer()).map(i128::from), Some(-7));
    let sig = field("sig").unwrap().into_bytes().unwrap();
    let key = match field("x5c") {
        Some(chain) => {
            let leaf = chain.into_array().unwrap().remove(0).into_bytes().unwrap();
            let (_, cert) = x509_parser::parse_x509_certificate(&leaf).unwrap();
            VerifyingKey::from_sec1_bytes(&cert.public_key().subject_public_key.data).unwrap()
        }
        None => parse_auth_data(auth_data).public_key,
    };
    let mut signed = auth_data.to_vec();
    signed.extend_from_slice(&Sha256::digest(client_data_json));
    let sig = DerSignature::from_bytes(&sig).unwrap();
    key.verify(&signed, &sig).expect("attestation signature does not verify");
}

pub fn b64u(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

pub fn b64u_enc(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
