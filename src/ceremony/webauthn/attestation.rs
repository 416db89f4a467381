//! From the key's makeCredential answer to WebAuthn's attestationObject.
//!
//! CTAP2 returns a map with integer keys {1: fmt, 2: authData, 3: attStmt}; WebAuthn
//! wants text keys. Chromium writes `{"fmt", "attStmt", "authData"}` (CTAP2 canonical
//! order: shorter keys first). keystation builds the same map by hand: the attStmt bytes
//! are spliced in verbatim from the key and authData is copied byte for byte, so
//! nothing the key signed or certified is ever re-encoded.
use super::error::WebAuthnError;
use super::options::Attestation;
use crate::key::ctap2::types::MakeCredentialResponse;
use ciborium::value::Value;
use sha2::{Digest, Sha256};

/// authenticatorData flag bits.
pub mod flags {
    /// User present.
    pub const UP: u8 = 0x01;
    /// User verified.
    pub const UV: u8 = 0x04;
    /// Attested credential data included.
    pub const AT: u8 = 0x40;
    /// Extension data included.
    pub const ED: u8 = 0x80;
}

/// Offset of the AAGUID in authenticatorData (rpIdHash 32 + flags 1 + signCount 4).
const AAGUID_OFFSET: usize = 37;
/// Offset of the credential id length.
const CRED_ID_LEN_OFFSET: usize = 53;

/// The attestation the page receives, after conveyance-preference handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationParts {
    /// `fmt`.
    pub fmt: String,
    /// `attStmt` CBOR bytes.
    pub att_stmt_cbor: Vec<u8>,
    /// `authData` bytes.
    pub auth_data: Vec<u8>,
    /// True when keystation replaced the key's attestation with `none`.
    pub erased: bool,
}

/// Check that the key's answer belongs to this request: rpIdHash matches, AT and UP
/// are set, the attested credential data agrees with the fields the key layer parsed,
/// and attStmt is exactly one CBOR map. Chromium refuses mismatching answers
/// (`kAuthenticatorResponseInvalid` → NotAllowedError); so does keystation.
pub fn check_response(rp_id: &str, resp: &MakeCredentialResponse) -> Result<(), WebAuthnError> {
    let bad = |m: String| Err(WebAuthnError::BadKeyResponse(m));
    let ad = &resp.auth_data;
    if ad.len() < CRED_ID_LEN_OFFSET + 2 {
        return bad(format!("authenticatorData is only {} bytes long", ad.len()));
    }
    let rp_hash: [u8; 32] = Sha256::digest(rp_id.as_bytes()).into();
    if ad[..32] != rp_hash {
        return bad(format!("rpIdHash is not SHA-256({rp_id:?})"));
    }
    let f = ad[32];
    if f & flags::AT == 0 {
        return bad("attested credential data flag (AT) is not set".into());
    }
    if f & flags::UP == 0 {
        return bad("user presence flag (UP) is not set".into());
    }
    if ad[AAGUID_OFFSET..CRED_ID_LEN_OFFSET] != resp.aaguid {
        return bad("AAGUID in authenticatorData differs from the parsed AAGUID".into());
    }
    let id_len = u16::from_be_bytes([ad[CRED_ID_LEN_OFFSET], ad[CRED_ID_LEN_OFFSET + 1]]) as usize;
    let id_start = CRED_ID_LEN_OFFSET + 2;
    let key_start = id_start + id_len;
    if ad.len() < key_start || ad[id_start..key_start] != resp.credential_id[..] {
        return bad("credential id in authenticatorData differs from the parsed credential id".into());
    }
    let key_end = key_start + resp.credential_public_key_cose.len();
    if ad.len() < key_end || ad[key_start..key_end] != resp.credential_public_key_cose[..] {
        return bad("credential public key in authenticatorData differs from the parsed key".into());
    }
    if resp.fmt.is_empty() {
        return bad("attestation format is empty".into());
    }
    match single_cbor_item(&resp.att_stmt_cbor) {
        Some(Value::Map(_)) => Ok(()),
        _ => bad("attStmt is not exactly one CBOR map".into()),
    }
}

/// Apply the attestation conveyance preference the way Chromium does for a USB
/// security key: for `none`, self-attestation (packed without x5c, or `none`) is kept
/// and any other attestation is erased together with the AAGUID; for `direct`,
/// `indirect` and `enterprise` the key's attestation is returned untouched (keystation
/// is the operator's own client, so it answers Chromium's "let this site see your
/// security key?" prompt with yes).
pub fn apply_conveyance(pref: Attestation, resp: &MakeCredentialResponse) -> AttestationParts {
    let keep = AttestationParts {
        fmt: resp.fmt.clone(),
        att_stmt_cbor: resp.att_stmt_cbor.clone(),
        auth_data: resp.auth_data.clone(),
        erased: false,
    };
    if pref != Attestation::None || is_self_attestation(&resp.fmt, &resp.att_stmt_cbor) {
        return keep;
    }
    let mut auth_data = resp.auth_data.clone();
    auth_data[AAGUID_OFFSET..CRED_ID_LEN_OFFSET].fill(0);
    AttestationParts { fmt: "none".into(), att_stmt_cbor: vec![0xa0], auth_data, erased: true }
}

fn is_self_attestation(fmt: &str, att_stmt: &[u8]) -> bool {
    if fmt == "none" {
        return true;
    }
    if fmt != "packed" {
        return false;
    }
    match single_cbor_item(att_stmt) {
        Some(Value::Map(m)) => !m.iter().any(|(k, _)| k.as_text() == Some("x5c")),
        _ => false,
    }
}

/// Decode exactly one CBOR item; `None` if it is malformed or followed by more bytes.
fn single_cbor_item(bytes: &[u8]) -> Option<Value> {
    let mut reader = bytes;
    let v: Value = ciborium::de::from_reader(&mut reader).ok()?;
    reader.is_empty().then_some(v)
}

/// `{"fmt": fmt, "attStmt": <attStmt verbatim>, "authData": h'authData'}`.
pub fn attestation_object(parts: &AttestationParts) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.auth_data.len() + parts.att_stmt_cbor.len() + 32);
    out.push(0xa3);
    push_text(&mut out, "fmt");
    push_text(&mut out, &parts.fmt);
    push_text(&mut out, "attStmt");
    out.extend_from_slice(&parts.att_stmt_cbor);
    push_text(&mut out, "authData");
    push_head(&mut out, 2, parts.auth_data.len() as u64);
    out.extend_from_slice(&parts.auth_data);
    out
}

fn push_text(out: &mut Vec<u8>, s: &str) {
    push_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A CBOR head with the shortest length encoding (deterministic CBOR).
fn push_head(out: &mut Vec<u8>, major: u8, len: u64) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, len as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plausible response: authData for `rp_id` with a 16-byte credential id, an
    /// EC2 COSE key and the given attStmt.
    pub(crate) fn response(rp_id: &str, fmt: &str, att_stmt_cbor: Vec<u8>) -> MakeCredentialResponse {
        let cose = crate::ceremony::webauthn::cose::tests::cose_cbor(vec![
            (1, Value::Integer(2.into())),
            (3, Value::Integer((-7).into())),
            (-1, Value::Integer(1.into())),
            (-2, Value::Bytes(vec![1; 32])),
            (-3, Value::Bytes(vec![2; 32])),
        ]);
        let mut ad = Sha256::digest(rp_id.as_bytes()).to_vec();
        ad.push(flags::UP | flags::UV | flags::AT);
        ad.extend_from_slice(&5u32.to_be_bytes());
        ad.extend_from_slice(&[0xaa; 16]);
        ad.extend_from_slice(&16u16.to_be_bytes());
        ad.extend_from_slice(&[0xcc; 16]);
        ad.extend_from_slice(&cose);
        MakeCredentialResponse {
            fmt: fmt.into(),
            auth_data: ad,
            att_stmt_cbor,
            enterprise_attestation: None,
            credential_id: vec![0xcc; 16],
            aaguid: [0xaa; 16],
            credential_public_key_cose: cose,
            extensions_cbor: None,
            flags: flags::UP | flags::UV | flags::AT,
            sign_count: 5,
        }
    }

    fn packed_with_x5c() -> Vec<u8> {
        // {"alg": -7, "sig": h'0102', "x5c": [h'03']} in a deliberately non-canonical
        // key order, to prove the bytes are not re-encoded.
        let mut m = vec![0xa3];
        push_text(&mut m, "x5c");
        m.extend_from_slice(&[0x81, 0x41, 0x03]);
        push_text(&mut m, "sig");
        m.extend_from_slice(&[0x42, 0x01, 0x02]);
        push_text(&mut m, "alg");
        m.push(0x26);
        m
    }

    #[test]
    fn attestation_object_splices_att_stmt_and_auth_data_verbatim() {
        let resp = response("login.microsoft.com", "packed", packed_with_x5c());
        check_response("login.microsoft.com", &resp).unwrap();
        let parts = apply_conveyance(Attestation::Direct, &resp);
        let obj = attestation_object(&parts);
        let mut expected = vec![0xa3, 0x63, b'f', b'm', b't', 0x66];
        expected.extend_from_slice(b"packed");
        expected.push(0x67);
        expected.extend_from_slice(b"attStmt");
        expected.extend_from_slice(&packed_with_x5c());
        expected.push(0x68);
        expected.extend_from_slice(b"authData");
        expected.extend_from_slice(&[0x58, resp.auth_data.len() as u8]);
        expected.extend_from_slice(&resp.auth_data);
        assert_eq!(obj, expected);
        // And a generic CBOR decoder agrees on the structure.
        let v: Value = ciborium::de::from_reader(&obj[..]).unwrap();
        let keys: Vec<_> = v.as_map().unwrap().iter().map(|(k, _)| k.as_text().unwrap().to_string()).collect();
        assert_eq!(keys, ["fmt", "attStmt", "authData"]);
    }

    #[test]
    fn none_preference_erases_certified_attestation_and_aaguid_only() {
        let resp = response("localhost", "packed", packed_with_x5c());
        let parts = apply_conveyance(Attestation::None, &resp);
        assert!(parts.erased);
        assert_eq!(parts.fmt, "none");
        assert_eq!(parts.att_stmt_cbor, vec![0xa0]);
        assert_eq!(&parts.auth_data[37..53], &[0u8; 16]);
        assert_eq!(&parts.auth_data[..37], &resp.auth_data[..37]);
        assert_eq!(&parts.auth_data[53..], &resp.auth_data[53..]);
    }

    #[test]
    fn none_preference_keeps_self_attestation() {
        // packed self attestation: {"alg": -7, "sig": h'01'}
        let mut stmt = vec![0xa2];
        push_text(&mut stmt, "alg");
        stmt.push(0x26);
        push_text(&mut stmt, "sig");
        stmt.extend_from_slice(&[0x41, 0x01]);
        let resp = response("localhost", "packed", stmt);
        let parts = apply_conveyance(Attestation::None, &resp);
        assert!(!parts.erased);
        assert_eq!(parts.auth_data, resp.auth_data);
    }

    #[test]
    fn mismatching_answers_are_refused() {
        let resp = response("localhost", "packed", packed_with_x5c());
        assert!(matches!(check_response("login.microsoft.com", &resp), Err(WebAuthnError::BadKeyResponse(_))));
        let mut r = resp.clone();
        r.auth_data[32] &= !flags::AT;
        assert!(check_response("localhost", &r).is_err());
        let mut r = resp.clone();
        r.auth_data[32] &= !flags::UP;
        assert!(check_response("localhost", &r).is_err());
        let mut r = resp.clone();
        r.credential_id[0] ^= 1;
        assert!(check_response("localhost", &r).is_err());
        let mut r = resp.clone();
        r.att_stmt_cbor.push(0x00);
        assert!(check_response("localhost", &r).is_err());
        let mut r = resp.clone();
        r.auth_data.truncate(40);
        assert!(check_response("localhost", &r).is_err());
    }

    #[test]
    fn cbor_heads_use_the_shortest_form() {
        let mut v = Vec::new();
        push_head(&mut v, 2, 23);
        push_head(&mut v, 2, 24);
        push_head(&mut v, 2, 300);
        push_head(&mut v, 3, 70000);
        assert_eq!(v, [0x57, 0x58, 24, 0x59, 0x01, 0x2c, 0x7a, 0x00, 0x01, 0x11, 0x70]);
    }
}
