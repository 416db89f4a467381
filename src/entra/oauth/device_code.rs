//! Device authorization grant (RFC 8628) for an operator who signs in as a delegated
//! admin: show a code and a URL, then poll the token endpoint until the sign-in is
//! approved, declined or expired. Polling honours `interval` and `slow_down` (+5 s),
//! and a [`CancelToken`] stops it at once.
use super::client::{FormField, OAuthClient};
use super::error::OAuthErrorKind;
use super::token::TokenSet;
use super::{OAuthError, Scopes};
use crate::entra::http::Replay;
use crate::secret::SecretString;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::time::Duration;
use crate::CancelToken;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628: without `interval` the client waits 5 s between polls.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 8628: `slow_down` adds 5 s to the interval for all later polls.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Never poll in a tight loop, whatever the service says.
const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// A pending device-code sign-in: what to show the operator.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    /// The code the operator types in at `verification_uri`.
    pub user_code: String,
    /// Where to type it in (e.g. `https://microsoft.com/devicelogin`).
    pub verification_uri: String,
    /// The service's own instruction text, if any.
    pub message: Option<String>,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
    /// How long to wait between polls.
    pub interval: Duration,
    device_code: SecretString,
}

/// Progress of a device-code sign-in, for the caller to show.
#[derive(Debug, Clone)]
pub enum DeviceCodeEvent<'a> {
    /// Show this code and URL to the operator.
    Prompt(&'a DeviceCode),
    /// Polled; the sign-in is not approved yet.
    Pending,
    /// The service asked us to poll less often; this is the new interval.
    SlowDown {
        /// Interval used from now on.
        interval: Duration,
    },
}

impl DeviceCode {
    /// Resume a device-code sign-in whose code was obtained elsewhere (another process,
    /// or a device-code answer read directly), to poll it with
    /// [`OAuthClient::poll_device_code`].
    pub fn resume(device_code: SecretString, user_code: String, verification_uri: String, expires_at: DateTime<Utc>, interval: Duration) -> DeviceCode {
        DeviceCode { user_code, verification_uri, message: None, expires_at, interval, device_code }
    }
}

#[derive(Deserialize)]
struct Wire {
    device_code: Option<String>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    // Older v1 endpoints used `verification_url`.
    verification_url: Option<String>,
    expires_in: Option<serde_json::Value>,
    interval: Option<serde_json::Value>,
    message: Option<String>,
}

fn number(v: &Option<serde_json::Value>) -> Option<u64> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

impl OAuthClient {
    /// Ask for a device code (step 1).
    pub async fn request_device_code(&self, scopes: &Scopes) -> Result<DeviceCode, OAuthError> {
        if scopes.is_empty() {
            return Err(OAuthError::Config("no scopes to ask for".into()));
        }
        let client_id = self.client_id().to_string();
        let scope = scopes.to_param();
        let body = self
            .post_form(self.authority().device_code_endpoint(), "oauth.devicecode", Replay::Idempotent, || {
                Ok(vec![("client_id", SecretString::new(client_id.clone())), ("scope", SecretString::new(scope.clone()))])
            })
            .await?;
        let wire: Wire = serde_json::from_slice(&body).map_err(|e| OAuthError::Protocol(format!("device code response is not JSON ({e})")))?;
        let missing = |what: &str| OAuthError::Protocol(format!("device code response has no {what}"));
        let device_code = wire.device_code.filter(|s| !s.is_empty()).ok_or_else(|| missing("device_code"))?;
        let user_code = wire.user_code.filter(|s| !s.is_empty()).ok_or_else(|| missing("user_code"))?;
        let verification_uri = wire.verification_uri.or(wire.verification_url).ok_or_else(|| missing("verification_uri"))?;
        let expires_in = number(&wire.expires_in).unwrap_or(900);
        let interval = number(&wire.interval).map(Duration::from_secs).unwrap_or(DEFAULT_INTERVAL);
        Ok(DeviceCode {
            user_code,
            verification_uri,
            message: wire.message,
            expires_at: Utc::now() + chrono::Duration::seconds(expires_in.min(86_400) as i64),
            interval,
            device_code: SecretString::new(device_code),
        })
    }

    /// Poll until the sign-in is approved (step 2). `on_event` sees every pending poll
    /// and every slow-down; `cancel` ends the wait with [`OAuthError::Cancelled`].
    pub async fn poll_device_code(
        &self,
        code: &DeviceCode,
        on_event: &mut (dyn FnMut(DeviceCodeEvent<'_>) + Send),
        cancel: &CancelToken,
    ) -> Result<TokenSet, OAuthError> {
        let mut interval = code.interval.max(MIN_INTERVAL);
        let client_id = self.client_id().to_string();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Err(OAuthError::Cancelled),
                _ = tokio::time::sleep(interval) => {}
            }
            if Utc::now() >= code.expires_at {
                return Err(OAuthError::DeviceCodeExpired);
            }
            let fields = || -> Result<Vec<FormField>, OAuthError> {
                Ok(vec![
                    ("grant_type", SecretString::new(GRANT_TYPE)),
                    ("client_id", SecretString::new(client_id.clone())),
                    ("device_code", code.device_code.clone()),
                ])
            };
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return Err(OAuthError::Cancelled),
                r = self.request_token("oauth.devicecode.poll", Replay::Idempotent, fields) => r,
            };
            match outcome {
                Ok(tokens) => return Ok(tokens),
                Err(e) => match e.kind() {
                    Some(OAuthErrorKind::AuthorizationPending) => {
                        tracing::debug!("device code sign-in not approved yet");
                        on_event(DeviceCodeEvent::Pending);
                    }
                    Some(OAuthErrorKind::SlowDown) => {
                        interval += SLOW_DOWN_STEP;
                        tracing::info!(interval_s = interval.as_secs(), "sign-in service asked to poll less often");
                        on_event(DeviceCodeEvent::SlowDown { interval });
                    }
                    Some(OAuthErrorKind::ExpiredToken) => return Err(OAuthError::DeviceCodeExpired),
                    _ => return Err(e),
                },
            }
        }
    }

    /// Both steps: request a code, hand it to `on_event` as [`DeviceCodeEvent::Prompt`],
    /// then poll until done.
    pub async fn sign_in_with_device_code(
        &self,
        scopes: &Scopes,
        on_event: &mut (dyn FnMut(DeviceCodeEvent<'_>) + Send),
        cancel: &CancelToken,
    ) -> Result<TokenSet, OAuthError> {
        let code = tokio::select! {
            _ = cancel.cancelled() => return Err(OAuthError::Cancelled),
            r = self.request_device_code(scopes) => r?,
        };
        on_event(DeviceCodeEvent::Prompt(&code));
        self.poll_device_code(&code, on_event, cancel).await
    }
}
