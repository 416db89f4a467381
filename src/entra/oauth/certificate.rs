//! A client certificate and its RSA private key, loaded from PEM, for signing client
//! assertions. The certificate is what the app registration knows (by thumbprint); the
//! key never leaves this process.
use super::OAuthError;
use chrono::{DateTime, TimeZone, Utc};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use x509_parser::pem::Pem;
use x509_parser::public_key::PublicKey;
use zeroize::{Zeroize, Zeroizing};

/// Entra refuses RSA keys shorter than this for certificate credentials.
const MIN_RSA_BITS: usize = 2048;

/// An X.509 certificate plus the matching RSA private key.
pub struct ClientCertificate {
    der: Vec<u8>,
    key: RsaPrivateKey,
    sha1: [u8; 20],
    sha256: [u8; 32],
    subject: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject)
            .field("thumbprint_sha1", &self.thumbprint_sha1_hex())
            .field("not_after", &self.not_after)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl ClientCertificate {
    /// Load from a certificate PEM file and a private-key PEM file (they may be the same
    /// file). The key must be an unencrypted RSA key in PKCS#8 (`PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`) form.
    pub fn from_files(certificate: &Path, private_key: &Path) -> Result<ClientCertificate, OAuthError> {
        let cert_pem = std::fs::read(certificate)
            .map_err(|e| OAuthError::Credential(format!("cannot read the certificate {}: {e}", certificate.display())))?;
        let key_pem = Zeroizing::new(
            std::fs::read(private_key)
                .map_err(|e| OAuthError::Credential(format!("cannot read the private key {}: {e}", private_key.display())))?,
        );
        ClientCertificate::from_pem(&cert_pem, &key_pem)
    }

    /// Load from PEM text (see [`ClientCertificate::from_files`]).
    pub fn from_pem(certificate_pem: &[u8], private_key_pem: &[u8]) -> Result<ClientCertificate, OAuthError> {
        let der = first_block(certificate_pem, |label| label == "CERTIFICATE")
            .ok_or_else(|| OAuthError::Credential("the certificate file holds no PEM CERTIFICATE block".into()))?;
        let key = load_key(private_key_pem)?;
        ClientCertificate::from_parts(der, key)
    }

    fn from_parts(der: Vec<u8>, key: RsaPrivateKey) -> Result<ClientCertificate, OAuthError> {
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| OAuthError::Credential(format!("the certificate is not a valid X.509 certificate: {e}")))?;
        let modulus = match cert.public_key().parsed() {
            Ok(PublicKey::RSA(rsa)) => strip_zeros(rsa.modulus).to_vec(),
            Ok(_) => return Err(OAuthError::Credential("the certificate does not hold an RSA public key; Entra client assertions need RSA".into())),
            Err(e) => return Err(OAuthError::Credential(format!("cannot read the certificate's public key: {e}"))),
        };
        if modulus != key.n().to_bytes_be() {
            return Err(OAuthError::Credential(
                "the private key does not belong to the certificate (different RSA modulus); pass the key that was generated with this certificate".into(),
            ));
        }
        if key.size() * 8 < MIN_RSA_BITS {
            return Err(OAuthError::Credential(format!("the RSA key has {} bits; Entra needs at least {MIN_RSA_BITS}", key.size() * 8)));
        }
        let time = |t: x509_parser::time::ASN1Time| Utc.timestamp_opt(t.timestamp(), 0).single().unwrap_or_else(Utc::now);
        let not_before = time(cert.validity().not_before);
        let not_after = time(cert.validity().not_after);
        let subject = cert.subject().to_string();
        let now = Utc::now();
        if now > not_after {
            return Err(OAuthError::Credential(format!(
                "the certificate '{subject}' expired on {}; create a new one and upload it to the app registration",
                not_after.format("%Y-%m-%d")
            )));
        }
        if now < not_before {
            return Err(OAuthError::Credential(format!(
                "the certificate '{subject}' is not valid before {}; check the machine clock",
                not_before.to_rfc3339()
            )));
        }
        let sha1: [u8; 20] = Sha1::digest(&der).into();
        let sha256: [u8; 32] = Sha256::digest(&der).into();
        Ok(ClientCertificate { der, key, sha1, sha256, subject, not_before, not_after })
    }

    /// SHA-1 thumbprint in upper-case hex, as the Entra portal shows it.
    pub fn thumbprint_sha1_hex(&self) -> String {
        hex::encode_upper(self.sha1)
    }

    /// SHA-256 thumbprint in upper-case hex.
    pub fn thumbprint_sha256_hex(&self) -> String {
        hex::encode_upper(self.sha256)
    }

    /// The raw SHA-1 thumbprint (for the `x5t` JWT header).
    pub fn sha1_thumbprint(&self) -> &[u8; 20] {
        &self.sha1
    }

    /// The raw SHA-256 thumbprint (for the `x5t#S256` JWT header).
    pub fn sha256_thumbprint(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The DER encoding of the certificate.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject distinguished name.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Start of validity.
    pub fn not_before(&self) -> DateTime<Utc> {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    pub(crate) fn key(&self) -> &RsaPrivateKey {
        &self.key
    }
}

/// The first PEM block whose label satisfies `want`, decoded.
fn first_block(pem: &[u8], want: impl Fn(&str) -> bool) -> Option<Vec<u8>> {
    for block in Pem::iter_from_buffer(pem) {
        match block {
            Ok(block) if want(&block.label) => return Some(block.contents),
            Ok(mut other) => other.contents.zeroize(),
            Err(_) => break,
        }
    }
    None
}

fn load_key(pem: &[u8]) -> Result<RsaPrivateKey, OAuthError> {
    for block in Pem::iter_from_buffer(pem) {
        let Ok(block) = block else { break };
        let contents = Zeroizing::new(block.contents);
        let parsed = match block.label.as_str() {
            "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(&contents).map_err(|e| e.to_string()),
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&contents).map_err(|e| e.to_string()),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(OAuthError::Credential(
                    "the private key is encrypted; keystation needs an unencrypted PKCS#8 key in a file only the station user can read (chmod 600)".into(),
                ))
            }
            "EC PRIVATE KEY" => return Err(OAuthError::Credential("the private key is an EC key; Entra client assertions need an RSA key".into())),
            _ => continue,
        };
        return parsed.map_err(|e| OAuthError::Credential(format!("the private key is not a usable RSA key ({e}); give an unencrypted PKCS#8 RSA key")));
    }
    Err(OAuthError::Credential("the private key file holds no PEM PRIVATE KEY block".into()))
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A throw-away RSA certificate for unit tests (key generation is slow: share one).
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use std::sync::OnceLock;

    /// (certificate PEM, PKCS#8 key PEM).
    pub fn test_cert() -> &'static (String, String) {
        static CERT: OnceLock<(String, String)> = OnceLock::new();
        CERT.get_or_init(|| {
            let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
            let key_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
            let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
            let params = rcgen::CertificateParams::new(vec!["keystation-test".into()]).unwrap();
            let cert = params.self_signed(&kp).unwrap();
            (cert.pem(), key_pem)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::test_cert;
    use super::*;

    #[test]
    fn loads_a_matching_pair_and_computes_thumbprints() {
        let (cert, key) = test_cert();
        let c = ClientCertificate::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(c.thumbprint_sha1_hex().len(), 40);
        assert_eq!(c.thumbprint_sha256_hex().len(), 64);
        assert_eq!(c.sha1_thumbprint().to_vec(), Sha1::digest(c.der()).to_vec());
        assert!(c.subject().contains("keystation-test") || !c.subject().is_empty());
        let shown = format!("{c:?}");
        assert!(shown.contains("redacted") && !shown.contains("PRIVATE"), "{shown}");
        // One file holding both blocks works too.
        let both = format!("{cert}{key}");
        ClientCertificate::from_pem(both.as_bytes(), both.as_bytes()).unwrap();
    }

    #[test]
    fn mismatched_missing_and_wrong_kinds_of_keys_are_refused() {
        let (cert, _) = test_cert();
        let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let other_pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&other, rsa::pkcs8::LineEnding::LF).unwrap();
        let e = ClientCertificate::from_pem(cert.as_bytes(), other_pem.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("does not belong"), "{e}");
        let e = ClientCertificate::from_pem(cert.as_bytes(), b"nothing").unwrap_err();
        assert!(e.to_string().contains("no PEM PRIVATE KEY"), "{e}");
        let e = ClientCertificate::from_pem(b"", b"").unwrap_err();
        assert!(e.to_string().contains("CERTIFICATE"), "{e}");
        let enc = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = ClientCertificate::from_pem(cert.as_bytes(), enc.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("encrypted"), "{e}");
        // An EC certificate is not usable.
        let ec = rcgen::generate_simple_self_signed(vec!["ec".into()]).unwrap();
        let e = ClientCertificate::from_pem(ec.cert.pem().as_bytes(), ec.signing_key.serialize_pem().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("RSA"), "{e}");
    }
}
