//! Certificate helpers: PEM → DER, thumbprints, and the RSA test certificate the simulator
//! generates for apps that ask for one (so no private key ships in the default seed).
use crate::secret::SecretString;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Every `CERTIFICATE` block of a PEM text, as DER. Errors when there is none or one does
/// not parse as X.509.
pub fn parse_pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| format!("not valid PEM: {e}"))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        x509_parser::parse_x509_certificate(&block.contents).map_err(|e| format!("a CERTIFICATE block is not valid X.509: {e}"))?;
        out.push(block.contents);
    }
    if out.is_empty() {
        return Err("no -----BEGIN CERTIFICATE----- block found".into());
    }
    Ok(out)
}

/// SHA-1 thumbprint (the `x5t` header and Graph's `attestationCertificates` entries).
pub fn sha1_thumbprint(der: &[u8]) -> Vec<u8> {
    Sha1::digest(der).to_vec()
}

/// SHA-256 thumbprint (the `x5t#S256` header).
pub fn sha256_thumbprint(der: &[u8]) -> Vec<u8> {
    Sha256::digest(der).to_vec()
}

/// A certificate the simulator generated for an app, with its private key.
#[derive(Clone, Debug)]
pub struct GeneratedCertificate {
    /// The app it is registered on.
    pub client_id: String,
    /// Self-signed certificate, PEM.
    pub certificate_pem: String,
    /// RSA private key, PKCS#8 PEM.
    pub private_key_pem: SecretString,
    /// base64url SHA-1 thumbprint (`x5t`).
    pub x5t: String,
    /// base64url SHA-256 thumbprint (`x5t#S256`).
    pub x5t_s256: String,
}

/// One RSA key pair per process: generating RSA keys is slow and tests start many simulators.
fn process_rsa_key() -> Result<&'static (Vec<u8>, SecretString), String> {
    static KEY: OnceLock<Result<(Vec<u8>, SecretString), String>> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| format!("cannot generate an RSA key: {e}"))?;
        let der = key.to_pkcs8_der().map_err(|e| format!("cannot encode the RSA key: {e}"))?;
        let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| format!("cannot encode the RSA key: {e}"))?;
        Ok((der.as_bytes().to_vec(), SecretString::new(pem.as_str())))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Generate a self-signed RSA certificate for `client_id` (CN = app name).
pub fn generate_app_certificate(client_id: &str, app_name: &str) -> Result<GeneratedCertificate, String> {
    use base64::Engine;
    let (_, key_pem) = process_rsa_key()?;
    let key_pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(key_pem.expose(), &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| format!("cannot load the RSA key for signing: {e}"))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| format!("certificate parameters: {e}"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("{app_name} (keystation simulator)"));
    let cert = params.self_signed(&key_pair).map_err(|e| format!("cannot self-sign the app certificate: {e}"))?;
    let der = cert.der().to_vec();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    Ok(GeneratedCertificate {
        client_id: client_id.to_string(),
        certificate_pem: cert.pem(),
        private_key_pem: key_pem.clone(),
        x5t: b64.encode(sha1_thumbprint(&der)),
        x5t_s256: b64.encode(sha256_thumbprint(&der)),
    })
}
