//! The OAuth client: one authority, one client id, and the token-endpoint plumbing that
//! the grants (device code, client credentials, refresh) share.
use super::error::TokenEndpointError;
use super::token::{parse_token_response, TokenSet};
use super::{Authority, OAuthError};
use crate::entra::http::{read_body, HttpOptions, HttpSender, Replay, RetryPolicy};
use crate::secret::SecretString;
use reqwest::Url;
use serde::Deserialize;
use std::time::Duration;

/// Settings of an [`OAuthClient`].
#[derive(Debug, Clone)]
pub struct OAuthOptions {
    /// TLS roots and timeouts.
    pub http: HttpOptions,
    /// Retries of token-endpoint calls (429, 5xx, connection errors).
    pub retry: RetryPolicy,
    /// Lifetime of signed client assertions (at most 10 minutes).
    pub assertion_lifetime: Duration,
}

impl Default for OAuthOptions {
    fn default() -> Self {
        OAuthOptions { http: HttpOptions::default(), retry: RetryPolicy::token_endpoint(), assertion_lifetime: Duration::from_secs(300) }
    }
}

/// Talks to one tenant's token and device-code endpoints as one client (app registration).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    authority: Authority,
    client_id: String,
    sender: HttpSender,
    assertion_lifetime: Duration,
}

/// One form field; every value is kept as a secret so that nothing in a token request
/// (secrets, assertions, refresh tokens, device codes) can leak through a `Debug`.
pub(crate) type FormField = (&'static str, SecretString);

impl OAuthClient {
    /// A client for `client_id` (the app registration's Application ID) at `authority`.
    pub fn new(authority: Authority, client_id: &str, options: &OAuthOptions) -> Result<OAuthClient, OAuthError> {
        let client_id = client_id.trim();
        if client_id.is_empty() || !client_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
            return Err(OAuthError::Config(format!(
                "'{client_id}' is not a client id: give the Application (client) ID of the app registration (a GUID)"
            )));
        }
        let client = options.http.build_client().map_err(|e| OAuthError::Config(e.0))?;
        Ok(OAuthClient {
            authority,
            client_id: client_id.to_string(),
            sender: HttpSender::new(client, options.retry.clone()),
            assertion_lifetime: options.assertion_lifetime.min(Duration::from_secs(600)),
        })
    }

    /// The authority this client signs in against.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn assertion_lifetime(&self) -> Duration {
        self.assertion_lifetime
    }

    /// POST a form to the token endpoint and parse the token answer.
    pub(crate) async fn request_token<F>(&self, call: &'static str, replay: Replay, fields: F) -> Result<TokenSet, OAuthError>
    where
        F: Fn() -> Result<Vec<FormField>, OAuthError>,
    {
        let body = self.post_form(self.authority.token_endpoint(), call, replay, fields).await?;
        parse_token_response(&body)
    }

    /// POST a form (rebuilt by `fields` for every attempt) and return a 2xx body, or the
    /// endpoint's error.
    pub(crate) async fn post_form<F>(&self, url: Url, call: &'static str, replay: Replay, fields: F) -> Result<zeroize::Zeroizing<Vec<u8>>, OAuthError>
    where
        F: Fn() -> Result<Vec<FormField>, OAuthError>,
    {
        // Local problems (e.g. a signing failure) surface through this slot, not as
        // transport errors.
        let local_error = std::sync::Mutex::new(None::<OAuthError>);
        let outcome = self
            .sender
            .send(call, replay, |client| {
                let fields = fields().map_err(|e| {
                    let text = e.to_string();
                    if let Ok(mut slot) = local_error.lock() {
                        *slot = Some(e);
                    }
                    text
                })?;
                let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.expose())).collect();
                Ok(client.post(url.clone()).header("accept", "application/json").form(&pairs))
            })
            .await;
        let exchange = match outcome {
            Ok(x) => x,
            Err(failure) => {
                if let Some(e) = local_error.lock().ok().and_then(|mut slot| slot.take()) {
                    return Err(e);
                }
                return Err(OAuthError::Transport {
                    endpoint: url.to_string(),
                    message: failure.message,
                    client_request_id: failure.client_request_id,
                    attempts: failure.attempts,
                });
            }
        };
        let status = exchange.response.status().as_u16();
        let body = read_body(exchange.response).await.map_err(OAuthError::Protocol)?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(endpoint_error(status, &body, exchange.client_request_id, exchange.retry_after).into())
    }
}

#[derive(Deserialize, Default)]
struct ErrorWire {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u32>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// Turn a non-2xx answer into a [`TokenEndpointError`]. Non-OAuth bodies are not
/// quoted (they could be anything, e.g. a proxy page).
fn endpoint_error(status: u16, body: &[u8], client_request_id: String, retry_after: Option<Duration>) -> TokenEndpointError {
    let wire: ErrorWire = serde_json::from_slice(body).unwrap_or_default();
    let error = wire.error.filter(|e| !e.is_empty()).map(|e| crate::text::cap_to(&e, 100).into_owned()).unwrap_or_else(|| format!("http_{status}"));
    let description = match wire.error_description {
        // Entra appends trace/correlation ids and a timestamp on further lines.
        // A service's text is capped like any echo (a hostile or broken endpoint could
        // send megabytes); real AADSTS lines are far shorter.
        Some(d) => crate::text::cap_to(d.lines().next().unwrap_or("").trim(), crate::text::SERVICE_TEXT_MAX_CHARS).into_owned(),
        None => format!("HTTP {status} without an OAuth error body"),
    };
    TokenEndpointError {
        status,
        error,
        description,
        error_codes: wire.error_codes,
        trace_id: wire.trace_id,
        correlation_id: wire.correlation_id,
        client_request_id,
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::cloud::parse_service_url;

    #[test]
    fn client_id_is_validated() {
        let a = Authority::new(parse_service_url("https://login.microsoftonline.com", "a").unwrap(), "t").unwrap();
        assert!(OAuthClient::new(a.clone(), "", &OAuthOptions::default()).is_err());
        assert!(OAuthClient::new(a.clone(), "a b", &OAuthOptions::default()).is_err());
        let c = OAuthClient::new(a, " 00000000-0000-0000-0000-000000000001 ", &OAuthOptions::default()).unwrap();
        assert_eq!(c.client_id(), "00000000-0000-0000-0000-000000000001");
    }

    #[test]
    fn endpoint_errors_keep_codes_and_first_line() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000218: The request body must contain...\r\nTrace ID: x\r\nCorrelation ID: y","error_codes":[7000218],"trace_id":"tr","correlation_id":"co"}"#;
        let e = endpoint_error(401, body, "crid".into(), None);
        assert_eq!(e.error, "invalid_client");
        assert_eq!(e.description, "AADSTS7000218: The request body must contain...");
        assert_eq!(e.error_codes, vec![7000218]);
        assert_eq!(e.trace_id.as_deref(), Some("tr"));
        let e = endpoint_error(502, b"<html>secret-echo</html>", "crid".into(), None);
        assert_eq!(e.error, "http_502");
        assert!(!format!("{e}").contains("secret-echo"));
    }
}
