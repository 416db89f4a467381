//! Authenticator data (WebAuthn §6.1): rpIdHash, flags, signCount, attested credential
//! data (AAGUID, credential id, COSE public key) and extensions.
use super::VerifyError;
use ciborium::Value;
use std::io::Cursor;

/// User present.
pub const FLAG_UP: u8 = 0x01;
/// User verified.
pub const FLAG_UV: u8 = 0x04;
/// Backup eligible.
pub const FLAG_BE: u8 = 0x08;
/// Backed up.
pub const FLAG_BS: u8 = 0x10;
/// Attested credential data included.
pub const FLAG_AT: u8 = 0x40;
/// Extension data included.
pub const FLAG_ED: u8 = 0x80;

/// Parsed authenticator data.
#[derive(Debug, Clone)]
pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    /// Present when the AT flag is set.
    pub attested: Option<AttestedCredential>,
    /// Present when the ED flag is set.
    pub extensions: Option<Value>,
}

/// Attested credential data.
#[derive(Debug, Clone)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    /// The COSE key as CBOR, and its exact encoded bytes.
    pub public_key: Value,
    pub public_key_bytes: Vec<u8>,
}

fn bad(message: impl Into<String>) -> VerifyError {
    VerifyError::new("authenticatorDataInvalid", message)
}

/// Read one CBOR data item from `bytes[*pos..]`, advancing `pos` past it.
fn read_item(bytes: &[u8], pos: &mut usize, what: &str) -> Result<Value, VerifyError> {
    let mut cur = Cursor::new(&bytes[*pos..]);
    let v: Value = ciborium::de::from_reader(&mut cur).map_err(|e| bad(format!("{what} is not valid CBOR: {e}")))?;
    *pos += cur.position() as usize;
    Ok(v)
}

/// Parse authenticator data; structural errors only (policy checks are the caller's).
pub fn parse(bytes: &[u8]) -> Result<AuthData, VerifyError> {
    if bytes.len() < 37 {
        return Err(bad(format!("authenticator data is {} bytes; at least 37 are required", bytes.len())));
    }
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(&bytes[..32]);
    let flags = bytes[32];
    let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
    let mut pos = 37;
    let attested = if flags & FLAG_AT != 0 {
        if bytes.len() < pos + 18 {
            return Err(bad("the AT flag is set but the attested credential data is truncated"));
        }
        let mut aaguid = [0u8; 16];
        aaguid.copy_from_slice(&bytes[pos..pos + 16]);
        let len = u16::from_be_bytes([bytes[pos + 16], bytes[pos + 17]]) as usize;
        pos += 18;
        if bytes.len() < pos + len {
            return Err(bad(format!("the credential id length says {len} bytes but fewer follow")));
        }
        let credential_id = bytes[pos..pos + len].to_vec();
        pos += len;
        let start = pos;
        let public_key = read_item(bytes, &mut pos, "the credential public key")?;
        Some(AttestedCredential { aaguid, credential_id, public_key, public_key_bytes: bytes[start..pos].to_vec() })
    } else {
        None
    };
    let extensions = if flags & FLAG_ED != 0 {
        let v = read_item(bytes, &mut pos, "the extensions")?;
        if !matches!(v, Value::Map(_)) {
            return Err(bad("the extensions are not a CBOR map"));
        }
        Some(v)
    } else {
        None
    };
    if pos != bytes.len() {
        return Err(bad(format!("{} unexpected bytes after the authenticator data (is the ED flag missing?)", bytes.len() - pos)));
    }
    Ok(AuthData { rp_id_hash, flags, sign_count, attested, extensions })
}

/// AAGUID as 8-4-4-4-12 lower-case hex.
pub fn format_aaguid(a: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*a).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        out
    }

    #[test]
    fn attested_data_and_extensions_split_exactly() {
        let key = Value::Map(vec![(Value::Integer(1.into()), Value::Integer(2.into()))]);
        let ext = Value::Map(vec![(Value::Text("credProtect".into()), Value::Integer(1.into()))]);
        let mut ad = vec![7u8; 32];
        ad.push(FLAG_UP | FLAG_UV | FLAG_AT | FLAG_ED);
        ad.extend(5u32.to_be_bytes());
        ad.extend([9u8; 16]);
        ad.extend(3u16.to_be_bytes());
        ad.extend([1, 2, 3]);
        ad.extend(cbor(&key));
        ad.extend(cbor(&ext));
        let p = parse(&ad).unwrap();
        assert_eq!(p.sign_count, 5);
        let a = p.attested.unwrap();
        assert_eq!(a.credential_id, vec![1, 2, 3]);
        assert_eq!(a.public_key, key);
        assert_eq!(p.extensions, Some(ext));
        ad.push(0);
        assert!(parse(&ad).is_err());
    }

    #[test]
    fn truncated_data_is_refused() {
        assert!(parse(&[0u8; 36]).is_err());
        let mut ad = vec![0u8; 32];
        ad.push(FLAG_AT);
        ad.extend([0u8; 4]);
        assert!(parse(&ad).is_err());
    }
}
