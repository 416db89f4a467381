//! HTTP plumbing shared by the OAuth and Graph clients: client construction (TLS roots,
//! timeouts), the retry policy and the retrying sender with request ids.
//!
//! Nothing here logs a request or response body, and the Authorization header is marked
//! sensitive, so tokens and passes never reach the logs through this layer.
mod retry;
mod sender;

pub use retry::{parse_retry_after, RetryPolicy};
pub(crate) use sender::{new_client_request_id, HttpSender, Replay};

use std::path::PathBuf;
use std::time::Duration;

/// How to build the underlying HTTP client.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Extra trusted root certificates (PEM bundle), e.g. for a TLS-inspecting proxy.
    /// Certificate verification itself can never be switched off.
    pub ca_bundle: Option<PathBuf>,
    /// Trust only `ca_bundle`, not the system roots.
    pub ca_bundle_only: bool,
    /// Deadline for one HTTP exchange (connect + request + response).
    pub request_timeout: Duration,
    /// Deadline for establishing a connection.
    pub connect_timeout: Duration,
    /// Where requests go through.
    pub proxy: ProxyChoice,
}

/// The HTTP proxy of every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyChoice {
    /// The environment's (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
    #[default]
    Environment,
    /// No proxy at all, whatever the environment says.
    None,
    /// This proxy URL (`http://host:port`, credentials allowed in the URL); `NO_PROXY`
    /// still exempts hosts.
    Url(String),
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_bundle: None,
            ca_bundle_only: false,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            proxy: ProxyChoice::Environment,
        }
    }
}

/// Why an HTTP client could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct HttpSetupError(pub String);

impl HttpOptions {
    /// Build a reqwest client with these options (installs the rustls provider first).
    pub fn build_client(&self) -> Result<reqwest::Client, HttpSetupError> {
        crate::entra::tls::ensure_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("keystation/", env!("CARGO_PKG_VERSION")))
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            // Never follow redirects with a bearer token or a form full of secrets.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &self.ca_bundle {
            let pem = std::fs::read(path)
                .map_err(|e| HttpSetupError(format!("cannot read the CA bundle {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| HttpSetupError(format!("the CA bundle {} is not a PEM certificate bundle: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(HttpSetupError(format!("the CA bundle {} holds no PEM certificates", path.display())));
            }
            builder = if self.ca_bundle_only { builder.tls_certs_only(certs) } else { builder.tls_certs_merge(certs) };
        } else if self.ca_bundle_only {
            return Err(HttpSetupError("'trust only the CA bundle' was asked for without a CA bundle".into()));
        }
        match &self.proxy {
            ProxyChoice::Environment => {}
            ProxyChoice::None => builder = builder.no_proxy(),
            ProxyChoice::Url(url) => {
                // The proxy URL may carry credentials: never quote it in an error.
                let proxy = reqwest::Proxy::all(url.as_str())
                    .map_err(|_| HttpSetupError("the proxy is not a valid URL (expected e.g. http://proxy.example:3128)".into()))?
                    .no_proxy(reqwest::NoProxy::from_env());
                builder = builder.proxy(proxy);
            }
        }
        builder.build().map_err(|e| {
            let chain = error_chain(&e);
            if self.ca_bundle.is_none() && chain.contains("No CA certificates") {
                // Minimal containers and guests often lack the system trust store.
                HttpSetupError(format!(
                    "cannot set up HTTPS: this system has no trusted CA certificates ({chain}); install them (Debian: apt-get install ca-certificates) or give a CA bundle"
                ))
            } else {
                HttpSetupError(format!("cannot set up HTTPS: {chain}"))
            }
        })
    }
}

/// Largest response body we read (Graph and token answers are a few kB; a creation
/// options challenge is well under 64 kB).
const MAX_BODY: usize = 4 << 20;

/// Read a whole response body into memory that is wiped when dropped (bodies can
/// carry tokens and passes).
pub(crate) async fn read_body(mut response: reqwest::Response) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let hint = response.content_length().unwrap_or(0).min(MAX_BODY as u64) as usize;
    // Reserve up front so that growing the buffer does not leave copies behind.
    let mut body = zeroize::Zeroizing::new(Vec::with_capacity(hint.max(16 << 10)));
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("cannot read the response: {}", error_chain(&e)))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("response larger than {MAX_BODY} bytes"));
        }
        if body.len() + chunk.len() > body.capacity() {
            let mut bigger = zeroize::Zeroizing::new(Vec::with_capacity((body.len() + chunk.len()) * 2));
            bigger.extend_from_slice(&body);
            body = bigger;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error and its sources on one line ("a: b: c"), for operator messages.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_client_builds() {
        HttpOptions::default().build_client().unwrap();
    }

    #[test]
    fn missing_or_empty_ca_bundle_is_a_clear_error() {
        let opts = HttpOptions { ca_bundle: Some("/nonexistent/ca.pem".into()), ..HttpOptions::default() };
        let err = opts.build_client().unwrap_err();
        assert!(err.0.contains("cannot read the CA bundle"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let opts = HttpOptions { ca_bundle: Some(empty), ..HttpOptions::default() };
        assert!(opts.build_client().unwrap_err().0.contains("no PEM certificates"));
        let opts = HttpOptions { ca_bundle_only: true, ..HttpOptions::default() };
        assert!(opts.build_client().is_err());
    }

    #[test]
    fn proxies_build_and_a_bad_one_is_named_without_its_text() {
        for proxy in [ProxyChoice::None, ProxyChoice::Url("http://user:pw@proxy.local:3128".into())] {
            HttpOptions { proxy, ..HttpOptions::default() }.build_client().unwrap();
        }
        let e = HttpOptions { proxy: ProxyChoice::Url("::not a url pw=secret".into()), ..HttpOptions::default() }.build_client().unwrap_err();
        assert!(e.0.contains("proxy") && !e.0.contains("secret"), "{e}");
    }

    #[test]
    fn a_ca_bundle_is_accepted() {
        let cert = rcgen::generate_simple_self_signed(vec!["proxy.local".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, cert.cert.pem()).unwrap();
        for only in [false, true] {
            let opts = HttpOptions { ca_bundle: Some(path.clone()), ca_bundle_only: only, ..HttpOptions::default() };
            opts.build_client().unwrap();
        }
    }
}
