//! HTTPS under Microsoft's host names (`SimulatorConfig::microsoft_hosts`): a throw-away
//! test CA issues one certificate for `login.microsoftonline.com`,
//! `mysignins.microsoft.com` and `login.microsoft.com`, served on a second loopback
//! port. A browser that maps those names to that port and trusts only this
//! certificate's key (Chromium: `--host-resolver-rules`,
//! `--ignore-certificate-errors-spki-list`) walks the simulator's pages under the
//! production URLs — so keystation's `microsoft` flow and rp.id `login.microsoft.com`
//! run unchanged. Nothing here is trusted by anything else: the key lives in memory
//! and dies with the simulator.
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The host names served over HTTPS: sign-in, Security info, the ceremony (rp.id).
pub const MICROSOFT_HOSTS: [&str; 3] = ["login.microsoftonline.com", "mysignins.microsoft.com", "login.microsoft.com"];

/// The HTTPS side of a simulator serving Microsoft's host names.
#[derive(Clone)]
pub struct PagesTls {
    /// The loopback address the HTTPS listener took.
    pub addr: std::net::SocketAddr,
    /// The test CA (PEM), for clients that take a CA bundle.
    pub ca_pem: String,
    /// base64 SHA-256 of the served certificate's SubjectPublicKeyInfo: the one key a
    /// browser should trust.
    pub spki_sha256: String,
    pub(crate) acceptor: TlsAcceptor,
}

impl std::fmt::Debug for PagesTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagesTls").field("addr", &self.addr).field("spki_sha256", &self.spki_sha256).finish()
    }
}

/// A certificate chain for `hosts` from a fresh CA, and a TLS acceptor serving it.
pub fn generate(hosts: &[&str], addr: std::net::SocketAddr) -> Result<PagesTls, String> {
    let ca_key = rcgen::KeyPair::generate().map_err(|e| format!("test CA key: {e}"))?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "keystation simulator test CA (not trusted by anything else)");
    let ca = ca_params.self_signed(&ca_key).map_err(|e| format!("test CA: {e}"))?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().map_err(|e| format!("certificate key: {e}"))?;
    let mut leaf_params = rcgen::CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>()).map_err(|e| e.to_string())?;
    leaf_params.distinguished_name.push(rcgen::DnType::CommonName, hosts.first().copied().unwrap_or("simulator"));
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(|e| format!("certificate: {e}"))?;
    let spki = {
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.der()).map_err(|e| format!("certificate: {e}"))?;
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(cert.tbs_certificate.subject_pki.raw))
    };
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).map_err(|e| format!("certificate key: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .map_err(|e| format!("TLS configuration: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(PagesTls { addr, ca_pem: ca.pem(), spki_sha256: spki, acceptor: TlsAcceptor::from(Arc::new(config)) })
}
