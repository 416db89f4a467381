//! HTTPS for a console on a network address: the certificate chain and key from PEM
//! files (the operator's own, e.g. from the organisation's CA).
use super::options::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// The server configuration, or what is wrong with the files.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|e| format!("console.tls_certificate: cannot read {}: {e}", files.certificate.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("console.tls_certificate: {} is not a PEM certificate chain: {e}", files.certificate.display()))?;
    if certs.is_empty() {
        return Err(format!("console.tls_certificate: {} holds no certificate", files.certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.private_key)
        .map_err(|e| format!("console.tls_private_key: {} is not a PEM private key: {e}", files.private_key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("console.tls_certificate and console.tls_private_key do not make a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
