//! Public keys from COSE (credential keys) and from X.509 certificates (attestation keys),
//! and signature verification for ES256 (-7) and RS256 (-257).
use super::VerifyError;
use ciborium::Value;
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// COSE ES256.
pub const ALG_ES256: i64 = -7;
/// COSE RS256.
pub const ALG_RS256: i64 = -257;

/// A verification key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

/// Hash used with an RSA PKCS#1 v1.5 certificate signature.
#[derive(Debug, Clone, Copy)]
pub enum RsaHash {
    Sha256,
    Sha384,
    Sha512,
}

impl PublicKey {
    /// COSE algorithm this key signs with in WebAuthn.
    pub fn alg(&self) -> i64 {
        match self {
            PublicKey::P256(_) => ALG_ES256,
            PublicKey::Rsa(_) => ALG_RS256,
        }
    }

    /// Verify a WebAuthn signature (`alg` from the statement) over `msg`.
    pub fn verify(&self, alg: i64, msg: &[u8], sig: &[u8]) -> bool {
        match (self, alg) {
            (PublicKey::P256(k), ALG_ES256) => {
                p256::ecdsa::Signature::from_der(sig).map(|s| k.verify(msg, &s).is_ok()).unwrap_or(false)
            }
            (PublicKey::Rsa(k), ALG_RS256) => self.verify_rsa(k, RsaHash::Sha256, msg, sig),
            _ => false,
        }
    }

    fn verify_rsa(&self, k: &rsa::RsaPublicKey, hash: RsaHash, msg: &[u8], sig: &[u8]) -> bool {
        match hash {
            RsaHash::Sha256 => k.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(msg), sig).is_ok(),
            RsaHash::Sha384 => k.verify(rsa::Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(msg), sig).is_ok(),
            RsaHash::Sha512 => k.verify(rsa::Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(msg), sig).is_ok(),
        }
    }

    /// Verify an X.509 signature made with `sig_alg_oid` over `tbs`.
    pub fn verify_x509(&self, sig_alg_oid: &str, tbs: &[u8], sig: &[u8]) -> Result<bool, String> {
        match (self, sig_alg_oid) {
            (PublicKey::P256(_), "1.2.840.10045.4.3.2") => Ok(self.verify(ALG_ES256, tbs, sig)),
            (PublicKey::Rsa(k), "1.2.840.113549.1.1.11") => Ok(self.verify_rsa(k, RsaHash::Sha256, tbs, sig)),
            (PublicKey::Rsa(k), "1.2.840.113549.1.1.12") => Ok(self.verify_rsa(k, RsaHash::Sha384, tbs, sig)),
            (PublicKey::Rsa(k), "1.2.840.113549.1.1.13") => Ok(self.verify_rsa(k, RsaHash::Sha512, tbs, sig)),
            (_, oid) => Err(format!("certificate signature algorithm {oid} is not supported by the simulator (ECDSA P-256/SHA-256, RSA PKCS#1 v1.5 SHA-256/384/512 are)")),
        }
    }
}

fn map_get(map: &[(Value, Value)], key: i64) -> Option<&Value> {
    map.iter().find(|(k, _)| matches!(k, Value::Integer(i) if i128::from(*i) == i128::from(key))).map(|(_, v)| v)
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(i)) => i64::try_from(i128::from(*i)).ok(),
        _ => None,
    }
}

fn bytes(v: Option<&Value>) -> Option<&[u8]> {
    match v {
        Some(Value::Bytes(b)) => Some(b.as_slice()),
        _ => None,
    }
}

fn bad_key(message: impl Into<String>) -> VerifyError {
    VerifyError::new("credentialPublicKeyInvalid", message)
}

/// The COSE `alg` of a credential key (checked before the key itself, for a precise error).
pub fn cose_alg(key: &Value) -> Result<i64, VerifyError> {
    let Value::Map(m) = key else { return Err(bad_key("the credential public key is not a COSE map")) };
    int(map_get(m, 3)).ok_or_else(|| bad_key("the credential public key has no integer alg (3)"))
}

/// Decode a COSE_Key: EC2 P-256 for ES256, RSA for RS256.
pub fn from_cose(key: &Value) -> Result<PublicKey, VerifyError> {
    let Value::Map(m) = key else { return Err(bad_key("the credential public key is not a COSE map")) };
    let kty = int(map_get(m, 1));
    match cose_alg(key)? {
        ALG_ES256 => {
            if kty != Some(2) || int(map_get(m, -1)) != Some(1) {
                return Err(bad_key("an ES256 key must be kty 2 (EC2) on crv 1 (P-256)"));
            }
            let (Some(x), Some(y)) = (bytes(map_get(m, -2)), bytes(map_get(m, -3))) else {
                return Err(bad_key("the EC2 key lacks x (-2) or y (-3)"));
            };
            if x.len() != 32 || y.len() != 32 {
                return Err(bad_key("EC2 P-256 coordinates must be 32 bytes each"));
            }
            let mut sec1 = vec![4u8];
            sec1.extend_from_slice(x);
            sec1.extend_from_slice(y);
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map(PublicKey::P256).map_err(|_| bad_key("the EC2 point is not on the P-256 curve"))
        }
        ALG_RS256 => {
            if kty != Some(3) {
                return Err(bad_key("an RS256 key must be kty 3 (RSA)"));
            }
            let (Some(n), Some(e)) = (bytes(map_get(m, -1)), bytes(map_get(m, -2))) else {
                return Err(bad_key("the RSA key lacks n (-1) or e (-2)"));
            };
            rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(n), rsa::BigUint::from_bytes_be(e))
                .map(PublicKey::Rsa)
                .map_err(|e| bad_key(format!("the RSA key is not usable: {e}")))
        }
        other => Err(VerifyError::new("algorithmUnsupported", format!("credential public key algorithm {other} is not supported; use ES256 (-7) or RS256 (-257)"))),
    }
}

/// The public key of a parsed certificate (P-256 EC or RSA).
pub fn from_certificate(cert: &x509_parser::certificate::X509Certificate<'_>) -> Result<PublicKey, String> {
    use x509_parser::public_key::PublicKey as X;
    let spki = cert.public_key();
    match spki.parsed().map_err(|e| format!("unreadable public key: {e}"))? {
        X::EC(point) => {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
            if curve.as_deref() != Some("1.2.840.10045.3.1.7") {
                return Err(format!("EC key on curve {} is not supported (P-256 is)", curve.unwrap_or_else(|| "?".into())));
            }
            p256::ecdsa::VerifyingKey::from_sec1_bytes(point.data()).map(PublicKey::P256).map_err(|_| "invalid P-256 point".into())
        }
        X::RSA(k) => rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(k.modulus), rsa::BigUint::from_bytes_be(k.exponent))
            .map(PublicKey::Rsa)
            .map_err(|e| format!("unusable RSA key: {e}")),
        _ => Err("only P-256 and RSA certificate keys are supported".into()),
    }
}
