//! Authenticator data (WebAuthn §6.1) parsing.
//!
//! ```text
//! rpIdHash(32) flags(1) signCount(4)
//!   [AT] aaguid(16) credIdLen(2) credId(L) credentialPublicKey(COSE_Key CBOR)
//!   [ED] extensions (CBOR map)
//! ```
use super::cbor::item_end;
use crate::key::KeyError;

/// flags: user present.
pub const FLAG_UP: u8 = 0x01;
/// flags: user verified.
pub const FLAG_UV: u8 = 0x04;
/// flags: attested credential data included.
pub const FLAG_AT: u8 = 0x40;
/// flags: extension data included.
pub const FLAG_ED: u8 = 0x80;

/// The attested credential data part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential {
    /// Model identifier.
    pub aaguid: [u8; 16],
    /// Credential id.
    pub credential_id: Vec<u8>,
    /// COSE_Key bytes as the key sent them.
    pub public_key_cose: Vec<u8>,
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthData {
    /// SHA-256 of the RP id.
    pub rp_id_hash: [u8; 32],
    /// Flag byte.
    pub flags: u8,
    /// Signature counter.
    pub sign_count: u32,
    /// Present when the AT flag is set.
    pub attested: Option<AttestedCredential>,
    /// Extension outputs (CBOR map bytes) when the ED flag is set.
    pub extensions_cbor: Option<Vec<u8>>,
}

impl AuthData {
    /// Parse, insisting that the flags and the bytes agree exactly.
    pub fn parse(data: &[u8]) -> Result<AuthData, KeyError> {
        let bad = |what: &str| KeyError::Protocol(format!("authData: {what}"));
        if data.len() < 37 {
            return Err(bad("shorter than 37 bytes"));
        }
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&data[..32]);
        let flags = data[32];
        let sign_count = u32::from_be_bytes([data[33], data[34], data[35], data[36]]);
        let mut p = 37;
        let attested = if flags & FLAG_AT != 0 {
            let head = data.get(p..p + 18).ok_or_else(|| bad("attested credential data truncated"))?;
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(&head[..16]);
            let len = usize::from(u16::from_be_bytes([head[16], head[17]]));
            p += 18;
            let credential_id = data.get(p..p + len).ok_or_else(|| bad("credential id truncated"))?.to_vec();
            p += len;
            let end = item_end(data, p).map_err(|_| bad("credential public key is not valid CBOR"))?;
            let public_key_cose = data[p..end].to_vec();
            p = end;
            Some(AttestedCredential { aaguid, credential_id, public_key_cose })
        } else {
            None
        };
        let extensions_cbor = if flags & FLAG_ED != 0 {
            let end = item_end(data, p).map_err(|_| bad("extensions are not valid CBOR"))?;
            let ext = data[p..end].to_vec();
            p = end;
            Some(ext)
        } else {
            None
        };
        if p != data.len() {
            return Err(bad("trailing bytes after the announced parts"));
        }
        Ok(AuthData { rp_id_hash, flags, sign_count, attested, extensions_cbor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_must_match_content() {
        let mut ad = vec![0u8; 32];
        ad.push(FLAG_UP | FLAG_ED);
        ad.extend_from_slice(&[0, 0, 0, 9]);
        ad.extend_from_slice(&[0xa1, 0x61, b'x', 0x01]);
        let p = AuthData::parse(&ad).unwrap();
        assert_eq!(p.sign_count, 9);
        assert_eq!(p.extensions_cbor.unwrap(), vec![0xa1, 0x61, b'x', 0x01]);
        assert!(p.attested.is_none());
        ad[32] = FLAG_UP; // ED cleared but bytes remain
        assert!(AuthData::parse(&ad).is_err());
        assert!(AuthData::parse(&ad[..30]).is_err());
    }
}
