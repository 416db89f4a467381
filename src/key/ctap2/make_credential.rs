//! authenticatorMakeCredential (0x01): request encoding and reply decoding.
//!
//! The reply's attStmt is sliced out of the key's bytes rather than re-encoded, so a
//! caller can rebuild the WebAuthn attestationObject byte for byte.
use super::auth_data::AuthData;
use super::cbor::{MapView, bytes, decode, int, int_map, int_map_value_spans, text};
use super::command::{MAKE_CREDENTIAL, Request};
use super::types::{MakeCredentialRequest, MakeCredentialResponse};
use crate::key::KeyError;
use ciborium::Value;
use sha2::{Digest, Sha256};

/// How user verification is supplied for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// No user verification.
    None,
    /// The key's built-in verification (`uv` option).
    BuiltIn,
    /// A PIN token: pinUvAuthParam and the protocol number.
    PinToken {
        /// pinUvAuthParam over the clientDataHash.
        param: Vec<u8>,
        /// The PIN/UV auth protocol number.
        protocol: u8,
    },
}

/// A `PublicKeyCredentialDescriptor` map.
pub fn credential_descriptor(id: &[u8]) -> Value {
    Value::Map(vec![(text("id"), bytes(id)), (text("type"), text("public-key"))])
}

/// Build the request. `exclude` replaces `req.exclude_list` (it may be a batch of it).
pub fn encode(req: &MakeCredentialRequest, exclude: &[Vec<u8>], verification: &Verification) -> Request {
    let mut rp = vec![(text("id"), text(&req.rp.id))];
    if let Some(name) = &req.rp.name {
        rp.push((text("name"), text(name)));
    }
    let mut user = vec![(text("id"), bytes(&req.user.id))];
    if let Some(name) = &req.user.name {
        user.push((text("name"), text(name)));
    }
    if let Some(d) = &req.user.display_name {
        user.push((text("displayName"), text(d)));
    }
    let params = req.algorithms.iter().map(|a| Value::Map(vec![(text("alg"), int(*a)), (text("type"), text("public-key"))])).collect();
    let exclude_list = (!exclude.is_empty()).then(|| Value::Array(exclude.iter().map(|id| credential_descriptor(id)).collect()));
    let mut ext = Vec::new();
    if let Some(level) = req.cred_protect {
        ext.push((text("credProtect"), int(i64::from(level))));
    }
    if req.hmac_secret {
        ext.push((text("hmac-secret"), Value::Bool(true)));
    }
    let mut options = Vec::new();
    if req.resident_key {
        options.push((text("rk"), Value::Bool(true)));
    }
    if *verification == Verification::BuiltIn {
        options.push((text("uv"), Value::Bool(true)));
    }
    let (param, protocol) = match verification {
        Verification::PinToken { param, protocol } => (Some(bytes(param)), Some(int(i64::from(*protocol)))),
        _ => (None, None),
    };
    Request::with(
        MAKE_CREDENTIAL,
        int_map(vec![
            (0x01, Some(bytes(&req.client_data_hash))),
            (0x02, Some(Value::Map(rp))),
            (0x03, Some(Value::Map(user))),
            (0x04, Some(Value::Array(params))),
            (0x05, exclude_list),
            (0x06, (!ext.is_empty()).then_some(Value::Map(ext))),
            (0x07, (!options.is_empty()).then_some(Value::Map(options))),
            (0x08, param),
            (0x09, protocol),
            (0x0A, req.enterprise_attestation.map(|e| int(i64::from(e)))),
        ]),
    )
}

/// Decode the reply body (after the status byte) and check it belongs to `rp_id`.
pub fn decode_reply(body: &[u8], rp_id: &str) -> Result<MakeCredentialResponse, KeyError> {
    let value = decode(body)?;
    let m = MapView::new(&value, "makeCredential")?;
    let fmt = m.opt_text(0x01)?.ok_or_else(|| KeyError::Protocol("makeCredential: fmt (0x01) missing".into()))?.to_string();
    let auth_data = m.opt_bytes(0x02)?.ok_or_else(|| KeyError::Protocol("makeCredential: authData (0x02) missing".into()))?.to_vec();
    let (_, start, end) = int_map_value_spans(body)?
        .into_iter()
        .find(|(k, _, _)| *k == 0x03)
        .ok_or_else(|| KeyError::Protocol("makeCredential: attStmt (0x03) missing".into()))?;
    let att_stmt_cbor = body[start..end].to_vec();
    if !matches!(m.get(0x03), Some(Value::Map(_))) {
        return Err(KeyError::Protocol("makeCredential: attStmt is not a map".into()));
    }
    let parsed = AuthData::parse(&auth_data)?;
    if parsed.rp_id_hash[..] != Sha256::digest(rp_id.as_bytes())[..] {
        return Err(KeyError::Protocol("makeCredential: authData is for a different relying party".into()));
    }
    let attested = parsed
        .attested
        .ok_or_else(|| KeyError::Protocol("makeCredential: authData has no attested credential data (AT flag clear)".into()))?;
    Ok(MakeCredentialResponse {
        fmt,
        att_stmt_cbor,
        enterprise_attestation: m.opt_bool(0x04)?,
        credential_id: attested.credential_id,
        aaguid: attested.aaguid,
        credential_public_key_cose: attested.public_key_cose,
        extensions_cbor: parsed.extensions_cbor,
        flags: parsed.flags,
        sign_count: parsed.sign_count,
        auth_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ctap2::cbor::to_canonical_vec;
    use crate::key::ctap2::types::{RpEntity, UserEntity};

    fn request() -> MakeCredentialRequest {
        MakeCredentialRequest {
            client_data_hash: [1; 32],
            rp: RpEntity { id: "login.example".into(), name: Some("Example".into()) },
            user: UserEntity { id: vec![9, 9], name: Some("a@b".into()), display_name: Some("A".into()) },
            algorithms: vec![-7, -257],
            exclude_list: vec![vec![5; 4]],
            resident_key: true,
            user_verification: true,
            cred_protect: Some(2),
            hmac_secret: true,
            enterprise_attestation: None,
        }
    }

    #[test]
    fn request_carries_every_field_canonically() {
        let r = encode(&request(), &[vec![5; 4]], &Verification::PinToken { param: vec![0xaa; 32], protocol: 2 });
        let bytes = r.params_cbor();
        let v = decode(&bytes).unwrap();
        let m = MapView::new(&v, "t").unwrap();
        assert_eq!(m.opt_bytes(1).unwrap().unwrap(), &[1; 32]);
        assert_eq!(m.opt_array(4).unwrap().unwrap().len(), 2);
        assert_eq!(m.opt_array(5).unwrap().unwrap().len(), 1);
        let ext = MapView::new(m.get(6).unwrap(), "ext").unwrap();
        assert_eq!(ext.get_text("credProtect"), Some(&int(2)));
        assert_eq!(ext.get_text("hmac-secret"), Some(&Value::Bool(true)));
        let opts = MapView::new(m.get(7).unwrap(), "opts").unwrap();
        assert_eq!(opts.get_text("rk"), Some(&Value::Bool(true)));
        assert_eq!(opts.get_text("uv"), None, "uv must not be sent with a PIN token");
        assert_eq!(m.opt_u64(9).unwrap(), Some(2));
        assert!(m.get(0x0A).is_none());
        // Canonical: re-encoding the decoded value gives the same bytes.
        assert_eq!(to_canonical_vec(&v), bytes);
    }

    #[test]
    fn att_stmt_is_kept_verbatim() {
        // Build a reply whose attStmt uses a non-canonical key order: decoding and
        // re-encoding would reorder it, slicing must not.
        let rp_hash = Sha256::digest(b"login.example");
        let mut ad = rp_hash.to_vec();
        ad.push(0x45); // UP | UV | AT
        ad.extend_from_slice(&3u32.to_be_bytes());
        ad.extend_from_slice(&[0xcc; 16]);
        ad.extend_from_slice(&2u16.to_be_bytes());
        ad.extend_from_slice(&[0xde, 0xad]);
        let cose = to_canonical_vec(&Value::Map(vec![(int(1), int(2)), (int(3), int(-7))]));
        ad.extend_from_slice(&cose);
        let att = [0xa2, 0x63, b's', b'i', b'g', 0x41, 0x00, 0x63, b'a', b'l', b'g', 0x26];
        let mut body = vec![0xa3, 0x01, 0x66];
        body.extend_from_slice(b"packed");
        body.push(0x02);
        body.push(0x58);
        body.push(ad.len() as u8);
        body.extend_from_slice(&ad);
        body.push(0x03);
        body.extend_from_slice(&att);
        let r = decode_reply(&body, "login.example").unwrap();
        assert_eq!(r.att_stmt_cbor, att);
        assert_eq!(r.fmt, "packed");
        assert_eq!(r.credential_id, vec![0xde, 0xad]);
        assert_eq!(r.aaguid, [0xcc; 16]);
        assert_eq!(r.credential_public_key_cose, cose);
        assert_eq!(r.sign_count, 3);
        assert_eq!(r.flags, 0x45);
        assert_eq!(r.auth_data, ad);
        assert!(matches!(decode_reply(&body, "other.example"), Err(KeyError::Protocol(_))));
    }
}
