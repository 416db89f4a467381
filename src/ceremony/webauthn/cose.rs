//! COSE_Key → SubjectPublicKeyInfo (DER), for `getPublicKey()`.
//!
//! Chromium returns SPKI for the three algorithms it can encode (ES256/P-256, EdDSA/
//! Ed25519, RS256) and `null` for anything else; keystation does the same.
use ciborium::value::{Integer, Value};

/// The parts of a COSE_Key keystation understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoseKey {
    /// `alg` (3), the COSE algorithm identifier.
    pub alg: i64,
    /// `kty` (1) and its parameters.
    pub params: KeyParams,
}

/// Key type parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyParams {
    /// kty 2 (EC2).
    Ec2 {
        /// crv (-1): 1 = P-256.
        crv: i64,
        /// x (-2).
        x: Vec<u8>,
        /// y (-3).
        y: Vec<u8>,
    },
    /// kty 1 (OKP).
    Okp {
        /// crv (-1): 6 = Ed25519.
        crv: i64,
        /// x (-2): the public key.
        x: Vec<u8>,
    },
    /// kty 3 (RSA).
    Rsa {
        /// n (-1): modulus, big-endian.
        n: Vec<u8>,
        /// e (-2): public exponent, big-endian.
        e: Vec<u8>,
    },
    /// Any other key type.
    Other(i64),
}

/// DER prefix of an id-ecPublicKey / prime256v1 SPKI holding a 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// DER prefix of an Ed25519 SPKI holding a 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// AlgorithmIdentifier { rsaEncryption, NULL }.
const RSA_ALGORITHM_ID: [u8; 15] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

impl CoseKey {
    /// Decode COSE_Key CBOR (a map with integer labels).
    pub fn parse(cbor: &[u8]) -> Result<CoseKey, String> {
        let value: Value = ciborium::de::from_reader(cbor).map_err(|e| format!("COSE key is not CBOR: {e}"))?;
        let map = value.as_map().ok_or("COSE key is not a CBOR map")?;
        let get = |label: i64| map.iter().find(|(k, _)| k.as_integer() == Some(Integer::from(label))).map(|(_, v)| v);
        let int = |label: i64| -> Result<i64, String> {
            get(label)
                .and_then(Value::as_integer)
                .and_then(|i| i64::try_from(i).ok())
                .ok_or_else(|| format!("COSE key label {label} is missing or not an integer"))
        };
        let bytes = |label: i64| -> Result<Vec<u8>, String> {
            get(label).and_then(Value::as_bytes).cloned().ok_or_else(|| format!("COSE key label {label} is missing or not a byte string"))
        };
        let alg = int(3)?;
        let params = match int(1)? {
            2 => KeyParams::Ec2 { crv: int(-1)?, x: bytes(-2)?, y: bytes(-3)? },
            1 => KeyParams::Okp { crv: int(-1)?, x: bytes(-2)? },
            3 => KeyParams::Rsa { n: bytes(-1)?, e: bytes(-2)? },
            other => KeyParams::Other(other),
        };
        Ok(CoseKey { alg, params })
    }

    /// SubjectPublicKeyInfo DER, or `None` when keystation (like Chromium) cannot
    /// express this key as SPKI.
    pub fn spki_der(&self) -> Option<Vec<u8>> {
        match (&self.params, self.alg) {
            (KeyParams::Ec2 { crv: 1, x, y }, -7) if x.len() == 32 && y.len() == 32 => {
                let mut out = P256_SPKI_PREFIX.to_vec();
                out.push(0x04);
                out.extend_from_slice(x);
                out.extend_from_slice(y);
                Some(out)
            }
            (KeyParams::Okp { crv: 6, x }, -8) if x.len() == 32 => {
                let mut out = ED25519_SPKI_PREFIX.to_vec();
                out.extend_from_slice(x);
                Some(out)
            }
            (KeyParams::Rsa { n, e }, -257) if !n.is_empty() && !e.is_empty() => {
                let rsa_public_key = der(0x30, &[der_uint(n), der_uint(e)].concat());
                let mut bit_string = vec![0x00];
                bit_string.extend_from_slice(&rsa_public_key);
                Some(der(0x30, &[RSA_ALGORITHM_ID.to_vec(), der(0x03, &bit_string)].concat()))
            }
            _ => None,
        }
    }
}

/// DER TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// DER INTEGER of an unsigned big-endian magnitude (minimal, positive).
fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count().min(magnitude.len() - 1);
    let m = &magnitude[skip..];
    let mut content = Vec::with_capacity(m.len() + 1);
    if m[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(m);
    der(0x02, &content)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn cose_cbor(entries: Vec<(i64, Value)>) -> Vec<u8> {
        let map = Value::Map(entries.into_iter().map(|(k, v)| (Value::Integer(k.into()), v)).collect());
        let mut out = Vec::new();
        ciborium::ser::into_writer(&map, &mut out).unwrap();
        out
    }

    #[test]
    fn p256_spki_is_the_91_byte_form_p256_accepts() {
        use p256::pkcs8::DecodePublicKey;
        let sk = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let point = sk.verifying_key().to_encoded_point(false);
        let cbor = cose_cbor(vec![
            (1, Value::Integer(2.into())),
            (3, Value::Integer((-7).into())),
            (-1, Value::Integer(1.into())),
            (-2, Value::Bytes(point.x().unwrap().to_vec())),
            (-3, Value::Bytes(point.y().unwrap().to_vec())),
        ]);
        let key = CoseKey::parse(&cbor).unwrap();
        let spki = key.spki_der().unwrap();
        assert_eq!(spki.len(), 91);
        let parsed = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();
        assert_eq!(&parsed, sk.verifying_key());
    }

    #[test]
    fn ed25519_spki() {
        let cbor = cose_cbor(vec![
            (1, Value::Integer(1.into())),
            (3, Value::Integer((-8).into())),
            (-1, Value::Integer(6.into())),
            (-2, Value::Bytes(vec![0xab; 32])),
        ]);
        let spki = CoseKey::parse(&cbor).unwrap().spki_der().unwrap();
        assert_eq!(hex::encode(&spki[..12]), "302a300506032b6570032100");
        assert_eq!(spki.len(), 44);
    }

    #[test]
    fn rsa_spki_round_trips_through_the_rsa_crate() {
        use rsa::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        // A fixed 2048-bit modulus shape (top bit set, so DER needs a leading zero).
        let mut n = vec![0xc5u8; 256];
        n[255] |= 1;
        let e = vec![0x01, 0x00, 0x01];
        let cbor = cose_cbor(vec![
            (1, Value::Integer(3.into())),
            (3, Value::Integer((-257).into())),
            (-1, Value::Bytes(n.clone())),
            (-2, Value::Bytes(e.clone())),
        ]);
        let spki = CoseKey::parse(&cbor).unwrap().spki_der().unwrap();
        let key = rsa::RsaPublicKey::from_public_key_der(&spki).unwrap();
        assert_eq!(key.n().to_bytes_be(), n);
        assert_eq!(key.e().to_bytes_be(), e);
    }

    #[test]
    fn unknown_keys_have_no_spki() {
        let cbor = cose_cbor(vec![
            (1, Value::Integer(2.into())),
            (3, Value::Integer((-35).into())),
            (-1, Value::Integer(2.into())),
            (-2, Value::Bytes(vec![1; 48])),
            (-3, Value::Bytes(vec![2; 48])),
        ]);
        let key = CoseKey::parse(&cbor).unwrap();
        assert_eq!(key.alg, -35);
        assert_eq!(key.spki_der(), None);
        assert!(CoseKey::parse(&[0xa0]).is_err());
        assert!(CoseKey::parse(b"junk").is_err());
    }

    #[test]
    fn der_lengths_and_integers() {
        assert_eq!(der(0x04, &[0; 2]), vec![0x04, 2, 0, 0]);
        assert_eq!(&der(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&der(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(der_uint(&[0x00, 0x00, 0x7f]), vec![0x02, 1, 0x7f]);
        assert_eq!(der_uint(&[0x80]), vec![0x02, 2, 0x00, 0x80]);
        assert_eq!(der_uint(&[0x00]), vec![0x02, 1, 0x00]);
    }
}
