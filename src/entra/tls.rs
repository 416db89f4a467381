//! TLS set-up shared by every HTTP client of the Entra layer.
//!
//! reqwest is built with `rustls-no-provider`, so somebody has to pick the rustls crypto
//! provider before the first client is built. The CLI does it in `CliContext::init`;
//! library users and tests get it through [`ensure_crypto_provider`], which every client
//! constructor in this layer calls.

/// Install ring as the process-wide rustls crypto provider unless one is installed already.
///
/// Cheap and idempotent: call it as often as you like.
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing the race to another thread is fine: then a provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn installs_a_provider_once_and_tolerates_repeats() {
        super::ensure_crypto_provider();
        super::ensure_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
